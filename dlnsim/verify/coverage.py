"""Which claims reach which path: every route a rule can take, run by some claim.

A claim can only catch a bug on code it runs. :data:`PROBES` names every path that
``path="auto"`` or a rule can take (the NGD paths, K-FAC damped and undamped and each
curvature source, TKFAC, HCGD with few and many corrections, noise of each kind on rules and on
the quadratic, minibatch SGD, the transforms, the solvers) as a function of the library and,
where an option decides, a test on that call's arguments. :func:`reach` runs claims with a
profiler that records the probes each one meets; ``dlnsim verify --coverage`` prints the table
and exits 1 if a probe is reached by no claim (tests/test_verify.py enforces it).
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlnsim import _pool, threads
from dlnsim.verify.registry import Claim, select


@dataclass(frozen=True)
class Probe:
    """A path: the function ``where`` (``module:qualname``) called with arguments for which
    ``when(args)`` holds (``args``: the call's local names at entry; None: any call)."""

    name: str
    what: str
    where: str
    when: Callable[[dict], bool] | None = None


def _damped(a) -> bool:
    return a["damping"] > 0


def _undamped(a) -> bool:
    return a["damping"] == 0


def _near_cutoff(a) -> bool:
    """Undamped, with an eigenvalue kept but within 1e3 of the pseudo-inverse cutoff."""
    if a["damping"] != 0 or math.isinf(a["q"]):
        return False
    evals = np.asarray(a["evals"], dtype=float)
    top = np.max(evals) if a["lam_max"] is None else np.max(np.asarray(a["lam_max"]))
    cut = a["rcond"] * top
    return bool(top > 0 and np.any((evals > cut) & (evals <= 1e3 * cut)))


def _kind(kind: str) -> Callable[[dict], bool]:
    return lambda a: a["kind"] == kind


def _source(name: str) -> Callable[[dict], bool]:
    return lambda a: a["curvature"] == name


_B = "dlnsim.curvature.batched"
_K = "dlnsim.optim.kfac"
_N = "dlnsim.optim.noise"

PROBES: tuple[Probe, ...] = (
    Probe("ngd.dense", "the dense map-space kernel (auto at depth > 2 up to DENSE_MAX)",
          f"{_B}:dense_kernel_eigh"),
    Probe("ngd.depth2.whitened", "the depth-2 path at S = I (Kronecker sum)",
          f"{_B}:depth2_kernel_eigh", lambda a: a["r"] is None),
    Probe("ngd.depth2.blocks", "the depth-2 path at S != I (n_2 blocks)",
          f"{_B}:depth2_kernel_eigh", lambda a: a["r"] is not None),
    Probe("ngd.balanced", "the balanced one-SVD path, undamped",
          f"{_B}:balanced_ngd_direction", _undamped),
    Probe("ngd.balanced.damped", "the balanced one-SVD path, damped",
          f"{_B}:balanced_ngd_direction", _damped),
    Probe("ngd.krylov", "the matrix-free Krylov path (auto above DENSE_MAX)",
          "dlnsim.curvature.krylov:inverse_power"),
    Probe("ngd.null_space", "damped q-NGD (q != 1) of a non-gradient vector: the null-space "
          "part scaled by eps^{-1/q}", f"{_B}:ngd_direction",
          lambda a: a["params"] is not None and a["damping"] > 0 and a["q"] not in (1.0,)
          and not math.isinf(a["q"])),
    Probe("ngd.cutoff", "the pseudo-inverse with eigenvalues kept within 1e3 of the cutoff",
          "dlnsim.curvature.spectral:inverse_power", _near_cutoff),
    Probe("ngdd.matrices", "block-diagonal NGD-d on full matrices, undamped",
          f"{_B}:block_ngd_direction", _undamped),
    Probe("ngdd.matrices.damped", "block-diagonal NGD-d on full matrices, damped",
          f"{_B}:block_ngd_direction", _damped),
    Probe("ngd.modes", "q-NGD on singular modes (eq 12)", "dlnsim.rules.fields:NGD._modes",
          lambda a: not a["self"].block_diagonal),
    Probe("ngdd.modes", "NGD-d on singular modes (eqs 20-21)",
          "dlnsim.rules.fields:NGD._modes", lambda a: a["self"].block_diagonal),
    Probe("l2", "L2 regularisation before the preconditioner",
          "dlnsim.rules.fields:_AddWeights.apply", lambda a: a["self"].name.startswith("l2")),
    Probe("weight_decay", "decoupled weight decay after the preconditioner",
          "dlnsim.rules.fields:_AddWeights.apply",
          lambda a: a["self"].name.startswith("weight_decay")),
    Probe("clip", "the speed limit", "dlnsim.rules.fields:Clip.apply"),
    Probe("layer_rates", "per-layer learning rates", "dlnsim.rules.fields:LayerRates.apply"),
    Probe("kfac.undamped", "K-FAC with pseudo-inverse factors", f"{_K}:_damped_inverses",
          lambda a: a["damping"] == 0 and not a["trace_restricted"]),
    Probe("kfac.damped", "K-FAC with factored Tikhonov damping (the pi split)",
          f"{_K}:_damped_inverses", lambda a: a["damping"] > 0 and not a["trace_restricted"]),
    Probe("tkfac", "TKFAC's damped factors (eq 5.15)", f"{_K}:_damped_inverses",
          lambda a: a["trace_restricted"]),
    Probe("kfac.exact_gn", "K-FAC statistics from the exact Gauss-Newton",
          f"{_K}:layer_statistics", _source("exact_gn")),
    Probe("kfac.sampled_gn", "K-FAC statistics from sampled outputs",
          f"{_K}:layer_statistics", _source("sampled_gn")),
    Probe("kfac.empirical_fisher", "K-FAC statistics from the residuals",
          f"{_K}:layer_statistics", _source("empirical_fisher")),
    Probe("kfac.ema", "K-FAC's moving average of the factors", f"{_K}:KFAC.update",
          lambda a: a["self"].ema > 0),
    Probe("kfac.inverse_interval", "K-FAC's inverses kept for several steps",
          f"{_K}:KFAC.update", lambda a: a["self"].inverse_interval > 1),
    Probe("hcgd.few", "HCGD with at most 10 corrections (Algorithm 1 step by step)",
          "dlnsim.optim.hcgd:corrected_step", lambda a: a["corrections"] <= 10),
    Probe("hcgd.many", "HCGD with at least 100 corrections (its NGD limit)",
          "dlnsim.optim.hcgd:corrected_step", lambda a: a["corrections"] >= 100),
    Probe("hcgd.momentum", "HCGD with momentum", "dlnsim.optim.hcgd:HCGD.update",
          lambda a: a["self"].momentum > 0),
    *(Probe(f"noise.rule.{k}", f"noisy_sgd's {k} noise on networks",
            f"{_N}:stack_fisher_noise", _kind(k))
      for k in ("isotropic", "sqrt_fisher", "sqrt_diag_fisher")),
    *(Probe(f"noise.quadratic.{k}", f"{k} noise on the quadratic (Wen et al.)",
            "dlnsim.quadratic:noise_matrix", _kind(k))
      for k in ("isotropic", "sqrt_fisher", "sqrt_diag_fisher")),
    Probe("minibatch", "minibatch SGD on the task's data", f"{_N}:Minibatch.update"),
    Probe("solver.dopri5", "the batched dopri5 stepper", "dlnsim.solve.dopri5:Dopri5.step"),
    Probe("solver.rk4", "the fixed-step rk4 stepper", "dlnsim.solve.rk4:RK4.step"),
    Probe("solver.discrete", "discrete steps", "dlnsim.solve.discrete:Discrete.step"),
    Probe("solver.scipy", "scipy's solvers (DOP853, ...)", "dlnsim.solve.scipy:Scipy.step"),
)


def _code(where: str):
    module, qualname = where.split(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj.__code__


def _table(probes) -> dict:
    """``{code object: [probes]}``."""
    by_code: dict = {}
    for p in probes:
        by_code.setdefault(_code(p.where), []).append(p)
    return by_code


def record(fn: Callable[[], object], probes=PROBES) -> set[str]:
    """The probes met while ``fn()`` runs (in this thread)."""
    by_code, met = _table(probes), set()
    old = sys.getprofile()

    def hook(frame, event, arg):
        if old is not None:  # a recording inside a recording (a claim that checks its path)
            old(frame, event, arg)
        if event == "call":
            hits = by_code.get(frame.f_code)
            if hits:
                args = frame.f_locals
                for p in hits:
                    if p.name not in met and (p.when is None or p.when(args)):
                        met.add(p.name)

    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(old)
    return met


def _claim_reach(cid: str, origin: str) -> list[str] | None:
    """In a worker: the probes claim ``cid`` meets (None if this worker lacks it)."""
    from dlnsim.verify.runner import _mine

    c = _mine(cid, origin)
    return None if c is None else sorted(record(c.run))


def reach(claims: list[Claim] | None = None, workers: int | None = None,
          quiet: bool = True) -> dict[str, list[str]]:
    """``{probe: [claim ids]}``: the claims that run each path of :data:`PROBES`.

    Parameters
    ----------
    claims : list of Claim, optional
        Default: every registered claim.
    workers : int, optional
        Worker processes, as for :func:`dlnsim.verify.runner.run`.
    quiet : bool
        Hide the progress bar.

    Returns
    -------
    dict
        Every probe, in :data:`PROBES` order, with the claims (catalogue order) that meet it.
    """
    from dlnsim._progress import tqdm
    from dlnsim.verify.runner import _threads, _workers, _workers_load, cost

    claims = select(None) if claims is None else list(claims)
    n_threads, n_workers = _threads(None), _workers(workers, len(claims))
    met: dict[str, list[str]] = {}
    with tqdm(total=len(claims), desc="coverage", disable=True if quiet else None,
              leave=False) as bar:

        def finish(c: Claim, names) -> None:
            met[c.id] = names
            bar.update(1)

        todo = claims
        if n_workers > 1:
            todo = _pool.run_tasks(sorted(claims, key=cost, reverse=True), _claim_reach,
                                   lambda c: (c.id, c.origin), n_workers, finish,
                                   **_workers_load(n_threads, claims))
        with threads.using(n_threads), threads.limit(threads=n_threads):
            for c in todo:
                finish(c, sorted(record(c.run)))
    return {p.name: [c.id for c in claims if p.name in met.get(c.id, ())] for p in PROBES}


def unreached(table: dict[str, list[str]]) -> list[str]:
    """The probes of ``table`` (:func:`reach`) that no claim meets."""
    return [name for name, ids in table.items() if not ids]


__all__ = ["PROBES", "Probe", "reach", "record", "unreached"]
