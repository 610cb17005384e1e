"""Sweeps: grids of runs over rules, depths, widths and seeds, resumable, on this machine's
processes, a dask cluster or one GPU.

>>> ds = dlnsim.sweep.run("spec.toml", out="runs/q-depth")       # doctest: +SKIP
>>> ds = dlnsim.sweep.load("runs/q-depth")                        # an xarray.Dataset

The spec (:mod:`dlnsim.sweep.spec`) names the grid; members that share a shape are batched
into chunks run by :func:`dlnsim.simulate_ensemble` (:mod:`dlnsim.sweep.chunk`); each finished
chunk is written atomically (:mod:`dlnsim.sweep.store`) so a stopped sweep resumes where it
stopped; the engines are in :mod:`dlnsim.sweep.engine`.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Executor

from dlnsim import _validate as V
from dlnsim.sweep import store
from dlnsim.sweep.engine import SweepInterrupted, available_cpus, connect, execute, prepare
from dlnsim.sweep.spec import AXES, Spec, SpecError, read
from dlnsim.sweep.store import NOT_RUN, load


def run(spec, out, executor: Executor | None = None, *, workers: int | None = None,
        resume: bool = False, device: str | None = None, quiet: bool = True,
        scheduler: str | None = None, scheduler_file: str | None = None):
    """Run a sweep into the folder ``out``; return its xarray Dataset (also in ``out/sweep.nc``).

    Parameters
    ----------
    spec
        A TOML file, a TOML string or a dict (:func:`dlnsim.sweep.spec.read`).
    out
        The sweep's folder: created if missing; it must be empty or hold this spec's sweep
        (then ``resume=True`` runs only the chunks not yet finished, failed ones included).
    executor
        Any ``concurrent.futures.Executor`` (e.g. ``distributed.Client(...).get_executor()``);
        default: processes on this machine, ``workers`` of them (default: every CPU this
        process may use), one BLAS thread each.
    device
        ``"cuda"`` (or ``"cpu"``): this process runs every chunk on torch tensors there.
    workers
        Local worker processes (default: every CPU this process may use).
    resume
        Run only the chunks of ``out`` not yet finished (failed ones again).
    quiet
        Hide the progress bar (one bar over members, with rate and ETA).
    scheduler, scheduler_file
        A dask.distributed scheduler's address (``tcp://HOST:8786``) or file: its workers run
        the chunks (the ``dask`` extra).

    Returns
    -------
    xarray.Dataset
        The sweep's results (see :mod:`dlnsim.sweep.store`). A chunk that raised is recorded
        (``out/chunks/NNNNN.failed.json``) and its members have status -2; the others go on.

    Raises
    ------
    SweepInterrupted
        On Ctrl-C, after keeping every finished chunk.
    ValueError, TypeError
        Bad arguments, a spec error naming its key, or an ``out`` that holds something else,
        before any work.
    """
    if workers is not None:
        V.positive_int(workers, "workers")
    if sum(x is not None for x in (executor, device, scheduler or scheduler_file)) > 1:
        raise ValueError("give at most one of executor, device and scheduler/scheduler_file")
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got "
                        f"{type(executor).__name__}")
    if device is not None:
        from dlnsim import backends

        backends.get("torch", device)  # a clear error before any work without torch or GPU
    spec, pending = prepare(spec, out, resume)
    client = None
    try:
        if scheduler is not None or scheduler_file is not None:
            client = connect(scheduler, scheduler_file)
            executor = client.get_executor()
        execute(spec, out, pending, executor, workers=workers, device=device, quiet=quiet)
    finally:
        if client is not None:
            client.close()
    return store.write_dataset(out, spec)


def status(out) -> dict:
    """Counts of a sweep folder's chunks.

    Parameters
    ----------
    out : str or os.PathLike
        The sweep's folder.

    Returns
    -------
    dict
        ``chunks``, ``members``, ``done``, ``failed`` and ``missing`` (chunk counts).
    """
    return store.status(out)


def dry_run(spec, workers: int | None = None, pilot: bool = True) -> dict:
    """What a sweep would do: members, chunks, the largest chunk's memory, and an estimate of
    its time.

    Parameters
    ----------
    spec
        As in :func:`run`.
    workers : int, optional
        The workers to divide the work by (default: every CPU this process may use).
    pilot : bool
        Time one member of each shape here, in full, and extrapolate; without it the estimate
        is NaN.

    Returns
    -------
    dict
        ``members``, ``chunks``, ``workers``, ``chunk_memory_bytes``, ``estimated_seconds``.
    """
    from dlnsim.solve.options import memory_estimate
    from dlnsim.sweep.chunk import run_chunk

    spec = read(spec)
    chunks = spec.chunks()
    workers = available_cpus() if workers is None else V.positive_int(workers, "workers")
    task = spec.make_task()
    points = len(spec.times)
    per_shape, memory = {}, 0.0
    for c in chunks:
        p = spec.point(c[0])
        widths = spec.widths(p["depth"], p["width"], task)
        params = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
        memory = max(memory, memory_estimate(points, len(c), params,
                                             widths[0] * widths[-1]))
        per_shape.setdefault((p["depth"], p["width"]), c[0])
    seconds = math.nan
    if pilot:
        lone = {}
        for shape, member in per_shape.items():
            one = Spec(spec.name, spec.task, {a: (spec.point(member)[a],) for a in AXES},
                       spec.init, {**spec.time, "chunk_size": 1})
            t0 = time.perf_counter()
            run_chunk(one, 0)
            lone[shape] = time.perf_counter() - t0
        work = sum(len(c) * lone[(spec.point(c[0])["depth"], spec.point(c[0])["width"])]
                   for c in chunks)
        seconds = work / max(1, min(workers, len(chunks)))
    return {"members": spec.size, "chunks": len(chunks), "workers": workers,
            "chunk_memory_bytes": memory, "estimated_seconds": seconds}


__all__ = ["AXES", "NOT_RUN", "Spec", "SpecError", "SweepInterrupted", "dry_run", "load",
           "read", "run", "status"]


