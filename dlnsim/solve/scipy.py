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
    """A scipy ``OdeSolver`` for a stack of one member; reports an interpolant per step.

    A trial point where the field is not finite or raises ``ArithmeticError`` gets NaN, which
    scipy's solvers reject (they retry shorter); only when scipy gives up is the cause
    reported. At the state itself (the first call) such a field stops the run at once."""

    def __init__(self, solver: str, t0: float, t1: float, rtol: float, atol: float):
        self.cls, self.span, self.rtol, self.atol = SOLVERS[solver], (t0, t1), rtol, atol

    def init(self, call, y0) -> None:
        if y0.shape[0] != 1 or not isinstance(y0, np.ndarray):
            raise ValueError("scipy solvers integrate one member on numpy arrays; use "
                             "solver='dopri5' for ensembles and the torch backend")

        self.cause = None  # why the last trial point failed: an exception, or "non-finite"
        self.lost = 0  # non-finite trial points since the last step was reported
        self.started = False  # scipy's first call is at the state itself

        def fun(t, y):
            first, self.started = not self.started, True
            if not np.all(np.isfinite(y)):
                if first:
                    raise Diverged(t)
                if self.cause is None:  # keep an exception that led here
                    self.cause = "non-finite"
                self.lost += 1
                return np.full_like(y, np.nan)
            try:
                v = call(y[None])[0]
            except ArithmeticError as exc:
                if first:  # the state itself: a failure, not an overshooting trial
                    raise
                self.cause = exc
                self.lost += 1
                return np.full_like(y, np.nan)  # scipy rejects the step and tries shorter
            if not np.all(np.isfinite(v)):
                if first:
                    raise Diverged(t)
                if self.cause is None:
                    self.cause = "non-finite"
                self.lost += 1
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
            t = np.array([float(integ.t)])
            if self.cause == "non-finite":  # shorter steps could not avoid it
                return Step(y, np.zeros(1, dtype=bool), t=t)
            if self.cause is not None:
                return Step(y, np.zeros(1, dtype=bool), t=t, failure=self.cause)
            return Step(y, t=t, failed=str(msg))
        self.cause = None
        lost, self.lost = self.lost, 0
        cache = {}

        def dense(tk: float) -> np.ndarray:
            if "f" not in cache:
                cache["f"] = integ.dense_output()  # DOP853 evaluates the field here too
            row = cache["f"](tk)[None]
            if isinstance(self.cause, ArithmeticError):
                raise self.cause
            if self.cause is not None or not np.all(np.isfinite(row)):
                raise Diverged(tk)
            return row

        return Step(integ.y[None].copy(), t=np.array([float(integ.t)]), dense=dense,
                    lost=lost)
