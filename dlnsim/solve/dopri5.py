"""Dormand-Prince 5(4) with a step size, error norm and status per member of a stack.

Each member takes exactly the steps it would take alone: steps are shortened to land on the
save times (no interpolation), and the controller, initial-step heuristic and RMS error norm are
scipy's (``RK45``: accept below 1, safety 0.9, factors in [0.2, 10], no growth right after a
rejection; Hairer, Norsett & Wanner, II.4), so with one save interval it takes the steps of
``scipy.integrate.RK45`` (tests/test_solve.py).
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from dlnsim.solve.loop import Run, host
from dlnsim.solve.options import Options
from dlnsim.solve.status import Status, non_finite_message

# Dormand & Prince (1980), the 5(4) pair with the FSAL property.
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
# Error estimate: 5th-order minus embedded 4th-order weights (seven stages, the last is FSAL).
E = (-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40)
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0


def rms(x):
    """Root-mean-square over each row (scipy's error norm)."""
    xp = array_namespace(x)
    return xp.sqrt(xp.mean(x * x, axis=1))


def _combine(coefs, ks):
    return sum(c * k for c, k in zip(coefs, ks) if c != 0.0)


class Dopri5:
    """Adaptive, per member; lands on the save times."""

    def __init__(self, opts: Options):
        self.rtol, self.atol = opts.rtol, opts.atol

    def start(self, run: Run) -> None:
        members = np.arange(run.y.shape[0])
        self.f = run.call(run.y, members)  # first-same-as-last stage, kept per member
        ok = run.finite_rows(run.y, self.f)
        run.stop(members[~ok], Status.DIVERGED, non_finite_message(run.when(run.t[0])))
        first = min(float(run.t[1] - run.t[0]), run.span)
        self.h = self._initial_step(run, first)
        self.rejected = np.zeros(run.y.shape[0], dtype=bool)  # since the last accepted step

    def _zero_bad(self, run: Run, y, bad: np.ndarray):
        """Rows of members already marked non-finite are zeroed so the field stays defined."""
        if not bad.any():
            return y
        xp = run.xp
        mask = xp.asarray(bad, device=run.device)[:, None]
        return xp.where(mask, xp.zeros_like(y), xp.where(xp.isfinite(y), y, xp.zeros_like(y)))

    def _initial_step(self, run: Run, first: float) -> np.ndarray:
        """scipy's ``select_initial_step``, per member."""
        xp = run.xp
        h = np.full(run.y.shape[0], min(first, 1e-6))
        act = np.flatnonzero(run.active)
        if act.size == 0:
            return h
        idx = run.index(act)
        ya, fa = run.y[idx], self.f[idx]
        scale = self.atol + xp.abs(ya) * self.rtol
        d0, d1 = host(rms(ya / scale)), host(rms(fa / scale))
        h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
        h0 = np.minimum(h0, first)
        y1 = ya + xp.asarray(h0, dtype=ya.dtype, device=run.device)[:, None] * fa
        try:
            f1 = run.call(self._zero_bad(run, y1, ~run.finite_rows(y1)), act)
        except ArithmeticError:
            return h
        d2 = host(rms((f1 - fa) / scale)) / h0
        d2 = np.where(np.isfinite(d2), d2, 0.0)
        small = (d1 <= 1e-15) & (d2 <= 1e-15)
        with np.errstate(divide="ignore"):
            h1 = np.where(small, np.maximum(1e-6, h0 * 1e-3),
                          (0.01 / np.maximum(np.maximum(d1, d2), 1e-300)) ** 0.2)
        h[act] = np.minimum(np.minimum(100 * h0, h1), first)
        return h

    def step(self, run: Run, act: np.ndarray):
        xp = run.xp
        idx = run.index(act)
        whole = act.size == run.y.shape[0]
        ya, fa = run.rows(act), (self.f if whole else self.f[idx])
        target = run.t[run.nxt[act]]
        ha = np.minimum(self.h[act], target - run.now[act])
        hd = xp.asarray(ha, dtype=ya.dtype, device=run.device)[:, None]
        ks = [fa]
        bad = np.zeros(act.size, dtype=bool)
        for s in range(1, 6):
            ys = ya + hd * _combine(A[s], ks)
            bad |= ~run.finite_rows(ys)
            ks.append(run.call(self._zero_bad(run, ys, bad), act))
        y_new = ya + hd * _combine(B, ks)
        bad |= ~run.finite_rows(y_new)
        f_new = run.call(self._zero_bad(run, y_new, bad), act)
        ks.append(f_new)
        bad |= ~run.finite_rows(*ks)
        err = hd * _combine(E, ks)
        scale = self.atol + self.rtol * xp.maximum(xp.abs(ya), xp.abs(y_new))
        en = host(rms(err / scale))
        for m, tm in zip(act[bad], run.now[act][bad]):
            run.stop(m, Status.DIVERGED, non_finite_message(run.when(tm)))
        accept = (en < 1.0) & ~bad
        with np.errstate(divide="ignore"):
            grow = np.where(en == 0, MAX_FACTOR, np.minimum(MAX_FACTOR, SAFETY * en ** -0.2))
            shrink = np.maximum(MIN_FACTOR, SAFETY * en ** -0.2)
        grow = np.where(self.rejected[act], np.minimum(1.0, grow), grow)  # as scipy's RK45
        self.h[act] = np.where(accept, ha * grow, ha * shrink)
        self.rejected[act] = ~accept
        sel = np.flatnonzero(accept)
        acc = act[sel]
        sidx = run.index(sel)
        if acc.size:
            self.f[run.index(acc)] = f_new[sidx]
        landed = ha[sel] == target[sel] - run.now[acc]
        t_new = np.where(landed, target[sel], run.now[acc] + ha[sel])
        return acc, y_new[sidx], t_new, None
