"""scipy's one-step ODE methods (``RK45``, ``DOP853``, ``Radau``, ``LSODA``, ...) as a stepper.

One member on numpy arrays; scipy's solver chooses its own steps (the loop pairs it with
:class:`~dlnsim.solve.controllers.OwnSteps`) and its dense output gives the save points, so a
run that stops keeps everything saved before.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate as _si

from dlnsim.solve.base import Diverged, Step

SOLVERS = {"RK23": _si.RK23, "RK45": _si.RK45, "DOP853": _si.DOP853,
           "Radau": _si.Radau, "BDF": _si.BDF, "LSODA": _si.LSODA}


class Scipy:
    """A scipy ``OdeSolver`` for a stack of one member; reports an interpolant per step."""

    def __init__(self, solver: str, t0: float, t1: float, rtol: float, atol: float):
        self.cls, self.span, self.rtol, self.atol = SOLVERS[solver], (t0, t1), rtol, atol

    def init(self, call, y0) -> None:
        if y0.shape[0] != 1 or not isinstance(y0, np.ndarray):
            raise ValueError("scipy solvers integrate one member on numpy arrays; use "
                             "solver='dopri5' for ensembles and the torch backend")

        def fun(t, y):
            if not np.all(np.isfinite(y)):
                raise Diverged(t)
            v = call(y[None])[0]
            if not np.all(np.isfinite(v)):
                raise Diverged(t)
            return v

        # a copy: scipy keeps y0 as the first step's y_old, which its dense output reads after
        # the loop has written the new state into its own array
        self.integ = self.cls(fun, self.span[0], np.array(y0[0], copy=True), self.span[1],
                              rtol=self.rtol, atol=self.atol)
        return None

    def step(self, call, y, h, state=None) -> Step:
        integ = self.integ
        msg = integ.step()
        if integ.status == "failed":
            return Step(y, t=np.array([float(integ.t)]),
                        failed=str(msg))
        cache = {}

        def dense(tk: float) -> np.ndarray:
            if "f" not in cache:
                cache["f"] = integ.dense_output()
            return cache["f"](tk)[None]

        return Step(integ.y[None].copy(), np.ones(1, dtype=bool),
                    t=np.array([float(integ.t)]), dense=dense)
