"""Discrete steps ``y <- y + field(y)`` at integer step numbers (the field includes ``lr``)."""

from __future__ import annotations

import numpy as np

from dlnsim.solve.base import Step


class Discrete:
    """One field evaluation per step (with :class:`~dlnsim.solve.controllers.UnitSteps`).
    Stateful rules rely on the field being called exactly once per step and member."""

    def init(self, call, y0) -> None:
        return None

    def step(self, call, y, h: np.ndarray, state=None) -> Step:
        y_new = y + call(y)
        return Step(y_new)  # a non-finite velocity shows in y_new
