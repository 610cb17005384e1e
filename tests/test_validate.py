"""Bad input at every public entry point: a TypeError or ValueError naming the argument."""

import numpy as np
import pytest

import dlnsim
from dlnsim import Network, Task, curvature, modes, rules, simulate, simulate_ensemble

Z = np.ones((2, 2)) * 1j


@pytest.mark.parametrize("call,name", [
    (lambda: Task(Z), "target"),
    (lambda: Task(np.eye(2), input_cov=Z + np.eye(2)), "input_cov"),
    (lambda: Network([Z]), r"weights\[0\]"),
    (lambda: Network.aligned(np.eye(2), [1j, 2.0], depth=2), "strengths"),
    (lambda: Task.teacher_student(n=2, rank=1, strengths=[1j]), "strengths"),
    (lambda: simulate(Network.random((2, 2)), Task(np.eye(2)), rules.gd(), [0, 1j]), "t"),
    (lambda: modes.simulate(Z, [1.0, 1.0], [0, 1]), "sigma0"),
    (lambda: modes.simulate(np.ones((2, 2)), [1j, 1.0], [0, 1]), "target"),
    (lambda: curvature.kron_inverse_power(Z, np.eye(2), np.eye(2), 2.0), "a"),
    (lambda: curvature.vjp(Network.random((2, 2)), Z), "cotangent"),
    (lambda: rules.ngd(2 + 1j), "q"),
    (lambda: simulate(Network.random((2, 2)), Task(np.eye(2)), rules.gd(), [0, 1], lr=1j),
     "lr"),
])
def test_complex_input_is_refused_naming_the_argument(call, name):
    with pytest.raises(TypeError, match=name):
        call()


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True])
def test_bad_seeds_name_the_seed(seed):
    with pytest.raises((TypeError, ValueError), match="seed must be a non-negative integer"):
        Network.random((2, 2), seed=seed)
    with pytest.raises((TypeError, ValueError), match="seed must be a non-negative integer"):
        Task.teacher_student(n=2, rank=1, seed=seed)
    with pytest.raises((TypeError, ValueError), match="seed must be a non-negative integer"):
        rules.noisy_sgd("none", seed=seed)


def test_numpy_integers_are_integers_everywhere():
    assert rules.ngd(2, path="krylov", maxiter=np.int64(5)) is not None
    net = Network.random((np.int64(2), np.int32(3)), seed=np.int64(4))
    assert net.widths == (2, 3)
    assert dlnsim.Limits(max_steps=np.int64(10)).max_steps == 10


def test_an_ensemble_refuses_string_learning_rates_like_simulate():
    net, task = Network.random((2, 2)), Task(np.eye(2))
    with pytest.raises(TypeError, match=r"lr\[0\] must be a real number"):
        simulate_ensemble([net] * 3, task, rules.gd(), [0, 1], lr=["1", "1", "1"])
    with pytest.raises(TypeError, match="lr must be"):
        simulate(net, task, rules.gd(), [0, 1], lr="1")


def test_overflowing_networks_and_tasks_are_bad_input():
    with pytest.raises(ValueError, match="scale = 1e\\+200 is too large"):
        Network.random((3, 3, 3), scale=1e200, seed=1)
    with pytest.raises(ValueError, match="noise = 1e\\+200"):
        Task.teacher_student(n=3, rank=1, noise=1e200)
    with pytest.raises(ValueError, match="strengths are too large"):
        Network.aligned(np.eye(2), [[1e300, 1e300], [1.0, 1.0]], widths=(2, 2, 2))
    with pytest.raises(ValueError, match="net: the initial weights' norm"):
        simulate(Network.random((3, 3), scale=1e300), Task(np.eye(3)), rules.gd(), [0, 1])
