"""simulate(): conservation laws, weight decay, reduction to singular modes, divergence."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import dlnsim
from dlnsim import Network, Task, Trajectory, modes, rules, simulate

CASES = [(3, 4, 4, 3), (4, 3, 5, 2)]  # square-ish and with a bottleneck, rectangular ends


def _case(widths, seed=0):
    rng = np.random.default_rng(seed)
    task = Task(target=rng.standard_normal((widths[-1], widths[0])),
                input_cov=np.diag(np.linspace(0.5, 2.0, widths[0])))
    return Network.random(widths, scale=0.6, seed=seed + 1), task


def _imbalance_drift(traj):
    """max_t max_i ||c_i(t) - c_i(0)||_max relative to max_t sum_i ||w_i||_F^2."""
    sq = max(sum(float(np.sum(w[k] ** 2)) for w in traj.weights) for k in range(len(traj.t)))
    return max(float(np.abs(c - c[0]).max()) for c in traj.imbalance) / sq


@pytest.mark.parametrize("widths", CASES)
@pytest.mark.parametrize("q", [math.inf, 1.0, 2.0, 3.0])
def test_imbalance_conserved_under_qngd(widths, q):
    """Huh (2020) Theorem 1 from a random unaligned init, non-identity S."""
    net, task = _case(widths)
    traj = simulate(net, task, rules.ngd(q), t=np.linspace(0, 20, 5), quiet=True)
    assert traj.success, traj.message
    assert traj.loss[-1] <= traj.loss[0] / 100  # a run that really learns
    assert _imbalance_drift(traj) <= 1e-8


@pytest.mark.parametrize("widths", CASES)
def test_imbalance_broken_by_block_diagonal_ngd(widths):
    net, task = _case(widths)
    full = simulate(net, task, rules.ngd(1.0), t=np.linspace(0, 20, 5), quiet=True)
    block = simulate(net, task, rules.ngd(1.0, block_diagonal=True), t=np.linspace(0, 20, 5),
                     quiet=True)
    assert block.success, block.message
    assert _imbalance_drift(block) >= 1e4 * max(_imbalance_drift(full), 1e-12)
    assert _imbalance_drift(block) > 1e-3


@pytest.mark.parametrize("q", [math.inf, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("lr", [1.0, 0.6])
def test_imbalance_decays_exponentially_under_weight_decay(q, lr):
    """With decoupled decay lam: c_i(t) = exp(-2 lr lam t) c_i(0) (claim wd.imbalance_decay)."""
    net, task = _case((3, 4, 4, 3))
    lam = 0.15
    t = np.linspace(0, 6, 4)
    traj = simulate(net, task, rules.chain(rules.ngd(q), rules.weight_decay(lam)), t=t, lr=lr,
                    quiet=True)
    assert traj.success, traj.message
    scale = max(float(np.abs(c[0]).max()) for c in traj.imbalance)
    for c in traj.imbalance:
        want = np.exp(-2 * lr * lam * t)[:, None, None] * c[0]
        assert np.abs(c - want).max() <= 1e-8 * scale


def test_l2_keeps_imbalance_for_qngd_but_weight_decay_shrinks_it():
    """L2 is preconditioned (stays orthogonal to the null-space), weight decay is not."""
    net, task = _case((3, 4, 4, 3))
    t = np.linspace(0, 4, 3)
    l2 = simulate(net, task, rules.chain(rules.l2(0.2), rules.ngd(2)), t=t, quiet=True)
    wd = simulate(net, task, rules.chain(rules.ngd(2), rules.weight_decay(0.2)), t=t, quiet=True)
    assert _imbalance_drift(l2) <= 1e-8
    assert _imbalance_drift(wd) > 1e-2
    assert np.abs(l2.map[-1] - wd.map[-1]).max() > 1e-3


def test_l2_and_weight_decay_trajectories_coincide_for_gd():
    net, task = _case((3, 4, 4, 3))
    t = np.linspace(0, 4, 3)
    a = simulate(net, task, rules.chain(rules.l2(0.2), rules.gd()), t=t, quiet=True)
    b = simulate(net, task, rules.chain(rules.gd(), rules.weight_decay(0.2)), t=t, quiet=True)
    assert np.abs(a.map - b.map).max() <= 1e-12


RULES = [
    dict(q=math.inf), dict(q=1.0), dict(q=2.0), dict(q=3.0),
    dict(q=1.0, block_diagonal=True), dict(q=2.0, block_diagonal=True),
    dict(q=3.0, block_diagonal=True),
    dict(q=2.0, weight_decay=0.1), dict(q=1.0, damping=1e-2),
    dict(q=2.0, block_diagonal=True, weight_decay=0.1, damping=1e-3),
]


@pytest.mark.parametrize("spec", RULES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("widths", [(3, 4, 2), (2, 3, 4, 3), (3, 3, 3, 3, 3), (4, 5)])
def test_full_matrix_from_aligned_init_follows_singular_modes(spec, widths):
    """Claim huh.modes.reduction: the aligned full-matrix run equals modes.simulate."""
    rng = np.random.default_rng(11)
    d = len(widths) - 1
    u, _ = np.linalg.qr(rng.standard_normal((widths[-1], widths[-1])))
    v, _ = np.linalg.qr(rng.standard_normal((widths[0], widths[0])))
    r = min(widths[0], widths[-1])
    s_star = np.array([3.0, 1.5, 0.5, 0.2][:r])
    target = (u[:, :r] * s_star) @ v[:, :r].T
    m = min(min(widths), r)
    sigma0 = 0.3 + 0.4 * rng.random((m, d))  # aligned, not balanced
    net = Network.aligned(target, sigma0, widths=widths, seed=5)
    task = Task(target=target)
    rule = rules.ngd(spec["q"], damping=spec.get("damping", 0.0),
                     block_diagonal=spec.get("block_diagonal", False))
    if spec.get("weight_decay"):
        rule = rules.chain(rule, rules.weight_decay(spec["weight_decay"]))
    t = np.linspace(0, 3, 4)
    full = simulate(net, task, rule, t=t, lr=0.8, quiet=True)
    red = modes.simulate(sigma0, s_star[:m], t=t, q=spec["q"], lr=0.8,
                         block_diagonal=spec.get("block_diagonal", False),
                         weight_decay=spec.get("weight_decay", 0.0),
                         damping=spec.get("damping", 0.0))
    assert full.success and red.success
    for k in range(len(t)):
        want = Network.aligned(target, red.sigma[k], widths=widths, seed=5)
        for w_full, w_red in zip(full.weights, want.weights):
            assert np.abs(w_full[k] - w_red).max() <= 1e-8
    assert np.abs(full.mode_strengths[:, :m] - red.map).max() <= 1e-8


def test_discrete_steps_match_explicit_euler():
    net, task = _case((3, 4, 3))
    rule = rules.ngd(2)
    traj = simulate(net, task, rule, t=[0, 1, 3], lr=0.1, method="discrete", quiet=True)
    w = net
    for _ in range(3):
        w = Network([x + 0.1 * v for x, v in zip(w.weights, rule.velocity(w, task))])
    assert traj.t.tolist() == [0, 1, 3]
    for a, b in zip(traj.weights, w.weights):
        assert np.array_equal(a[-1], b)


def test_discrete_run_that_diverges_stops_and_says_when():
    net, task = _case((3, 4, 3))
    traj = simulate(net, task, rules.gd(), t=np.arange(0, 200, 10), lr=50.0, method="discrete",
                    quiet=True)
    assert traj.status == 1
    assert "diverged" in traj.message and "step" in traj.message
    assert len(traj.t) < 20
    assert all(np.all(np.isfinite(w)) for w in traj.weights)
    assert np.all(np.isfinite(traj.loss))


def test_ode_run_that_grows_past_max_norm_stops_with_status_1():
    net, task = _case((3, 4, 3))
    big = Task(target=1e4 * task.target)
    traj = simulate(net, big, rules.ngd(1), t=np.linspace(0, 10, 11),
                    limits=dlnsim.Limits(max_norm=50.0), quiet=True)
    assert traj.status == 1
    assert "max_norm" in traj.message
    assert traj.t[-1] < 10
    assert np.all(np.isfinite(traj.map))


def test_ngdd_hitting_zero_jacobian_fails_at_the_predicted_time():
    """Scalar NGD-d toward s* = -1 from w1 = w2 = 0.5: sbar(t) = -1 + 1.25 e^{-t} (linear map
    dynamics) with sigma_1 / sigma_2 fixed, so both layers reach 0 together at t = ln 1.25, where
    the speed sd / (d j) is infinite. The run must stop there, saying so, with no NaNs."""
    net = Network([np.array([[0.5]]), np.array([[0.5]])])
    traj = simulate(net, Task(target=np.array([[-1.0]])), rules.ngd(1, block_diagonal=True),
                    t=np.linspace(0, 1, 5), quiet=True)
    assert traj.status == -1
    assert f"t = {math.log(1.25):.6g}" in traj.message
    assert np.all(np.isfinite(traj.map))


def test_stalled_integration_stops_with_step_size_underflow():
    """A discontinuous field (chattering at 0) stops instead of grinding for hours."""
    from dlnsim.solve import Options, solve
    opts = Options.checked("ode", "DOP853", np.linspace(0, 3, 4))
    res = solve(lambda y, idx: -np.sign(y), np.array([[1.0]]), opts, quiet=True)
    assert res.status[0] == -1
    assert "step size underflow" in res.message[0] and "t = 1" in res.message[0]
    assert res.saved[0] == 2  # t = 0 and t = 1 were saved before the stall


def test_trajectory_series_are_consistent(tmp_path):
    """Every derived series against a computation that does not go through the task's own
    methods: the train loss from the data (1/2 mean ||W x - y||^2), the test loss as the
    population loss of fresh teacher data, the map as the product of the saved weights, the
    mode strengths as u_k^T W v_k."""
    task = Task.teacher_student(n=4, rank=2, noise=0.1, seed=3)
    net = Network.random((4, 4, 4), scale=0.1, seed=4)
    traj = simulate(net, task, rules.ngd(2), t=np.linspace(0, 5, 4), quiet=True)
    x, y = task.inputs, task.outputs
    u, _, vt = np.linalg.svd(task.target)
    for k in range(len(traj.t)):
        w = traj.weights[1][k] @ traj.weights[0][k]
        np.testing.assert_allclose(traj.map[k], w, rtol=1e-14, atol=1e-15)
        data_loss = 0.5 * np.mean(np.sum((w @ x - y) ** 2, axis=0))
        assert traj.loss[k] == pytest.approx(data_loss, rel=1e-10)
        fresh = 0.5 * np.sum((w - task.teacher) ** 2) + 0.5 * 4 * 0.1**2
        assert traj.test_loss[k] == pytest.approx(fresh, rel=1e-12)
        for m in range(4):
            assert traj.mode_strengths[k, m] == pytest.approx(u[:, m] @ w @ vt[m], abs=1e-13)
    assert traj.loss[-1] < 0.1 * traj.loss[0]
    assert traj.nfev > 0 and traj.rule == "ngd(q=2)"


def test_trajectory_save_load_roundtrip_without_pickle(tmp_path):
    task = Task.teacher_student(n=3, rank=1, seed=0)
    traj = simulate(Network.random((3, 3, 3), scale=0.2), task, rules.ngd(2),
                    t=np.linspace(0, 1, 3), quiet=True)
    path = tmp_path / "run.npz"
    traj.save(path)
    assert os.listdir(tmp_path) == ["run.npz"]  # the temporary file was renamed away
    with np.load(path, allow_pickle=False) as f:
        assert all(f[k].dtype != object for k in f.files)
    back = Trajectory.load(path)
    for name in ("t", "map", "loss", "mode_strengths", "test_loss"):
        assert np.array_equal(getattr(back, name), getattr(traj, name))
    for a, b in zip(back.weights + back.imbalance, traj.weights + traj.imbalance):
        assert np.array_equal(a, b)
    assert (back.status, back.message, back.rule, back.method, back.lr) == \
        (traj.status, traj.message, traj.rule, traj.method, traj.lr)


def test_load_rejects_foreign_npz(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.ones(2))
    with pytest.raises(ValueError, match="not a dlnsim trajectory"):
        Trajectory.load(path)


@pytest.mark.parametrize("kwargs,match", [
    (dict(lr=0.0), "lr must be"),
    (dict(lr=-1.0), "lr must be"),
    (dict(t=[0.0]), "t must be a 1-D array of at least 2"),
    (dict(t=[0.0, 1.0, 0.5]), "t must be strictly increasing"),
    (dict(t=[0.0, np.nan]), "t must be finite"),
    (dict(method="euler"), "method must be"),
    (dict(solver="Euler"), "solver must be one of"),
    (dict(rtol=0.0), "rtol"),
    (dict(limits=dlnsim.Limits), "limits must be a dlnsim.Limits"),
    (dict(t=[0, 0.5], method="discrete"), "integer step numbers"),
])
def test_simulate_rejects_bad_input_naming_the_argument(kwargs, match):
    net, task = _case((3, 4, 3))
    args = dict(t=[0.0, 1.0], quiet=True) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        simulate(net, task, rules.gd(), **args)


def test_simulate_rejects_wrong_types():
    net, task = _case((3, 4, 3))
    with pytest.raises(TypeError, match="rule must be"):
        simulate(net, task, "gd", t=[0, 1])
    with pytest.raises(TypeError, match="net must be"):
        simulate(net.weights, task, rules.gd(), t=[0, 1])
    with pytest.raises(ValueError, match="target has shape"):
        simulate(net, Task(target=np.ones((2, 2))), rules.gd(), t=[0, 1])


# -- ensembles and the batched solvers (numpy arrays; tests/test_backends.py runs torch) -----
def _ensemble_setup(whitened=True):
    task = Task.teacher_student(n=5, n_out=4, rank=2, noise=0.1, seed=0)
    if not whitened:
        a = np.random.default_rng(3).standard_normal((5, 5))
        task = Task(task.target, input_cov=a @ a.T / 5 + 0.5 * np.eye(5))
    nets = [Network.random((5, 3, 6, 4), scale=0.3, seed=s) for s in range(3)]
    return nets, task


ENSEMBLE_RULES = [
    rules.gd(), rules.ngd(2), rules.ngd(1, damping=1e-3), rules.ngd(2, block_diagonal=True),
    rules.chain(rules.l2(0.1), rules.ngd(2)),
    rules.chain(rules.ngd(1.5), rules.clip(0.5), rules.weight_decay(0.01)),
]


@pytest.mark.parametrize("rule", ENSEMBLE_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("whitened", [True, False])
def test_ensemble_dopri5_agrees_with_scipy_dop853_per_member(rule, whitened):
    """Two independent integrators at rtol 1e-12: trajectories agree to 1e-9 relative."""
    nets, task = _ensemble_setup(whitened)
    t = np.linspace(0, 2, 5)
    ens = dlnsim.simulate_ensemble(nets, task, rule, t, rtol=1e-12, atol=1e-14, quiet=True)
    assert ens.success and ens.valid.all() and ens.method == "ode:dopri5"
    for b, net in enumerate(nets):
        ref = simulate(net, task, rule, t, rtol=1e-12, atol=1e-14, quiet=True)
        for w_ens, w_ref in zip(ens.weights, ref.weights):
            err = np.abs(w_ens[b] - w_ref).max() / np.abs(w_ref).max()
            assert err < 1e-9, err
        np.testing.assert_allclose(ens.loss[b], ref.loss, rtol=1e-9)


def test_ensemble_discrete_equals_single_runs_exactly():
    nets, task = _ensemble_setup(False)
    rule = rules.chain(rules.ngd(2), rules.weight_decay(0.01))
    t = np.array([0, 5, 12])
    ens = dlnsim.simulate_ensemble(nets, task, rule, t, lr=0.1, method="discrete", quiet=True)
    for b, net in enumerate(nets):
        ref = simulate(net, task, rule, t, lr=0.1, method="discrete", quiet=True)
        for w_ens, w_ref in zip(ens.weights, ref.weights):
            np.testing.assert_allclose(w_ens[b], w_ref, rtol=1e-12, atol=1e-15)


def test_ensemble_over_rules_tasks_and_learning_rates_runs_each_member_as_alone():
    nets, task = _ensemble_setup()
    _, task_s = _ensemble_setup(False)
    rule_list = [rules.ngd(1), rules.ngd(2), rules.ngd(1)]
    lrs = [0.5, 1.0, 2.0]
    tasks = [task, task_s, task_s]
    t = np.linspace(0, 1, 3)
    ens = dlnsim.simulate_ensemble(nets, tasks, rule_list, t, lr=lrs, quiet=True)
    assert ens.rule == ("ngd(q=1)", "ngd(q=2)", "ngd(q=1)")
    for b in range(3):
        alone = dlnsim.simulate_ensemble(nets[b:b + 1], tasks[b], rule_list[b], t, lr=lrs[b],
                                         quiet=True)
        for w_ens, w_alone in zip(ens.weights, alone.weights):
            np.testing.assert_allclose(w_ens[b], w_alone[0], rtol=1e-13, atol=1e-15)
        traj = ens.member(b)
        assert isinstance(traj, Trajectory) and traj.lr == lrs[b]
        np.testing.assert_allclose(traj.loss, ens.loss[b])


def test_ensemble_member_that_diverges_stops_alone():
    nets, task = _ensemble_setup()
    t = np.arange(0, 200, 20)
    ens = dlnsim.simulate_ensemble(nets, task, rules.gd(), t, lr=[0.05, 50.0, 0.05],
                                   method="discrete", quiet=True)
    assert list(ens.status) == [0, 1, 0] and not ens.success
    assert "diverged" in ens.message[1] and ens.saved[1] < len(t)
    assert np.all(np.isfinite(ens.loss)) and np.all(np.isfinite(ens.map))
    assert ens.valid[1].sum() == ens.saved[1]
    assert len(ens.member(1).t) == ens.saved[1] and ens.member(1).status == 1


def test_simulate_with_batched_solvers_on_numpy():
    net, task = _ensemble_setup()[0][0], _ensemble_setup()[1]
    t = np.linspace(0, 1, 4)
    ref = simulate(net, task, rules.ngd(2), t, rtol=1e-12, atol=1e-14, quiet=True)
    dp = simulate(net, task, rules.ngd(2), t, solver="dopri5", rtol=1e-12, atol=1e-14,
                  quiet=True)
    rk = simulate(net, task, rules.ngd(2), t, solver="rk4", dt=1e-3, quiet=True)
    assert dp.method == "ode:dopri5" and rk.method == "ode:rk4"
    assert np.abs(dp.map - ref.map).max() < 1e-10
    assert np.abs(rk.map - ref.map).max() < 1e-9  # RK4 at dt = 1e-3: error ~ dt^4


@pytest.mark.parametrize("kwargs, match", [
    (dict(nets=[]), "at least one"),
    (dict(lr=[1.0, 2.0]), "one value per network"),
    (dict(lr=[1.0, -1.0, 1.0]), "lr"),
    (dict(solver="DOP853"), "solver must be one of"),
    (dict(solver="rk4"), "dt must be given"),
    (dict(rule=[rules.gd()]), "one Rule per network"),
    (dict(backend="jax"), "backend must be one of"),
    (dict(device="cuda"), "device must be None or 'cpu'"),
])
def test_simulate_ensemble_rejects_bad_input_naming_the_argument(kwargs, match):
    nets, task = _ensemble_setup()
    args = dict(nets=nets, task=task, rule=rules.gd(), t=[0.0, 1.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dlnsim.simulate_ensemble(**args, quiet=True)


def test_simulate_ensemble_rejects_mixed_widths_and_wrong_types():
    nets, task = _ensemble_setup()
    with pytest.raises(ValueError, match="equal widths"):
        dlnsim.simulate_ensemble(nets + [Network.random((5, 4), seed=0)], task, rules.gd(),
                                 [0, 1], quiet=True)
    with pytest.raises(TypeError, match="nets must be a sequence"):
        dlnsim.simulate_ensemble(nets[0], task, rules.gd(), [0, 1], quiet=True)
    with pytest.raises(TypeError, match=r"task\[1\] must be a Task"):
        dlnsim.simulate_ensemble(nets, [task, "x", task], rules.gd(), [0, 1], quiet=True)


def test_numpy_install_works_without_torch():
    """With torch hidden, numpy runs work, torch is never imported, and asking for it says
    how to install it."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, dlnsim\n"
        "from dlnsim import Network, Task, rules\n"
        "net, task = Network.random((3, 3, 3), seed=0), Task(np.eye(3))\n"
        "tr = dlnsim.simulate(net, task, rules.ngd(2), [0, 1], quiet=True)\n"
        "assert tr.success\n"
        "e = dlnsim.simulate_ensemble([net, net], task, rules.ngd(2), [0, 1], quiet=True)\n"
        "assert e.success\n"
        "try:\n"
        "    dlnsim.simulate(net, task, rules.gd(), [0, 1], backend='torch', quiet=True)\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "needs PyTorch" in out and "dlnsim[torch]" in out


# -- failures during a run: a status and a message, never an exception or a NaN ----------------
def test_a_failed_eigensolve_stops_the_run_with_status_minus_1(monkeypatch):
    net = Network.random((3, 3, 3), scale=0.5, seed=1)
    task = Task.teacher_student(n=3, rank=2, seed=0)
    calls, real = [0], np.linalg.eigh

    def flaky(a, *args, **kwargs):
        calls[0] += 1
        if calls[0] > 200:
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        return real(a, *args, **kwargs)

    monkeypatch.setattr(np.linalg, "eigh", flaky)
    traj = simulate(net, task, rules.ngd(2, path="dense"), np.linspace(0, 5, 11), quiet=True)
    assert traj.status == dlnsim.Status.FAILED
    assert "vector field failed" in traj.message and "did not converge" in traj.message
    assert 1 < len(traj.t) < 11 and np.all(np.isfinite(traj.loss))


def test_a_stiff_run_stops_within_its_budget_and_the_fixes_it_names_work():
    """GD at lr = 1e6 on width 3: stiff for DOP853. The budget stops it (status -1, in seconds,
    not hours) with a message naming discrete steps, a smaller lr and implicit solvers, and
    without suggesting damping (GD has nothing to damp); Radau runs it."""
    import time

    net = Network.random((3, 3, 3), scale=0.5, seed=1)
    task = Task.teacher_student(n=3, rank=2, seed=0)
    t0 = time.perf_counter()
    traj = simulate(net, task, rules.gd(), [0.0, 1.0], lr=1e6, quiet=True,
                    limits=dlnsim.Limits(max_evals=50_000))
    assert time.perf_counter() - t0 < 60
    assert traj.status == dlnsim.Status.FAILED and "evaluation budget" in traj.message
    assert "method='discrete'" in traj.message and "Radau" in traj.message
    assert "damping" not in traj.message
    stiff = simulate(net, task, rules.gd(), [0.0, 1.0], lr=1e6, solver="Radau", quiet=True)
    assert stiff.success and stiff.loss[-1] < 1e-3 * stiff.loss[0]
    discrete = simulate(net, task, rules.gd(), [0, 10], lr=1e6, method="discrete", quiet=True)
    assert discrete.status == dlnsim.Status.DIVERGED and "at step" in discrete.message


def test_lone_numpy_runs_default_to_dop853_and_ensembles_to_dopri5():
    net, task = _case((3, 4, 3))
    assert simulate(net, task, rules.gd(), [0.0, 0.1], quiet=True).method == "ode:DOP853"
    ens = dlnsim.simulate_ensemble([net, net], task, rules.gd(), [0.0, 0.1], quiet=True)
    assert ens.method == "ode:dopri5"


def test_nfev_counts_every_field_evaluation():
    """A rule that counts its calls: the trajectory's nfev is that count, for one member and
    for an ensemble of rule groups (summed)."""
    from dlnsim.rules import Map, Rule, Stage, chain

    calls = []
    spy = Rule((Map("spy", Stage.DECAY, lambda d, s: calls.append(1) or d),))
    net, task = _case((3, 4, 3))
    traj = simulate(net, task, chain(rules.gd(), spy), [0, 7], lr=0.05, method="discrete",
                    quiet=True)
    assert traj.nfev == len(calls) == 7
    calls.clear()
    other = chain(rules.ngd(2), spy)
    ens = dlnsim.simulate_ensemble([net, net], task, [chain(rules.gd(), spy), other], [0, 5],
                                   lr=0.05, method="discrete", quiet=True)
    assert ens.success
    assert ens.nfev == len(calls) == 10


def test_stateful_rules_see_the_step_number():
    """Context.step counts the discrete steps from 0 for every member."""
    from dlnsim.rules import Optimiser, Rule

    seen = []

    class Spy(Optimiser):
        name, stateful = "spy", True

        def update(self, d, stack, state, ctx):
            seen.append(ctx.step)
            return d, state

    net, task = _case((3, 4, 3))
    simulate(net, task, Rule((Spy(),)), [0, 4], lr=0.05, method="discrete", quiet=True)
    assert seen == [0, 1, 2, 3]


def test_a_string_where_a_task_belongs_is_a_type_error():
    net, _ = _case((3, 4, 3))
    with pytest.raises(TypeError, match="task must be a Task or a sequence of them"):
        dlnsim.simulate_ensemble([net, net], "ab", rules.gd(), [0.0, 1.0])


def test_a_network_whose_gauss_newton_matrix_underflows_is_refused_up_front():
    """Depth 20 at strengths 1e-12: the curvature (1e-450) is not representable, so q-NGD
    would stay at the start with status 0; refused with a ValueError naming the scale."""
    net = Network.aligned(np.diag([1.0, 0.5]), np.full((2, 20), 1e-12), widths=(2,) * 21)
    task = Task(np.diag([1.0, 0.5]))
    with pytest.raises(ValueError, match="Gauss-Newton matrix of this network underflows "
                                         "float64 .* at most 1e-4"):
        simulate(net, task, rules.ngd(1), [0.0, 1.0], quiet=True, atol=1e-300)
    with pytest.raises(ValueError, match="net: layer 0 is only .*e-1[23] in size, below "
                                         "atol = 1e-10"):
        simulate(net, task, rules.gd(), [0.0, 1.0], quiet=True, atol=1e-10)
    small = Network.aligned(np.diag([1.0, 0.5]), np.full((2, 20), 0.3), widths=(2,) * 21)
    assert simulate(small, task, rules.ngd(2), [0.0, 0.1], quiet=True).success


def test_overflowing_trial_steps_leak_no_numpy_warnings_and_the_run_says_why_it_stopped():
    """Depth 12 at scale 2 under GD: the map is ~1e7 and the field overflows float64 at the
    solver's trial points. Those are handled (rejected, or the run stopped with a message), so
    numpy's RuntimeWarnings must not reach the user (17 did before)."""
    import warnings

    net = Network.random((4,) * 13, scale=2.0, seed=0)
    task = Task.teacher_student(n=4, rank=2, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traj = simulate(net, task, rules.gd(), np.linspace(0, 1, 3), quiet=True,
                        limits=dlnsim.Limits(max_seconds=2.0))
    assert [str(w.message) for w in caught] == []
    assert traj.status == dlnsim.Status.FAILED and traj.message
