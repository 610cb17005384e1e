"""Step-size controllers: each proposes a step per member and judges the stepper's result.

* :class:`ErrorControl`: scipy's ``RK45`` controller (Hairer, Norsett & Wanner, II.4) with its
  initial-step heuristic: RMS error norm, accept below 1, safety 0.9, factors in [0.2, 10], no
  growth right after a rejection;
* :class:`EqualSteps`: fixed steps that split each save interval into equal steps <= ``dt``;
* :class:`UnitSteps`: one step per integer step number (discrete gradient steps);
* :class:`OwnSteps`: for a stepper that controls its own steps (scipy's solvers).
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace

from dlnsim.solve.base import column, finite_rows, host, rms, take, zero_rows

SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0


class ErrorControl:
    """Adaptive steps from a local error estimate, per member (scipy's ``RK45`` rules).

    Parameters
    ----------
    rtol, atol : float
        Relative and absolute tolerance of the error norm ``rms(err / (atol + rtol |y|))``.
    order : int
        Order of the error estimate's lower method (4 for Dormand-Prince 5(4)).
    """

    def __init__(self, rtol: float, atol: float, order: int = 4):
        self.rtol, self.atol, self.exponent = rtol, atol, -1.0 / (order + 1)

    def init(self, call, t: np.ndarray, y0, f0=None, members: np.ndarray | None = None):
        """scipy's ``select_initial_step`` for the rows ``members`` of ``y0`` (all by default);
        ``f0`` is the field at ``y0`` when the stepper already has it."""
        b = y0.shape[0]
        members = np.arange(b) if members is None else members
        first = float(t[1] - t[0])
        self.h = np.full(b, min(first, 1e-6))
        self.rejected = np.zeros(b, dtype=bool)  # since the member's last accepted step
        if members.size == 0:
            return
        xp = array_namespace(y0)
        whole = members.size == b
        ya = y0 if whole else take(y0, members)
        fa = call(ya) if f0 is None else (f0 if whole else take(f0, members))
        scale = self.atol + xp.abs(ya) * self.rtol
        d0, d1 = host(rms(ya / scale)), host(rms(fa / scale))
        h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
        h0 = np.minimum(h0, first)
        y1 = ya + column(h0, ya) * fa
        try:
            f1 = call(zero_rows(y1, ~finite_rows(y1)))
        except ArithmeticError:  # the step was a guess; the field's failure shows in the run
            return
        d2 = host(rms((f1 - fa) / scale)) / h0
        d2 = np.where(np.isfinite(d2), d2, 0.0)
        small = (d1 <= 1e-15) & (d2 <= 1e-15)
        with np.errstate(divide="ignore"):
            h1 = np.where(small, np.maximum(1e-6, h0 * 1e-3),
                          (0.01 / np.maximum(np.maximum(d1, d2), 1e-300)) ** -self.exponent)
        self.h[members] = np.minimum(np.minimum(100 * h0, h1), first)

    def propose(self, members: np.ndarray, now: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The next step of each member, shortened to land on its next save time."""
        return np.minimum(self.h[members], target - now)

    def adapt(self, members: np.ndarray, h: np.ndarray, y0, y1, error) -> np.ndarray:
        """Accept where the error norm is below 1; set each member's next step."""
        xp = array_namespace(y1)
        scale = self.atol + self.rtol * xp.maximum(xp.abs(y0), xp.abs(y1))
        en = host(rms(error / scale))
        en = np.where(np.isfinite(en), en, np.inf)  # a non-finite trial: shrink the most
        accept = en < 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            grow = np.where(en == 0, MAX_FACTOR,
                            np.minimum(MAX_FACTOR, SAFETY * en ** self.exponent))
            shrink = np.maximum(MIN_FACTOR, SAFETY * en ** self.exponent)
        grow = np.where(self.rejected[members], np.minimum(1.0, grow), grow)  # as scipy's RK45
        self.h[members] = np.where(accept, h * grow, h * shrink)
        self.rejected[members] = ~accept
        return accept


class EqualSteps:
    """Each save interval split into the fewest equal steps no longer than ``dt``.

    Fixed steps are always taken and every member starts at ``t[0]``, so the members run in
    lockstep: one step count per interval serves them all, and the last step of an interval is
    what is left of it (it lands on the save time exactly).
    """

    def __init__(self, dt: float):
        self.dt = dt

    def init(self, call, t: np.ndarray, y0, f0=None, members=None) -> None:
        self.t, self.k = t, 1
        self._interval()

    def _interval(self) -> None:
        span = float(self.t[self.k] - self.t[self.k - 1])
        self.n = max(1, math.ceil(span / self.dt * (1 - 1e-12)))
        self.h, self.i = span / self.n, 0

    def propose(self, members: np.ndarray, now: np.ndarray, target: np.ndarray) -> np.ndarray:
        self.i += 1
        if self.i < self.n:
            return np.full(members.size, self.h)
        if self.k + 1 < len(self.t):
            self.k += 1
            self._interval()
        return target - now

    def adapt(self, members, h, y0, y1, error) -> bool:
        return True  # fixed steps: every step is taken


class UnitSteps(EqualSteps):
    """One step per integer step number (discrete updates ``y <- y + field(y)``)."""

    def __init__(self, dt: float = 1.0):
        super().__init__(1.0)

    def init(self, call, t: np.ndarray, y0, f0=None, members=None) -> None:
        self.ones = np.ones(y0.shape[0])

    def propose(self, members, now, target) -> np.ndarray:
        return self.ones[:members.size]


class OwnSteps(UnitSteps):
    """For a stepper that chooses its own steps and reports the time reached."""

    def propose(self, members, now, target) -> np.ndarray:
        return np.zeros(members.size)  # unused; 0 marks a failed try as final
