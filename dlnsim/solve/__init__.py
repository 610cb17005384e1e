"""Integration: steppers, one loop, one status enum, grouped options.

* :mod:`~dlnsim.solve.status`: :class:`Status` (0 success, 1 diverged, -1 failed,
  2 interrupted) and the wording of every stop message;
* :mod:`~dlnsim.solve.options`: :class:`Options` (method, solver, tolerances) and
  :class:`Limits` (max_norm, max_steps, min_step, max_evals, max_memory), checked once;
* :mod:`~dlnsim.solve.loop`: the one loop (saving, divergence, stall and budget checks,
  progress, Ctrl-C) for every stepper;
* one file per stepper: :mod:`~dlnsim.solve.dopri5`, :mod:`~dlnsim.solve.rk4`,
  :mod:`~dlnsim.solve.discrete`, :mod:`~dlnsim.solve.scipy`.

A new solver is a class with ``start(run)`` and ``step(run, members) -> (members, y, t,
dense)`` in its own file, registered in :data:`STEPPERS` (and named in ``options``).
"""

from __future__ import annotations

from dlnsim.solve.discrete import Discrete
from dlnsim.solve.dopri5 import Dopri5
from dlnsim.solve.loop import Result, Run, integrate, reraise_interrupts
from dlnsim.solve.options import (
    BATCHED_SOLVERS,
    SCIPY_SOLVERS,
    Limits,
    Options,
    check_memory,
    memory_estimate,
    step_grid,
)
from dlnsim.solve.rk4 import RK4
from dlnsim.solve.scipy import Scipy
from dlnsim.solve.status import Status

STEPPERS = {"dopri5": Dopri5, "rk4": RK4, "discrete": Discrete,
            **{name: Scipy for name in SCIPY_SOLVERS}}


def solve(field, y0, opts: Options, quiet: bool = False, desc: str = "simulate",
          hint: str = "") -> Result:
    """Integrate ``field(y, idx)`` from the stack ``y0`` (``B x P``) as ``opts`` says.

    ``hint`` is added to a step-size-underflow message (what might help for this field).
    """
    return integrate(STEPPERS[opts.solver](opts), Run(field, y0, opts, quiet, desc, hint))


__all__ = ["BATCHED_SOLVERS", "SCIPY_SOLVERS", "STEPPERS", "Limits", "Options", "Result", "Run",
           "Status", "check_memory", "integrate", "memory_estimate", "reraise_interrupts", "solve",
           "step_grid"]
