"""A sweep's folder: its spec, one file per finished chunk, failures, and the dataset.

``DIR/sweep.json`` (spec digest, chunk count, timings), ``DIR/spec.json`` (the spec, as
:func:`dlnsim.sweep.spec.read` reads it), ``DIR/spec.toml`` (the TOML as given, if any),
``DIR/chunks/NNNNN.npz`` (a finished chunk, written atomically; loaded without pickle),
``DIR/chunks/NNNNN.failed.json`` (why a chunk failed; removed when it later succeeds) and
``DIR/sweep.nc``: one labelled xarray Dataset (netCDF3, written by scipy) over the grid's
axes, ``seed`` and ``time``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import zipfile

import numpy as np

from dlnsim._io import atomic_write, write_json, write_npz
from dlnsim.sweep.spec import AXES, Spec, read

NOT_RUN = -2  # status of a member whose chunk failed or has not run
SERIES = ("loss", "test_loss", "imbalance_drift")
SCALARS = ("half_loss_time", "final_test_loss", "min_test_loss")


def _chunk_path(out: str, chunk: int, suffix: str = ".npz") -> str:
    return os.path.join(out, "chunks", f"{chunk:05d}{suffix}")


def read_meta(out: str) -> dict | None:
    path = os.path.join(out, "sweep.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
        meta["digest"], meta["chunks"]  # noqa: B018 - the keys a sweep folder must have
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is not a dlnsim sweep file") from None
    return meta


def write_meta(out: str, spec: Spec, chunks: int) -> None:
    old = read_meta(out) or {}
    os.makedirs(os.path.join(out, "chunks"), exist_ok=True)
    write_json({**old, "format": "dlnsim.sweep/1", "digest": spec.digest, "chunks": chunks,
                "members": spec.size, "name": spec.name}, os.path.join(out, "sweep.json"))
    write_json(spec.document(), os.path.join(out, "spec.json"))
    if spec.text:  # the TOML as given, comments included, for people to read
        def save(tmp):
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(spec.text)

        atomic_write(os.path.join(out, "spec.toml"), save)


def update_meta(out: str, **values) -> None:
    meta = read_meta(out)
    runs = meta.get("runs", [])
    runs.append(values)
    meta["runs"] = runs
    write_json(meta, os.path.join(out, "sweep.json"))


def write_chunk(out: str, chunk: int, result: dict) -> None:
    write_npz(_chunk_path(out, chunk), result)  # atomic: a half-written chunk never exists
    failed = _chunk_path(out, chunk, ".failed.json")
    if os.path.exists(failed):
        os.unlink(failed)


def write_failure(out: str, chunk: int, error: str) -> None:
    write_json({"chunk": chunk, "error": error}, _chunk_path(out, chunk, ".failed.json"))


CHUNK_KEYS = frozenset(("member", "status", "message", "seconds", "mode_strength")
                       + SERIES + SCALARS)
STATUSES = (0, 1, -1, 2)


def _layout(spec: Spec) -> tuple:
    """``(chunks, save times, modes)`` of ``spec``: what every chunk file is checked against
    (computed once per folder, not once per chunk: the chunks enumerate the grid)."""
    return spec.chunks(), len(spec.times), min(spec.make_task().target.shape)


def read_chunk(out: str, chunk: int, spec: Spec | None = None, layout: tuple | None = None
               ) -> dict:
    """Chunk ``chunk``'s arrays, loaded without pickle and, given the ``spec``, checked like
    :meth:`dlnsim.Trajectory.load` checks a trajectory (:func:`check_chunk`).

    Raises
    ------
    ValueError
        A file that cannot be read or does not hold chunk ``chunk`` of ``spec``, naming it.
    """
    path = _chunk_path(out, chunk)
    try:
        with np.load(path, allow_pickle=False) as z:
            r = {k: z[k] for k in z.files}
    except ValueError as exc:
        why = ("it holds object arrays, which dlnsim never writes (it is not loaded)"
               if "allow_pickle" in str(exc) else str(exc))
        raise ValueError(f"chunk file {path} is corrupt: {why}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"chunk file {path} is corrupt: {exc}") from None
    if spec is not None:
        check_chunk(r, spec, chunk, path, layout)
    return r


def check_chunk(r: dict, spec: Spec, chunk: int, path: str, layout: tuple | None = None
                ) -> None:
    """Refuse arrays that are not chunk ``chunk`` of ``spec``: other keys, other members,
    other shapes, a status outside 0, 1, -1, 2, or a member with status 0 whose loss is not
    finite (a finished member has a value at every save time)."""
    def bad(why: str):
        raise ValueError(f"chunk file {path} is corrupt: {why}")

    keys = set(r)
    if keys != CHUNK_KEYS:
        missing, extra = sorted(CHUNK_KEYS - keys), sorted(keys - CHUNK_KEYS)
        bad(("missing " + ", ".join(missing) if missing else "")
            + ("; " if missing and extra else "") + ("extra " + ", ".join(extra) if extra
                                                     else ""))
    chunks, n_t, modes = _layout(spec) if layout is None else layout
    members = np.asarray(chunks[chunk], dtype=np.int64)
    b = len(members)
    if r["member"].shape != (b,) or not np.array_equal(r["member"], members):
        bad(f"it holds members {r['member'].ravel()[:8].tolist()}, chunk {chunk} is members "
            f"{members[:8].tolist()}")
    shapes = {**{k: (b, n_t) for k in SERIES}, "mode_strength": (b, n_t, modes),
              **{k: (b,) for k in SCALARS}, "status": (b,), "message": (b,), "seconds": ()}
    for k, shape in shapes.items():
        if r[k].shape != shape:
            bad(f"{k} has shape {r[k].shape}, expected {shape}")
        if k != "message" and r[k].dtype.kind not in "fiu":
            bad(f"{k} holds {r[k].dtype}, not numbers")
    if r["message"].dtype.kind != "U":
        bad(f"message holds {r['message'].dtype}, not text")
    if not np.all(np.isin(r["status"], STATUSES)):
        bad(f"status holds {sorted(set(r['status'].tolist()) - set(STATUSES))}, not one of "
            f"{STATUSES}")
    finished = r["status"] == 0
    if not np.all(np.isfinite(r["loss"][finished])):
        bad("a member with status 0 has a non-finite loss")
    if not (np.isfinite(r["seconds"]) and r["seconds"] >= 0):
        bad(f"seconds is {r['seconds']}")


def done_chunks(out: str) -> set[int]:
    """The chunks that have a file (valid or not: :func:`chunk_states` checks them)."""
    folder = os.path.join(out, "chunks")
    if not os.path.isdir(folder):
        return set()
    return {int(f[:5]) for f in os.listdir(folder)
            if f.endswith(".npz") and len(f) == 9 and f[:5].isdigit()}


def chunk_states(out: str, spec: Spec) -> tuple[set[int], dict[int, str]]:
    """``(done, corrupt)``: the chunks whose files hold valid results, and the reason of each
    chunk whose file does not (or whose number is not a chunk of ``spec``)."""
    done, corrupt = set(), {}
    layout = _layout(spec)
    n = len(layout[0])
    for c in sorted(done_chunks(out)):
        if c >= n:
            corrupt[c] = f"chunk file {_chunk_path(out, c)} is corrupt: the sweep has {n} chunks"
            continue
        try:
            read_chunk(out, c, spec, layout)
        except ValueError as exc:
            corrupt[c] = str(exc)
        else:
            done.add(c)
    return done, corrupt


def set_aside(out: str, chunk: int) -> str:
    """Move chunk ``chunk``'s corrupt file to ``NNNNN.npz.corrupt`` (kept for inspection, no
    longer counted); return the new path."""
    path = _chunk_path(out, chunk)
    aside = path + ".corrupt"
    os.replace(path, aside)
    return aside


def failures(out: str) -> dict[int, str]:
    folder = os.path.join(out, "chunks")
    out_ = {}
    for f in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if f.endswith(".failed.json") and len(f) == 17 and f[:5].isdigit():
            try:
                with open(os.path.join(folder, f), encoding="utf-8") as fh:
                    out_[int(f[:5])] = str(json.load(fh).get("error", ""))
            except (OSError, ValueError, AttributeError):  # a damaged record still says failed
                out_[int(f[:5])] = f"(the failure record {f} is unreadable)"
    return out_


def status(out: str) -> dict:
    """``{"chunks", "members", "done", "failed", "corrupt", "missing"}`` (chunk counts) of a
    sweep folder; ``corrupt`` chunks have a file that does not hold valid results."""
    meta = read_meta(out)
    if meta is None:
        raise ValueError(f"{out!r} holds no sweep (no sweep.json)")
    done, corrupt = chunk_states(out, load_spec(out))
    failed = set(failures(out)) - done - set(corrupt)
    return {"chunks": meta["chunks"], "members": meta["members"], "done": len(done),
            "failed": len(failed), "corrupt": len(corrupt),
            "missing": meta["chunks"] - len(done | failed | set(corrupt))}


def load_spec(out: str) -> Spec:
    """The spec a sweep folder was run with (``DIR/spec.json``)."""
    path = os.path.join(out, "spec.json")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a dlnsim sweep spec: {exc}") from None
    return read(doc)


def dataset(out: str, spec: Spec | None = None):
    """The labelled xarray Dataset of a sweep folder from its chunk files (members of failed or
    missing chunks: NaN, status -2)."""
    import xarray as xr

    spec = load_spec(out) if spec is None else spec
    shape = spec.shape
    t = spec.times
    task = spec.make_task()
    modes = min(task.target.shape)
    n = spec.size
    series = {k: np.full((n, len(t)), np.nan) for k in SERIES}
    strength = np.full((n, len(t), modes), np.nan)
    scalars = {k: np.full(n, np.nan) for k in SCALARS}
    st = np.full(n, NOT_RUN, dtype=np.int32)
    msg = np.array(["not run"] * n, dtype=object)
    fails = failures(out)
    layout = _layout(spec)
    chunks = layout[0]
    for c, error in fails.items():
        msg[list(chunks[c])] = f"chunk {c} failed: {error}"[:200]
    seconds = {}
    for c in sorted(done_chunks(out)):
        r = read_chunk(out, c, spec, layout)
        m = r["member"]
        for k in SERIES:
            series[k][m] = r[k]
        strength[m] = r["mode_strength"]
        for k in SCALARS:
            scalars[k][m] = r[k]
        st[m] = r["status"]
        msg[m] = r["message"]
        seconds[c] = float(r["seconds"])
    dims = AXES
    coords = {a: np.asarray(spec.grid[a], dtype=np.int8 if a == "block_diagonal" else None)
              for a in AXES}
    coords["time"] = np.asarray(t, dtype=float)
    coords["mode"] = np.arange(modes)
    data = {k: (dims + ("time",), series[k].reshape(shape + (len(t),))) for k in SERIES}
    data["mode_strength"] = (dims + ("time", "mode"),
                             strength.reshape(shape + (len(t), modes)))
    data.update({k: (dims, scalars[k].reshape(shape)) for k in SCALARS})
    data["status"] = (dims, st.reshape(shape))
    data["message"] = (dims, msg.astype(str).reshape(shape))
    data["target_singular_value"] = (("mode",), np.linalg.svd(task.target,
                                                              compute_uv=False)[:modes])
    ds = xr.Dataset(data, coords=coords)
    ds["loss"].attrs["long_name"] = "train loss L(W(t))"
    ds["test_loss"].attrs["long_name"] = "test loss against the teacher (NaN for a target task)"
    ds["imbalance_drift"].attrs["long_name"] = "max_i ||c_i(t) - c_i(0)||_F (Huh 2020, eq 15)"
    ds["mode_strength"].attrs["long_name"] = "u_k^T W(t) v_k on the target's singular vectors"
    ds["half_loss_time"].attrs["long_name"] = ("first time the train loss is half its initial "
                                               "value (units of t; steps x lr if discrete)")
    ds["status"].attrs["long_name"] = ("0 reached the end, 1 diverged, -1 failed, 2 "
                                       "interrupted, -2 not run (its chunk failed or is "
                                       "missing)")
    ds["block_diagonal"].attrs["long_name"] = "block-diagonal NGD-d (1) or full (0)"
    ds["clip"].attrs["long_name"] = "update-speed clipping (inf: none)"
    ds["time"].attrs["long_name"] = "save step" if spec.time["method"] == "discrete" else "time t"
    ds.attrs.update(_attrs(out, spec, seconds))
    return ds


def _attrs(out: str, spec: Spec, seconds: dict) -> dict:
    import scipy
    import xarray

    from dlnsim._version import __version__

    meta = read_meta(out) or {}
    versions = {"dlnsim": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
                "xarray": xarray.__version__, "python": platform.python_version()}
    timings = {"chunk_seconds": seconds, "runs": meta.get("runs", [])}
    return {"title": f"dlnsim sweep {spec.name!r}",
            "spec": spec.text or json.dumps(spec.document()),
            "init_kind": spec.init["kind"], "init_strength": spec.init["strength"],
            "method": spec.time["method"],
            "spec_digest": spec.digest, "versions": json.dumps(versions),
            "timings": json.dumps(timings, default=lambda x: None if isinstance(x, float)
                                  and not math.isfinite(x) else x),
            "conventions": "dlnsim: widths input first; loss 1/2 Tr[(W - W*) S (W - W*)^T]"}


def write_dataset(out: str, spec: Spec | None = None):
    """Assemble the chunks and write ``DIR/sweep.nc`` atomically; return the Dataset."""
    ds = dataset(out, spec)
    atomic_write(os.path.join(out, "sweep.nc"),
                 lambda tmp: ds.to_netcdf(tmp, engine="scipy", format="NETCDF3_64BIT"))
    return ds


def load(out: str):
    """The sweep's Dataset: ``DIR/sweep.nc`` if written, else assembled from its chunks.

    Parameters
    ----------
    out : str or os.PathLike
        The sweep's folder.

    Returns
    -------
    xarray.Dataset
        Loaded into memory (the file is closed).
    """
    import xarray as xr

    path = os.path.join(os.fspath(out), "sweep.nc")
    if not os.path.exists(path):
        return dataset(os.fspath(out))
    with xr.open_dataset(path, engine="scipy") as ds:
        return ds.load()


__all__ = ["NOT_RUN", "check_chunk", "chunk_states", "dataset", "done_chunks", "failures",
           "load", "load_spec", "read_chunk", "read_meta", "set_aside", "status", "write_chunk",
           "write_dataset", "write_failure", "write_meta"]
