"""Trajectory files: atomic writes, link and device semantics, every field checked on load."""

import math
import os

import numpy as np
import pytest

import dlnsim
from dlnsim import Network, Status, Task, Trajectory, _io, rules, simulate
from dlnsim.trajectory import FORMAT


@pytest.fixture(scope="module")
def traj():
    task = Task.teacher_student(n=3, rank=1, seed=0)
    return simulate(Network.random((3, 4, 3), scale=0.2), task, rules.ngd(2),
                    t=np.linspace(0, 1, 3), quiet=True)


def _leftovers(folder):
    return [p for p in os.listdir(folder) if p.endswith(".tmp")]


def test_save_load_round_trip_records_the_format(traj, tmp_path):
    path = tmp_path / "t.npz"
    traj.save(path)
    with np.load(path, allow_pickle=False) as f:
        assert str(f["format"]) == FORMAT
    back = Trajectory.load(path)
    for a, b in zip(back.weights, traj.weights):
        np.testing.assert_array_equal(a, b)
    assert back.status == traj.status and isinstance(back.status, Status)
    assert back.message == traj.message and back.rule == traj.rule


def test_a_write_that_fails_halfway_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content")

    def half(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        _io.atomic_write(path, half)
    assert path.read_bytes() == b"old content"
    assert _leftovers(tmp_path) == []


def test_a_rename_that_fails_leaves_the_old_file_names_the_path_and_cleans_up(tmp_path,
                                                                             monkeypatch):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content")

    def no_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(OSError, match=r"cannot write '.*out\.bin'"):
        _io.atomic_write(path, lambda tmp: open(tmp, "wb").write(b"new"))
    assert path.read_bytes() == b"old content"
    assert _leftovers(tmp_path) == []


def test_the_data_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"),
                                                     real_replace(a, b)))
    _io.atomic_write(tmp_path / "x", lambda tmp: open(tmp, "wb").write(b"data"))
    assert events[:2] == ["fsync", "replace"]  # file first, then (last) the folder
    assert (tmp_path / "x").read_bytes() == b"data"


def test_saving_onto_a_link_writes_through_to_its_target_and_keeps_the_link(traj, tmp_path):
    target = tmp_path / "target.npz"
    target.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    traj.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(Trajectory.load(target).t) == len(traj.t)


def test_saving_onto_a_dangling_link_creates_its_target(traj, tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "new.npz")
    traj.save(link)
    assert link.is_symlink() and (tmp_path / "new.npz").exists()


@pytest.mark.parametrize("dest,match", [("/dev/null", "is a character device"),
                                        ("{tmp}", "is a folder")])
def test_saving_onto_a_non_regular_file_is_refused(traj, tmp_path, dest, match):
    with pytest.raises(ValueError, match=match):
        traj.save(dest.format(tmp=tmp_path))
    assert os.path.exists("/dev/null") and os.path.isdir(tmp_path)


def _corrupt(path, tmp_path, name, **changes):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    out = tmp_path / name
    np.savez(out, **arrays)
    return out


def test_every_load_failure_is_a_value_error_naming_the_file(traj, tmp_path):
    good = tmp_path / "good.npz"
    traj.save(good)
    data = good.read_bytes()
    cases = {}
    (tmp_path / "trunc.npz").write_bytes(data[:len(data) // 2])
    cases["trunc.npz"] = "not a readable .npz archive"
    (tmp_path / "zeros.npz").write_bytes(b"\0" * 100)
    cases["zeros.npz"] = "pickled data, which dlnsim never loads"
    np.save(tmp_path / "one.npy", np.ones(3))
    cases["one.npy"] = "holds one array"
    with np.load(good) as f:
        maps, t = f["map"], f["t"]
    changes = {
        "neg.npz": (dict(depth=np.array(-1)), "depth must be >= 1"),
        "shape.npz": (dict(map=maps[:, :2]), "map must be a finite real array of shape"),
        "wrong.npz": (dict(map=maps * 1.01), "map is not the product of the weights"),
        "future.npz": (dict(format=np.array("dlnsim.trajectory/9")), "newer dlnsim"),
        "nan.npz": (dict(loss=np.full(len(t), np.nan)), "loss must be a finite real array"),
        "status.npz": (dict(status=np.array(7)), "status must be one of"),
        "lr.npz": (dict(lr=np.array(-1.0)), "lr must be > 0"),
        "t.npz": (dict(t=t[::-1]), "strictly increasing"),
        "missing.npz": (dict(loss=None), "missing field 'loss'"),
        "array.npz": (dict(status=np.array([0, 1])), "status must be a scalar"),
        "text.npz": (dict(lr=np.array("fast")), "lr must be a scalar"),
        "chain.npz": (dict(weights_1=np.zeros((len(t), 3, 7))),
                      "weights_1 has 7 columns, weights_0 has 4 rows"),
    }
    for name, (change, match) in changes.items():
        _corrupt(good, tmp_path, name, **change)
        cases[name] = match
    cases["absent.npz"] = "no such file"
    for name, match in cases.items():
        with pytest.raises(ValueError, match=match) as info:
            Trajectory.load(tmp_path / name)
        assert name in str(info.value)


def test_files_of_dlnsim_0_1_without_a_format_field_still_load(traj, tmp_path):
    good = tmp_path / "good.npz"
    traj.save(good)
    old = _corrupt(good, tmp_path, "old.npz", format=None)
    assert len(Trajectory.load(old).t) == len(traj.t)


def test_output_checks_name_the_flag_and_the_path(tmp_path):
    with pytest.raises(ValueError, match=r"--out '.*nope/x.npz': the folder"):
        _io.check_output_file(tmp_path / "nope" / "x.npz", "--out")
    with pytest.raises(ValueError, match="must be a file path"):
        _io.check_output_file("", "--out")
    assert _io.check_output_folder(tmp_path / "new", "--out") == str(tmp_path / "new")
    assert (tmp_path / "new").is_dir() and os.listdir(tmp_path / "new") == []


# -- one result family: a singular-mode run saves and loads like a trajectory ---------------
def test_mode_trajectories_share_the_result_family_and_round_trip(tmp_path):
    from dlnsim import modes
    from dlnsim.trajectory import RunResult

    run = modes.simulate(np.full((2, 3), 0.2), [1.0, 0.5], [0.0, 0.5, 1.0], q=2.0)
    assert isinstance(run, RunResult) and run.success
    path = tmp_path / "modes.npz"
    run.save(path)
    back = modes.ModeTrajectory.load(path)
    np.testing.assert_array_equal(back.sigma, run.sigma)
    np.testing.assert_array_equal(back.t, run.t)
    assert (back.status, back.message) == (run.status, run.message)
    # a failed run keeps its status and message through the file
    stopped = modes.simulate(np.full((1, 3), 3.0), [1.0], [0, 50], q=math.inf, lr=5.0,
                             method="discrete", limits=dlnsim.Limits(max_norm=1e3))
    stopped.save(path)
    again = modes.ModeTrajectory.load(path)
    assert again.status == stopped.status == 1 and again.message == stopped.message


@pytest.mark.parametrize("damage, match", [
    (lambda d: d.update(sigma=d["sigma"][:1]), "sigma must be a finite real array"),
    (lambda d: d.update(status=np.array(7)), "status must be one of"),
    (lambda d: d.update(t=d["t"][::-1].copy()), "strictly increasing"),
    (lambda d: d.pop("message"), "missing field 'message'"),
    (lambda d: d.update(format=np.array("dlnsim.trajectory/1")), "format"),
])
def test_a_damaged_mode_trajectory_file_is_refused_naming_what_is_wrong(tmp_path, damage,
                                                                       match):
    from dlnsim import modes

    run = modes.simulate(np.full((2, 3), 0.2), [1.0, 0.5], [0.0, 0.5, 1.0])
    path = tmp_path / "m.npz"
    run.save(path)
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    damage(data)
    with open(path, "wb") as fh:
        np.savez(fh, **data)
    with pytest.raises(ValueError, match=match):
        modes.ModeTrajectory.load(path)


def _huge_header(src, dst, field):
    """``field``'s .npy header rewritten to declare shape (10^6, 10^6) over its few bytes
    (the header keeps its length: the spaces that pad it absorb the longer shape)."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == f"{field}.npy":
                hlen = int.from_bytes(data[8:10], "little")  # .npy format 1.0
                header = data[10:10 + hlen].decode("latin1")
                start = header.index("'shape': (") + len("'shape': (")
                end = header.index(")", start)
                header = (header[:start] + "1000000, 1000000" + header[end:]).rstrip()
                data = data[:10] + (header.ljust(hlen - 1) + "\n").encode("latin1") \
                    + data[10 + hlen:]
            zout.writestr(item, data)


def test_damaged_or_foreign_trajectory_files_are_refused_naming_the_file(tmp_path):
    """A complex or text t, an object array, an unknown field, an imbalance that is not the
    weights', and a header declaring a 10^12-entry array: each a ValueError naming the file
    and the field, never a warning, a TypeError or a MemoryError."""
    import warnings

    traj = simulate(Network.random((3, 4, 2), scale=0.5, seed=0),
                    Task(np.ones((2, 3))), rules.gd(), np.linspace(0, 1, 4), quiet=True)
    good = tmp_path / "good.npz"
    traj.save(good)
    cases = {
        "complex": ({"t": traj.t + 1j}, "t must hold real numbers, got complex128"),
        "text": ({"t": np.array(["0", "1", "2", "3"])}, "t must hold real numbers"),
        "object": ({"rule": np.array(["gd"], dtype=object)},
                   "field 'rule' holds an object array, which dlnsim never writes"),
        "extra": ({"secret": np.zeros(3)}, "unknown fields secret"),
        "imbalance": ({"imbalance_0": traj.imbalance[0] + 1e-3},
                      "imbalance_0 is not w_1 w_1\\^T - w_2\\^T w_2 of the weights"),
    }
    for label, (changes, match) in cases.items():
        bad = tmp_path / f"{label}.npz"
        if label == "object":
            with np.load(good, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            arrays.update(changes)
            with open(bad, "wb") as fh:
                np.savez(fh, **arrays, allow_pickle=True)
        else:
            _corrupt(good, tmp_path, bad.name, **changes)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=f"{bad}.*{match}"):
                Trajectory.load(bad)
    huge = tmp_path / "huge.npz"
    _huge_header(good, huge, "loss")
    with pytest.raises(ValueError, match=f"{huge}.*field 'loss' (declares an array too large|"
                                         f"is damaged)"):
        Trajectory.load(huge)


def _half_then_fail(target):
    """Write a few bytes to ``target`` (a file object or a path), then fail like a full disk."""
    if hasattr(target, "write"):
        target.write(b"half a file" if "b" in getattr(target, "mode", "b") else "half a file")
    else:
        with open(target, "wb") as fh:
            fh.write(b"half a file")
    raise OSError(28, "No space left on device (planted)")


@pytest.mark.parametrize("writer", ["trajectory", "claims json", "sweep chunk", "figure"])
def test_a_write_that_fails_half_way_leaves_the_old_file_intact(tmp_path, monkeypatch, writer):
    """Each writer goes through the atomic writer: a failure inside its serializer (a full
    disk, half way) raises, leaves the previous file byte for byte, and no temporary file."""
    from matplotlib.figure import Figure

    from dlnsim import plots, verify
    from dlnsim.sweep import store

    traj = simulate(Network.random((2, 3, 2), scale=0.5, seed=0), Task(np.eye(2)), rules.gd(),
                    [0.0, 0.5], quiet=True)
    if writer == "trajectory":
        path = tmp_path / "t.npz"
        traj.save(path)
        monkeypatch.setattr(_io.np, "savez", lambda fh, **a: _half_then_fail(fh))

        def write():
            traj.save(path)
    elif writer == "claims json":
        path = tmp_path / "r.json"
        results = verify.run("wd.l2_vs_decay", workers=1)
        verify.write_json(results, str(path))
        monkeypatch.setattr(_io.json, "dump", lambda doc, fh, **k: _half_then_fail(fh))

        def write():
            verify.write_json(results, str(path))
    elif writer == "sweep chunk":
        (tmp_path / "chunks").mkdir()
        path = tmp_path / "chunks" / "00000.npz"
        store.write_chunk(str(tmp_path), 0, {"member": np.arange(2)})
        monkeypatch.setattr(_io.np, "savez", lambda fh, **a: _half_then_fail(fh))

        def write():
            store.write_chunk(str(tmp_path), 0, {"member": np.arange(3)})
    else:
        path = tmp_path / "f.png"
        fig = Figure()
        fig.add_subplot().plot([0, 1])
        plots.save(fig, str(path))
        monkeypatch.setattr(Figure, "savefig", lambda self, tmp, **k: _half_then_fail(tmp))

        def write():
            plots.save(fig, str(path))
    old = path.read_bytes()
    with pytest.raises(OSError, match="planted"):
        write()
    assert path.read_bytes() == old
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
