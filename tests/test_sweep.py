"""Sweeps: spec, chunks, engines (local processes, dask LocalCluster, in-process), resume,
killed workers, failed chunks, Ctrl-C, the Dataset, the CLI and the phase diagram."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from dlnsim import Network, rules, simulate, sweep
from dlnsim.cli import main
from dlnsim.sweep import store
from dlnsim.sweep.engine import InlineExecutor

ROOT = Path(__file__).resolve().parents[1]

SMALL = {"task": {"kind": "teacher_student", "n": 4, "rank": 2, "noise": 0.1},
         "grid": {"q": [float("inf"), 2.0], "depth": [2, 3], "width": [5], "seeds": 2},
         "time": {"t_end": 4.0, "points": 9, "chunk_size": 3}}
# chunks of about half a second each: long enough for a worker to die in the middle of one
SLOW = {"task": {"kind": "teacher_student", "n": 10, "rank": 3},
        "grid": {"q": [2.0], "depth": [3], "width": [10], "seeds": 6},
        "time": {"t_end": 10.0, "points": 11, "chunk_size": 1}}


def _data(ds):
    """The data variables and coordinates, without the attributes (timings differ)."""
    return ds.drop_attrs() if hasattr(ds, "drop_attrs") else ds.copy().assign_attrs({})


def _identical(a, b):
    xr.testing.assert_identical(_data(a), _data(b))


# -- the spec -------------------------------------------------------------------------------
def test_the_spec_expands_to_its_grid_and_chunks_by_shape():
    spec = sweep.read(SMALL)
    assert spec.size == 8 and spec.shape[sweep.AXES.index("seed")] == 2
    chunks = spec.chunks()
    assert sorted(m for c in chunks for m in c) == list(range(8))
    for c in chunks:  # every chunk shares one shape and holds at most chunk_size members
        shapes = {(spec.point(m)["depth"], spec.point(m)["width"]) for m in c}
        assert len(shapes) == 1 and len(c) <= 3
    assert spec.point(7) == {**spec.point(7), "q": 2.0, "depth": 3, "seed": 1}


@pytest.mark.parametrize("doc,match", [
    ({"grid": {"qq": [1.0]}}, "unknown key 'qq' in \\[grid\\]"),
    ({"grid": {"q": [0.5]}}, "grid.q must be >= 1"),
    ({"grid": {"depth": [2, 2]}}, "grid.depth repeats a value"),
    ({"grid": {"seeds": 0}}, "grid.seeds must be a count >= 1"),
    ({"grid": {"clip": [0.0]}}, "grid.clip must be > 0 or inf"),
    ({"task": {"kind": "target", "singular_values": [1.0, 0.5, 0.2], "n": 2}},
     "task.n = 2 is smaller than the 3 singular values"),
    ({"grid": {"clip": [-1.0, "inf"]}}, "grid.clip must be > 0 or inf"),
    ({"time": {"method": "euler"}}, "time.method must be"),
    ({"time": {"solver": "rk4"}}, "time.solver = 'rk4' needs time.dt"),
    ({"task": {"kind": "target"}}, "exactly one of task.singular_values and task.target"),
    ({"task": {"kind": "teacher_student", "samples": 4}, "init": {"kind": "aligned"}},
     "needs whitened inputs"),
    ({"init": {"kind": "orthogonal"}}, "init.kind must be"),
    ({"task": {"kind": "teacher_student", "samples": 0}}, "task.samples"),
    ({"task": {"kind": "teacher_student", "samples": False}}, "task.samples"),
    ({"task": {"kind": "target", "singular_values": [1.0], "noise": 0.1}},
     "task.noise is for kind = 'teacher_student'"),
    ({"task": {"kind": "target", "singular_values": [1.0], "rank": 1}},
     "task.rank is for kind = 'teacher_student'"),
    ({"init": {"strength": 0.1}}, "init.strength is for kind = 'aligned'"),
    ({"bogus": 1}, "unknown key 'bogus'"),
])
def test_bad_specs_name_the_key(doc, match):
    with pytest.raises(sweep.SpecError, match=match):
        sweep.read(doc)


@pytest.mark.parametrize("change,match", [
    ({"time": {"dt": 0.1}}, r"dt applies to solver='rk4' only"),
    ({"time": {"method": "discrete", "t_end": 0.4}}, r"time.t_end = 0.4 gives fewer than 2 "),
    ({"grid": {"scale": [0.1, 1e200]}},
     r"\(the member with .*scale = 1e\+200, seed = 0\): .*overflows"),
    ({"task": {"kind": "target", "singular_values": [1e200, 1.0]}},
     r"loss of the initial map overflows"),
    ({"init": {"kind": "aligned", "strength": 1e-240}, "task": {"kind": "target",
                                                               "singular_values": [1.0]}},
     r"below time.atol = 1e-10"),
    ({"grid": {"seeds": 10**9}}, r"grid.seeds = 1000000000 is above the 10000000 members"),
    ({"grid": {"seeds": 10**6, "depth": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}},
     r"the grid holds 22000000 members \(2 x 1 x 1 x 1 x 1 x 1 x 11"),
])
def test_specs_that_would_fail_in_every_chunk_fail_before_any_work(change, match):
    """A spec whose members cannot run is refused by its validation (exit 2 before any
    chunk), naming the member's grid values; a huge grid is counted, never enumerated."""
    doc = {k: dict(v) for k, v in SMALL.items()}
    for table, values in change.items():
        doc[table] = {**doc.get(table, {}), **values}
        if table == "task":
            doc["task"] = values
    t0 = time.perf_counter()
    with pytest.raises(sweep.SpecError, match=match):
        sweep.read(doc)
    assert time.perf_counter() - t0 < 5


def test_spec_files_that_are_not_specs_are_refused_at_once_and_an_equals_sign_is_a_path(
        tmp_path):
    """/dev/zero is refused without reading (it would never end), a binary file names itself,
    and a file named q=1.toml is read as a file, not as TOML text."""
    t0 = time.perf_counter()
    with pytest.raises(sweep.SpecError, match="'/dev/zero' is not a regular file"):
        sweep.read("/dev/zero")
    assert time.perf_counter() - t0 < 1
    binary = tmp_path / "spec.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(sweep.SpecError, match="spec.toml' is not a text file"):
        sweep.read(str(binary))
    named = tmp_path / "q=1.toml"
    named.write_text('[grid]\nq = [1.0]\n[time]\nt_end = 1.0\npoints = 3\n')
    assert sweep.read(str(named)).grid["q"] == (1.0,)


def test_bad_toml_and_missing_files_are_spec_errors(tmp_path):
    with pytest.raises(sweep.SpecError, match="not valid TOML"):
        sweep.read("[grid\nq = 1")
    with pytest.raises(sweep.SpecError, match="No such file"):
        sweep.read(str(tmp_path / "none.toml"))


# -- results: independent of chunking and engine, equal to lone runs --------------------------
def test_a_member_equals_its_lone_simulate_bit_for_bit_in_any_chunking(tmp_path):
    a = sweep.run(SMALL, tmp_path / "a", executor=InlineExecutor())
    b = sweep.run({**SMALL, "time": {**SMALL["time"], "chunk_size": 1}}, tmp_path / "b",
                  executor=InlineExecutor())
    _identical(a, b)
    spec = sweep.read(SMALL)
    task = spec.make_task()
    for m in (0, 5, 7):
        p = spec.point(m)
        lone = simulate(spec.make_network(p, task), task, spec.make_rule(p), spec.times,
                        solver="dopri5", rtol=1e-8, atol=1e-10)
        got = a.loss.sel(q=p["q"], depth=p["depth"], seed=p["seed"]).squeeze().values
        assert np.array_equal(got, lone.loss)
        strength = a.mode_strength.sel(q=p["q"], depth=p["depth"], seed=p["seed"]).squeeze()
        assert np.array_equal(strength.values, lone.mode_strengths)


def test_one_and_two_local_workers_give_the_in_process_result(tmp_path):
    ref = sweep.run(SMALL, tmp_path / "inline", executor=InlineExecutor())
    for workers in (1, 2):
        _identical(sweep.run(SMALL, tmp_path / f"w{workers}", workers=workers), ref)


def test_a_dask_local_cluster_gives_the_same_result_even_when_a_worker_is_killed(tmp_path):
    distributed = pytest.importorskip("distributed")
    ref = sweep.run(SLOW, tmp_path / "ref", executor=InlineExecutor())
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster:
        small = sweep.run(SMALL, tmp_path / "small", scheduler=cluster.scheduler_address)
        _identical(small, sweep.run(SMALL, tmp_path / "small_ref", executor=InlineExecutor()))
        # the command line, through a scheduler file (as `dask scheduler --scheduler-file`)
        sched = tmp_path / "scheduler.json"
        sched.write_text(json.dumps({"type": "Scheduler", "address": cluster.scheduler_address}))
        spec = tmp_path / "small.toml"
        spec.write_text('[task]\nn = 4\nrank = 2\n[grid]\nq = [inf, 2.0]\ndepth = [2, 3]\n'
                        'width = [5]\nseeds = 2\n[time]\nt_end = 4.0\npoints = 9\n'
                        'chunk_size = 3\n')
        assert main(["sweep", str(spec), "--out", str(tmp_path / "cli"), "--quiet",
                     "--scheduler-file", str(sched)]) == 0
        _identical(sweep.load(tmp_path / "cli"), small)
        with distributed.Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
        killer = threading.Thread(target=_kill_after_first_chunk, args=(tmp_path / "dask",
                                                                        pids[:1]))
        killer.start()
        ds = sweep.run(SLOW, tmp_path / "dask", scheduler=cluster.scheduler_address)
        killer.join()
    _identical(ds, ref)
    assert sweep.status(tmp_path / "dask")["done"] == 6


def _kill_after_first_chunk(out: Path, pids) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((out / "chunks").glob("*.npz")):
        time.sleep(0.02)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def test_a_killed_local_worker_is_retried_and_the_result_is_unchanged(tmp_path):
    psutil = pytest.importorskip("psutil")
    ref = sweep.run(SLOW, tmp_path / "ref", executor=InlineExecutor())

    def kill_a_worker():
        out = tmp_path / "local"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((out / "chunks").glob("*.npz")):
            time.sleep(0.02)
        me = psutil.Process()

        def leaves():
            # the forkserver's (or spawn's) workers, not multiprocessing's resource tracker
            # (whose name may be in every child's flags: -W ignore:resource_tracker:...)
            out = []
            for p in me.children(recursive=True):
                try:
                    if not p.children() and "resource_tracker import main" not in \
                            " ".join(p.cmdline()):
                        out.append(p)
                except psutil.NoSuchProcess:
                    pass
            return [p for p in out if p.ppid() != me.pid] or out

        workers = leaves()
        while not workers and time.monotonic() < deadline:  # a worker between two chunks
            time.sleep(0.02)
            workers = leaves()
        workers[0].kill()

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    ds = sweep.run(SLOW, tmp_path / "local", workers=2)
    killer.join()
    _identical(ds, ref)
    runs = store.read_meta(str(tmp_path / "local"))["runs"]
    assert runs[-1]["retried"] >= 1


# -- nothing lost ---------------------------------------------------------------------------
class FailingExecutor(InlineExecutor):
    """Runs chunks in this process; the chunks in ``fail`` raise, ``interrupt_at`` raises
    KeyboardInterrupt as that chunk is submitted (Ctrl-C)."""

    def __init__(self, fail=(), interrupt_at=None):
        self.fail, self.interrupt_at = set(fail), interrupt_at

    def submit(self, fn, *args, **kwargs):
        chunk = args[1]
        if chunk == self.interrupt_at:
            raise KeyboardInterrupt
        if chunk in self.fail:
            fut = Future()
            fut.set_exception(RuntimeError(f"planted failure in chunk {chunk}"))
            return fut
        return super().submit(fn, *args, **kwargs)


def test_a_failed_chunk_is_reported_the_others_finish_and_resume_completes_it(tmp_path):
    out = tmp_path / "s"
    ds = sweep.run(SMALL, out, executor=FailingExecutor(fail={1}))
    st = sweep.status(out)
    assert st == {"chunks": 4, "members": 8, "done": 3, "failed": 1, "corrupt": 0,
                  "missing": 0}
    members = sweep.read(SMALL).chunks()[1]
    status = ds.status.values.ravel()
    assert set(status[list(members)]) == {sweep.NOT_RUN}
    assert "planted failure in chunk 1" in ds.message.values.ravel()[members[0]]
    assert np.isnan(ds.loss.values.reshape(8, -1)[list(members)]).all()
    assert (status[[m for m in range(8) if m not in members]] == 0).all()
    resumed = sweep.run(SMALL, out, executor=InlineExecutor(), resume=True)
    assert sweep.status(out)["failed"] == 0
    _identical(resumed, sweep.run(SMALL, tmp_path / "ref", executor=InlineExecutor()))


def test_ctrl_c_keeps_finished_chunks_and_resume_equals_an_uninterrupted_run(tmp_path):
    out = tmp_path / "s"
    with pytest.raises(sweep.SweepInterrupted, match="2 of 4 chunks"):
        sweep.run(SMALL, out, executor=FailingExecutor(interrupt_at=2))
    assert sweep.status(out) == {"chunks": 4, "members": 8, "done": 2, "failed": 0,
                                 "corrupt": 0, "missing": 2}
    assert not (out / "sweep.nc").exists()
    partial = sweep.load(out)  # assembled from the chunks written so far
    assert int((partial.status.values == sweep.NOT_RUN).sum()) == 4
    resumed = sweep.run(SMALL, out, executor=InlineExecutor(), resume=True)
    _identical(resumed, sweep.run(SMALL, tmp_path / "ref", executor=InlineExecutor()))


class RecordingExecutor(InlineExecutor):
    """Runs chunks in this process and records which were submitted."""

    def __init__(self):
        self.submitted = []

    def submit(self, fn, *args, **kwargs):
        self.submitted.append(args[1])
        return super().submit(fn, *args, **kwargs)


def test_resume_after_ctrl_c_submits_only_the_chunks_not_done(tmp_path):
    """Ctrl-C as chunk 2 is submitted: chunks 0 and 1 are done; the resume submits exactly
    chunks 2 and 3 (a resume that re-ran every chunk would give the same Dataset, so the final
    data alone cannot tell)."""
    out = tmp_path / "s"
    with pytest.raises(sweep.SweepInterrupted):
        sweep.run(SMALL, out, executor=FailingExecutor(interrupt_at=2))
    rec = RecordingExecutor()
    sweep.run(SMALL, out, executor=rec, resume=True)
    assert rec.submitted == [2, 3]


def _damage(path, how):
    """Rewrite a chunk file damaged in one of the ways a disk, a copy or a person does."""
    with np.load(path, allow_pickle=False) as z:
        r = {k: z[k] for k in z.files}
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return
    if how == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(2000))
        return
    if how == "shifted members":
        r["member"] = r["member"] + 1
    elif how == "missing key":
        del r["half_loss_time"]
    elif how == "extra key":
        r["extra"] = np.zeros(2)
    elif how == "wrong shape":
        r["loss"] = r["loss"][:, :-1]
    elif how == "NaN in a finished member":
        r["loss"][0, 3] = np.nan
    elif how == "status 7":
        r["status"][0] = 7
    elif how == "negative seconds":
        r["seconds"] = np.array(-1.0)
    elif how == "object array":
        r["message"] = r["message"].astype(object)
        with open(path, "wb") as fh:
            np.savez(fh, **r, allow_pickle=True)
        return
    with open(path, "wb") as fh:
        np.savez(fh, **r)


@pytest.mark.parametrize("how", ["truncated", "random bytes", "shifted members", "missing key",
                                 "extra key", "wrong shape", "NaN in a finished member",
                                 "status 7", "negative seconds", "object array"])
def test_a_damaged_chunk_file_is_reported_never_merged_and_resume_reruns_it(tmp_path, how,
                                                                           capsys):
    out = tmp_path / "s"
    ref = sweep.run(SMALL, out, executor=InlineExecutor())
    _damage(out / "chunks" / "00001.npz", how)
    assert sweep.status(out)["corrupt"] == 1 and sweep.status(out)["done"] == 3
    with pytest.raises(ValueError, match=r"chunk file .*00001\.npz is corrupt"):
        sweep.store.dataset(str(out))
    rc = main(["sweep", "status", str(out)])
    assert rc == 1 and "1 corrupt" in capsys.readouterr().out
    rec = RecordingExecutor()
    again = sweep.run(SMALL, out, executor=rec, resume=True)
    assert rec.submitted == [1]
    assert "00001.npz is corrupt" in capsys.readouterr().err
    assert (out / "chunks" / "00001.npz.corrupt").exists()
    _identical(again, ref)


def test_an_existing_folder_needs_resume_and_the_same_spec(tmp_path):
    out = tmp_path / "s"
    sweep.run(SMALL, out, executor=InlineExecutor())
    with pytest.raises(ValueError, match="already holds this sweep: pass --resume"):
        sweep.run(SMALL, out, executor=InlineExecutor())
    other = {**SMALL, "grid": {**SMALL["grid"], "seeds": 3}}
    with pytest.raises(sweep.SpecError, match="holds a sweep of another spec"):
        sweep.run(other, out, executor=InlineExecutor(), resume=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not empty and holds no sweep"):
        sweep.run(SMALL, tmp_path / "busy", executor=InlineExecutor())


# -- the Dataset ----------------------------------------------------------------------------
def test_the_dataset_opens_with_xarray_alone_and_is_reproducible(tmp_path):
    a = sweep.run(SMALL, tmp_path / "a", executor=InlineExecutor())
    ds = xr.open_dataset(tmp_path / "a" / "sweep.nc")  # no engine named: netCDF3 by scipy
    assert {"seed", "time", "q", "depth"} <= set(ds.dims)
    assert {"loss", "test_loss", "imbalance_drift", "mode_strength", "half_loss_time",
            "final_test_loss", "min_test_loss", "status", "message"} <= set(ds.data_vars)
    assert ds.attrs["spec_digest"] == sweep.read(SMALL).digest and "timings" in ds.attrs
    assert not any("second" in v for v in ds.data_vars)  # no wall-clock data
    ds.close()
    _identical(a, sweep.run(SMALL, tmp_path / "b", executor=InlineExecutor()))
    # GD (q = inf) conserves the imbalance: its drift is round-off; the half-loss time is
    # where the loss crosses half its start
    drift = a.imbalance_drift.sel(q=float("inf")).values
    assert np.nanmax(drift) < 1e-6
    loss = a.loss.isel(q=1, depth=0, seed=0).squeeze().values
    t_half = float(a.half_loss_time.isel(q=1, depth=0, seed=0).squeeze())
    k = int(np.argmax(loss <= loss[0] / 2))
    assert a.time.values[k - 1] < t_half <= a.time.values[k]
    # on the piecewise-linear loss between saves, t_half is where it is half the start
    assert np.interp(t_half, a.time.values, loss) == pytest.approx(loss[0] / 2, rel=1e-12)


def test_a_diverging_member_keeps_its_status_and_is_nan_after_it_stops(tmp_path):
    spec = {"task": {"kind": "teacher_student", "n": 4, "rank": 2},
            "grid": {"q": [float("inf")], "lr": [0.05, 3.0], "depth": [2], "width": [4]},
            "time": {"method": "discrete", "t_end": 200, "points": 21, "chunk_size": 2}}
    ds = sweep.run(spec, tmp_path / "s", executor=InlineExecutor())
    fast = ds.sel(lr=3.0).squeeze()
    assert int(fast.status) == 1 and "diverged" in str(fast.message.values)
    loss = fast.loss.values
    assert np.isnan(loss[-1]) and np.isfinite(loss[0])
    assert int(ds.sel(lr=0.05).squeeze().status) == 0


def test_the_torch_device_path_agrees_with_numpy(tmp_path):
    pytest.importorskip("torch")
    a = sweep.run(SMALL, tmp_path / "cpu", device="cpu")
    b = sweep.run(SMALL, tmp_path / "np", executor=InlineExecutor())
    np.testing.assert_allclose(a.loss.values, b.loss.values, rtol=1e-9, atol=1e-12)


# -- the command line -----------------------------------------------------------------------
def _toml(tmp_path, text):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return str(path)


def test_the_readme_spec_runs_from_the_command_line_then_status_and_plot(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, flags=re.S).group(1)
    spec = sweep.read(block)
    assert len(spec.grid["seed"]) >= 2 and len(spec.grid["q"]) >= 2
    path = _toml(tmp_path, block)
    out = tmp_path / "out"
    assert main(["sweep", path, "--out", str(out), "--quiet", "--workers", "2"]) == 0
    # the TOML as written, comments included, is kept beside the run for people to read
    assert (out / "spec.toml").read_text() == block
    text = capsys.readouterr().out
    assert f"{spec.size} members" in text and "0 failed" in text
    assert main(["sweep", "status", str(out)]) == 0
    assert f"{len(spec.chunks())} done, 0 failed, 0 corrupt, 0 missing" in capsys.readouterr().out
    ds = xr.open_dataset(out / "sweep.nc")
    assert int((ds.status != 0).sum()) == 0 and ds.sizes["seed"] >= 2
    ds.close()


def test_sweep_plot_draws_the_phase_diagram_of_an_aligned_grid(tmp_path, capsys):
    from dlnsim import experiments

    spec = {**experiments.PHASE_DIAGRAM_SPEC,
            "grid": {"q": [1.0, 2.0], "depth": [2, 3], "width": [3], "seeds": 1}}
    out = tmp_path / "pd"
    sweep.run(spec, out, executor=InlineExecutor())
    assert main(["sweep", "plot", str(out), "--figure", str(tmp_path / "pd.png")]) == 0
    assert (tmp_path / "pd.png").stat().st_size > 10_000
    assert main(["sweep", "plot", str(out)]) == 0  # default: DIR/phase_diagram.png
    assert (out / "phase_diagram.png").exists()
    random_start = tmp_path / "random"  # no closed form there: the measured times alone
    sweep.run(SMALL, random_start, executor=InlineExecutor())
    assert main(["sweep", "plot", str(random_start)]) == 0
    assert (random_start / "phase_diagram.png").exists()


def test_dry_run_prints_members_chunks_memory_and_an_estimate(tmp_path, capsys):
    assert main(["sweep", _toml(tmp_path, 'name = "x"\n[grid]\nseeds = 3\nq = [1.0, 2.0]\n'
                                "[task]\nn = 3\n[time]\nt_end = 1.0\nchunk_size = 4\n"),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"6 members in 2 chunks on \d+ workers; .* MiB .* estimated [0-9.]+ s",
                     out)


def test_the_cli_on_ctrl_c_exits_130_and_resume_finishes(tmp_path, capsys, monkeypatch):
    from dlnsim.sweep import engine

    path = _toml(tmp_path, 'name = "ctrl-c"\n[grid]\nseeds = 3\n[task]\nn = 3\n'
                           "[time]\nt_end = 1.0\nchunk_size = 1\n")
    real, calls = engine._work, []

    def work(*a):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(engine, "_work", work)
    pytest.importorskip("torch")
    out = str(tmp_path / "out")
    assert main(["sweep", path, "--out", out, "--device", "cpu", "--quiet"]) == 130
    assert "interrupted: 1 of 3 chunks" in capsys.readouterr().err
    assert main(["sweep", path, "--out", out, "--device", "cpu", "--quiet", "--resume"]) == 0


@pytest.mark.parametrize("argv,match", [
    (["sweep", "spec.toml"], "--out DIR is required"),
    (["sweep", "status"], "needs the sweep's folder"),
    (["sweep", "nonexistent.toml", "--out", "o"], "No such file"),
    (["sweep", "spec.toml", "--out", "o", "--scheduler", "localhost"],
     "--scheduler must be an address"),
    (["sweep", "spec.toml", "--out", "o", "--scheduler-file", "none.json"],
     "--scheduler-file 'none.json': no such file"),
    (["sweep", "spec.toml", "--out", "o", "--workers", "0"], "--workers"),
])
def test_bad_sweep_usage_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    _toml(tmp_path, "[grid]\nseeds = 1\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err), err


def test_status_of_a_folder_without_a_sweep_is_a_usage_error(tmp_path, capsys):
    assert main(["sweep", "status", str(tmp_path)]) == 2
    assert "holds no sweep" in capsys.readouterr().err


# -- the phase diagram ----------------------------------------------------------------------
def test_phase_diagram_data_equals_the_closed_form_on_a_small_grid(tmp_path):
    from dlnsim import experiments

    spec = {**experiments.PHASE_DIAGRAM_SPEC,
            "grid": {"q": [1.0, float("inf")], "depth": [2, 3], "width": [3], "seeds": 1}}
    data = experiments.phase_diagram(sweep.run(spec, tmp_path / "pd", executor=InlineExecutor()))
    assert data["measured"].shape == (2, 2)
    assert np.nanmax(np.abs(data["ratio"] - 1)) < 1e-3
    # NGD's half-max time does not depend on depth (p = 0, etabar = lr): eq 17
    assert data["measured"][0, 0] == pytest.approx(data["measured"][1, 0], rel=1e-4)


def test_the_phase_diagram_of_random_starts_is_the_measured_half_loss_time(tmp_path):
    """No closed form from a random start: the sweep's own half-loss times, mean over seeds,
    on the (depth, q) grid; fewer than two depths is refused."""
    from dlnsim import experiments

    ds = sweep.run(SMALL, tmp_path / "s", executor=InlineExecutor())
    data = experiments.phase_diagram(ds)
    assert data["closed"] is None and data["ratio"] is None
    assert data["quantity"] == "half_loss_time"
    want = ds.half_loss_time.squeeze().mean("seed").transpose("depth", "q").values
    np.testing.assert_allclose(data["measured"], want, rtol=1e-12)
    with pytest.raises(ValueError, match="at least two values of depth"):
        experiments.phase_diagram(ds.isel(depth=[0]))


def test_members_of_the_spec_are_the_networks_a_user_would_build():
    spec = sweep.read(SMALL)
    task = spec.make_task()
    p = spec.point(3)
    net = spec.make_network(p, task)
    want = Network.random(spec.widths(p["depth"], p["width"], task), scale=p["scale"],
                          seed=p["seed"])
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, want.weights))
    assert spec.make_rule(p).name == rules.ngd(p["q"]).name


def test_dlnsim_sweep_is_reachable_from_import_dlnsim_without_loading_xarray_up_front():
    import subprocess
    import sys

    code = ("import sys, dlnsim; assert 'xarray' not in sys.modules; "
            "assert callable(dlnsim.sweep.run) and callable(dlnsim.testing.dense_velocity)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("workers", [0, -3, 1.5])
def test_dry_run_refuses_a_bad_worker_count(workers):
    with pytest.raises((ValueError, TypeError), match="workers"):
        sweep.dry_run(SMALL, workers=workers, pilot=False)


def test_sweep_status_survives_damaged_records_and_names_a_damaged_spec(tmp_path, capsys):
    out = tmp_path / "s"
    sweep.run(SMALL, out, executor=FailingExecutor(fail={1}))
    (out / "chunks" / "00001.failed.json").write_text("{not json")
    (out / "chunks" / "notes.failed.json").write_text("stray")
    assert sweep.status(out)["failed"] == 1
    assert "unreadable" in sweep.store.failures(str(out))[1]
    (out / "spec.json").write_text("{broken")
    rc = main(["sweep", "status", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "spec.json is not a dlnsim sweep spec" in err and err.count("\n") == 1


def test_resume_into_a_chunks_folder_that_takes_no_files_fails_before_any_work(tmp_path):
    """out/ is writable but out/chunks/ is not (here a link to /proc/self, which no one can
    write in, root included): the probe of every folder written refuses before any chunk."""
    out = tmp_path / "s"
    with pytest.raises(sweep.SweepInterrupted):
        sweep.run(SMALL, out, executor=FailingExecutor(interrupt_at=1))
    (out / "chunks").rename(tmp_path / "kept")
    (out / "chunks").symlink_to("/proc/self")
    rec = RecordingExecutor()
    with pytest.raises(ValueError, match="chunks.*cannot write in"):
        sweep.run(SMALL, out, executor=rec, resume=True)
    assert rec.submitted == []


def test_a_dry_run_pilot_is_capped_and_extrapolated(tmp_path):
    """A member that would take far longer than the pilot cap (width 64, depth 6, sqrt-NGD on
    the dense kernel, 2000 save times) is run for about the cap and its time extrapolated from
    the save times it reached, not run to the end."""
    spec = {"task": {"kind": "teacher_student", "n": 8, "rank": 3},
            "grid": {"q": [2.0], "depth": [6], "width": [64], "scale": [0.3]},
            "time": {"t_end": 2000.0, "points": 2001}}
    t0 = time.perf_counter()
    d = sweep.dry_run(spec, workers=1, pilot_seconds=0.5)
    took = time.perf_counter() - t0
    assert d["extrapolated"] and took < 10
    assert d["estimated_seconds"] > 2 * took  # more than the pilot itself ran


def test_a_sweep_whose_dataset_is_too_large_is_refused_unless_yes(tmp_path, capsys):
    """2 x 10^6 members of 501 save times: a Dataset of about 30 GiB, counted, not built;
    the run and the dry run refuse it (exit 2 and 1), naming --max-memory and --yes."""
    doc = {"task": {"kind": "teacher_student", "n": 4, "rank": 2},
           "grid": {"seeds": 10**6, "q": [1.0, 2.0]}, "time": {"t_end": 1.0, "points": 501}}
    sizes = sweep.sizes_of(sweep.read(doc))
    assert sizes["dataset_bytes"] > 20 * 2**30
    with pytest.raises(ValueError, match="the assembled Dataset would take about .* GiB, "
                                         "above max_memory = 2 GiB .*--yes"):
        sweep.run(doc, tmp_path / "big", executor=InlineExecutor())
    assert not (tmp_path / "big").exists()  # refused before the folder was made


def test_the_counted_chunk_memory_equals_the_largest_enumerated_chunk():
    from dlnsim.solve.options import memory_estimate

    for doc in (SMALL, {**SMALL, "grid": {**SMALL["grid"], "seeds": 5, "width": [5, 9]}}):
        spec = sweep.read(doc)
        task = spec.make_task()
        want = 0.0
        for c in spec.chunks():
            p = spec.point(c[0])
            w = spec.widths(p["depth"], p["width"], task)
            want = max(want, memory_estimate(len(spec.times), len(c),
                                             sum(a * b for a, b in zip(w[:-1], w[1:])),
                                             w[0] * w[-1]))
        assert sweep.sizes_of(spec)["chunk_memory_bytes"] == want


def test_a_script_that_runs_a_sweep_without_the_main_guard_is_refused_before_any_work(
        tmp_path):
    """Workers import the main script: at its top level, sweep.run would run again in each
    of them. It is refused at once, naming the line; under the guard the same call runs."""
    import subprocess
    import sys

    call = ('sweep.run({"task": {"kind": "teacher_student", "n": 3, "rank": 1}, '
            '"grid": {"seeds": 2}, "time": {"t_end": 1.0, "points": 3, "chunk_size": 1}}, '
            '"out", workers=2)')
    bare = tmp_path / "bare.py"
    bare.write_text(f"from dlnsim import sweep\nprint('start')\n{call}\n")
    guarded = tmp_path / "guarded.py"
    guarded.write_text(f"from dlnsim import sweep\n\nif __name__ == '__main__':\n    {call}\n"
                       f"    print('finished')\n")
    r = subprocess.run([sys.executable, str(bare)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and r.stdout.count("start") == 1
    assert "called at the top level of bare.py (line 3)" in r.stderr
    assert not (tmp_path / "out").exists()
    r = subprocess.run([sys.executable, str(guarded)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "finished" in r.stdout, r.stderr
    # python -m dlnsim: a package's __main__ is never imported by the workers, so it passes
    spec = _toml(tmp_path, "[task]\nn = 3\n[grid]\nseeds = 2\n[time]\nt_end = 1.0\n"
                           "chunk_size = 1\n")
    r = subprocess.run([sys.executable, "-m", "dlnsim", "sweep", spec, "--out", "by_m",
                        "--workers", "2", "--quiet"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def _alive_in_session(sid: int) -> list[str]:
    """Processes of session ``sid`` that are still running (zombies excluded)."""
    import subprocess

    ps = subprocess.run(["ps", "-o", "stat=,args=", "-g", str(sid)], capture_output=True,
                        text=True).stdout
    return [line for line in ps.splitlines() if line.strip() and not line.startswith("Z")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc")
@pytest.mark.parametrize("delay", [0.2, 0.6, 1.0])
def test_ctrl_c_at_any_moment_of_start_up_is_one_line_and_leaves_nothing(tmp_path, delay):
    """A terminal's Ctrl-C reaches the whole group: during the imports, the forkserver's start
    or the workers' start. Each time: exit 130 (or 0 if the sweep already finished), at most
    one line on stderr, no traceback, and no process of the session left running."""
    import subprocess

    from tests.test_cli import sigint_default

    spec = _toml(tmp_path, "[task]\nn = 4\nrank = 2\n[grid]\nseeds = 8\n[time]\nt_end = 2.0\n"
                           "points = 5\nchunk_size = 1\n")
    proc = subprocess.Popen([sys.executable, "-m", "dlnsim", "sweep", spec, "--out", "out",
                             "--quiet", "--workers", "2"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=sigint_default)
    try:
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err and err.count("\n") <= 1, err
    deadline = time.time() + 10
    while _alive_in_session(proc.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive_in_session(proc.pid)


def test_chunks_hold_what_the_sweep_was_sized_for(tmp_path, monkeypatch):
    """The run's --max-memory reaches every chunk (a chunk the sweep admitted is not refused
    by the default limit inside it), and with --yes a chunk may hold what was counted."""
    from dlnsim.sweep import engine

    seen = []
    real = engine._work

    def work(spec, chunk, backend, device, max_memory=None):
        seen.append(max_memory)
        return real(spec, chunk, backend, device, max_memory)

    monkeypatch.setattr(engine, "_work", work)
    sweep.run(SMALL, tmp_path / "a", executor=InlineExecutor(), max_memory=3 * 2**30)
    assert set(seen) == {3 * 2**30}
    seen.clear()
    tiny = 1000.0  # bytes: every chunk is above it
    sweep.run(SMALL, tmp_path / "b", executor=InlineExecutor(), max_memory=tiny, yes=True)
    assert set(seen) == {sweep.sizes_of(sweep.read(SMALL))["chunk_memory_bytes"]}
    with pytest.raises(ValueError, match="largest chunk's results would take"):
        sweep.run(SMALL, tmp_path / "c", executor=InlineExecutor(), max_memory=tiny)


def test_the_sweep_folder_is_created_with_its_missing_parents(tmp_path):
    """--out runs/qd works where runs/ does not exist yet (as --help says), like mkdir -p;
    below a file it is refused before any work."""
    out = tmp_path / "runs" / "deeper" / "qd"
    sweep.run(SMALL, out, executor=InlineExecutor())
    assert (out / "sweep.nc").exists()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        sweep.run(SMALL, tmp_path / "a_file" / "sub" / "qd", executor=InlineExecutor())
