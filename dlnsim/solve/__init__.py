"""Integration: steppers, one loop, one status enum, grouped options.

* :mod:`~dlnsim.solve.status`: :class:`Status` (0 success, 1 diverged, -1 failed,
  2 interrupted) and the wording of every stop message;
* :mod:`~dlnsim.solve.options`: :class:`Options` (method, solver, tolerances) and
  :class:`Limits` (max_norm, max_steps, min_step, max_evals, max_memory), checked once;
* :mod:`~dlnsim.solve.base`: the two interfaces, a *stepper* (``init``, ``step`` ->
  :class:`~dlnsim.solve.base.Step`: new rows, error, flags, state, dense output; it writes
  nothing of the loop's) and a *step-size controller* (``init``, ``propose``, ``adapt``);
* :mod:`~dlnsim.solve.controllers`: scipy's error control, equal steps, unit steps;
* :mod:`~dlnsim.solve.loop`: the one loop (saving, divergence, stall and budget checks,
  progress, Ctrl-C) for every stepper;
* one file per stepper: :mod:`~dlnsim.solve.dopri5`, :mod:`~dlnsim.solve.rk4`,
  :mod:`~dlnsim.solve.discrete`, :mod:`~dlnsim.solve.scipy`.

A new solver is a stepper class in its own file, paired with a controller in
:func:`stepper_for` (and named in ``options``).
"""

from __future__ import annotations

from dlnsim.solve.base import Step
from dlnsim.solve.controllers import EqualSteps, ErrorControl, OwnSteps, UnitSteps
from dlnsim.solve.discrete import Discrete
from dlnsim.solve.dopri5 import Dopri5
from dlnsim.solve.loop import Result, Run, integrate, reraise_interrupts
from dlnsim.solve.options import (
    BATCHED_SOLVERS,
    SCIPY_SOLVERS,
    Limits,
    Options,
    check_memory,
    check_resolvable,
    memory_estimate,
    step_grid,
)
from dlnsim.solve.rk4 import RK4
from dlnsim.solve.scipy import Scipy
from dlnsim.solve.status import Status


def stepper_for(opts: Options):
    """The stepper and step-size controller ``opts`` asks for."""
    if opts.method == "discrete":
        return Discrete(), UnitSteps()
    if opts.solver == "dopri5":
        return Dopri5(), ErrorControl(opts.rtol, opts.atol, Dopri5.order)
    if opts.solver == "rk4":
        return RK4(), EqualSteps(opts.dt)
    return Scipy(opts.solver, float(opts.t[0]), float(opts.t[-1]), opts.rtol, opts.atol), \
        OwnSteps()


def solve(field, y0, opts: Options, quiet: bool = False, desc: str = "simulate",
          hint: str = "") -> Result:
    """Integrate ``field(y, idx)`` from the stack ``y0`` (``B x P``) as ``opts`` says.

    ``hint`` is added to a step-size-underflow message (what might help for this field).
    """
    stepper, controller = stepper_for(opts)
    return integrate(stepper, controller, Run(field, y0, opts, quiet, desc, hint))


__all__ = ["BATCHED_SOLVERS", "SCIPY_SOLVERS", "Limits", "Options", "Result", "Run", "Status",
           "Step", "check_memory", "check_resolvable", "integrate", "memory_estimate",
           "reraise_interrupts", "solve", "step_grid", "stepper_for"]
