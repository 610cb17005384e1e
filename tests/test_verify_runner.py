"""dlnsim verify in worker processes: the same results as a serial run, the user's claims,
dead workers, Ctrl-C, and the mutant matrix."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from dlnsim import verify
from dlnsim.cli import main
from dlnsim.verify import costs, runner
from dlnsim.verify import mutants as M
from dlnsim.verify.registry import REGISTRY, Outcome, claim

SAME = ("id", "source", "statement", "passed", "error", "tolerance", "details", "origin")


def fields(results):
    return [tuple(getattr(r, k) for k in SAME) for r in results]


def test_a_parallel_run_returns_exactly_what_a_serial_run_does():
    serial = verify.run("huh.ngd*", workers=1)
    parallel = verify.run("huh.ngd*", workers=2)
    assert len(serial) == len(verify.select("huh.ngd*")) >= 8
    assert serial.workers == 1 and parallel.workers == 2
    # catalogue order, and every number to the last digit (one BLAS thread in both)
    assert [r.id for r in parallel] == [c.id for c in verify.select("huh.ngd*")]
    assert fields(parallel) == fields(serial)
    assert all(r.passed for r in parallel)


def test_every_catalogue_claim_has_a_recorded_cost():
    builtin = {c.id for c in verify.select(None) if c.builtin}
    assert set(costs.SECONDS) == builtin, "run python benchmarks/bench_verify.py --record"
    assert all(s >= 0 for s in costs.SECONDS.values())
    med = sorted(costs.SECONDS.values())[len(costs.SECONDS) // 2]
    unknown = verify.registry.Claim("x.new", "s", "s", 1.0, lambda: Outcome(0.0))
    assert runner.cost(unknown) == pytest.approx(med, rel=0.5)
    assert runner.cost(REGISTRY["huh.teacher.balance"]) == costs.SECONDS["huh.teacher.balance"]


CLAIMS_FILE = '''
import os
from dlnsim.verify import claim, Outcome

PARENT = {parent}

@claim("mine.a", "here", "runs in a worker", 0.0)
def a():
    return Outcome(0.0, f"pid {{os.getpid()}}")

@claim("mine.dies", "here", "kills the worker it runs in; passes in the parent", 0.0)
def dies():
    if os.getpid() != PARENT:
        os._exit(1)
    return Outcome(0.0, f"pid {{os.getpid()}}")
'''


def test_user_claims_run_in_workers_notebook_claims_and_dead_workers_here(tmp_path):
    path = tmp_path / "claims.py"
    path.write_text(CLAIMS_FILE.format(parent=os.getpid()))
    loaded = verify.load(str(path))

    @claim("mine.here", "a notebook", "defined in this process only", 0.0)
    def here():
        return Outcome(0.0, f"pid {os.getpid()}")

    try:
        results = {r.id: r for r in verify.run("mine.*", workers=2)}
    finally:
        verify.unload(loaded + [REGISTRY["mine.here"]])
    assert all(r.passed for r in results.values()), results
    me = f"pid {os.getpid()}"
    assert results["mine.a"].details != me          # a worker loaded the file and ran it
    assert results["mine.here"].details == me       # no worker has it: run here
    assert results["mine.dies"].details == me       # its worker died: run here


def test_the_mutant_matrix_in_workers_equals_the_serial_one():
    claims = [REGISTRY[c] for c in ("wd.lemma2", "huh.speed", "huh.ngd.dense")]
    mutants = [M.BY_NAME[n] for n in ("gn_norm.drop_S", "rule.x1.1", "kernel.drop_R")]
    serial = M.matrix(claims, mutants, workers=1)
    parallel = M.matrix(claims, mutants, workers=2)
    assert parallel == serial
    assert list(parallel) == [m.name for m in mutants]
    assert serial["gn_norm.drop_S"]["wd.lemma2"] and serial["kernel.drop_R"]["huh.ngd.dense"]
    assert serial["rule.x1.1"]["huh.speed"] and not serial["gn_norm.drop_S"]["huh.speed"]


@pytest.mark.parametrize("argv, message", [
    (["verify", "--workers", "0"], "--workers"),
    (["verify", "--threads", "0"], "--threads"),
    (["figures", "--workers", "x"], "--workers"),
])
def test_bad_worker_and_thread_counts_are_usage_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_threads_and_workers_run_and_print_the_wall_time(capsys):
    assert main(["verify", "--only", "wd.lemma*", "--workers", "2", "--threads", "1",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 passed, 0 failed in" in out and "(2 workers," in out


def _session_processes(sid: int) -> list:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid:
                out.append(p)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


SLOW_CLAIMS = '''
import pathlib, time
from dlnsim.verify import claim, Outcome

@claim("mine.fast", "here", "finishes at once and says so", 0.0)
def fast():
    pathlib.Path({marker!r}).write_text("done")
    return Outcome(0.0, "fast")

@claim("mine.slow", "here", "runs until Ctrl-C", 0.0)
def slow():
    import numpy as np
    from dlnsim import Network, Task, rules, simulate
    # a real run first: its (disabled) progress bar creates tqdm's lock in this worker
    simulate(Network.random((2, 2), seed=0), Task(np.eye(2)), rules.gd(), [0, 1], quiet=True)
    time.sleep(120)
    return Outcome(0.0, "slow")
'''


@pytest.mark.skipif(sys.platform != "linux", reason="process groups and getsid")
def test_ctrl_c_keeps_finished_claims_exits_130_and_leaves_no_process(tmp_path):
    """Ctrl-C in a terminal reaches the whole foreground group (the workers and the
    forkserver too): one line, exit 130, the claim that finished printed, nothing left."""
    marker = tmp_path / "fast.done"
    (tmp_path / "slow.py").write_text(SLOW_CLAIMS.format(marker=str(marker)))
    from tests.test_cli import sigint_default

    proc = subprocess.Popen([sys.executable, "-m", "dlnsim", "verify", "--workers", "2",
                             "--quiet", "--no-builtin", "--claims", "slow.py"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=sigint_default)
    try:
        deadline = time.time() + 60
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the result travels back to the parent
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:  # never leave the group running, whatever failed above
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert err == "dlnsim: interrupted after 1 of 2 claims; the table above shows those\n"
    assert "mine.fast" in out and "mine.slow" not in out
    deadline = time.time() + 10
    while _session_processes(proc.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert not _session_processes(proc.pid)
