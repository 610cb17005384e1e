"""BLAS/OpenMP threads for dlnsim's own hot loops, chosen from the sizes they work on.

OpenBLAS threads busy-wait. On the matrices of dlnsim's runs (8 to a few hundred rows) a
second thread buys little even on an idle machine, and when another program holds a core the
threads wait for each other: ``dlnsim verify --only scale.depth2`` took 8 s with one thread
and 115 s with two on a shared 2-core machine. So each hot loop (a run of :func:`simulate`,
:func:`simulate_ensemble`, :func:`dlnsim.modes.simulate`, a sweep chunk, a claim) runs inside
:func:`limit`, which asks threadpoolctl for

- the count given to that call (``Limits(threads=...)``), else
- the count set by :func:`set_threads` (``--threads`` on the command line), else
- the rule :func:`threads_for`: one thread below :data:`MIN_PARALLEL_SIZE`, else every CPU
  this process may use (``benchmarks/bench_threads.py`` measures where threads start to pay).

The setting is a context, not a global change: the caller's own numpy (and torch) thread
counts are restored when the call returns.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from dlnsim import _validate as V

# Smallest matrix dimension whose decompositions run with more than one BLAS thread.
# benchmarks/bench_threads.py on a 2-core machine, t(1 thread) / t(2 threads), idle / with one
# busy process: eigh n = 128 1.10 / 0.81, n = 256 1.30 / 0.66, n = 512 1.21 / 0.60,
# n = 1024 1.50 / 0.50; matmul n = 512 1.94 / 0.74, n = 1024 1.92 / 0.88. Below 1024 the idle
# gain of eigh (the hot loops' main cost) is at most 1.3x while a taken core makes every call
# up to 1.7x slower, and a loop of thousands of such calls far more (scale.depth2: 8 s with
# one thread, 115 s with two on a shared machine); from 1024 on, an idle machine gains 1.5-1.9x
# on each ~0.1-0.2 s call, which we take at the price of 2x when a core is busy.
MIN_PARALLEL_SIZE = 1024

_user: int | None = None
_controller = None
_controller_key: tuple | None = None
# libraries that bring a thread pool of their own when imported after the first call
_POOLS = ("scipy.linalg", "torch", "sklearn", "mkl")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one).

    Returns
    -------
    int
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_threads(n: int | None) -> None:
    """Use ``n`` BLAS/OpenMP threads in every dlnsim hot loop from now on (``None``: the
    automatic rule again). A run's ``Limits(threads=...)`` still takes precedence.

    Parameters
    ----------
    n : int or None
        A positive thread count, or None for :func:`threads_for`'s choice.

    Raises
    ------
    ValueError
        ``n`` not a positive integer.
    """
    global _user
    _user = None if n is None else V.positive_int(n, "threads")


def get_threads() -> int | None:
    """The count set by :func:`set_threads` (None: automatic).

    Returns
    -------
    int or None
    """
    return _user


@contextmanager
def using(n: int | None):
    """:func:`set_threads` for the duration of a block (the previous setting restored).

    Parameters
    ----------
    n : int or None
        As for :func:`set_threads`.

    Yields
    ------
    None
    """
    global _user
    old = _user
    set_threads(n)
    try:
        yield
    finally:
        _user = old


def threads_for(size: int) -> int:
    """The automatic rule: threads for work whose largest dense decomposition has dimension
    ``size``: 1 below :data:`MIN_PARALLEL_SIZE`, else every CPU this process may use.

    Parameters
    ----------
    size : int
        The largest matrix dimension the hot loop factorizes.

    Returns
    -------
    int
    """
    return available_cpus() if size >= MIN_PARALLEL_SIZE else 1


def choose(size: int = 0, threads: int | None = None) -> int:
    """The thread count :func:`limit` applies: ``threads``, else :func:`set_threads`'s, else
    :func:`threads_for` of ``size``.

    Parameters
    ----------
    size : int
        The largest matrix dimension the work factorizes.
    threads : int, optional
        An explicit count (``Limits(threads=...)``).

    Returns
    -------
    int
    """
    if threads is not None:
        return V.positive_int(threads, "threads")
    if _user is not None:
        return _user
    return threads_for(size)


def _pools():
    """One threadpoolctl controller, rebuilt when a library with its own pool was imported."""
    global _controller, _controller_key
    key = tuple(m in sys.modules for m in _POOLS)
    if _controller is None or key != _controller_key:
        from threadpoolctl import ThreadpoolController

        _controller, _controller_key = ThreadpoolController(), key
    return _controller


@contextmanager
def limit(size: int = 0, threads: int | None = None):
    """Run a block with :func:`choose`'s thread count in every BLAS and OpenMP pool (and
    torch's intra-op pool where torch is imported); the counts before are restored after.

    Parameters
    ----------
    size : int
        The largest matrix dimension the block factorizes.
    threads : int, optional
        An explicit count, overriding :func:`set_threads` and the rule.

    Yields
    ------
    int
        The count in force.
    """
    k = choose(size, threads)
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with _pools().limit(limits=k):
        if torch is not None and before != k:
            torch.set_num_threads(k)
        try:
            yield k
        finally:
            if torch is not None and before != k:
                torch.set_num_threads(before)


__all__ = ["MIN_PARALLEL_SIZE", "available_cpus", "choose", "get_threads", "limit",
           "set_threads", "threads_for", "using"]


def __dir__() -> list[str]:
    """The public names (tab completion and ``dir()`` show no imports)."""
    return sorted(__all__)
