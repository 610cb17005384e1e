"""Classical fixed-step Runge-Kutta: each save interval is split into equal steps <= ``dt``."""

from __future__ import annotations

import math

import numpy as np

from dlnsim.solve.loop import Run
from dlnsim.solve.options import Options


class RK4:
    """Every running member advances in lockstep; lands on the save times."""

    def __init__(self, opts: Options):
        self.dt = opts.dt

    def start(self, run: Run) -> None:
        self.k = 1
        self._interval(run)

    def _interval(self, run: Run) -> None:
        span = run.t[self.k] - run.t[self.k - 1]
        self.n = max(1, math.ceil(span / self.dt * (1 - 1e-12)))
        self.h = span / self.n
        self.i = 0

    def step(self, run: Run, act: np.ndarray):
        h = self.h
        ya = run.rows(act)
        k1 = run.call(ya, act)
        k2 = run.call(ya + (h / 2) * k1, act)
        k3 = run.call(ya + (h / 2) * k2, act)
        k4 = run.call(ya + h * k3, act)
        y_new = ya + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        self.i += 1
        t_new = run.t[self.k] if self.i == self.n else run.t[self.k - 1] + self.i * h
        if self.i == self.n and self.k + 1 < len(run.t):
            self.k += 1
            self._interval(run)
        return act, y_new, np.full(act.size, float(t_new)), None
