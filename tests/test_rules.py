"""Every rule's velocity against the plain dense P x P Gauss-Newton reference."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlnsim import Network, Task, curvature, rules, simulate
from tests.reference import dense_gauss_newton, dense_power, dln_cases, flat, full_map

QS = [1.0, 1.5, 2.0, 3.0, math.inf]
RC = curvature.DEFAULT_RCOND


def _separated(h, gap=1e-5):
    e = np.linalg.eigvalsh(h)
    rel = e / e.max()
    return e.max() > 0 and bool(np.all((rel < 1e-13) | (rel > gap)))


def _dense_gradient(weights, target, cov):
    """g = J^T vec(Delta S), with J built by perturbing entries (tests/reference.py)."""
    from tests.reference import dense_jacobian
    return dense_jacobian(weights).T @ ((full_map(weights) - target) @ cov).ravel()


def _dense_precondition(h, weights, v, q, damping, block):
    if not block:
        return dense_power(h, v, q, damping, RC)
    out, k = [], 0
    scale = 1.0 if math.isinf(q) else len(weights) ** (-1 / q)
    for w in weights:
        sl = slice(k, k + w.size)
        out.append(scale * dense_power(h[sl, sl], v[sl], q, damping, RC))
        k += w.size
    return np.concatenate(out)


def _blocks_separated(h, weights):
    k = 0
    for w in weights:
        if not _separated(h[k:k + w.size, k:k + w.size]):
            return False
        k += w.size
    return True


# Categorical choices are parametrized (every q, block and regulariser is run); hypothesis
# draws the continuous ones (the network, the covariance, the damping level).
@pytest.mark.parametrize("reg", ["none", "l2", "decay"])
@pytest.mark.parametrize("block", [False, True])
@pytest.mark.parametrize("q", QS)
@settings(max_examples=12, deadline=None)
@given(case=dln_cases(), damping_rel=st.sampled_from([0.0, 1e-3, 0.3]))
def test_rule_velocity_equals_dense_reference(case, q, block, damping_rel, reg):
    weights, target, cov = case
    net, task = Network(weights), Task(target=target, input_cov=cov)
    h = dense_gauss_newton(weights, cov)
    damping = damping_rel * np.linalg.eigvalsh(h).max()
    if damping == 0:
        # undamped q = 1 loses about eps * cond(K)^{1.3} in any float64 eigensolver, the
        # dense reference included (see test_curvature._well_separated): keep cond <= 1e5;
        # L2 sends an arbitrary vector through K^+ as well (~eps cond^{1.5}): cond <= 1e4
        gap = 1e-4 if reg == "l2" else 1e-5
        assume(_blocks_separated(h, weights) if block else _separated(h, gap))
    lam = 0.37
    theta = flat(weights)
    g = _dense_gradient(weights, target, cov)
    pre = rules.ngd(q, damping=damping, block_diagonal=block)
    if reg == "l2":
        rule = rules.chain(rules.l2(lam), pre)
        want = -_dense_precondition(h, weights, g + lam * theta, q, damping, block)
    elif reg == "decay":
        rule = rules.chain(pre, rules.weight_decay(lam))
        want = -_dense_precondition(h, weights, g, q, damping, block) - lam * theta
    else:
        rule = pre
        want = -_dense_precondition(h, weights, g, q, damping, block)
    got = flat(rule.velocity(net, task))
    assert np.linalg.norm(got - want) <= 1e-9 * np.linalg.norm(want) + 1e-300


def test_gd_velocity_is_minus_gradient():
    net = Network.random((3, 2, 4), scale=0.9, seed=1)
    task = Task(target=np.ones((4, 3)), input_cov=np.diag([1.0, 2.0, 3.0]))
    want = -_dense_gradient(list(net.weights), task.target, task.input_cov)
    assert np.allclose(flat(rules.gd().velocity(net, task)), want, rtol=1e-12, atol=1e-14)
    assert flat(rules.ngd(math.inf).velocity(net, task)) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("q", [1.0, 2.0])
def test_clip_bounds_speed_and_keeps_direction(q):
    net = Network.random((3, 3, 3), scale=0.05, seed=2)
    task = Task(target=np.eye(3))
    free = flat(rules.ngd(q).velocity(net, task))
    clipped = flat(rules.chain(rules.ngd(q), rules.clip(0.5)).velocity(net, task))
    assert np.linalg.norm(free) > 0.5  # the case exercises the clip
    assert np.linalg.norm(clipped) == pytest.approx(0.5, rel=1e-12)
    assert np.allclose(clipped, free * 0.5 / np.linalg.norm(free), rtol=1e-12)
    loose = flat(rules.chain(rules.ngd(q), rules.clip(1e9)).velocity(net, task))
    assert np.array_equal(loose, free)


def test_l2_and_weight_decay_coincide_for_gd():
    net = Network.random((3, 4, 2), scale=0.7, seed=3)
    task = Task(target=np.ones((2, 3)))
    a = flat(rules.chain(rules.l2(0.2), rules.gd()).velocity(net, task))
    b = flat(rules.chain(rules.gd(), rules.weight_decay(0.2)).velocity(net, task))
    assert np.allclose(a, b, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("q,block", [(1.0, False), (2.0, False), (3.0, False), (2.0, True)])
def test_l2_and_weight_decay_differ_for_qngd(q, block):
    net = Network.random((3, 4, 3), scale=0.7, seed=4)
    task = Task(target=np.ones((3, 3)))
    pre = rules.ngd(q, block_diagonal=block)
    a = flat(rules.chain(rules.l2(0.2), pre).velocity(net, task))
    b = flat(rules.chain(pre, rules.weight_decay(0.2)).velocity(net, task))
    assert np.linalg.norm(a - b) > 1e-3 * np.linalg.norm(b)


def test_rule_names_and_chain_flattening():
    r = rules.chain(rules.l2(0.1), rules.ngd(2, damping=1e-5), rules.clip(1.0))
    assert r.name == "l2(0.1) -> ngd(q=2, damping=1e-05) -> clip(1)"
    assert rules.gd().name == "gd"
    assert rules.ngd(2, block_diagonal=True).name == "ngd-d(q=2)"


@pytest.mark.parametrize("make,match", [
    (lambda: rules.ngd(0.9), "q must be >= 1"),
    (lambda: rules.ngd(float("nan")), "q must not be NaN"),
    (lambda: rules.ngd("2"), "q must be a real number"),
    (lambda: rules.ngd(2, damping=-1), "damping"),
    (lambda: rules.ngd(2, block_diagonal=1), "block_diagonal"),
    (lambda: rules.l2(-0.1), "l2"),
    (lambda: rules.weight_decay(float("inf")), "weight_decay"),
    (lambda: rules.clip(0), "max_speed"),
    (lambda: rules.chain(rules.gd(), "gd"), "chain argument 1"),
])
def test_bad_rule_arguments_raise_naming_the_argument(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_velocity_rejects_mismatched_task():
    net = Network.random((3, 2, 4), seed=0)
    with pytest.raises(ValueError, match="task's target has shape"):
        rules.gd().velocity(net, Task(target=np.ones((3, 3))))
    with pytest.raises(TypeError, match="task must be"):
        rules.gd().velocity(net, np.ones((4, 3)))


def test_auto_path_equals_dense_on_balanced_and_unbalanced_networks():
    rng = np.random.default_rng(3)
    target = rng.standard_normal((3, 4))
    balanced = Network.aligned(rng.standard_normal((3, 4)), [1.5, 0.4, 0.9], widths=(4, 5, 3),
                               seed=2)
    unbalanced = Network.random((4, 5, 3), scale=0.7, seed=4)
    for net in (balanced, unbalanced):
        task = Task(target=target)
        a = flat(rules.ngd(2).velocity(net, task))
        b = flat(rules.ngd(2, path="dense").velocity(net, task))
        assert np.linalg.norm(a - b) <= 1e-10 * np.linalg.norm(b)


@pytest.mark.parametrize("whitened", [True, False])
def test_auto_takes_the_exact_depth2_path_at_depth_2(monkeypatch, whitened):
    """At depth 2 "auto" diagonalises K through its n_2 blocks (never the dense kernel), for
    any S and imbalance, and equals the dense map-space path; at depth 3 it does not."""
    from dataclasses import replace

    from dlnsim.curvature import batched
    from dlnsim.rules.fields import NGD

    calls = []
    real = batched.depth2_kernel_eigh
    monkeypatch.setattr(batched, "depth2_kernel_eigh",
                        lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(4)
    cov = None if whitened else np.diag([2.0, 1.0, 0.5, 0.3])
    task = Task(target=rng.standard_normal((3, 4)), input_cov=cov)
    net = Network.random((4, 6, 3), scale=0.7, seed=5)   # unbalanced, rectangular
    for rule in (rules.ngd(2), rules.ngd(1, damping=1e-3),
                 rules.chain(rules.l2(0.1), rules.ngd(3))):   # the projection form too
        got = flat(rule.velocity(net, task))
        dense = rules.Rule(tuple(t if not isinstance(t, NGD) else replace(t, path="dense")
                                 for t in rule.transforms))
        want = flat(dense.velocity(net, task))
        assert np.linalg.norm(got - want) <= 1e-10 * np.linalg.norm(want)
    assert len(calls) == 3
    rules.ngd(2).velocity(Network.random((4, 3, 3, 3), scale=0.7, seed=5), task)
    assert len(calls) == 3


def test_the_depth2_path_is_refused_at_other_depths_before_any_work():
    net = Network.random((2, 3, 3, 2), scale=0.5, seed=0)
    with pytest.raises(ValueError, match="path='depth2' needs a network of depth 2, got "
                                         "depth 3"):
        simulate(net, Task(target=np.eye(2)), rules.ngd(2, path="depth2"), [0, 1])


def test_balanced_path_is_refused_where_it_cannot_apply():
    net = Network.aligned(np.eye(3), [1.0, 2.0, 3.0], depth=2)
    with pytest.raises(ValueError, match="path='balanced' needs whitened inputs"):
        rules.ngd(2, path="balanced").velocity(net, Task(target=np.eye(3),
                                                          input_cov=np.diag([1.0, 2, 3])))
    with pytest.raises(ValueError, match="path must be one of"):
        rules.ngd(2, path="cholesky")


# -- the same math on stacks: one field for numpy (B = 1) and ensembles -----------------------
STACK_RULES = [
    rules.gd(), rules.ngd(1), rules.ngd(2), rules.ngd(1.5, damping=1e-3),
    rules.ngd(2, block_diagonal=True), rules.ngd(1, block_diagonal=True, damping=1e-4),
    rules.chain(rules.l2(0.1), rules.ngd(2)),
    rules.chain(rules.ngd(2), rules.clip(0.05), rules.weight_decay(0.01)),
]


@pytest.mark.parametrize("rule_index", range(len(STACK_RULES)),
                         ids=[r.name for r in STACK_RULES])
@settings(max_examples=8)
@given(case=dln_cases(max_depth=4, max_width=4))
def test_stack_velocity_equals_each_members_velocity(case, rule_index):
    """A stack of 3 networks with per-member targets and covariances gives each member its own
    velocity (member 0 is the drawn case, near-saddle scales included)."""
    weights, target, cov = case
    rng = np.random.default_rng(0)
    members = [(weights, target, cov)]
    for b in (1, 2):
        ws = [w * (1 + 0.5 * b) + 0.2 * rng.standard_normal(w.shape) for w in weights]
        a = rng.standard_normal(cov.shape)
        members.append((ws, target + rng.standard_normal(target.shape),
                        a @ a.T / len(a) + 0.3 * np.eye(len(a))))
    rule = STACK_RULES[rule_index]
    tasks = [Task(tg, input_cov=cv) for _, tg, cv in members]
    stack = rules.Stack(
        tuple(np.stack([ws[i] for ws, _, _ in members]) for i in range(len(weights))),
        np.stack([t.target for t in tasks]), np.stack([t.input_cov for t in tasks]),
        np.stack([t.input_cov_sqrt for t in tasks]))
    got = rule.stack_velocity(stack)
    for b, (ws, _, _) in enumerate(members):
        want = rule.velocity(Network(ws), tasks[b])
        for g, w in zip(got, want):
            # same LAPACK calls on a stack or alone: agreement to round-off
            np.testing.assert_allclose(g[b], w, rtol=1e-10, atol=1e-12 * (1 + np.abs(w).max()))


def test_stack_take_keeps_shared_tasks():
    net = Network.random((3, 4, 2), seed=0)
    task = Task.teacher_student(n=3, n_out=2, rank=1, seed=0)
    stack = rules.Stack.from_network(net, task)
    two = rules.Stack(tuple(np.concatenate([w, 2 * w]) for w in stack.weights), stack.target)
    sub = two.take(np.array([1]))
    assert sub.target is two.target and np.array_equal(sub.weights[0][0], 2 * net.weights[0])


def test_krylov_path_is_numpy_only():
    torch = pytest.importorskip("torch")
    net = Network.random((3, 4, 2), seed=0)
    task = Task.teacher_student(n=3, n_out=2, rank=1, seed=0)
    s = rules.Stack.from_network(net, task)
    ts = rules.Stack(tuple(torch.tensor(w) for w in s.weights), torch.tensor(s.target))
    with pytest.raises(ValueError, match="numpy arrays only"):
        rules.ngd(2, path="krylov").stack_velocity(ts)


# -- chains: the semantics follow the names -----------------------------------------------------
@pytest.mark.parametrize("pre", [rules.ngd(2), rules.ngd(1, damping=1e-3, block_diagonal=True),
                                 rules.gd()])
def test_decay_and_l2_mean_what_they_say_wherever_they_are_written(pre):
    net = Network.random((3, 4, 3), scale=0.7, seed=4)
    task = Task(target=np.ones((3, 3)), input_cov=np.diag([1.0, 2.0, 0.5]))
    for a, b in [(rules.chain(rules.weight_decay(0.2), pre),
                  rules.chain(pre, rules.weight_decay(0.2))),
                 (rules.chain(pre, rules.l2(0.2)), rules.chain(rules.l2(0.2), pre)),
                 (rules.chain(rules.weight_decay(0.1), rules.clip(0.3), pre),
                  rules.chain(pre, rules.clip(0.3), rules.weight_decay(0.1)))]:
        assert a.name == b.name
        for x, y in zip(a.velocity(net, task), b.velocity(net, task)):
            np.testing.assert_array_equal(x, y)


def test_a_chain_with_two_preconditioners_is_refused():
    with pytest.raises(ValueError, match="at most one preconditioner"):
        rules.chain(rules.ngd(2), rules.ngd(1))
    with pytest.raises(ValueError, match="at most one preconditioner"):
        rules.chain(rules.kfac(), rules.ngd(2, block_diagonal=True))
    with pytest.raises(ValueError, match="at most one gradient estimate"):
        rules.chain(rules.minibatch_sgd(), rules.minibatch_sgd(batch=2))


def test_the_balanced_path_refuses_an_unbalanced_network_naming_the_imbalance():
    net = Network.random((3, 4, 3), scale=0.7, seed=4)
    task = Task(target=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"needs a balanced network: max \|\|c_i\|\|_F / sum "
                                         r"\|\|w_j\|\|_F\^2 = [0-9.e+-]+ > 1e-08"):
        rules.ngd(2, path="balanced").velocity(net, task)
    with pytest.raises(ValueError, match="needs a balanced network"):
        simulate(net, task, rules.ngd(2, path="balanced"), [0.0, 1.0])
    other = np.random.default_rng(0).standard_normal((3, 3))  # not the target's singular basis
    balanced = Network.aligned(other, [1.0, 0.5, 0.2], widths=(3, 4, 3))
    # discrete steps do not conserve balance: the run stops instead of drifting
    traj = simulate(balanced, task, rules.ngd(2, path="balanced"), np.arange(0, 50, 10),
                    lr=0.3, method="discrete", quiet=True)
    assert traj.status == -1 and "needs a balanced network" in traj.message


def test_tasks_shared_by_every_member_are_stored_once():
    task = Task.teacher_student(n=3, n_out=2, rank=1, seed=0)
    shared = rules.Stack.from_tasks([task, task, task])
    assert shared.target.shape[0] == 1 and shared.inputs.shape[0] == 1
    other = Task.teacher_student(n=3, n_out=2, rank=1, seed=1)
    assert rules.Stack.from_tasks([task, other]).target.shape[0] == 2


# -- typed transforms: each core transform says what it is and has its dense form ------------
@pytest.mark.parametrize("rule, kind, attr, value", [
    (rules.l2(0.25), rules.L2, "lam", 0.25),
    (rules.weight_decay(0.5), rules.WeightDecay, "lam", 0.5),
    (rules.clip(2.0), rules.Clip, "max_speed", 2.0),
    (rules.ngd(3.0, damping=1e-4), rules.NGD, "q", 3.0),
])
def test_core_transforms_are_typed_and_carry_their_coefficients(rule, kind, attr, value):
    (t,) = rule.transforms
    assert type(t) is kind and getattr(t, attr) == value
    assert not rule.discrete_only


def test_l2_and_weight_decay_differ_only_in_their_stage():
    a, b = rules.l2(0.3).transforms[0], rules.weight_decay(0.3).transforms[0]
    assert a.stage == rules.Stage.REGULARIZE and b.stage == rules.Stage.DECAY
    assert a.stage < rules.Stage.PRECONDITION < b.stage
    assert (a.name, b.name) == ("l2(0.3)", "weight_decay(0.3)")


def test_a_transform_without_a_dense_form_says_so_naming_it():
    from dlnsim.testing import dense_velocity

    net = Network.random((2, 3, 2), scale=0.5, seed=0)
    spy = rules.Rule((rules.Map("spy", rules.Stage.DECAY, lambda d, s: d),))
    with pytest.raises(TypeError, match="spy has no dense form"):
        dense_velocity(net, Task(np.eye(2)), spy)
    assert rules.kfac().discrete_only and rules.noisy_sgd("sqrt_fisher").discrete_only
    with pytest.raises(TypeError, match="discrete-time optimiser"):
        dense_velocity(net, Task(np.eye(2)), rules.kfac())


# -- one keyword builder and its inverse, one default q ------------------------------------
@pytest.mark.parametrize("kw", [
    {}, {"q": 1.0, "damping": 1e-3}, {"q": 3.0, "block_diagonal": True},
    {"q": math.inf, "l2": 0.1, "weight_decay": 0.2}, {"q": 2.0, "clip": 0.5, "l2": 0.3},
])
def test_preset_and_parts_are_inverse(kw):
    rule = rules.preset(**kw)
    p = rules.parts(rule)
    assert rules.preset(**{k: v for k, v in vars(p).items() if k != "unknown"}).name == rule.name
    assert p.q == kw.get("q", rules.DEFAULT_Q) and p.unknown == ()
    assert p.l2 == kw.get("l2", 0.0) and p.weight_decay == kw.get("weight_decay", 0.0)
    assert p.clip == kw.get("clip")


def test_one_default_q_for_every_keyword_shorthand():
    from dlnsim.cli import build_parser
    from dlnsim.sweep.spec import DEFAULTS

    assert rules.DEFAULT_Q == 2.0
    assert rules.preset().transforms[0].q == rules.DEFAULT_Q
    assert build_parser().parse_args(["simulate"]).q == rules.DEFAULT_Q
    assert DEFAULTS["q"] == (rules.DEFAULT_Q,)
    with pytest.raises(TypeError, match="q"):
        rules.ngd()  # the builder of one transform takes q explicitly


def test_parts_names_what_is_not_a_core_rule():
    p = rules.parts(rules.chain(rules.kfac(), rules.weight_decay(0.1)))
    assert p.unknown == (rules.kfac().name,) and p.weight_decay == 0.1 and math.isinf(p.q)
    with pytest.raises(TypeError, match="rule must be"):
        rules.parts("ngd")


def test_a_field_asked_of_a_discrete_time_optimiser_is_one_error_with_one_message():
    """simulate in ODE mode, Rule.velocity, a singular-mode run and a phase portrait refuse
    K-FAC with the same exception (a TypeError and a ValueError) and the same words."""
    from dlnsim import modes, plots

    net = Network.random((3, 3, 3), scale=0.3, seed=0)
    task = Task(np.diag([1.0, 0.5, 0.2]))
    k = rules.kfac()
    calls = [lambda: simulate(net, task, k, [0, 1]), lambda: k.velocity(net, task),
             lambda: modes.simulate(np.ones((2, 2)), [1, 1], [0, 1], rule=k),
             lambda: plots.phase_portrait(k)]
    messages = set()
    for call in calls:
        with pytest.raises(rules.NeedsDiscreteTime) as info:
            call()
        assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
        messages.add(str(info.value))
    assert messages == {str(rules.NeedsDiscreteTime(k.name))}
    assert "method='discrete'" in messages.pop()


def test_a_mode_field_takes_each_members_own_target():
    """Rule.field on a ModeStack of two members with different targets: the rows asked for
    follow their own s* (a field that kept member 0's target would not)."""
    from dlnsim.rules import ModeStack

    sigma = np.array([[[0.3, 0.5], [0.2, 0.4]], [[0.6, 0.1], [0.7, 0.2]]])
    target = np.array([[1.0, 0.5], [2.0, -1.0]])
    stack = ModeStack((sigma,), target)
    rule = rules.ngd(2.0)
    field = rule.field(stack, np.array([1.0, 1.0]))
    got = field(sigma[1:].reshape(1, -1), np.array([1]))
    want = rule.stack_velocity(ModeStack((sigma[1:],), target[1:]))[0].reshape(1, -1)
    np.testing.assert_array_equal(got, want)


def test_a_stalled_preconditioned_run_suggests_damping_and_a_plain_one_does_not():
    from dlnsim.rules.field import stall_hint

    assert "damping" in stall_hint(rules.ngd(1, block_diagonal=True))
    assert "damping" not in stall_hint(rules.gd())


def test_public_defaults_are_the_documented_values():
    """Each public default, called without the argument: ngd's damping, path and cutoff, the
    ODE tolerances and method of simulate, the mode velocity's q (a changed default fails)."""
    import inspect

    import dlnsim
    from dlnsim import modes
    from dlnsim.curvature.spectral import DEFAULT_RCOND

    n = rules.ngd(2).transforms[0]
    assert (n.damping, n.path, n.rcond, n.block_diagonal) == (0.0, "auto", DEFAULT_RCOND, False)
    assert DEFAULT_RCOND == 1e-12
    sim = inspect.signature(dlnsim.simulate).parameters
    assert (sim["method"].default, sim["solver"].default, sim["rtol"].default,
            sim["atol"].default, sim["lr"].default) == ("ode", None, 1e-10, 1e-12, 1.0)
    sigma = np.array([[0.3, 0.6, 0.9]])
    v = modes.velocity(sigma, [1.0])
    np.testing.assert_array_equal(v, modes.velocity(sigma, [1.0], q=2.0))
    assert not np.allclose(v, modes.velocity(sigma, [1.0], q=1.0))


@settings(max_examples=15, deadline=None)
@given(case=dln_cases(), decay=st.sampled_from([0.0, 0.3]))
def test_layer_rates_scale_each_layers_whole_update(case, decay):
    """chain(gd, weight_decay, layer_rates): layer i moves by -rate_i (g_i + lam w_i), against
    the dense gradient written out; dense(v, ctx) agrees with the fast path."""
    from dlnsim.testing import dense_velocity

    weights, target, cov = case
    net, task = Network(weights), Task(target=target, input_cov=cov)
    rates = tuple(0.5 + k for k in range(net.depth))
    rule = rules.chain(rules.layer_rates(rates), rules.gd(), rules.weight_decay(decay))
    g = _dense_gradient(weights, target, cov)
    want, k = [], 0
    for r, w in zip(rates, weights):
        want.append(-r * (g[k:k + w.size] + decay * w.ravel()))
        k += w.size
    got = flat(rule.velocity(net, task))
    np.testing.assert_allclose(got, np.concatenate(want), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(flat(dense_velocity(net, task, rule)), got, rtol=1e-10,
                               atol=1e-14)


def test_layer_rates_on_modes_equal_the_aligned_network():
    """On singular modes each column (layer) of the velocity is scaled by its rate, as on the
    aligned full-matrix network."""
    from dlnsim import modes

    sigma = np.array([[0.4, 0.9, 0.6], [0.2, 0.5, 1.1]])
    rule = rules.chain(rules.ngd(2.0), rules.layer_rates((0.5, 3.0, 1.0)))
    got = modes.velocity(sigma, [1.0, 0.5], rule=rule)
    plain = modes.velocity(sigma, [1.0, 0.5], q=2.0)
    np.testing.assert_allclose(got, plain * np.array([0.5, 3.0, 1.0]), rtol=1e-14)
    target = np.diag([1.0, 0.5])
    net = Network.aligned(target, sigma, widths=(2, 2, 2, 2))
    full = rule.velocity(net, Task(target=target))
    embedded = Network.aligned(target, got, widths=(2, 2, 2, 2))  # linear in the strengths
    for a, b in zip(full, embedded.weights):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("rates,err,match", [
    ((1.0, 2.0), ValueError, "2 rates for a network of depth 3"),
    ((1.0, -2.0, 1.0), ValueError, r"rates\[1\]"),
    ((), ValueError, "one rate per layer"),
    (3.0, TypeError, "rates must be a sequence"),
])
def test_layer_rates_refuse_rates_that_do_not_fit(rates, err, match):
    net = Network.random((2, 3, 3, 2), seed=0)
    with pytest.raises(err, match=match):
        rules.chain(rules.gd(), rules.layer_rates(rates)).velocity(net, Task(np.eye(2)))
