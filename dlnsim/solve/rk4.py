"""Classical fixed-step Runge-Kutta (with :class:`~dlnsim.solve.controllers.EqualSteps`: each
save interval split into equal steps <= ``dt``)."""

from __future__ import annotations

import numpy as np

from dlnsim.solve.base import Step, column


class RK4:
    """Four stages per step, no error estimate, no state."""

    def init(self, call, y0) -> None:
        return None

    def step(self, call, y, h: np.ndarray, state=None) -> Step:
        hd = column(h, y)
        k1 = call(y)
        k2 = call(y + (hd / 2) * k1)
        k3 = call(y + (hd / 2) * k2)
        k4 = call(y + hd * k3)
        y_new = y + (hd / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        return Step(y_new)  # a non-finite stage shows in y_new
