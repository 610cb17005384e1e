"""Integration options, validated once: the method, the solver, tolerances and limits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dlnsim import _validate as V

BATCHED_SOLVERS = ("dopri5", "rk4")
SCIPY_SOLVERS = ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA")
IMPLICIT_SOLVERS = ("Radau", "BDF", "LSODA")
METHODS = ("ode", "discrete")


@dataclass(frozen=True)
class Limits:
    """When a run stops early, and how much it may hold. Every field is checked on creation.

    Parameters
    ----------
    max_norm
        Stop with status 1 (diverged) when the state norm ``||w||`` passes this.
    max_steps
        Stop with status -1 after this many accepted ODE steps (per member).
    min_step
        Stop with status -1 when ``STALL_WINDOW`` consecutive accepted steps advance time by
        less than ``min_step * (t[-1] - t[0])`` (a singular, discontinuous or stiff field).
    max_evals
        Evaluation budget of an ODE run, per member (default 500 000: about 30 s for a small
        network). A run that uses it up, or that is predicted to need more than it to reach the
        last save time (checked every 1000 steps from its progress so far), stops with status
        -1 and says what to do instead (a stiff run: discrete steps, a smaller learning rate, or
        an implicit solver).
    max_memory
        Largest number of bytes the saved results may hold (default 2 GiB); a run that would
        need more is refused before anything is computed, naming the estimate.
    max_seconds
        Wall-clock seconds a run may take (None, the default: no limit; ``dlnsim simulate``
        sets 600). A run past it, or one that after a tenth of it is predicted (from its
        progress in time so far) to need more than twice it, stops with status -1, keeping
        what it saved, and says how long it would take.
    threads
        BLAS/OpenMP (and torch CPU) threads for this run; None (default) takes
        :func:`dlnsim.set_threads`'s count, else :mod:`dlnsim.threads`' rule (one thread
        unless the run factorizes matrices of dimension >= 1024).
    """

    max_norm: float = 1e8
    max_steps: int = 1_000_000
    min_step: float = 1e-6
    max_evals: int = 500_000
    max_memory: float = 2.0 * 2**30
    max_seconds: float | None = None
    threads: int | None = None

    def __post_init__(self):
        V.positive(self.max_norm, "max_norm")
        V.positive_int(self.max_steps, "max_steps")
        V.positive(self.min_step, "min_step")
        V.positive_int(self.max_evals, "max_evals")
        V.positive(self.max_memory, "max_memory")
        if self.max_seconds is not None:
            V.positive(self.max_seconds, "max_seconds")
        if self.threads is not None:
            V.positive_int(self.threads, "threads")


@dataclass(frozen=True)
class Options:
    """Everything an integrator needs besides the field and the initial state.

    Build with :meth:`checked`, which validates every argument and names it on bad input.
    """

    method: str
    solver: str
    t: np.ndarray
    rtol: float = 1e-10
    atol: float = 1e-12
    dt: float | None = None
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def checked(cls, method: str = "ode", solver: str | None = None, t=None,
                rtol: float = 1e-10, atol: float = 1e-12, dt: float | None = None,
                limits: Limits | None = None, batched: bool = False) -> Options:
        """Check every option. ``batched``: only dlnsim's batched solvers apply (ensembles of
        more than one member, or the torch backend); ``solver=None`` picks DOP853 (scipy) for
        a lone numpy run, else dopri5."""
        if limits is None:
            limits = Limits()
        elif not isinstance(limits, Limits):
            raise TypeError(f"limits must be a dlnsim.Limits, got {type(limits).__name__}")
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if method == "discrete":
            return cls(method, "discrete", step_grid(t), limits=limits)
        if solver is None:
            solver = "dopri5" if batched else "DOP853"
        allowed = BATCHED_SOLVERS if batched else BATCHED_SOLVERS + SCIPY_SOLVERS
        if not isinstance(solver, str) or solver not in allowed:
            where = " for an ensemble or the torch backend" if batched else ""
            raise ValueError(f"solver must be one of {allowed}{where}, got {solver!r}")
        if solver == "rk4":
            if dt is None:
                raise ValueError("dt must be given for solver='rk4'")
            dt = V.positive(dt, "dt")
        elif dt is not None:
            raise ValueError(f"dt applies to solver='rk4' only, not {solver!r}")
        return cls(method, solver, V.time_grid(t), V.positive(rtol, "rtol"),
                   V.positive(atol, "atol"), dt, limits)

    @property
    def label(self) -> str:
        """``"discrete"`` or ``"ode:<solver>"``."""
        return "discrete" if self.method == "discrete" else f"ode:{self.solver}"


def step_grid(t) -> np.ndarray:
    """Save steps of a discrete run: increasing non-negative integers (int64)."""
    a = V.time_grid(t, "t")
    if np.any(a < 0) or np.any(a != np.round(a)) or np.any(np.abs(a) > 2**62):
        raise ValueError("t must hold non-negative integer step numbers for method='discrete'")
    return a.astype(np.int64)


def check_resolvable(scales, opts: Options, what: str) -> None:
    """Refuse an ODE run whose state has a block (a layer, a mode) that is non-zero but entirely
    below ``atol``: the solver's error control cannot see it, and may round it to 0 (a saddle
    the exact run never reaches) or leave it untouched, with status 0 either way.

    Parameters
    ----------
    scales : array_like
        The largest absolute entry of each block.
    opts : Options
        The run's options (nothing is checked for discrete steps).
    what : str
        Names the blocks in the message, e.g. ``"sigma0's mode"``.
    """
    if opts.method == "discrete":
        return
    s = np.asarray(scales, dtype=float).ravel()
    tiny = (s > 0) & (s < opts.atol)
    if tiny.any():
        low = float(s[tiny].min())
        raise ValueError(f"{what} {int(np.argmax(tiny))} is only {float(s[tiny][0]):.3g} in "
                         f"size, below atol = {opts.atol:g}: the solver cannot resolve it (it "
                         f"may round it to 0, a saddle); pass atol below it, e.g. "
                         f"atol={low * 1e-2:.0e}")


def memory_estimate(points: int, members: int, state_size: int, per_point: int = 0) -> float:
    """Bytes a run's saved results take: ``points x members x (state + derived series)``
    float64 values, twice over (the stored states and the result arrays built from them)."""
    return 8.0 * 2 * points * members * (state_size + per_point)


def check_memory(need: float, limits: Limits, what: str = "t",
                 advice: str = "save fewer points, or raise Limits(max_memory=...)") -> None:
    """Refuse a run whose results would pass ``limits.max_memory``, naming the estimate."""
    if not math.isfinite(need) or need > limits.max_memory:
        raise ValueError(f"{what}: the run would hold about {need / 2**30:.3g} GiB of results, "
                         f"above the limit of {limits.max_memory / 2**30:.3g} GiB; {advice}")
