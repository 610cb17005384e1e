"""The integration package: steppers and the one loop (numpy here; tests/test_backends.py runs
the batched steppers on torch)."""

import time

import numpy as np
import pytest
from scipy.integrate import RK45, solve_ivp

from dlnsim.solve import Limits, Options, Status, solve

RATES = np.array([0.5, 1.0, 3.0, 10.0])
Y0 = np.ones((4, 3)) * np.array([1.0, -2.0, 3.0])
T = np.linspace(0.0, 2.0, 5)


def run(solver, field, y0, t, **kw):
    """``solve`` with options built like the front ends build them."""
    method = "discrete" if solver == "discrete" else "ode"
    opts = Options.checked(method, None if method == "discrete" else solver, t, **kw)
    return solve(field, y0, opts, quiet=True)


def _linear(rates):
    return lambda y, idx: -rates[idx][:, None] * y


def _exact(rates, y0, t):
    return np.stack([y0 * np.exp(-rates[:, None] * tk) for tk in t])


def test_dopri5_matches_the_exponential_per_member():
    res = run("dopri5", _linear(RATES), Y0, T, rtol=1e-10, atol=1e-12)
    err = np.abs(np.stack(res.y) - _exact(RATES, Y0, T)).max()
    assert err < 1e-9  # global error of a 5th-order method at rtol 1e-10 (measured 2.3e-11)
    assert np.all(res.status == Status.SUCCESS) and np.all(res.saved == len(T))


def test_dopri5_member_runs_as_if_alone():
    """Per-member step sizes: a member in an ensemble takes the steps it takes alone."""
    res = run("dopri5", _linear(RATES), Y0, T, rtol=1e-8, atol=1e-10)
    for b in range(len(RATES)):
        alone = run("dopri5", _linear(RATES[b:b + 1]), Y0[b:b + 1], T, rtol=1e-8, atol=1e-10)
        np.testing.assert_array_equal(np.stack(res.y)[:, b], np.stack(alone.y)[:, 0])


def _stiffish(t, y):
    """A nonlinear field with a fast and a slow direction: rejections happen along the way."""
    return np.array([-50.0 * (y[0] - np.cos(y[1])), -y[0] * y[1], y[0] - 0.3 * y[2] ** 3])


@pytest.mark.parametrize("rtol", [1e-4, 1e-7, 1e-10])
def test_dopri5_takes_the_steps_of_scipy_rk45(rtol):
    """With one save interval the batched Dormand-Prince takes exactly scipy RK45's steps: the
    same number of field evaluations and the same final state to round-off. A max norm instead
    of the RMS one, another safety factor or growth after a rejection changes the count."""
    y0, tend, atol = np.array([1.0, 0.5, -2.0]), 3.0, rtol * 1e-2
    ref = solve_ivp(_stiffish, (0.0, tend), y0, method="RK45", rtol=rtol, atol=atol)
    solver = RK45(_stiffish, 0.0, y0, tend, rtol=rtol, atol=atol)
    rejected = 0
    while solver.status == "running":
        h = solver.h_abs
        solver.step()
        rejected += solver.step_size < h * (1 - 1e-12) and solver.t < tend
    res = run("dopri5", lambda y, idx: _stiffish(0.0, y[0])[None], y0[None], [0.0, tend],
              rtol=rtol, atol=atol)
    assert res.nfev == ref.nfev
    np.testing.assert_allclose(res.y[-1][0], ref.y[:, -1], rtol=1e-12, atol=1e-14)
    assert rejected > 0 or rtol > 1e-5  # the tight tolerances exercise rejected steps


@pytest.mark.parametrize("rtol", [1e-6, 1e-9, 1e-12])
def test_dopri5_error_follows_the_tolerance(rtol):
    res = run("dopri5", _linear(RATES), Y0, T, rtol=rtol, atol=rtol * 1e-2)
    rel = np.abs(np.stack(res.y) - _exact(RATES, Y0, T)).max() / np.abs(Y0).max()
    assert rel < 100 * rtol


def test_rk4_is_fourth_order():
    errs = []
    for dt in (0.02, 0.01):
        res = run("rk4", _linear(RATES), Y0, T, dt=dt)
        errs.append(np.abs(np.stack(res.y) - _exact(RATES, Y0, T)).max())
    assert 14 < errs[0] / errs[1] < 18  # 2^4 = 16


def test_rk4_lands_on_save_times_with_equal_steps():
    calls = []

    def field(y, idx):
        calls.append(1)
        return np.ones_like(y)

    res = run("rk4", field, np.zeros((2, 1)), np.array([0.0, 0.25, 1.0]), dt=0.1)
    np.testing.assert_allclose(np.stack(res.y)[:, 0, 0], [0.0, 0.25, 1.0], rtol=0, atol=1e-15)
    assert len(calls) == 4 * (3 + 8)  # ceil(0.25/0.1) + ceil(0.75/0.1) steps, 4 stages each


def test_discrete_matches_a_python_loop():
    def field(y, idx):
        return -0.1 * y ** 3

    y0 = np.array([[1.0, 0.5], [2.0, -1.0]])
    res = run("discrete", field, y0, np.array([0, 3, 10]))
    y = y0.copy()
    for n in range(10):
        y = y + field(y, None)
        if n + 1 == 3:
            np.testing.assert_array_equal(res.y[1], y)
    np.testing.assert_array_equal(res.y[2], y)


@pytest.mark.parametrize("solver", ["DOP853", "RK45", "Radau", "LSODA"])
def test_scipy_steppers_interpolate_the_save_times(solver):
    res = run(solver, _linear(RATES[:1]), Y0[:1], T, rtol=1e-10, atol=1e-12)
    assert res.status[0] == Status.SUCCESS and res.saved[0] == len(T)
    err = np.abs(np.stack(res.y)[:, 0] - _exact(RATES[:1], Y0[:1], T)[:, 0]).max()
    assert err < 1e-7


@pytest.mark.parametrize("method", ["dopri5", "rk4", "discrete"])
def test_a_diverging_member_stops_alone_and_says_when(method):
    """dy/dt = y^2 blows up at t = 1/y0: members 1 and 2 diverge, member 0 runs on."""
    y0 = np.array([[0.2], [0.6], [2.0]])

    def field(y, idx):
        return y * y

    if method == "discrete":
        t = np.arange(0, 61, 5)  # y <- y + 0.05 y^2: blow-up near steps 1/(0.05 y0)
        res = run("discrete", lambda y, idx: 0.05 * y * y, y0, t)
    else:
        t = np.linspace(0.0, 3.0, 7)
        res = run(method, field, y0, t, **({"dt": 1e-3} if method == "rk4" else {}))
    assert list(res.status) == [0, 1, 1]
    assert res.saved[0] == len(t) and res.saved[1] < len(t) and res.saved[2] < res.saved[1]
    assert all("diverged" in m for m in res.message[1:])
    ys = np.stack(res.y)
    assert np.all(np.isfinite(ys))
    for b in (1, 2):  # after the stop a member repeats its last saved state
        k = res.saved[b]
        assert np.all(ys[k:, b] == ys[k - 1, b])
    if method == "dopri5":
        assert "t = 1.66" in res.message[1]  # blow-up at 1/0.6


@pytest.mark.parametrize("solver", ["dopri5", "DOP853", "RK45"])
def test_field_failure_stops_every_running_member_with_status_minus_1(solver):
    def field(y, idx):
        if np.any(y < 0.5):
            raise ArithmeticError("solver did not converge")
        return -y

    members = 2 if solver == "dopri5" else 1  # scipy's solvers take one member
    res = run(solver, field, np.ones((members, 1)), np.linspace(0, 2, 5))
    assert list(res.status) == [-1] * members
    assert all("vector field failed" in m and "did not converge" in m for m in res.message)
    assert np.all(res.saved >= 2)


def test_non_finite_velocity_is_divergence():
    def field(y, idx):
        return np.where(y > 1.5, np.inf, 1.0) * np.ones_like(y)

    res = run("discrete", field, np.array([[0.0], [1.0]]), np.arange(0, 4))
    assert list(res.status) == [1, 1] and "non-finite" in res.message[1]


def test_stalled_member_stops_with_step_size_underflow():
    """A chattering field (-sign y) stalls member 0 at y = 0; member 1 (no stall) finishes."""
    def field(y, idx):
        out = -np.sign(y)
        out[np.asarray(idx) == 1] = -0.1
        return out

    res = run("dopri5", field, np.array([[1.0], [5.0]]), np.linspace(0, 3, 4))
    assert res.status[0] == -1 and "step size underflow" in res.message[0]
    assert res.status[1] == 0


def test_max_steps_stops_with_status_minus_1():
    res = run("dopri5", _linear(RATES[:1]), Y0[:1], T, rtol=1e-12, atol=1e-14,
              limits=Limits(max_steps=5))
    assert res.status[0] == -1 and "max_steps = 5" in res.message[0]


def test_stiff_run_stops_within_its_evaluation_budget_and_says_what_to_do():
    """dy/dt = -1e6 (y - cos t) on [0, 1] needs ~1e6 explicit steps: the budget check stops it
    early (predicted cost far above max_evals) with status -1 and names the remedies."""
    res = run("DOP853", lambda y, idx: -1e6 * (y - 1.0), np.zeros((1, 1)), [0.0, 1.0],
              limits=Limits(max_evals=20_000))
    assert res.status[0] == Status.FAILED
    assert "evaluation budget" in res.message[0] and "Radau" in res.message[0]
    assert res.nfev <= 20_000
    ok = run("Radau", lambda y, idx: -1e6 * (y - 1.0), np.zeros((1, 1)), [0.0, 1.0],
             limits=Limits(max_evals=20_000))
    assert ok.status[0] == Status.SUCCESS and abs(ok.y[-1][0, 0] - 1.0) < 1e-8


def test_ctrl_c_keeps_what_was_saved_and_says_interrupted():
    calls = []

    def field(y, idx):
        calls.append(1)
        if len(calls) == 40:
            raise KeyboardInterrupt
        return -y

    res = run("discrete", lambda y, idx: 0.01 * field(y, idx), np.ones((2, 1)),
              np.arange(0, 101, 10))
    assert list(res.status) == [Status.INTERRUPTED] * 2
    assert all("interrupted at step 39" in m for m in res.message)
    assert list(res.saved) == [4, 4]  # steps 0, 10, 20, 30 were saved
    np.testing.assert_allclose(res.y[3], 0.99 ** 30)


def test_initial_step_heuristic_handles_a_zero_field():
    res = run("dopri5", lambda y, idx: np.zeros_like(y), np.zeros((2, 2)), T)
    assert np.all(res.status == 0) and np.all(np.stack(res.y) == 0)
    assert res.nfev < 100  # the heuristic's floor step grows 10x per step, no grinding


@pytest.mark.parametrize("kwargs,match", [
    (dict(method="euler"), "method must be one of"),
    (dict(solver="rk5"), "solver must be one of"),
    (dict(solver="rk4"), "dt must be given"),
    (dict(solver="dopri5", dt=0.1), "dt applies to solver='rk4' only"),
    (dict(rtol=0), "rtol"),
    (dict(limits="big"), "limits must be a dlnsim.Limits"),
])
def test_bad_options_name_the_argument(kwargs, match):
    args = dict(method="ode", solver="dopri5", t=[0.0, 1.0]) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        Options.checked(**args)


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_norm=-1), "max_norm"), (dict(max_steps=0), "max_steps"),
    (dict(min_step=float("nan")), "min_step"), (dict(max_evals=1.5), "max_evals"),
    (dict(max_memory=0), "max_memory"), (dict(max_seconds=-1.0), "max_seconds"),
    (dict(max_seconds="1"), "max_seconds"),
])
def test_bad_limits_name_the_field(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Limits(**kwargs)


def test_scipy_steppers_honour_max_steps_and_min_step():
    res = run("RK45", _linear(RATES[:1]), Y0[:1], T, rtol=1e-12, atol=1e-14,
              limits=Limits(max_steps=5))
    assert res.status[0] == -1 and "max_steps = 5" in res.message[0]
    chatter = run("RK45", lambda y, idx: -np.sign(y), np.array([[1.0]]), np.linspace(0, 3, 4),
                  limits=Limits(min_step=1e-3))
    assert chatter.status[0] == -1 and "step size underflow" in chatter.message[0]


def test_default_limits_and_the_memory_estimate():
    lim = Limits()
    assert (lim.max_norm, lim.max_steps, lim.min_step, lim.max_evals, lim.max_memory,
            lim.max_seconds, lim.threads) == (1e8, 1_000_000, 1e-6, 500_000, 2 * 2**30, None,
                                              None)
    from dlnsim.solve import memory_estimate
    # float64, stored states and result arrays: 2 x 8 bytes per value
    assert memory_estimate(10, 3, 7, 5) == 16 * 10 * 3 * 12


@pytest.mark.parametrize("rtol", [1e-4, 1e-8])
def test_dopri5_and_its_controller_step_to_the_times_of_scipy_rk45(rtol):
    """The stepper and controller driven by hand, without the loop (their whole interface):
    every accepted step ends where scipy's RK45 ends one, to round-off, and the rejected steps
    happen at the same places."""
    from dlnsim.solve.controllers import ErrorControl
    from dlnsim.solve.dopri5 import Dopri5

    y0, tend, atol = np.array([1.0, 0.5, -2.0]), 3.0, rtol * 1e-2
    ref = RK45(_stiffish, 0.0, y0, tend, rtol=rtol, atol=atol)
    ref_t = []
    while ref.status == "running":
        ref.step()
        ref_t.append(ref.t)

    def call(y):
        return _stiffish(0.0, y[0])[None]

    stepper, ctl = Dopri5(), ErrorControl(rtol, atol, Dopri5.order)
    y, t, members = y0[None].copy(), 0.0, np.array([0])
    f = stepper.init(call, y)
    ctl.init(call, np.array([0.0, tend]), y, f)
    times, rejections = [], 0
    while t < tend:
        h = ctl.propose(members, np.array([t]), np.array([tend]))
        y_in = y.copy()
        out = stepper.step(call, y, h, f)
        np.testing.assert_array_equal(y, y_in)  # the stepper does not write its input
        if ctl.adapt(members, h, y, out.y, out.error)[0]:
            t = tend if h[0] == tend - t else t + h[0]
            y, f = out.y, out.state
            times.append(t)
        else:
            rejections += 1
    assert len(times) == len(ref_t)  # the same number of accepted steps
    # round-off in h compounds over the steps (measured 1.3e-11 at rtol 1e-4); a wrong safety
    # factor or exponent moves the times by more than 1e-3
    np.testing.assert_allclose(times, ref_t, rtol=1e-9, atol=0)
    np.testing.assert_allclose(y[0], ref.y, rtol=1e-12, atol=1e-14)
    assert rejections > 0 or rtol > 1e-5


@pytest.mark.parametrize("solver,per_step,overhead", [("rk4", 4, 0), ("dopri5", 6, 2)])
def test_max_steps_takes_exactly_that_many_steps(solver, per_step, overhead):
    """A cap of 5 steps costs exactly 5 steps of field evaluations (dopri5: one for f(y0),
    one for the initial-step heuristic, six per accepted step of a smooth linear field) and
    stops at the time of the fifth step, not the sixth."""
    kw = {"dt": 0.01} if solver == "rk4" else {"rtol": 1e-6, "atol": 1e-8}
    calls = []

    def field(y, idx):
        calls.append(y.copy())
        return -y

    res = run(solver, field, np.ones((1, 1)), [0.0, 10.0], limits=Limits(max_steps=5), **kw)
    assert res.status[0] == Status.FAILED and "max_steps = 5" in res.message[0]
    assert res.nfev == len(calls) == overhead + per_step * 5
    if solver == "rk4":
        assert "t = 0.05" in res.message[0]


@pytest.mark.parametrize("method", ["discrete", "rk4", "dopri5"])
def test_a_nan_state_within_max_norm_is_divergence(method):
    """A field that turns one member's state NaN while its norm is small (far below max_norm)
    stops that member with status 1 and says non-finite; the other member finishes."""
    def field(y, idx):
        v = -0.01 * y
        hit = (np.asarray(idx) == 1) & (y[:, 0] < 0.95)
        v[hit] = np.nan
        return v

    t = np.arange(0, 21) if method == "discrete" else np.linspace(0.0, 20.0, 5)
    kw = {"dt": 0.1} if method == "rk4" else {}
    res = run(method, field, np.ones((2, 1)), t, **kw)
    assert list(res.status) == [Status.SUCCESS, Status.DIVERGED]
    assert "non-finite" in res.message[1]
    assert np.all(np.isfinite(np.stack(res.y)))


def test_equal_steps_land_on_uneven_save_times():
    """Save intervals of different lengths: each is split into the fewest equal steps no longer
    than dt, and every save time is reached exactly."""
    t = np.array([0.0, 0.3, 0.31, 1.0, 1.0 + 1e-9])
    calls = []

    def field(y, idx):
        calls.append(1)
        return np.ones_like(y)

    res = run("rk4", field, np.zeros((1, 1)), t, dt=0.1)
    np.testing.assert_allclose(np.stack(res.y)[:, 0, 0], t, rtol=0, atol=1e-15)
    assert len(calls) == 4 * (3 + 1 + 7 + 1)


def _slow(seconds):
    def field(y, idx):
        time.sleep(seconds)
        return -0.01 * y
    return field


@pytest.mark.parametrize("method", ["dopri5", "discrete"])
def test_a_run_past_max_seconds_stops_and_keeps_its_saves(method):
    """A field of 1 ms per evaluation over 400 saves would take seconds: with max_seconds =
    0.5 the run stops with status -1 within about the limit (predicted over twice it, or past
    it), says so, and keeps every save it reached."""
    t = np.arange(0, 4001, 10) if method == "discrete" else np.linspace(0.0, 4000.0, 401)
    t0 = time.perf_counter()
    res = run(method, _slow(0.001), np.ones((2, 1)), t, limits=Limits(max_seconds=0.5))
    took = time.perf_counter() - t0
    assert list(res.status) == [Status.FAILED] * 2
    assert all("time limit" in m and "max_seconds = 0.5" in m for m in res.message)
    assert took < 2.0  # a 0.5 s limit, plus start-up and the stopping step
    assert 1 < res.saved[0] < len(t)
    k = res.saved[0]
    np.testing.assert_allclose(res.y[k - 1][:, 0], 0.99 ** t[k - 1] if method == "discrete"
                               else np.exp(-0.01 * t[k - 1]), rtol=1e-6)


def test_a_run_predicted_past_twice_max_seconds_stops_early_and_says_its_pace():
    """After a tenth of the limit the pace predicts ~10x the limit: it stops well before the
    limit itself and names the predicted time."""
    t0 = time.perf_counter()
    res = run("discrete", _slow(0.005), np.ones((1, 1)), np.arange(0, 2001, 100),
              limits=Limits(max_seconds=1.0))
    assert res.status[0] == Status.FAILED and "at this pace it needs about" in res.message[0]
    assert time.perf_counter() - t0 < 0.8


def test_the_budget_blames_a_dense_save_grid_not_stiffness():
    """dy/dt = -y saved at 20000 times: dopri5 lands on each (six evaluations a step), so the
    budget stops it; the message says the save times made the steps short."""
    res = run("dopri5", _linear(RATES[:1]), Y0[:1], np.linspace(0.0, 1.0, 20001),
              limits=Limits(max_evals=20_000))
    assert res.status[0] == Status.FAILED
    assert "the save times make the steps short" in res.message[0]
    assert "stiff" not in res.message[0]


def test_initial_step_is_finite_when_the_trial_velocity_is_nan():
    """scipy's initial-step heuristic probes the field at an Euler guess; a field that returns
    NaN there (and only there) must leave a finite, positive first step, not NaN."""
    from dlnsim.solve.controllers import ErrorControl

    calls = []

    def call(y):
        calls.append(1)
        return np.full_like(y, np.nan) if len(calls) > 1 else -y

    ctl = ErrorControl(1e-8, 1e-10)
    ctl.init(call, np.array([0.0, 1.0]), np.array([[1.0, 2.0]]))
    h = ctl.propose(np.array([0]), np.array([0.0]), np.array([1.0]))
    assert len(calls) == 2 and np.isfinite(h[0]) and 0 < h[0] <= 1.0


def test_a_stall_found_at_the_step_cap_says_stall():
    """When the stall window closes on the very step that reaches max_steps, the run stops
    once, for the stall (the first reason found), and keeps that message."""
    from dlnsim.solve.status import STALL_WINDOW

    # the first window still holds the descent to 0; the second is all chatter at y = 0
    res = run("dopri5", lambda y, idx: -np.sign(y), np.array([[1.0]]), np.linspace(0, 3, 4),
              limits=Limits(max_steps=2 * STALL_WINDOW))
    assert res.status[0] == -1
    assert "step size underflow" in res.message[0] and "max_steps" not in res.message[0]


def test_the_progress_bar_advances_to_the_end(monkeypatch):
    """Not quiet: the bar advances with the run's time, in order, up to its total."""
    from dlnsim.solve import loop

    bars = []

    class Bar:
        def __init__(self, total, disable=None, **kw):
            self.total, self.n, self.updates, self.closed = total, 0.0, 0, False
            self.disable = disable
            bars.append(self)

        def update(self, x):
            self.n += x
            self.updates += 1

        def set_postfix_str(self, *a, **k):
            pass

        def close(self):
            self.closed = True

    monkeypatch.setattr(loop, "tqdm", Bar)
    solve(_linear(RATES), Y0, Options.checked("ode", "dopri5", T), quiet=False)
    assert len(bars) == 1 and bars[0].updates > len(T) and bars[0].closed
    assert bars[0].n == pytest.approx(bars[0].total, rel=1e-12)
    assert not bars[0].disable


def test_a_run_whose_results_pass_max_memory_is_refused_before_any_work():
    """check_memory refuses an estimate above Limits.max_memory (and a non-finite one); simulate
    calls it before the first field evaluation."""
    from dlnsim import Network, Task, rules, simulate
    from dlnsim.solve import check_memory

    check_memory(9_999.0, Limits(max_memory=10_000))
    for need in (10_001.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="GiB of results, above the limit"):
            check_memory(need, Limits(max_memory=10_000))
    with pytest.raises(ValueError, match="GiB of results, above the limit"):
        simulate(Network.random((3, 3, 3), seed=0), Task(np.eye(3)), rules.gd(),
                 np.linspace(0, 1, 10_001), limits=Limits(max_memory=10_000), quiet=True)


def test_a_field_that_fails_inside_dopri853s_dense_output_is_reported_as_its_failure():
    """DOP853's interpolant evaluates the field again; an ArithmeticError there is the field's
    failure (its own message), not a divergence."""
    from dlnsim.solve.base import Diverged
    from dlnsim.solve.scipy import Scipy

    fail = []

    def call(y):
        if fail:
            raise ArithmeticError("the field gave up here")
        return -y

    stepper = Scipy("DOP853", 0.0, 1.0, 1e-8, 1e-10)
    y0 = np.array([[1.0, 2.0]])
    stepper.init(call, y0)
    out = stepper.step(call, y0, None)
    fail.append(True)
    with pytest.raises(ArithmeticError, match="gave up here") as err:
        out.dense(float(out.t[0]) / 2)
    assert not isinstance(err.value, Diverged)


def test_a_field_that_is_not_finite_inside_dopri853s_dense_output_is_a_divergence():
    """A NaN from the interpolant's extra field evaluations never reaches the saved states: the
    save raises Diverged at that time."""
    from dlnsim.solve.base import Diverged
    from dlnsim.solve.scipy import Scipy

    broken = []

    def call(y):
        return np.full_like(y, np.nan) if broken else -y

    stepper = Scipy("DOP853", 0.0, 1.0, 1e-8, 1e-10)
    y0 = np.array([[1.0, 2.0]])
    stepper.init(call, y0)
    out = stepper.step(call, y0, None)
    broken.append(True)
    tk = float(out.t[0]) / 2
    with pytest.raises(Diverged) as err:
        out.dense(tk)
    assert err.value.t == tk and "non-finite at t = " in str(err.value)


def test_zero_rows_zeroes_the_rows_given_and_every_non_finite_entry():
    from dlnsim.solve.base import zero_rows

    y = np.array([[np.nan, 1.0], [2.0, 3.0], [np.inf, -4.0]])
    out = zero_rows(y, np.array([False, True, False]))
    np.testing.assert_array_equal(out, [[0.0, 1.0], [0.0, 0.0], [0.0, -4.0]])
    assert zero_rows(y, np.zeros(3, dtype=bool)) is y  # nothing lost: the state as it is
