"""Matrix-free fractional powers of K against the dense map-space kernel."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlnsim import Network, Task, curvature, rules, simulate
from dlnsim.curvature import krylov, paths


def _net(kind: str, widths, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    if kind == "unbalanced":
        return Network.random(widths, scale=1 / np.sqrt(max(widths)), seed=seed)
    m = min(widths)
    scale = 1e-4 if kind == "saddle" else 1.0  # near-saddle: tiny weights
    net = Network.aligned(rng.standard_normal((widths[-1], widths[0])),
                          scale * np.geomspace(1.0, 1e-2, m), widths=widths, seed=seed)
    if kind == "balanced":
        return net
    return Network([w * (1 + 1e-4 * rng.standard_normal(w.shape)) for w in net.weights])


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["balanced", "near", "unbalanced", "saddle"]),
       st.sampled_from([(4, 4, 4, 4, 4), (3, 5, 4), (5, 6, 3), (4, 4)]),
       st.sampled_from([1.0, 1.5, 2.0, 3.0]), st.sampled_from([0.0, 1e-3]),
       st.integers(0, 1000))
def test_krylov_inverse_power_equals_dense(kind, widths, q, damping_rel, seed):
    net = _net(kind, widths, seed)
    kernel = curvature.map_kernel(net)
    damping = damping_rel * np.linalg.eigvalsh(kernel.dense()).max()
    b = np.random.default_rng(seed + 1).standard_normal(kernel.shape)
    want = kernel.inverse_power(b, q, damping)
    got, info = krylov.inverse_power(net, b, q, damping, tol=1e-10, maxiter=5000)
    # the dense reference itself is only good to ~eps cond(K + eps I), which matters for the
    # strongly unbalanced draws (cond up to ~1e9 at d = 4)
    ev = np.linalg.eigvalsh(kernel.dense()) + damping
    ref_err = 1e-15 * ev.max() / ev.min()
    assert np.linalg.norm(got - want) <= max(2e-10, ref_err) * np.linalg.norm(want)
    assert info.matvecs >= info.shifts


def test_nearly_balanced_networks_need_few_iterations():
    net = _net("near", (6, 6, 6, 6, 6), 3)
    b = np.random.default_rng(0).standard_normal((6, 6))
    _, info = krylov.inverse_power(net, b, 2.0)
    assert info.iterations <= 2 * info.shifts


def test_krylov_reports_non_convergence_honestly():
    net = _net("unbalanced", (6, 6, 6, 6, 6), 4)
    b = np.random.default_rng(0).standard_normal((6, 6))
    with pytest.raises(krylov.NotConverged, match="CG did not reach"):
        krylov.inverse_power(net, b, 2.0, maxiter=2)


def test_krylov_refuses_a_singular_kernel_without_damping():
    net = Network.aligned(np.eye(4), [1.0, 0.5], widths=(4, 4, 4))  # rank 2 map
    net = Network([w + 1e-3 * np.eye(4) * (i == 0) for i, w in enumerate(net.weights)])
    with pytest.raises(ValueError, match="needs damping > 0 or a full-rank map"):
        krylov.inverse_power(net, np.ones((4, 4)), 2.0)
    krylov.inverse_power(net, np.ones((4, 4)), 2.0, damping=1e-2)  # fine with damping


@pytest.mark.parametrize("q", [1.0, 2.0])
def test_krylov_rule_equals_dense_rule(q):
    net = _net("near", (5, 5, 5, 5), 5)
    task = Task(target=np.random.default_rng(6).standard_normal((5, 5)))
    a = np.concatenate([x.ravel() for x in rules.ngd(q, path="krylov").velocity(net, task)])
    b = np.concatenate([x.ravel() for x in rules.ngd(q, path="dense").velocity(net, task)])
    assert np.linalg.norm(a - b) <= 1e-9 * np.linalg.norm(b)


def test_simulate_reports_a_krylov_failure_as_status_minus_1():
    net = _net("unbalanced", (5, 5, 5, 5), 7)
    traj = simulate(net, Task(target=np.eye(5)), rules.ngd(2.0, path="krylov", maxiter=1),
                    t=[0.0, 1.0], quiet=True)
    assert traj.status == -1
    assert "CG did not reach" in traj.message and "t = 0" in traj.message
    assert len(traj.t) == 1 and np.all(np.isfinite(traj.map))


def test_auto_falls_back_to_dense_where_krylov_misses_its_tolerance(monkeypatch):
    """Far from balance CG may not converge: ``path="krylov"`` says so, ``"auto"`` stays exact."""
    net = _net("unbalanced", (6, 6, 6, 6, 6), 4)
    task = Task(target=np.random.default_rng(1).standard_normal((6, 6)))
    monkeypatch.setattr(paths, "DENSE_MAX", 10)  # make 6 x 6 maps "large"
    with pytest.raises(krylov.NotConverged):
        rules.ngd(2.0, path="krylov", maxiter=2).velocity(net, task)
    calls = []
    real = krylov.inverse_power

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(krylov, "inverse_power", spy)
    auto = rules.ngd(2.0, maxiter=2).velocity(net, task)
    assert calls, "auto did not try the Krylov path above DENSE_MAX"
    dense = rules.ngd(2.0, path="dense").velocity(net, task)
    for a, b in zip(auto, dense):
        np.testing.assert_array_equal(a, b)


def test_auto_takes_the_krylov_path_where_it_converges(monkeypatch):
    """Above DENSE_MAX and near balance, auto runs Krylov and matches the dense direction."""
    net = _net("nearly balanced", (6, 6, 6, 6), 3)
    task = Task(target=np.random.default_rng(2).standard_normal((6, 6)))
    monkeypatch.setattr(paths, "DENSE_MAX", 10)
    calls = []
    real = krylov.inverse_power
    monkeypatch.setattr(krylov, "inverse_power",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    auto = rules.ngd(2.0).velocity(net, task)
    dense = rules.ngd(2.0, path="dense").velocity(net, task)
    assert calls
    for a, b in zip(auto, dense):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize("q", [1.0, 2.0, 3.0])
def test_krylov_reports_what_it_did(q):
    """The info counts are consistent: every shifted solve starts with one product, so
    products = CG iterations + shifts; q = inf does nothing and reports zeros."""
    net = _net("nearly balanced", (4, 4, 4), 2)
    b = np.random.default_rng(0).standard_normal((4, 4))
    y, info = krylov.inverse_power(net, b, q, 1e-3, tol=1e-10)
    assert info.shifts >= 1 and info.iterations >= 1
    assert info.matvecs == info.iterations + info.shifts
    same, none = krylov.inverse_power(net, b, np.inf)
    assert np.array_equal(same, b) and none == krylov.KrylovInfo(0, 0, 0, 0.0)
