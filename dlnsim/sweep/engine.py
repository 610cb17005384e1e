"""Running a sweep: chunks on an executor, each written atomically when it finishes.

Engines (no scheduler of our own): local processes (``concurrent.futures.ProcessPoolExecutor``
with the forkserver or spawn start method, one BLAS thread per worker, as many workers as this
process may use CPUs), any ``concurrent.futures.Executor`` a caller passes (a dask
``Client.get_executor()`` for a cluster), or this process alone driving a GPU
(``device="cuda"``). A chunk whose worker dies is retried (a rebuilt local pool; dask
reschedules by itself); a chunk that raises is recorded as failed and the others go on;
Ctrl-C cancels what has not finished and keeps every chunk written so far.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
from contextlib import nullcontext

from dlnsim import _pool
from dlnsim._io import check_output_folder
from dlnsim._pool import available_cpus
from dlnsim.sweep import store
from dlnsim.sweep.chunk import run_chunk
from dlnsim.sweep.spec import Spec, SpecError, read


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: ``done`` of ``total`` chunks are kept in the output folder.

    Parameters
    ----------
    done, total : int
        Chunks finished and chunks in all.
    out : str
        The sweep's folder, where the finished chunks are.
    """

    def __init__(self, done: int, total: int, out: str):
        super().__init__(f"interrupted: {done} of {total} chunks are in {out}; run again with "
                         "--resume (resume=True) to finish")
        self.done, self.total, self.out = done, total, out


def local_pool(workers: int) -> ProcessPoolExecutor:
    """Local processes for chunks (:func:`dlnsim._pool.local_pool`), one BLAS thread each."""
    return _pool.local_pool(workers, preload=("dlnsim.sweep.chunk",))


class InlineExecutor(Executor):
    """Runs each chunk at once in this process (one process driving a GPU)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - reported as the chunk's failure
            fut.set_exception(exc)
        return fut


def _work(spec: Spec, chunk: int, backend: str, device: str | None,
          max_memory: float | None = None) -> dict:
    from dlnsim.solve import Limits

    limits = None if max_memory is None else Limits(max_memory=max_memory)
    return run_chunk(spec, chunk, backend, device, limits=limits)


def connect(scheduler: str | None = None, scheduler_file: str | None = None):
    """A dask.distributed ``Client`` for a scheduler address or file (the ``dask`` extra)."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("a dask scheduler needs dask.distributed: pip install "
                         "'dlnsim[dask]'") from None
    if scheduler_file is not None:
        if not os.path.isfile(scheduler_file):
            raise ValueError(f"--scheduler-file {scheduler_file!r}: no such file")
        return Client(scheduler_file=scheduler_file, timeout=30)
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise ValueError(f"--scheduler must be an address such as tcp://HOST:8786, got "
                         f"{scheduler!r}")
    try:
        return Client(scheduler, timeout=30)
    except OSError as exc:
        raise ValueError(f"--scheduler {scheduler}: cannot connect ({exc})") from None


def prepare(spec, out: str, resume: bool) -> tuple[Spec, list[int]]:
    """Check ``spec`` and ``out`` before any work; return the chunks still to run."""
    spec = read(spec)
    out = check_output_folder(out, "out", parents=True)
    if os.path.lexists(os.path.join(out, "chunks")):  # every folder written, not only the top
        check_output_folder(os.path.join(out, "chunks"), "out")
    chunks = spec.chunks()
    meta = store.read_meta(out)
    if meta is not None:
        if meta["digest"] != spec.digest:
            raise SpecError(f"out {out!r} holds a sweep of another spec (digest "
                            f"{meta['digest']}, this one {spec.digest}); use another folder")
        if not resume:
            raise ValueError(f"out {out!r} already holds this sweep: pass --resume "
                             "(resume=True) to finish it, or use another folder")
    elif any(os.scandir(out)):
        raise ValueError(f"out {out!r} is not empty and holds no sweep; use an empty or new "
                         "folder")
    store.write_meta(out, spec, len(chunks))
    done, corrupt = store.chunk_states(out, spec)
    for c, why in corrupt.items():  # a damaged file never counts as done: it runs again
        aside = store.set_aside(out, c)
        print(f"dlnsim: {why}; moved to {aside}; chunk {c} runs again", file=sys.stderr)
    return spec, [c for c in range(len(chunks)) if c not in done]


def execute(spec: Spec, out: str, pending: list[int], executor: Executor | None = None, *,
            workers: int | None = None, device: str | None = None, quiet: bool = False,
            retries: int = 3, max_memory: float | None = None) -> dict:
    """Run the ``pending`` chunks of ``spec`` into ``out``; return ``{"done", "failed",
    "seconds"}``. See the module docs for the engines."""
    from dlnsim._progress import tqdm

    chunks = spec.chunks()
    backend = "torch" if device is not None else "numpy"
    own_pool = executor is None and device is None
    if device is not None and executor is None:
        executor = InlineExecutor()
    workers = available_cpus() if workers is None else workers
    started = time.perf_counter()
    failed: dict[int, str] = {}
    retried = 0
    attempts = dict.fromkeys(pending, 0)
    done_members = sum(len(chunks[c]) for c in range(len(chunks)) if c not in attempts)
    todo = list(pending)
    bar = tqdm(total=spec.size, initial=done_members, unit="member", desc="sweep",
               disable=True if quiet else None, leave=False, smoothing=0.1)
    # chunks in flight at once: the local pool's workers twice over (finished chunks are
    # written while the next run), one in this process, all of them for a cluster's scheduler
    limit = 2 * workers if own_pool else 1 if isinstance(executor, InlineExecutor) \
        else len(todo)
    try:
        with bar, (_pool.one_thread_env() if own_pool else nullcontext()):
            while todo:
                pool = local_pool(min(workers, len(todo))) if own_pool else executor
                queue, todo, inflight = todo, [], {}
                try:
                    while queue or inflight:
                        # a worker cut half-way through its start prints a traceback
                        with _pool.sigint_deferred() if own_pool else nullcontext():
                            while queue and len(inflight) < limit:
                                c = queue.pop(0)
                                inflight[pool.submit(_work, spec, c, backend, device,
                                                     max_memory)] = c
                        finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            c = inflight.pop(fut)
                            try:
                                result = fut.result()
                            except BrokenProcessPool:  # a worker died: run it again
                                attempts[c] += 1
                                retried += 1
                                if attempts[c] > retries:
                                    failed[c] = f"its worker died {attempts[c]} times"
                                    store.write_failure(out, c, failed[c])
                                else:
                                    todo.append(c)
                                continue
                            except Exception as exc:  # noqa: BLE001 - the chunk failed
                                failed[c] = "".join(
                                    traceback.format_exception_only(exc)).strip()
                                store.write_failure(out, c, failed[c])
                                continue
                            store.write_chunk(out, c, result)
                            bar.update(len(chunks[c]))
                        if todo:  # the pool is broken: the rest goes to a new one
                            todo += queue
                            queue = []
                except BaseException:
                    if own_pool:  # stop() ends the processes, then cancels what is queued
                        _pool.stop(pool)
                    else:
                        for fut in inflight:
                            fut.cancel()
                    raise
                if own_pool:
                    pool.shutdown(wait=True)
    except KeyboardInterrupt:
        raise SweepInterrupted(len(store.done_chunks(out)), len(chunks), out) from None
    seconds = time.perf_counter() - started
    store.update_meta(out, seconds=seconds, workers=workers if own_pool else None,
                      engine=_engine_name(executor, device), retried=retried)
    return {"done": len(store.done_chunks(out)), "failed": failed, "seconds": seconds,
            "retried": retried}


def _engine_name(executor, device) -> str:
    if device is not None:
        return f"this process on {device}"
    if executor is None:
        return "local processes"
    return type(executor).__module__.split(".")[0] + "." + type(executor).__name__


__all__ = ["InlineExecutor", "SweepInterrupted", "available_cpus", "connect", "execute",
           "local_pool", "prepare"]
