"""Running claims: in this process, or in worker processes with one BLAS thread each.

Claims go to the workers longest first (by :data:`dlnsim.verify.costs.SECONDS`, the seconds
each took on the reference machine) and come back in catalogue order, so a parallel run prints
and returns exactly what a serial run does. Every claim runs with the same BLAS thread count
(one, unless :func:`dlnsim.set_threads` or ``--threads`` says otherwise) in the serial and the
parallel runner alike, so their numbers agree to the last digit.

A worker knows the catalogue's claims (it imports :mod:`dlnsim.verify`) and loads the same
user sources (files, modules, entry points) as this process did through
:func:`dlnsim.verify.load`. A claim it cannot find at the same ``file:line`` (one defined in a
notebook or in ``__main__``) runs in this process after the others. A worker that dies leaves
its claims to this process too. Ctrl-C ends the workers and keeps what finished.
"""

from __future__ import annotations

import statistics
import time

from dlnsim import _pool, threads
from dlnsim import _validate as V
from dlnsim.solve.status import Results
from dlnsim.verify import costs, plugins
from dlnsim.verify.registry import REGISTRY, CheckResult, Claim, select


def _workers(workers: int | None, tasks: int) -> int:
    workers = threads.available_cpus() if workers is None else V.positive_int(workers,
                                                                                "workers")
    return max(1, min(workers, tasks))


def _threads(n: int | None) -> int:
    return 1 if n is None else threads.choose(threads=n)


def cost(c: Claim) -> float:
    """The recorded seconds of claim ``c`` (the median of the record for a claim it lacks).

    Parameters
    ----------
    c : Claim

    Returns
    -------
    float
    """
    return costs.SECONDS.get(c.id, statistics.median(costs.SECONDS.values()))


def _init(n_threads: int, sources: tuple[str, ...]) -> None:
    """A verify worker: one BLAS thread, the catalogue, and the user's sources."""
    _pool.init_worker(n_threads)
    import dlnsim.verify  # noqa: F401 (registers the catalogue)

    for source in sources:
        plugins.load(source, label="claims")


def _mine(cid: str, origin: str) -> Claim | None:
    c = REGISTRY.get(cid)
    return c if c is not None and c.origin == origin else None


def _run_claim(cid: str, origin: str, timeout: float | None = None) -> CheckResult | None:
    """In a worker: claim ``cid`` if this worker has it at ``origin``, else None."""
    c = _mine(cid, origin)
    return None if c is None else c.run(timeout)


def _run_mutant(name: str, claims: tuple[tuple[str, str], ...],
                timeout: float | None = None) -> dict[str, bool] | None:
    """In a worker: ``{claim: caught}`` under mutant ``name`` (None if a claim is missing)."""
    from dlnsim.verify import mutants

    mine = [_mine(cid, origin) for cid, origin in claims]
    if any(c is None for c in mine):
        return None
    with mutants.applied(mutants.BY_NAME[name]):
        return {c.id: not c.run(timeout).passed for c in mine}


def _workers_load(n_threads: int, claims: list[Claim]) -> dict:
    """How a worker starts: the catalogue preloaded, then the user's sources of ``claims``."""
    sources = tuple(sorted({plugins.SOURCES[c.id] for c in claims if c.id in plugins.SOURCES}))
    return {"preload": ("dlnsim.verify",), "initializer": _init,
            "initargs": (n_threads, sources)}


def run(only: str | None = None, quiet: bool = True, builtin: bool = True,
        workers: int | None = None, threads_per_worker: int | None = None,
        timeout: float | None = None, on_result=None) -> Results:
    """Run the registered claims matching the glob ``only`` (the catalogue's unless
    ``builtin`` is False, and any of the user's); a progress bar unless ``quiet``. Ctrl-C stops
    after the claims finished so far, which are returned (``Results.interrupted``).

    Parameters
    ----------
    only : str, optional
        A glob over claim IDs (all when None).
    quiet : bool
        Hide the progress bar.
    builtin : bool
        Include the catalogue's claims.
    workers : int, optional
        Worker processes (default: the CPUs this process may use; 1 runs every claim in this
        process). The results do not depend on it.
    threads_per_worker : int, optional
        BLAS threads for each claim (default 1).
    timeout : float, optional
        Seconds each claim may take; one that runs longer fails, saying so (default: none).
    on_result : callable, optional
        Called as ``on_result(result, finished, total)`` as each claim finishes (in the order
        they finish), e.g. to log progress where no bar shows.

    Returns
    -------
    Results
        One :class:`CheckResult` per claim, in catalogue order.
    """
    from dlnsim._progress import tqdm
    from dlnsim.solve import reraise_interrupts

    claims = select(only, builtin)
    if timeout is not None:
        V.positive(timeout, "timeout")
    n_threads = _threads(threads_per_worker)
    n_workers = _workers(workers, len(claims))
    done: dict[str, CheckResult] = {}
    out = Results()
    out.total = len(claims)
    started = time.perf_counter()
    with tqdm(total=len(claims), desc="verify", disable=True if quiet else None,
              leave=False) as bar, reraise_interrupts():

        def finish(c: Claim, r: CheckResult) -> None:
            done[c.id] = r
            bar.set_postfix_str(c.id)
            bar.update(1)
            if on_result is not None:
                on_result(r, len(done), len(claims))

        try:
            todo = claims
            if n_workers > 1:
                todo = _pool.run_tasks(sorted(claims, key=cost, reverse=True), _run_claim,
                                       lambda c: (c.id, c.origin, timeout), n_workers, finish,
                                       **_workers_load(n_threads, claims))
            with threads.using(n_threads), threads.limit(threads=n_threads):
                for c in todo:
                    bar.set_postfix_str(c.id)
                    finish(c, c.run(timeout))
        except KeyboardInterrupt:
            out.interrupted = True
    out.extend(done[c.id] for c in claims if c.id in done)
    out.workers, out.wall = n_workers, time.perf_counter() - started
    return out


def matrix(claims: list[Claim] | None = None, mutants=None, quiet: bool = True,
           workers: int | None = None, threads_per_worker: int | None = None,
           timeout: float | None = None) -> dict[str, dict[str, bool]]:
    """``caught[mutant][claim]``: whether each claim fails under each mutant, one mutant per
    worker task (see :func:`run` for ``workers`` and ``threads_per_worker``).

    Parameters
    ----------
    claims : list of Claim, optional
        Default: every registered claim.
    mutants : sequence of Mutant, optional
        Default: :data:`dlnsim.verify.mutants.MUTANTS`.
    quiet : bool
        Hide the progress bar.
    workers, threads_per_worker : int, optional
        As for :func:`run`.
    timeout : float, optional
        As for :func:`run` (a claim that runs past it under a mutant counts as catching it).

    Returns
    -------
    dict
        ``{mutant name: {claim id: caught}}``, in the order of ``mutants``.
    """
    from dlnsim._progress import tqdm
    from dlnsim.verify import mutants as M

    claims = select(None) if claims is None else list(claims)
    mutants = M.MUTANTS if mutants is None else tuple(mutants)
    n_threads = _threads(threads_per_worker)
    n_workers = _workers(workers, len(mutants))
    caught: dict[str, dict[str, bool]] = {}
    ids = tuple((c.id, c.origin) for c in claims)
    with tqdm(total=len(mutants), desc="mutants", disable=True if quiet else None,
              leave=False) as bar:

        def finish(m, row) -> None:
            caught[m.name] = row
            bar.set_postfix_str(m.name)
            bar.update(1)

        todo = mutants
        if n_workers > 1:
            todo = _pool.run_tasks(list(mutants), _run_mutant, lambda m: (m.name, ids, timeout),
                                   n_workers, finish, **_workers_load(n_threads, claims))
        with threads.using(n_threads), threads.limit(threads=n_threads):
            for m in todo:
                with M.applied(m):
                    finish(m, {c.id: not c.run(timeout).passed for c in claims})
    return {m.name: caught[m.name] for m in mutants}


__all__ = ["cost", "matrix", "run"]
