"""Noisy gradients on networks (dlnsim.optim.noise): Fisher noise, minibatch SGD."""

import numpy as np
import pytest

from dlnsim import Network, Task, curvature, rules, simulate, simulate_ensemble
from dlnsim.optim import noise
from dlnsim.quadratic import NOISE_KINDS


def _one_step(net, task, rule, lr, members=1):
    """Every member's first increment from the same weights (independent draws per member)."""
    ens = simulate_ensemble([net] * members, task, rule, [0, 1], lr=lr, method="discrete",
                            quiet=True)
    assert ens.success
    return np.concatenate([(w[:, 1] - w[:, 0]).reshape(members, -1) for w in ens.weights], 1)


@pytest.mark.parametrize("make", [lambda s: rules.noisy_sgd("sqrt_fisher", 0.1, seed=s),
                                  lambda s: rules.noisy_sgd("sqrt_diag_fisher", 0.1, seed=s),
                                  lambda s: rules.minibatch_sgd(batch=4, seed=s)])
def test_noisy_rules_are_reproducible_from_their_seed(make):
    task = Task.teacher_student(n=4, rank=2, noise=0.1, samples=16, seed=0)
    net = Network.random((4, 4, 4), scale=0.5, seed=1)
    t = [0, 10, 20, 30]
    a = simulate(net, task, make(2), t, lr=0.05, method="discrete", quiet=True)
    b = simulate(net, task, make(2), t, lr=0.05, method="discrete", quiet=True)
    assert a.success and np.array_equal(a.map, b.map)
    assert not np.array_equal(a.map, simulate(net, task, make(3), t, lr=0.05,
                                              method="discrete", quiet=True).map)


def test_noise_free_and_full_batch_steps_are_gradient_steps():
    task = Task.teacher_student(n=4, rank=2, noise=0.1, samples=16, seed=0)
    net = Network.random((4, 4, 4), scale=0.5, seed=1)
    g = np.concatenate([x.ravel() for x in curvature.gradient(net, task.target)])
    for rule in (rules.noisy_sgd("none"), rules.minibatch_sgd(batch=16)):
        np.testing.assert_allclose(_one_step(net, task, rule, 0.05)[0], -0.05 * g, rtol=1e-12,
                                   atol=1e-15)


@pytest.mark.parametrize("kind", ["sqrt_fisher", "sqrt_diag_fisher", "isotropic"])
def test_noise_amplitude_is_lr_times_scale_times_c(kind):
    """One step from fixed weights, 4000 independent members: the increments have mean
    -lr g and covariance lr^2 scale^2 C C^T, with C C^T = G (full), diag(G) or tr(G)/P I.
    Checked per coordinate within 6 standard errors of a sample variance (sqrt(2/N))."""
    task = Task(target=np.ones((2, 3)), input_cov=np.diag([1.0, 2.0, 0.5]))
    net = Network.random((3, 2, 2), scale=0.8, seed=4)
    lr, scale, n = 0.1, 0.7, 4000
    inc = _one_step(net, task, rules.noisy_sgd(kind, scale, seed=11), lr, members=n)
    g = np.concatenate([x.ravel() for x in curvature.gradient(net, task.target,
                                                             task.input_cov)])
    h = curvature.gauss_newton(net, task.input_cov)
    cc = {"sqrt_fisher": h, "sqrt_diag_fisher": np.diag(np.diag(h)),
          "isotropic": np.trace(h) / len(h) * np.eye(len(h))}[kind]
    want = (lr * scale) ** 2 * np.diag(cc)
    got = inc.var(axis=0)
    assert np.all(np.abs(got - want) <= 6 * np.sqrt(2 / n) * want + 1e-18)
    se_mean = np.sqrt(want / n)
    assert np.all(np.abs(inc.mean(axis=0) + lr * g) <= 6 * se_mean + 1e-15)
    if kind == "sqrt_fisher":  # the correlations too, not only the variances
        cov = np.cov(inc.T)
        assert np.abs(cov - (lr * scale) ** 2 * h).max() <= 6 * np.sqrt(2 / n) * want.max()


def test_minibatch_gradients_average_to_the_full_gradient():
    task = Task.teacher_student(n=3, rank=1, noise=0.1, samples=6, seed=0)
    net = Network.random((3, 3, 3), scale=0.6, seed=2)
    inc = _one_step(net, task, rules.minibatch_sgd(batch=2, seed=1), 1.0, members=3000)
    g = np.concatenate([x.ravel() for x in curvature.gradient(net, task.target)])
    spread = inc.std(axis=0) / np.sqrt(len(inc))
    assert np.all(np.abs(inc.mean(axis=0) + g) <= 6 * spread + 1e-15)
    assert inc.std(axis=0).max() > 1e-3  # and it is noisy


def test_minibatch_sgd_needs_data_and_a_batch_that_fits():
    net = Network.random((2, 2))
    with pytest.raises(ValueError, match="needs a task with data"):
        simulate(net, Task(target=np.eye(2)), rules.minibatch_sgd(), [0, 1], method="discrete")
    task = Task.teacher_student(n=2, rank=1, samples=3, seed=0)
    with pytest.raises(ValueError, match="batch must be in"):
        simulate(net, task, rules.minibatch_sgd(batch=4), [0, 1], method="discrete")
    with pytest.raises(ValueError, match="noise must be one of"):
        rules.noisy_sgd("fisher")


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_fisher_noise_without_the_dense_matrix_equals_dense(kind):
    net = Network.random((3, 4, 2, 3), scale=0.7, seed=4)
    cov = np.diag([1.0, 2.0, 0.5])
    xi = np.random.default_rng(1).standard_normal(net.n_params)
    h = curvature.gauss_newton(net, cov)
    if kind == "sqrt_fisher":  # G^{1/2} via eigh, null eigenvalues (round-off) set to 0
        e, u = np.linalg.eigh(h)
        e = np.where(e > 1e-12 * e.max(), e, 0.0)
        want = (u * np.sqrt(e)) @ u.T @ xi
    elif kind == "sqrt_diag_fisher":
        want = np.sqrt(np.diag(h)) * xi
    elif kind == "isotropic":
        want = np.sqrt(np.trace(h) / h.shape[0]) * xi
    else:
        want = np.zeros_like(xi)
    got = noise.fisher_noise(net, cov, kind, xi)
    assert np.allclose(got, want, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(want).max()))
