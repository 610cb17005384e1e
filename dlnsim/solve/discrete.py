"""Discrete steps ``y <- y + field(y)`` at integer step numbers (the field includes ``lr``)."""

from __future__ import annotations

import numpy as np

from dlnsim.solve.loop import Run
from dlnsim.solve.options import Options


class Discrete:
    """One field evaluation per step; lands on every save step. Stateful rules rely on the
    field being called exactly once per step and member."""

    def __init__(self, opts: Options):
        pass

    def start(self, run: Run) -> None:
        pass

    def step(self, run: Run, act: np.ndarray):
        ya = run.rows(act)
        return act, ya + run.call(ya, act), run.now[act] + 1.0, None
