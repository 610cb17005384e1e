"""How a run ended: one status enum for every integrator, and the wording of its messages."""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """The outcome of a run (per member of an ensemble), as in ``scipy.integrate.solve_ivp``.

    ``SUCCESS`` (0) reached the last save time; ``DIVERGED`` (1) the state became non-finite or
    its norm passed ``max_norm``; ``FAILED`` (-1) the integrator or the vector field failed
    (step-size underflow, ``max_steps``, the evaluation budget, a failed eigensolve);
    ``INTERRUPTED`` (2) the run was stopped by Ctrl-C. Whatever the status, everything saved
    before the stop is kept and nothing after it is returned (no NaN).
    """

    SUCCESS = 0
    DIVERGED = 1
    FAILED = -1
    INTERRUPTED = 2


STALL_WINDOW = 2000


def too_large_message(norm: float, max_norm: float, when: str) -> str:
    """A run whose state norm passed ``max_norm`` (``DIVERGED``)."""
    return f"diverged: state norm {norm:.3g} exceeded max_norm = {max_norm:.3g} at {when}"


def non_finite_message(when: str) -> str:
    """A run whose state or velocity became NaN or infinite (``DIVERGED``)."""
    return f"diverged: the state or velocity became non-finite at {when}"


def stall_message(advance: float, t: float, hint: str = "", lost: int = 0) -> str:
    """A run whose last ``STALL_WINDOW`` steps advanced time by only ``advance`` (``FAILED``);
    ``lost`` trial steps of that window were not finite."""
    if lost:
        return (f"step size underflow: {STALL_WINDOW} steps advanced t by only {advance:.3g} "
                f"up to t = {t:.6g}, and {lost} trial steps overflowed float64: the run heads "
                f"where its products are not representable (weights growing without bound?); "
                f"a smaller lr, damping or a smaller start may help")
    return (f"step size underflow: {STALL_WINDOW} steps advanced t by only {advance:.3g} up to "
            f"t = {t:.6g}; the vector field is singular, discontinuous or stiff here"
            + (f" ({hint})" if hint else ""))


def reached_message(discrete: bool) -> str:
    """A member that reached the last save time (``SUCCESS``)."""
    return "reached the last save " + ("step" if discrete else "time")


def max_steps_message(max_steps: int, when: str) -> str:
    """A member stopped by ``Limits.max_steps`` (``FAILED``)."""
    return f"stopped after max_steps = {max_steps} at {when}"


def budget_message(when: str, evals: int, max_evals: int, predicted: float,
                   implicit: bool, saves: int = 0, steps: int = 0) -> str:
    """A member stopped by the evaluation budget (``FAILED``); ``implicit``: the solver is
    already an implicit one, so it is not suggested again. ``saves`` of the ``steps`` taken
    ended on a save time: when that is most of them, the save grid, not stiffness, made the
    steps short, and the message says so."""
    head = (f"evaluation budget: stopped at {when} after {evals} field evaluations "
            f"(max_evals = {max_evals}); at this pace the run needs about {predicted:.3g}")
    if steps and saves >= steps / 2:
        return (f"{head}: the save times make the steps short ({saves} of its {steps} steps "
                f"ended on one), not the dynamics; save fewer points, use a scipy solver "
                f"(which interpolates them), or raise Limits(max_evals=...)")
    fixes = "method='discrete' or a smaller lr"
    if not implicit:
        fixes = ("method='discrete', a smaller lr, or an implicit solver (solver='Radau' "
                 "or 'LSODA', numpy backend)")
    return f"{head}: the dynamics are stiff for an explicit solver here; use {fixes}"


def time_limit_message(when: str, seconds: float, max_seconds: float,
                       predicted: float | None = None) -> str:
    """A run stopped by ``Limits.max_seconds`` (``FAILED``): past it, or ``predicted`` to
    need more than twice it."""
    pace = "" if predicted is None else f"; at this pace it needs about {predicted:.3g} s"
    return (f"time limit: stopped at {when} after {seconds:.3g} s (max_seconds = "
            f"{max_seconds:.3g}){pace}; stiff dynamics run faster with a smaller lr, "
            f"method='discrete' or an implicit solver (solver='Radau'), a near-singular "
            f"preconditioner with damping; or raise Limits(max_seconds=...) (--max-seconds)")


def field_failed_message(when: str, exc: BaseException) -> str:
    """A vector field that raised ``ArithmeticError`` (``FAILED``)."""
    return f"vector field failed near {when}: {exc}"


def integrator_failed_message(when: str, why: str) -> str:
    """An external integrator (scipy's) that reported failure (``FAILED``)."""
    return f"integrator failed at {when}: {why}"


def not_started_message() -> str:
    """A member of an ensemble that Ctrl-C stopped before its group started (``INTERRUPTED``)."""
    return "interrupted before this member started; its initial state is kept"


def interrupted_message(when: str) -> str:
    """A run stopped by Ctrl-C (``INTERRUPTED``)."""
    return f"interrupted at {when}; the results saved up to there are kept"


class Results(list):
    """Results of a batch of checks or runs (``dlnsim verify``, ``validate-backend``), in
    order; ``interrupted`` is True when Ctrl-C stopped the batch (the list then holds what
    finished before it) and ``total`` is the number selected.

    Parameters
    ----------
    iterable : iterable, optional
        The results so far.
    """

    interrupted: bool = False
    total: int = 0
    workers: int = 1      # processes that ran the batch
    wall: float = 0.0     # seconds the batch took (less than the sum when run in parallel)
