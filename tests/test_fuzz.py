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


# -- sweep specs, chunk files and users' claim files -------------------------------------------
SPEC_VALUES = [None, 0, -1, 1, 2, 3, 1.5, 1e200, 1e-240, float("inf"), float("nan"), "x", "",
               True, False, [], [1.0], [0.0], [2, 2], [1e200], [[1.0]], {"a": 1}]
SPEC_KEYS = {
    "task": ["kind", "n", "rank", "noise", "samples", "seed", "singular_values", "target",
             "input_cov", "bogus"],
    "grid": ["q", "block_diagonal", "damping", "weight_decay", "l2", "clip", "depth", "width",
             "scale", "lr", "seeds", "bogus"],
    "init": ["kind", "strength"],
    "time": ["t_end", "points", "method", "solver", "rtol", "atol", "dt", "chunk_size"],
}


@st.composite
def _hostile_specs(draw):
    doc = {"task": {"n": 3, "rank": 1}, "grid": {"seeds": 1},
           "time": {"t_end": 0.5, "points": 3}}
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(sorted(SPEC_KEYS)))
        key = draw(st.sampled_from(SPEC_KEYS[table]))
        doc.setdefault(table, {})[key] = draw(st.sampled_from(SPEC_VALUES + [
            "target", "teacher_student", "aligned", "random", "discrete", "dopri5", "rk4"]))
    return doc


@FUZZ
@given(_hostile_specs())
def test_a_hostile_sweep_spec_is_refused_naming_a_key_or_runs_to_finite_results(tmp_path_factory,
                                                                                doc):
    """A spec is refused before any work with a SpecError naming a table or key, or it runs
    (in this process), and then every member that reached its end has finite losses."""
    from dlnsim import sweep
    from dlnsim.sweep.engine import InlineExecutor

    try:
        spec = sweep.read(doc)
    except sweep.SpecError as exc:
        text = str(exc)
        assert any(t in text for t in SPEC_KEYS) or "grid" in text or "spec" in text \
            or "member" in text, text
        return
    if spec.size > 8 or sweep.sizes_of(spec)["dataset_bytes"] > 2**24:
        return  # valid but large: not run here
    ds = sweep.run(doc, tmp_path_factory.mktemp("s"), executor=InlineExecutor())
    done = ds.status.values == 0
    assert np.all(np.isfinite(ds.loss.values[done]))


CHUNK_DAMAGE = ["truncate", "flip bytes", "drop key", "extra key", "shift members",
                "reshape loss", "nan loss", "bad status", "text seconds"]


@FUZZ
@given(st.lists(st.sampled_from(CHUNK_DAMAGE), min_size=1, max_size=3),
       st.integers(0, 2**31 - 1))
def test_any_damage_to_a_chunk_file_is_caught_when_read(tmp_path_factory, damage, seed):
    """Whatever is done to a finished chunk's file, reading it either gives exactly the
    arrays written or a ValueError naming the file."""
    from dlnsim import sweep
    from dlnsim.sweep import store
    from dlnsim.sweep.engine import InlineExecutor

    doc = {"task": {"n": 3, "rank": 1}, "grid": {"seeds": 2},
           "time": {"t_end": 0.5, "points": 3, "chunk_size": 2}}
    out = tmp_path_factory.mktemp("c")
    sweep.run(doc, out, executor=InlineExecutor())
    spec = sweep.read(doc)
    path = out / "chunks" / "00000.npz"
    good = store.read_chunk(str(out), 0, spec)
    rng = np.random.default_rng(seed)
    arrays = dict(good)
    raw = None
    for how in damage:
        if how == "truncate":
            raw = path.read_bytes()[: rng.integers(0, path.stat().st_size)]
        elif how == "flip bytes":
            data = bytearray(path.read_bytes())
            for i in rng.integers(0, len(data), 8):
                data[i] ^= 0xFF
            raw = bytes(data)
        elif how == "drop key":
            arrays.pop(rng.choice(sorted(arrays)), None)
        elif how == "extra key":
            arrays["extra"] = np.zeros(1)
        elif how == "shift members" and "member" in arrays:
            arrays["member"] = arrays["member"] + 1
        elif how == "reshape loss" and "loss" in arrays:
            arrays["loss"] = arrays["loss"][:, :1]
        elif how == "nan loss" and "loss" in arrays:
            arrays["loss"] = np.full_like(arrays["loss"], np.nan)
        elif how == "bad status" and "status" in arrays:
            arrays["status"] = np.full_like(arrays["status"], 7)
        elif how == "text seconds":
            arrays["seconds"] = np.array("1 s")
    if raw is not None:
        path.write_bytes(raw)
    else:
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
    try:
        got = store.read_chunk(str(out), 0, spec)
    except ValueError as exc:
        assert str(path) in str(exc), exc
        return
    assert set(got) == set(good)
    for k in good:
        np.testing.assert_array_equal(got[k], good[k])


OUTCOME_VALUES = ["0.0", "-1.0", "float('nan')", "float('inf')", "'abc'", "None", "True",
                  "np.array([0.1])", "np.float64(1e-12)", "np.int64(0)", "[0.0]", "1j"]


@FUZZ
@given(st.sampled_from(OUTCOME_VALUES), st.sampled_from(["True", "False", "np.bool_(True)",
                                                         "1", "None", "np.array([True])"]),
       st.sampled_from(["''", "{'n': np.int64(3)}", "{'a': np.arange(2)}", "None", "3"]),
       st.sampled_from(["return Outcome({e}, {d}, {h})", "raise RuntimeError('x')",
                        "import sys; sys.exit(0)", "return {e}"]))
def test_a_hostile_claim_fails_alone_and_the_json_is_written(tmp_path_factory, error, holds,
                                                            details, body):
    """Whatever a user's check returns or does, verify reports it (exit 0 or 1, never 2 or
    3), the JSON holds both claims, and a claim passes only with a real error >= 0 within the
    tolerance and a bool holds that is true."""
    import json

    folder = tmp_path_factory.mktemp("claims")
    code = body.format(e=error, d=details, h=holds)
    (folder / "mine.py").write_text(
        "import numpy as np\nfrom dlnsim.verify import Outcome, claim\n\n\n"
        "@claim('fz.hostile', 's', 'st', 1e-6)\ndef hostile():\n    " + code + "\n\n\n"
        "@claim('fz.honest', 's', 'st', 1.0)\ndef honest():\n    return Outcome(0.5)\n")
    out_json = folder / "r.json"
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(["verify", "--claims", str(folder / "mine.py"), "--no-builtin", "--quiet",
                   "--workers", "1", "--json", str(out_json)])
    assert rc in (0, 1), err.getvalue()
    rows = {r["id"]: r for r in json.loads(out_json.read_text())}
    assert rows["fz.honest"]["passed"]
    hostile = rows["fz.hostile"]
    if hostile["passed"]:
        assert hostile["error"] is not None and 0 <= hostile["error"] <= 1e-6
        assert body.startswith("return Outcome") and holds in ("True", "np.bool_(True)")
