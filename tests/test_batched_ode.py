"""The batched integrators (numpy arrays here; tests/test_backends.py runs them on torch)."""

import numpy as np
import pytest

from dlnsim import _batched_ode as B

RATES = np.array([0.5, 1.0, 3.0, 10.0])
Y0 = np.ones((4, 3)) * np.array([1.0, -2.0, 3.0])
T = np.linspace(0.0, 2.0, 5)


def _linear(rates):
    return lambda y, idx: -rates[idx][:, None] * y


def _exact(rates, y0, t):
    return np.stack([y0 * np.exp(-rates[:, None] * tk) for tk in t])


def test_dopri5_matches_the_exponential_per_member():
    res = B.dopri5(_linear(RATES), Y0, T, rtol=1e-10, atol=1e-12, quiet=True)
    err = np.abs(np.stack(res.y) - _exact(RATES, Y0, T)).max()
    assert err < 1e-9  # global error of a 5th-order method at rtol 1e-10 (measured 2.3e-11)
    assert np.all(res.status == 0) and np.all(res.saved == len(T))


def test_dopri5_member_runs_as_if_alone():
    """Per-member step sizes: a member in an ensemble takes the steps it takes alone."""
    res = B.dopri5(_linear(RATES), Y0, T, rtol=1e-8, atol=1e-10, quiet=True)
    for b in range(len(RATES)):
        alone = B.dopri5(_linear(RATES[b:b + 1]), Y0[b:b + 1], T, rtol=1e-8, atol=1e-10,
                         quiet=True)
        np.testing.assert_array_equal(np.stack(res.y)[:, b], np.stack(alone.y)[:, 0])


@pytest.mark.parametrize("rtol", [1e-6, 1e-9, 1e-12])
def test_dopri5_error_follows_the_tolerance(rtol):
    res = B.dopri5(_linear(RATES), Y0, T, rtol=rtol, atol=rtol * 1e-2, quiet=True)
    rel = np.abs(np.stack(res.y) - _exact(RATES, Y0, T)).max() / np.abs(Y0).max()
    assert rel < 100 * rtol


def test_rk4_is_fourth_order():
    errs = []
    for dt in (0.02, 0.01):
        res = B.rk4(_linear(RATES), Y0, T, dt=dt, quiet=True)
        errs.append(np.abs(np.stack(res.y) - _exact(RATES, Y0, T)).max())
    assert 14 < errs[0] / errs[1] < 18  # 2^4 = 16


def test_rk4_lands_on_save_times_with_equal_steps():
    calls = []

    def field(y, idx):
        calls.append(1)
        return np.ones_like(y)

    res = B.rk4(field, np.zeros((2, 1)), np.array([0.0, 0.25, 1.0]), dt=0.1, quiet=True)
    np.testing.assert_allclose(np.stack(res.y)[:, 0, 0], [0.0, 0.25, 1.0], rtol=0, atol=1e-15)
    assert len(calls) == 4 * (3 + 8)  # ceil(0.25/0.1) + ceil(0.75/0.1) steps, 4 stages each


def test_discrete_matches_a_python_loop():
    def field(y, idx):
        return -0.1 * y ** 3

    y0 = np.array([[1.0, 0.5], [2.0, -1.0]])
    res = B.discrete(field, y0, np.array([0, 3, 10]), quiet=True)
    y = y0.copy()
    for n in range(10):
        y = y + field(y, None)
        if n + 1 == 3:
            np.testing.assert_array_equal(res.y[1], y)
    np.testing.assert_array_equal(res.y[2], y)


@pytest.mark.parametrize("method", ["dopri5", "rk4", "discrete"])
def test_a_diverging_member_stops_alone_and_says_when(method):
    """dy/dt = y^2 blows up at t = 1/y0: members 1 and 2 diverge, member 0 runs on."""
    y0 = np.array([[0.2], [0.6], [2.0]])

    def field(y, idx):
        return y * y

    if method == "discrete":
        t = np.arange(0, 61, 5)  # y <- y + 0.05 y^2: blow-up near steps 1/(0.05 y0)
        res = B.discrete(lambda y, idx: 0.05 * y * y, y0, t, quiet=True)
    else:
        t = np.linspace(0.0, 3.0, 7)
        res = (B.dopri5(field, y0, t, quiet=True) if method == "dopri5"
               else B.rk4(field, y0, t, dt=1e-3, quiet=True))
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


def test_field_failure_stops_every_running_member_with_status_minus_1():
    def field(y, idx):
        if np.any(y < 0.5):
            raise ArithmeticError("solver did not converge")
        return -y

    res = B.dopri5(field, np.ones((2, 1)), np.linspace(0, 2, 5), quiet=True)
    assert list(res.status) == [-1, -1]
    assert all("vector field failed" in m and "did not converge" in m for m in res.message)
    assert np.all(res.saved >= 2)


def test_non_finite_velocity_is_divergence():
    def field(y, idx):
        return np.where(y > 1.5, np.inf, 1.0) * np.ones_like(y)

    res = B.discrete(field, np.array([[0.0], [1.0]]), np.arange(0, 4), quiet=True)
    assert list(res.status) == [1, 1] and "non-finite" in res.message[1]


def test_stalled_member_stops_with_step_size_underflow():
    """A chattering field (-sign y) stalls member 0 at y = 0; member 1 (no stall) finishes."""
    def field(y, idx):
        out = -np.sign(y)
        out[np.asarray(idx) == 1] = -0.1
        return out

    res = B.dopri5(field, np.array([[1.0], [5.0]]), np.linspace(0, 3, 4), quiet=True)
    assert res.status[0] == -1 and "step size underflow" in res.message[0]
    assert res.status[1] == 0


def test_max_steps_stops_with_status_minus_1():
    res = B.dopri5(_linear(RATES[:1]), Y0[:1], T, rtol=1e-12, atol=1e-14, max_steps=5,
                   quiet=True)
    assert res.status[0] == -1 and "max_steps = 5" in res.message[0]


def test_initial_step_heuristic_handles_a_zero_field():
    res = B.dopri5(lambda y, idx: np.zeros_like(y), np.zeros((2, 2)), T, quiet=True)
    assert np.all(res.status == 0) and np.all(np.stack(res.y) == 0)
    assert res.nfev < 100  # the heuristic's floor step grows 10x per step, no grinding
