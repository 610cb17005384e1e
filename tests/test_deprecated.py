"""The names of dlnsim 0.1 keep working, with a DeprecationWarning, and give the new results."""

import numpy as np
import pytest

import dlnsim
from dlnsim import Limits, Network, Task, rules, simulate


@pytest.mark.parametrize("name,attr", [("kfac", "PerExample"), ("hcgd", "step"),
                                       ("noise", "noise_matrix"), ("krylov", "inverse_power")])
def test_old_module_names_warn_and_resolve(name, attr):
    with pytest.warns(DeprecationWarning, match=f"dlnsim.{name} is deprecated"):
        mod = getattr(dlnsim, name)
    assert callable(getattr(mod, attr))


def test_optimize_with_old_optimiser_objects_equals_the_new_rules():
    task = Task.teacher_student(n=4, rank=2, noise=0.1, seed=0)
    net = Network.random((4, 4, 4), scale=0.5, seed=1)
    with pytest.warns(DeprecationWarning):
        kfac = dlnsim.kfac
        noise = dlnsim.noise
        hcgd = dlnsim.hcgd
    from dlnsim.integrate import optimize

    cases = [
        (kfac.KFAC(kfac.KFACConfig(lr=0.02, weight_decay=0.1, l2=0.05)),
         rules.chain(rules.l2(0.05), rules.kfac(), rules.weight_decay(0.1)), 0.02),
        (kfac.KFAC(kfac.KFACConfig(lr=0.02, trace_restricted=True)), rules.tkfac(), 0.02),
        (hcgd.HCGD(lr=0.05, inner_lr=0.02, lam=1.0, corrections=2),
         rules.hcgd(inner_lr=0.02, lam=1.0, corrections=2, seed=3), 0.05),
        (noise.CovarianceNoiseSGD(0.05, "sqrt_fisher", 0.1),
         rules.noisy_sgd("sqrt_fisher", 0.1, seed=3), 0.05),
        (noise.MinibatchSGD(0.05, batch=4), rules.minibatch_sgd(batch=4, seed=3), 0.05),
    ]
    for old, new, lr in cases:
        with pytest.warns(DeprecationWarning, match="optimize is deprecated"):
            a = optimize(net, task, old, 20, seed=3, save_every=10)
        b = simulate(net, task, new, [0, 10, 20], lr=lr, method="discrete", quiet=True)
        assert a.success and a.t.tolist() == [0, 10, 20]
        np.testing.assert_array_equal(a.map, b.map)


def test_old_limit_keywords_warn_and_apply():
    net = Network.random((2, 2), scale=1.0, seed=0)
    big = Task(target=100 * np.eye(2))
    with pytest.warns(DeprecationWarning, match="limits=dlnsim.Limits"):
        old = simulate(net, big, rules.gd(), [0.0, 10.0], max_norm=5.0, quiet=True)
    new = simulate(net, big, rules.gd(), [0.0, 10.0], limits=Limits(max_norm=5.0), quiet=True)
    assert old.status == new.status == dlnsim.Status.DIVERGED and old.message == new.message
    with pytest.raises(TypeError, match="unexpected keyword"):
        simulate(net, big, rules.gd(), [0.0, 1.0], max_nrom=5.0)


def test_deprecation_warnings_point_at_the_callers_line():
    from dlnsim.integrate import optimize

    net = Network.random((2, 2), scale=0.5, seed=0)
    with pytest.warns(DeprecationWarning) as record:
        optimize(net, Task(np.eye(2)), rules.gd(), 2)
    assert record[0].filename == __file__
