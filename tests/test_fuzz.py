"""Fuzzing the public entry points and the command line with hostile input.

Every call either returns a finite, valid result or raises ``ValueError``/``TypeError`` whose
message names one of the call's arguments; the CLI prints at most one line on stderr, never a
traceback, and exits 0, 1 or 2 (3, an internal error, would be a bug and fails the test).
``FUZZ_EXAMPLES`` raises the number of examples (CI runs the default).
"""

import contextlib
import io
import math
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlnsim import Network, Task, curvature, modes, rules, simulate
from dlnsim.cli import main

N = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=N, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

SPECIAL = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 0.0, -0.0, 1e154]


def _floats():
    return st.one_of(st.floats(-3, 3), st.sampled_from(SPECIAL))


def _arrays(min_dim=0, max_dim=3):
    """Arrays of all kinds: good, non-finite, huge, complex, empty, wrong rank, strings."""
    shape = st.lists(st.integers(0, 3), min_size=min_dim, max_size=max_dim)
    good = shape.flatmap(lambda s: st.lists(_floats(), min_size=int(np.prod(s)),
                                            max_size=int(np.prod(s))).map(
        lambda v, s=s: np.array(v, dtype=float).reshape(s)))
    return st.one_of(
        good,
        good.map(lambda a: a + 1j),
        good.map(lambda a: a.astype(int) if np.all(np.isfinite(a)) and np.all(
            np.abs(a) < 1e9) else a),
        st.sampled_from([None, "abc", b"x", [[1, 2], [3]], [[True, False]], object()]),
        st.lists(_floats(), max_size=4),
    )


def _names_an_argument(exc: Exception, names) -> bool:
    text = str(exc)
    return any(n in text for n in names)


def _finite_result(x) -> bool:
    if isinstance(x, (tuple, list)):
        return all(_finite_result(v) for v in x)
    if isinstance(x, np.ndarray):
        return bool(np.all(np.isfinite(x)))
    if hasattr(x, "weights") and hasattr(x, "loss"):  # a Trajectory
        return _finite_result(x.weights) and _finite_result(x.loss)
    if hasattr(x, "sigma"):  # a ModeTrajectory
        return _finite_result(x.sigma)
    return True


def _check(call, names):
    try:
        out = call()
    except (ValueError, TypeError) as exc:
        assert _names_an_argument(exc, names), f"{type(exc).__name__}: {exc}"
        return
    assert _finite_result(out)


@FUZZ
@given(_arrays(1, 3), _arrays(1, 3))
def test_network_and_task_take_arrays_or_name_the_argument(a, b):
    _check(lambda: Network([a, b]), ["weights"])
    _check(lambda: Network(a), ["weights"])
    _check(lambda: Task(a, input_cov=b), ["target", "input_cov"])


@FUZZ
@given(st.lists(st.one_of(st.integers(-2, 4), st.sampled_from([1.5, "3", None, True])),
                max_size=4),
       st.one_of(_floats(), st.sampled_from(["1", None, 1j])),
       st.one_of(st.integers(-3, 5), st.sampled_from([1.5, "a", True, None])))
def test_constructors_validate_widths_scales_and_seeds(widths, scale, seed):
    _check(lambda: Network.random(widths, scale=scale, seed=seed), ["widths", "scale", "seed"])
    if len(widths) >= 1:
        _check(lambda: Task.teacher_student(n=widths[0], rank=1, noise=scale, seed=seed),
               ["n", "rank", "noise", "seed", "samples"])


@FUZZ
@given(st.one_of(_floats(), st.sampled_from(["2", None, 1j, True])),
       st.one_of(_floats(), st.sampled_from(["0", None])),
       st.one_of(_floats(), st.sampled_from(["0"])),
       st.sampled_from([True, False, 1, None]),
       st.sampled_from(["auto", "dense", "balanced", "krylov", "fast", None, 3]))
def test_rule_constructors_validate_their_arguments(q, damping, rcond, block, path):
    _check(lambda: rules.ngd(q, damping=damping, rcond=rcond, block_diagonal=block, path=path),
           ["q", "damping", "rcond", "block_diagonal", "path"])
    _check(lambda: rules.l2(damping), ["l2"])
    _check(lambda: rules.weight_decay(damping), ["weight_decay"])
    _check(lambda: rules.clip(q), ["max_speed"])


@FUZZ
@given(_arrays(0, 2), st.one_of(_floats(), st.sampled_from(["1", None, [1, 2]])),
       st.sampled_from(["ode", "discrete", "rk4", None]),
       st.sampled_from([rules.gd(), rules.ngd(2), rules.ngd(1, block_diagonal=True,
                                                           damping=1e-3)]))
def test_simulate_returns_finite_results_or_names_the_argument(t, lr, method, rule):
    net = Network.random((2, 3, 2), scale=0.5, seed=0)
    task = Task.teacher_student(n=2, rank=1, seed=0)
    _check(lambda: simulate(net, task, rule, t, lr=lr, method=method, quiet=True),
           ["t", "lr", "method", "solver", "net", "task", "rule"])


@FUZZ
@given(_arrays(0, 3), _arrays(0, 2), st.one_of(_floats(), st.sampled_from(["2", None])))
def test_modes_and_curvature_validate_their_arrays(sigma, target, q):
    _check(lambda: modes.simulate(sigma, target, [0.0, 0.5], q=q),
           ["sigma0", "target", "q", "t"])
    net = Network.random((2, 2), seed=1)
    _check(lambda: curvature.vjp(net, sigma), ["cotangent"])
    _check(lambda: curvature.kron_inverse_power(sigma, target, sigma, 2.0), ["a", "b", "g"])
    _check(lambda: curvature.ngd_direction(net, [sigma], q=q), ["params", "q"])


BAD = ["", "-1", "0", "nan", "inf", "-inf", "1e400", "1e-300", "abc", "3,3", "-4,4", "3,,3",
       "2.5", "1e300", "∞", " ", "--quiet", "0x10"]
FLAGS = {
    "--widths": BAD + ["3,3", "2,3,2", "3,2,2,3", "1,1"],
    "--q": BAD + ["1", "2", "3.5", "gd", "INF"],
    "--damping": BAD + ["1e-3"],
    "--weight-decay": BAD + ["0.1"],
    "--clip": BAD + ["0.5"],
    "--lr": BAD + ["0.1", "5"],
    "--t-end": ["nan", "-1", "0", "abc", "1e400", "inf", "1", "2.5", ""],
    "--points": ["0", "1", "2", "5", "-3", "abc", "1e3", ""],
    "--scale": BAD + ["0.3"],
    "--rank": BAD + ["1", "2", "9"],
    "--noise": BAD + ["0.2"],
    "--seed": BAD + ["7"],
    "--method": ["ode", "discrete", "euler", ""],
    "--solver": ["dopri5", "rk4", "RK45", "Radau", "x", ""],
    "--block-diagonal": [None],
    "--out": ["", "/nonexistent/x.npz", "/dev/null", "/proc/self/x.npz"],
}


@FUZZ
@given(st.lists(st.sampled_from(sorted(FLAGS)).flatmap(
    lambda f: st.sampled_from(FLAGS[f]).map(lambda v, f=f: [f] if v is None else [f, v])),
    max_size=5))
def test_the_cli_never_shows_a_traceback(pairs):
    argv = ["simulate", "--quiet", "--widths", "3,3", "--t-end", "1"]
    for p in pairs:
        argv += p
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(argv)
    text = err.getvalue()
    assert rc in (0, 1, 2), f"exit {rc} for {argv}: {text}"
    assert "Traceback" not in text and text.count("\n") <= 1, text
    if rc == 2:
        assert text.startswith("dlnsim: error:"), text
    for line in out.getvalue().splitlines()[2:]:
        fields = line.split()
        if len(fields) == 4 and fields[0] != "status":
            assert all(math.isfinite(float(x)) for x in fields), line
