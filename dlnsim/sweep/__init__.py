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
import os
import time
from concurrent.futures import Executor

import numpy as np

from dlnsim import _validate as V
from dlnsim.sweep import store
from dlnsim.sweep.engine import SweepInterrupted, available_cpus, connect, execute, prepare
from dlnsim.sweep.spec import AXES, Spec, SpecError, read
from dlnsim.sweep.store import NOT_RUN, load


def run(spec, out, executor: Executor | None = None, *, workers: int | None = None,
        resume: bool = False, device: str | None = None, quiet: bool = True,
        scheduler: str | None = None, scheduler_file: str | None = None,
        max_memory: float = 2.0 * 2**30, yes: bool = False):
    """Run a sweep into the folder ``out``; return its xarray Dataset (also in ``out/sweep.nc``).

    Parameters
    ----------
    spec
        A TOML file, a TOML string or a dict (:func:`dlnsim.sweep.spec.read`).
    out
        The sweep's folder: created if missing (and the folders above it); it must be empty
        or hold this spec's sweep (then ``resume=True`` runs only the chunks not yet
        finished, failed ones included).
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
    max_memory
        Bytes the largest chunk's results or the assembled Dataset may take (default 2 GiB):
        a sweep above is refused before any work, naming the estimate, unless ``yes``.
    yes
        Run even above ``max_memory``.

    Returns
    -------
    xarray.Dataset
        The sweep's results (see :mod:`dlnsim.sweep.store`). A chunk that raised is recorded
        (``out/chunks/NNNNN.failed.json``) and its members have status -2; the others go on.

    Raises
    ------
    SweepInterrupted
        On Ctrl-C, after keeping every finished chunk.
    RuntimeError
        A call at the top level of the main script, outside ``if __name__ == "__main__":``
        (the local pool's worker processes import the script and would run it again).
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
    sizes = sizes_of(read(spec))
    if not yes:
        _refuse_above(sizes, max_memory)
    if executor is None and device is None and scheduler is None and scheduler_file is None:
        _check_main_guard()  # the local pool's workers import the main script
    spec, pending = prepare(spec, out, resume)
    client = None
    try:
        if scheduler is not None or scheduler_file is not None:
            client = connect(scheduler, scheduler_file)
            executor = client.get_executor()
        # a chunk holds what the sweep was sized for: --max-memory, or anything with --yes
        execute(spec, out, pending, executor, workers=workers, device=device, quiet=quiet,
                max_memory=max(max_memory, sizes["chunk_memory_bytes"]) if yes
                else max_memory)
    finally:
        if client is not None:
            client.close()
    return store.write_dataset(out, spec)


def _check_main_guard() -> None:
    """Refuse a call made at the top level of the main script, outside ``if __name__ ==
    "__main__":``: each worker process imports that script, and would run it (and the
    sweep) again."""
    import ast
    import inspect
    import sys

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or not os.path.isfile(path):
        return  # an interactive session or a notebook: workers do not re-run it
    name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if name.endswith("__main__"):
        return  # ``python -m package``: multiprocessing does not import a package's __main__
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals is not vars(main):
        frame = frame.f_back
    if frame is None or frame.f_code.co_name != "<module>":
        return  # called from a function: the script defines it, the guard calls it
    line = frame.f_lineno
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return
    for node in tree.body:
        if node.lineno <= line <= (node.end_lineno or node.lineno):
            if isinstance(node, ast.If) and _is_main_test(node.test):
                return
            raise RuntimeError(
                f"dlnsim.sweep.run is called at the top level of {os.path.basename(path)} "
                f"(line {line}): each worker process imports the script and would run it "
                f"again; put the call under `if __name__ == \"__main__\":`")


def _is_main_test(test) -> bool:
    import ast

    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [x.id for x in sides if isinstance(x, ast.Name)]
    values = [x.value for x in sides if isinstance(x, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]


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


def sizes_of(spec: Spec) -> dict:
    """``{"chunk_memory_bytes", "dataset_bytes"}``: what the largest chunk's results and the
    assembled Dataset take, counted arithmetically (nothing is built).

    Parameters
    ----------
    spec : Spec

    Returns
    -------
    dict
    """
    from dlnsim.solve.options import memory_estimate

    task = spec.make_task()
    points = len(spec.times)
    modes = min(task.target.shape)
    # chunks group the members of one shape (depth, width): the largest holds chunk_size of
    # them, or all of one shape when fewer (counted, never enumerated)
    per_shape = spec.size // (len(spec.grid["depth"]) * len(spec.grid["width"]))
    members = min(spec.time["chunk_size"], per_shape)
    memory = 0.0
    for depth in spec.grid["depth"]:
        for width in spec.grid["width"]:
            widths = spec.widths(depth, width, task)
            params = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
            memory = max(memory, memory_estimate(points, members, params,
                                                 widths[0] * widths[-1]))
    # per member: the series (loss, test loss, drift) and mode strengths over time, three
    # scalars and a status in float64, and a message of at most 200 characters
    dataset = float(spec.size) * (8 * (points * (3 + modes) + 4) + 200)
    return {"chunk_memory_bytes": memory, "dataset_bytes": dataset}


def _refuse_above(sizes: dict, max_memory: float) -> None:
    V.positive(max_memory, "max_memory")
    for key, what in (("chunk_memory_bytes", "the largest chunk's results"),
                      ("dataset_bytes", "the assembled Dataset")):
        if sizes[key] > max_memory:
            raise ValueError(f"{what} would take about {sizes[key] / 2**30:.3g} GiB, above "
                             f"max_memory = {max_memory / 2**30:.3g} GiB (--max-memory); "
                             "shrink the grid, save fewer time.points, or pass --yes "
                             "(yes=True)")


def dry_run(spec, workers: int | None = None, pilot: bool = True,
            pilot_seconds: float = 2.0) -> dict:
    """What a sweep would take, without running it: members, chunks, the memory of the largest
    chunk and of the Dataset, and (``pilot``) the time from one member of each shape, each run
    for at most ``pilot_seconds`` and extrapolated from the save times it reached.

    Parameters
    ----------
    spec
        As for :func:`run`.
    workers : int, optional
        The workers to divide the work by (default: every CPU this process may use).
    pilot : bool
        Time one member of each shape.
    pilot_seconds : float
        The most each pilot member runs (its time is extrapolated from its progress).

    Returns
    -------
    dict
        ``members``, ``chunks``, ``workers``, ``chunk_memory_bytes``, ``dataset_bytes``,
        ``estimated_seconds`` (NaN without a pilot) and ``extrapolated`` (whether a pilot
        member hit its cap).
    """
    from dlnsim.solve import Limits
    from dlnsim.sweep.chunk import run_chunk

    spec = read(spec)
    chunks = spec.chunks()
    workers = available_cpus() if workers is None else V.positive_int(workers, "workers")
    V.positive(pilot_seconds, "pilot_seconds")
    per_shape = {}
    for c in chunks:
        p = spec.point(c[0])
        per_shape.setdefault((p["depth"], p["width"]), c[0])
    seconds, extrapolated = math.nan, False
    if pilot:
        lone = {}
        n_t = len(spec.times)
        for shape, member in per_shape.items():
            one = Spec(spec.name, spec.task, {a: (spec.point(member)[a],) for a in AXES},
                       spec.init, {**spec.time, "chunk_size": 1})
            t0 = time.perf_counter()
            r = run_chunk(one, 0, limits=Limits(max_seconds=pilot_seconds))
            took = time.perf_counter() - t0
            reached = int(np.sum(np.isfinite(r["loss"][0])))  # save points reached
            if r["status"][0] == -1 and "time limit" in str(r["message"][0]):
                extrapolated = True  # the member's pace over the saves it reached
                took *= (n_t - 1) / max(reached - 1, 1)
            lone[shape] = took
        work = sum(len(c) * lone[(spec.point(c[0])["depth"], spec.point(c[0])["width"])]
                   for c in chunks)
        seconds = work / max(1, min(workers, len(chunks)))
    return {"members": spec.size, "chunks": len(chunks), "workers": workers,
            **sizes_of(spec), "estimated_seconds": seconds, "extrapolated": extrapolated}


__all__ = ["AXES", "NOT_RUN", "Spec", "SpecError", "SweepInterrupted", "dry_run", "load",
           "read", "run", "status"]


def __dir__() -> list[str]:
    """The public names (tab completion and ``dir()`` show no imports)."""
    return sorted(__all__ + ["chunk", "engine", "spec", "store"])
