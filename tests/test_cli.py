"""The command line, in process (so coverage sees it): each flag gives the run of the equivalent
API call, output paths are checked before any work, bad input is one line and exit 2, internal
errors exit 3, Ctrl-C keeps what was computed and exits 130."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import dlnsim
from dlnsim import Limits, Network, Status, Task, Trajectory, rules, simulate
from dlnsim.cli import main


def sigint_default() -> None:
    """In a child before exec: SIGINT back to its default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _api(widths=(8, 8, 8, 8), q=2.0, block=False, damping=0.0, weight_decay=0.0, clip=None,
         lr=1.0, t_end=20.0, points=7, scale=0.1, rank=3, noise=0.1, seed=0, method="ode",
         solver=None, backend="numpy", device=None):
    """What `dlnsim simulate` documents that it runs."""
    task = Task.teacher_student(n=widths[0], n_out=widths[-1], rank=rank, noise=noise,
                                seed=seed)
    net = Network.random(widths, scale=scale, seed=seed + 1)
    rule = rules.ngd(q, damping=damping, block_diagonal=block)
    if clip is not None:
        rule = rules.chain(rule, rules.clip(clip))
    if weight_decay:
        rule = rules.chain(rule, rules.weight_decay(weight_decay))
    t = (np.unique(np.linspace(0, t_end, points).round().astype(int)) if method == "discrete"
         else np.linspace(0.0, t_end, points))
    return simulate(net, task, rule, t, lr=lr, method=method, solver=solver, quiet=True,
                    backend=backend, device=device)


FLAG_CASES = [
    ([], {}),
    (["--q", "1", "--damping", "1e-4"], dict(q=1.0, damping=1e-4)),
    (["--q", "inf"], dict(q=np.inf)),
    (["--block-diagonal", "--q", "2"], dict(block=True)),
    (["--weight-decay", "0.05"], dict(weight_decay=0.05)),
    (["--clip", "0.3", "--q", "1", "--damping", "1e-3"], dict(clip=0.3, q=1.0, damping=1e-3)),
    (["--lr", "0.5", "--t-end", "3", "--points", "4"], dict(lr=0.5, t_end=3.0, points=4)),
    (["--scale", "0.3", "--rank", "2", "--noise", "0.2", "--seed", "5"],
     dict(scale=0.3, rank=2, noise=0.2, seed=5)),
    (["--widths", "5,4,3", "--method", "discrete", "--lr", "0.1", "--t-end", "30"],
     dict(widths=(5, 4, 3), method="discrete", lr=0.1, t_end=30.0)),
    (["--solver", "RK45"], dict(solver="RK45")),
    (["--solver", "Radau", "--q", "inf", "--t-end", "2"], dict(solver="Radau", q=np.inf,
                                                               t_end=2.0)),
]


@pytest.mark.parametrize("flags,kw", FLAG_CASES)
def test_each_flag_gives_the_run_of_the_equivalent_api_call(flags, kw, tmp_path, capsys):
    out = tmp_path / "run.npz"
    rc, text, err = _run(["simulate", "--quiet", "--out", str(out)] + flags, capsys)
    want = _api(**kw)
    assert rc == 0 and err == "", err
    got = Trajectory.load(out)
    assert got.rule == want.rule and got.method == want.method
    np.testing.assert_array_equal(got.t, want.t)
    for a, b in zip(got.weights, want.weights):
        np.testing.assert_array_equal(a, b)
    # the printed table is the trajectory's
    rows = [line.split() for line in text.splitlines()[2:2 + len(want.t)]]
    np.testing.assert_allclose([float(r[1]) for r in rows], want.loss, rtol=1e-5)
    np.testing.assert_allclose([float(r[2]) for r in rows], want.test_loss, rtol=1e-5)
    assert f"status {int(want.status)}: {want.message}" in text


def test_backend_and_device_flags_give_the_torch_run(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "t.npz"
    rc, _, err = _run(["simulate", "--quiet", "--backend", "torch", "--device", "cpu",
                       "--t-end", "2", "--points", "3", "--out", str(out)], capsys)
    want = _api(backend="torch", device="cpu", t_end=2.0, points=3)
    assert rc == 0, err
    got = Trajectory.load(out)
    assert got.method == "ode:dopri5"
    np.testing.assert_allclose(got.map, want.map, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("argv,match", [
    (["simulate", "--q", "0.5"], "--q: must be a number >= 1 or inf, got '0.5'"),
    (["simulate", "--q", "abc"], "--q: must be a number >= 1 or inf, got 'abc'"),
    (["simulate", "--widths", "4,x"], "--widths: must be comma-separated integers"),
    (["simulate", "--widths", "4"], "at least two"),
    (["simulate", "--widths", "-4,4"], "--widths: must be at least two integers >= 1"),
    (["simulate", "--lr", "-1"], "--lr: must be a number > 0, got '-1'"),
    (["simulate", "--lr", "nan"], "--lr: must be a number > 0"),
    (["simulate", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["simulate", "--seed", "1.5"], "--seed: must be an integer >= 0"),
    (["simulate", "--points", "1"], "--points: must be an integer >= 2"),
    (["simulate", "--out", ""], "--out: must be a file path"),
    (["simulate", "--bogus"], "unrecognized arguments"),
    (["simulate", "--solver", "Euler"], "solver must be one of"),
    (["figures", "--only", "fig9"], "--only must be one of"),
    ([], "missing command"),
])
def test_usage_errors_print_one_line_and_exit_2(argv, match, capsys):
    rc, _, err = _run(argv, capsys)
    assert rc == 2
    assert match in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv,match", [
    (["simulate", "--widths", "3,3,3", "--out", "{missing}/x.npz"], "does not exist"),
    (["simulate", "--widths", "3,3,3", "--out", "/dev/null"], "is a character device"),
    (["simulate", "--widths", "3,3,3", "--out", "{tmp}"], "is a folder"),
    (["verify", "--json", "{missing}/v.json"], "does not exist"),
    (["validate-backend", "--json", "{missing}/v.json"], "does not exist"),
    (["figures", "--out", "{missing}/sub/figs"], "does not exist"),
    (["figures", "--out", "{file}"], "exists and is not a folder"),
])
def test_output_paths_are_checked_before_any_work(argv, match, tmp_path, capsys, monkeypatch):
    """Nothing is computed when the output cannot be written: the error names the user's
    path and comes before any work (the commands' work functions are not even entered)."""
    import dlnsim.plots
    import dlnsim.validate_backend
    import dlnsim.verify

    def boom(*a, **k):
        raise AssertionError("work started before the output path was checked")

    monkeypatch.setattr(dlnsim.verify, "run", boom)
    monkeypatch.setattr(dlnsim.validate_backend, "validate", boom)
    monkeypatch.setattr(dlnsim, "simulate", boom)
    (tmp_path / "plain").write_text("x")
    subs = {"missing": str(tmp_path / "nope"), "tmp": str(tmp_path), "file": str(tmp_path /
                                                                                  "plain")}
    argv = [a.format(**subs) for a in argv]
    rc, out, err = _run(argv + ["--quiet"] * (argv[0] != "figures"), capsys)
    assert rc == 2 and match in err and out == ""
    assert err.count("\n") == 1 and any(a in err for a in argv if "/" in a)


def test_figures_to_a_read_only_folder_fails_before_the_first_figure(tmp_path, capsys):
    """A folder that exists but takes no files: a 0555 folder, or (as root, who writes there
    anyway) /proc/self, which no one can write in. The probe write fails before any figure."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        target = "/proc/self" if os.access(ro, os.W_OK) else str(ro)
        rc, out, err = _run(["figures", "--out", target, "--only", "fig3"], capsys)
        assert rc == 2 and "cannot write" in err and target in err and out == ""
    finally:
        ro.chmod(0o755)


def test_memory_is_estimated_before_anything_is_allocated(capsys):
    rc, _, err = _run(["simulate", "--points", "1000000000", "--quiet"], capsys)
    assert rc == 2 and "--points" in err and "GiB" in err and "--max-memory" in err
    rc, _, err = _run(["simulate", "--widths", "1000000,1000000", "--quiet"], capsys)
    assert rc == 2 and "--widths" in err
    # the limit is a flag: the same run passes with a larger one
    rc, _, _ = _run(["simulate", "--widths", "3,3", "--points", "100", "--max-memory",
                     "1e-7", "--quiet"], capsys)
    assert rc == 2
    assert _run(["simulate", "--widths", "3,3", "--points", "100", "--quiet"], capsys)[0] == 0


@pytest.mark.parametrize("argv,match", [
    (["simulate", "--noise", "1e200"], "noise = 1e+200"),
    (["simulate", "--scale", "1e300"], "scale = 1e+300"),
])
def test_overflowing_inputs_are_bad_input(argv, match, capsys):
    rc, out, err = _run(argv + ["--quiet"], capsys)
    assert rc == 2 and match in err and err.count("\n") == 1 and out == ""


def test_internal_errors_exit_3_in_one_line_and_debug_shows_the_traceback(monkeypatch,
                                                                          capsys):
    import dlnsim.cli as cli

    def broken(a):
        raise KeyError("a bug")

    monkeypatch.setattr(cli.simulate, "run", broken)
    rc, _, err = _run(["simulate"], capsys)
    assert rc == 3 and err.count("\n") == 1 and "internal error: KeyError" in err
    assert "--debug" in err and "Traceback" not in err
    rc, _, err = _run(["simulate", "--debug"], capsys)
    assert rc == 3 and "Traceback" in err

    def oom(a):
        raise MemoryError

    monkeypatch.setattr(cli.simulate, "run", oom)
    rc, _, err = _run(["simulate"], capsys)
    assert rc == 3 and "out of memory" in err and err.count("\n") == 1


def test_ctrl_c_in_simulate_prints_the_rows_and_saves_what_was_reached(tmp_path, capsys,
                                                                       monkeypatch):
    """The field raises KeyboardInterrupt at its 300th evaluation: the run keeps its save
    points, the table shows them, the file holds them, one line says so, exit 130."""
    from dlnsim.rules import fields

    calls = [0]
    real = fields.NGD.apply

    def counted(self, d, s):
        calls[0] += 1
        if calls[0] == 300:
            raise KeyboardInterrupt
        return real(self, d, s)

    monkeypatch.setattr(fields.NGD, "apply", counted)
    out = tmp_path / "partial.npz"
    rc, text, err = _run(["simulate", "--widths", "4,4,4", "--t-end", "5", "--points", "51",
                          "--quiet", "--out", str(out)], capsys)
    saved = Trajectory.load(out)
    assert rc == 130 and saved.status == Status.INTERRUPTED
    assert 2 <= len(saved.t) < 51 and "interrupted at t =" in saved.message
    assert f"{len(saved.t)} of 51 save points kept" in err and err.count("\n") == 1
    assert text.count("\n") >= 2 + len(saved.t)  # header + the rows reached


def test_ctrl_c_in_verify_reports_the_claims_finished_so_far(tmp_path, capsys, monkeypatch):
    from dlnsim import verify
    from dlnsim.verify.registry import Claim

    def stop():
        raise KeyboardInterrupt

    monkeypatch.setitem(verify.REGISTRY, "wd.lemma2",
                        Claim("wd.lemma2", "s", "s", 1.0, stop))
    out = tmp_path / "v.json"
    rc, text, err = _run(["verify", "--only", "wd.lemma*", "--quiet", "--json", str(out)],
                         capsys)
    assert rc == 130 and "wd.lemma1" in text and "1 passed, 0 failed" in text
    assert "interrupted after 1 of 2 claims" in err
    import json
    assert [r["id"] for r in json.loads(out.read_text())] == ["wd.lemma1"]


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_sigint_to_the_installed_command_keeps_the_partial_run(tmp_path):
    """A real SIGINT, sent once the process has worked for 6 CPU seconds (imports take about
    one; save points every 0.05 time units): exit 130, one line on stderr, the file holds the
    save points reached."""
    out = tmp_path / "s.npz"
    # the child's SIGINT is reset to the default: a background job of a non-interactive shell
    # inherits it ignored, and Python then never turns it into KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "dlnsim", "simulate", "--widths",
                             "16,16,16,16", "--t-end", "200", "--points", "4001", "--quiet",
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    try:
        deadline = time.time() + 120
        while _cpu_seconds(proc.pid) < 6.0 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:  # never leave the child running, whatever failed above
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    saved = Trajectory.load(out)
    assert saved.status == Status.INTERRUPTED and 2 <= len(saved.t) < 4001
    assert "status 2: interrupted" in stdout


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "dlnsim", "simulate", "--q", "0"],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("dlnsim: error:")


def test_diverging_run_exits_1_and_says_when(capsys):
    rc, text, _ = _run(["simulate", "--widths", "3,3", "--q", "inf", "--method", "discrete",
                        "--lr", "100", "--t-end", "50", "--quiet", "--scale", "1"], capsys)
    assert rc == 1
    assert "status 1: diverged" in text and "at step" in text


def test_printed_losses_are_never_negative(capsys):
    rc, text, _ = _run(["simulate", "--widths", "3,3", "--noise", "0", "--q", "1", "--t-end",
                        "60", "--quiet"], capsys)
    assert rc == 0
    losses = [float(line.split()[1]) for line in text.splitlines()[2:9]]
    assert min(losses) >= 0.0 and losses[-1] < 1e-12


def test_limits_flags_reach_the_run():
    """--max-memory maps onto dlnsim.Limits(max_memory=...) (GiB)."""
    assert Limits(max_memory=2.0 * 2**30) == Limits()
    assert dlnsim.Limits().max_memory == 2 * 2**30


def test_value_boundaries_of_the_flags(capsys):
    assert _run(["simulate", "--points", "2", "--widths", "3,3", "--quiet"], capsys)[0] == 0
    rc, _, err = _run(["simulate", "--lr", "0", "--quiet"], capsys)
    assert rc == 2 and "--lr: must be a number > 0, got '0'" in err
    assert _run(["simulate", "--damping", "0", "--widths", "3,3", "--quiet"], capsys)[0] == 0


def test_the_memory_limit_is_the_documented_estimate_to_the_byte(capsys):
    """widths 3,4,5: 32 parameters, 15 map entries + 16 imbalance entries per save point;
    7 points: 16 x 7 x 63 bytes. One byte less refuses the run, the exact value runs it."""
    from dlnsim.solve import memory_estimate

    need = memory_estimate(7, 1, 3 * 4 + 4 * 5, 3 * 5 + 4 * 4)
    assert need == 16 * 7 * 63
    flags = ["simulate", "--widths", "3,4,5", "--quiet", "--max-memory"]
    assert _run(flags + [repr(need / 2**30)], capsys)[0] == 0
    rc, _, err = _run(flags + [repr((need - 1) / 2**30)], capsys)
    assert rc == 2 and "--points" in err


def test_the_verify_table_truncates_long_sources_to_48_columns(capsys):
    rc, text, _ = _run(["verify", "--only", "wd.*", "--quiet"], capsys)
    assert rc == 0
    header, *rows = text.splitlines()
    start = header.index("source")
    width = header.index("result") - 2 - start
    assert width == 48
    long = [r for r in rows if "..." in r]
    assert long and all(r[start:start + width].rstrip().endswith("...") for r in long)
    assert all(len(r[start:start + width].rstrip()) <= 48 for r in rows[:3])


def test_simulate_stops_at_max_seconds_with_exit_1_and_keeps_the_rows(capsys):
    """A stiff explicit run (lr = 1e6 on DOP853) would take days: --max-seconds 0.5 stops it
    within a second, prints the rows it reached and says how long the run would need."""
    import time

    t0 = time.perf_counter()
    rc, out, _ = _run(["simulate", "--widths", "4,4,4", "--lr", "1e6", "--max-seconds", "0.5",
                       "--quiet"], capsys)
    assert rc == 1 and time.perf_counter() - t0 < 5
    assert "status -1: time limit" in out and "at this pace it needs about" in out
    assert "max_seconds = 0.5" in out


def test_simulate_defaults_to_a_600_second_limit():
    from dlnsim.cli import build_parser

    a = build_parser().parse_args(["simulate"])
    assert a.max_seconds == 600.0


@pytest.mark.parametrize("argv,match", [
    (["simulate", "--out", "{tmp}/dangling.npz"],
     "is a symbolic link to '/nonexistent/dir/x.npz', and the folder '/nonexistent/dir' does "
     "not exist"),
    (["sweep", "plot", "{tmp}"], "holds no sweep (no sweep.json)"),
    (["sweep", "plot", "{tmp}", "--figure", "{tmp}/x.xyz"], "--figure must end in .png"),
    (["portrait", "--q", "-inf"], "argument --q: must be a number >= 1 or inf, got '-inf'"),
    (["portrait", "--dpi", "100000"], "argument --dpi: must be an integer from 10 to 2400"),
    (["verify", "--claims", "{tmp}", "--no-builtin"], "is a folder: give a .py file of claims"),
    (["simulate", "--lr", "-1e-3"], "argument --lr: must be a number > 0, got '-1e-3'"),
])
def test_small_mistakes_get_one_line_that_says_what_is_wrong(tmp_path, capsys, argv, match):
    """Each message names the real problem (a dangling link, a folder that is not a sweep, a
    negative number read as a value, not as a flag), exit 2, before any work."""
    os.symlink("/nonexistent/dir/x.npz", tmp_path / "dangling.npz")
    rc, out, err = _run([a.format(tmp=tmp_path) for a in argv] + ["--quiet"], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1 and match in err, err


def test_figures_help_names_every_figure_and_format_of_the_registry(capsys):
    from dlnsim import plots
    from dlnsim.cli import figures

    assert figures.FIGURE_NAMES == tuple(plots.FIGURES)
    assert figures.FIGURE_FORMATS == plots.FORMATS
    with pytest.raises(SystemExit):
        main(["figures", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in plots.FIGURES:
        assert name in out
    assert "{png,pdf,svg}" in out and "the files' format" in out


def test_every_option_of_every_command_says_what_it_does():
    """No option without a help text (`simulate --method` once had none)."""
    import argparse

    from dlnsim.cli import build_parser

    silent = []

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}")
            elif action.option_strings and not action.help:
                silent.append(f"{prefix} {action.option_strings[-1]}")

    walk(build_parser(), "dlnsim")
    assert not silent, silent
    # the choices named in the parser (kept literal: building it must not import the solver)
    from dlnsim.solve.options import METHODS

    sim = next(a for a in build_parser()._subparsers._group_actions[0].choices["simulate"]
               ._actions if "--method" in a.option_strings)
    assert tuple(sim.choices) == METHODS
