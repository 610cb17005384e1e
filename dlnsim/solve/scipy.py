"""scipy's one-step ODE methods (``RK45``, ``DOP853``, ``Radau``, ``LSODA``, ...) as a stepper.

One member on numpy arrays; the solver is stepped by hand (as ``solve_ivp`` does) and its dense
output gives the save points, so a run that stops keeps everything saved before.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate as _si

from dlnsim.solve.loop import Diverged, Run
from dlnsim.solve.options import Options
from dlnsim.solve.status import Status

SOLVERS = {"RK23": _si.RK23, "RK45": _si.RK45, "DOP853": _si.DOP853,
           "Radau": _si.Radau, "BDF": _si.BDF, "LSODA": _si.LSODA}


class Scipy:
    """A scipy ``OdeSolver`` for a stack of one member; interpolates at the save times."""

    def __init__(self, opts: Options):
        self.cls, self.rtol, self.atol = SOLVERS[opts.solver], opts.rtol, opts.atol

    def start(self, run: Run) -> None:
        if run.y.shape[0] != 1 or not isinstance(run.y, np.ndarray):
            raise ValueError("scipy solvers integrate one member on numpy arrays; use "
                             "solver='dopri5' for ensembles and the torch backend")
        member = np.array([0])

        def fun(t, y):
            if not np.all(np.isfinite(y)):
                raise Diverged(f"the state became non-finite at t = {t:.6g}")
            v = run.call(y[None], member)[0]
            if not np.all(np.isfinite(v)):
                raise Diverged(f"the velocity became non-finite at t = {t:.6g}")
            return v

        # a copy: scipy keeps y0 as the first step's y_old, which its dense output reads after
        # the loop has written the new state into its own array
        self.integ = self.cls(fun, float(run.t[0]), np.array(run.y[0], copy=True),
                              float(run.t[-1]), rtol=self.rtol, atol=self.atol)

    def step(self, run: Run, act: np.ndarray):
        integ = self.integ
        msg = integ.step()
        if integ.status == "failed":
            run.stop(act, Status.FAILED, f"integrator failed at t = {integ.t:.6g}: {msg}")
            return act[:0], None, None, None
        cache = {}

        def dense(tk: float) -> np.ndarray:
            if "f" not in cache:
                cache["f"] = integ.dense_output()
            return cache["f"](tk)[None]

        return act, integ.y[None].copy(), np.array([float(integ.t)]), dense
