"""Local worker processes for the sweep engine and ``dlnsim verify --workers``.

forkserver where available, else spawn: never fork, which would copy this process's threads
and BLAS state. Each worker ignores Ctrl-C (the parent handles it and ends the pool) and runs
one BLAS/OpenMP thread (the workers together fill the CPUs), set twice: in the environment
the workers start with (before they import numpy, so no OpenBLAS thread is ever created) and
through :mod:`dlnsim.threads` once they run (a forkserver started earlier keeps the
environment it started with).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from dlnsim.threads import available_cpus, set_threads

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def init_worker(threads: int = 1) -> None:
    """A local worker: Ctrl-C is the parent's to handle; ``threads`` BLAS threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default lock is a multiprocessing RLock: a named semaphore that a worker ended by
    # the parent (Ctrl-C) cannot release, reported as leaked at exit. Workers draw no bars.
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    set_threads(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # the whole worker: it runs dlnsim's work only
    if "torch" in sys.modules:  # pragma: no cover - torch workers only
        sys.modules["torch"].set_num_threads(threads)


@contextmanager
def one_thread_env():
    """Workers started inside inherit one BLAS/OpenMP thread each (set before they import
    numpy); this process's own setting is restored afterwards."""
    old = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def sigint_deferred():
    """A Ctrl-C that arrives inside the block is delivered when it ends (for steps that must
    not be cut half-way, such as starting a worker process)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


@contextmanager
def _sigint_held():
    """Processes started inside ignore Ctrl-C for good (an ignored signal stays ignored
    across exec, and Python then installs no KeyboardInterrupt handler); this process only
    holds a Ctrl-C that arrives meanwhile and receives it at the end of the block (on Linux a
    blocked signal stays pending even while its action is to ignore it)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    old_handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


_QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


def local_pool(workers: int, preload: tuple[str, ...] = (), initializer=init_worker,
               initargs: tuple = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` local processes; ``preload`` names modules a forkserver imports
    once for all of them (the first pool of this process decides).

    The forkserver (and so every worker) and multiprocessing's resource tracker are started
    ignoring Ctrl-C: a terminal's Ctrl-C reaches every process of its foreground group, and
    this process alone handles it (it ends the pool). Otherwise the forkserver, still importing
    its preload, prints a KeyboardInterrupt traceback, and workers die before they can ignore
    it. The tracker is also told not to warn about semaphores a pool ended by Ctrl-C leaves
    (it removes them all the same): an interrupted run prints one line, not the tracker's.
    """
    if _QUIET_TRACKER not in sys.warnoptions:  # read when the tracker is spawned
        sys.warnoptions.append(_QUIET_TRACKER)
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver, resource_tracker

        if preload:
            ctx.set_forkserver_preload(list(preload))
        with _sigint_held():
            resource_tracker.ensure_running()
            forkserver.ensure_running()
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer,
                               initargs=initargs)


def run_tasks(tasks: list, work, args, workers: int, on_done, preload: tuple[str, ...] = (),
              initializer=init_worker, initargs: tuple = ()) -> list:
    """``work(*args(task))`` for each task on a new pool of ``workers`` local processes, in
    the order given (give the longest first); ``on_done(task, result)`` as each finishes.

    Returns the tasks left to the caller to run itself: those whose worker died (or could not
    start) and those whose ``work`` returned None. An exception raised by ``work`` ends the
    pool and propagates, as does Ctrl-C (the pool's processes ended, nothing left behind).
    """
    left = []
    with one_thread_env():
        pool = local_pool(workers, preload, initializer, initargs)
    inflight = {}
    try:
        with sigint_deferred():  # a worker cut half-way through its start prints a traceback
            for task in tasks:
                inflight[pool.submit(work, *args(task))] = task
        while inflight:
            finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in finished:
                task = inflight.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    left.append(task)
                    continue
                if result is None:
                    left.append(task)
                else:
                    on_done(task, result)
    except BaseException:
        stop(pool)
        raise
    pool.shutdown(wait=True)
    return left


def stop(pool: ProcessPoolExecutor) -> None:
    """Stop a local pool now: end its processes, then cancel what is queued and wait for the
    pool's manager thread (in that order: a queue released while a worker still starts up
    makes that worker print a traceback, and a manager thread still running at exit leaves
    its semaphores to be reported as leaked)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
    pool.shutdown(wait=True, cancel_futures=True)
    gc.collect()  # the executor's queues sit in reference cycles: release their semaphores
    _stop_forkserver()


def _stop_forkserver() -> None:
    """End the forkserver and any worker it was still starting: a Ctrl-C while a worker
    starts can leave that worker waiting on a pipe, and the forkserver waiting on it, after
    this process has gone (the next pool starts a new forkserver)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if not pid:
        return
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:  # not Linux, or already gone
        children = []
    for child in children:
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except OSError:
        pass
    server._forkserver_pid = None
    server._forkserver_address = None
    if getattr(server, "_forkserver_alive_fd", None) is not None:
        try:
            os.close(server._forkserver_alive_fd)
        except OSError:
            pass
        server._forkserver_alive_fd = None


__all__ = ["THREAD_VARS", "available_cpus", "init_worker", "local_pool", "one_thread_env",
           "run_tasks", "sigint_deferred", "stop"]
