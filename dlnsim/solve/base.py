"""The two small interfaces the loop drives, as in diffrax: a *stepper* and a *controller*.

A **stepper** advances the rows of some members by one step and reports; it writes nothing
that belongs to the loop (times, save points, statuses, counters)::

    state = stepper.init(call, y0)            # e.g. the first-same-as-last stage, or None
    out = stepper.step(call, y, h, state)     # -> Step

``call(y)`` evaluates the vector field on those rows (the loop counts the evaluations), ``y``
holds the rows ``(b, P)`` of the members stepped, ``h`` their step sizes (numpy, one each) and
``state`` the rows of the stepper's state (an array of rows, or None).

A **step-size controller** proposes each member's step and judges the result::

    controller.init(call, t, y0, f0)          # first step sizes (adaptive controllers)
    h = controller.propose(members, now, target)   # numpy, one per row (read-only)
    accept = controller.adapt(members, h, y, out.y, out.error)   # bool per row, or True

A step that reaches a member's next save time exactly lands there (``h == target - now``), so
steppers never interpolate; a stepper with its own controller and dense output (scipy's)
reports the time it reached and an interpolant instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device


class Step(NamedTuple):
    """What one step of a stepper produced, for the rows it was given (a named tuple: built
    once per step, it must cost less than a frozen dataclass).

    Attributes
    ----------
    y
        Candidate states ``(b, P)`` (a new array: the loop may keep it).
    finite
        Per row, False where a trial stage was NaN or infinite (numpy bool): the step is
        rejected and retried shorter, and a member whose tries keep failing stops. None when
        a non-finite stage always shows in ``y`` (which the loop checks as the new state).
    error
        Local error estimate ``(b, P)`` for an adaptive controller; None for fixed steps.
    state
        The stepper's state rows to keep for the rows the controller accepts (or None).
    t
        The time each row reached, for a stepper that chose its own step (else None: the loop
        adds the proposed ``h``).
    dense
        An interpolant ``dense(t) -> (b, P)`` over the step (else None: steps land on the save
        times).
    failed
        The solver's own failure message (scipy's), empty when it did not fail.
    failure
        The ``ArithmeticError`` a trial stage raised (every row is then flagged not finite).
    lost
        Trial points inside the step that were not finite (a stepper that retries them
        itself, scipy's, reports them here for the stall message).
    """

    y: Any
    finite: np.ndarray | None = None
    error: Any = None
    state: Any = None
    t: np.ndarray | None = None
    dense: Callable[[float], Any] | None = None
    failed: str = ""
    failure: BaseException | None = None
    lost: int = 0


class Diverged(Exception):
    """Raised by a stepper that cannot return per-row flags (scipy's) when the state or
    velocity is not finite at time ``t``."""

    def __init__(self, t: float):
        super().__init__(f"non-finite at t = {t:.6g}")
        self.t = t


def host(x) -> np.ndarray:
    """A small array (flags, norms) as numpy on the host."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x)


def finite_rows(*arrays) -> np.ndarray:
    """Per row, whether every entry of every array is finite (numpy bool)."""
    ok = None
    for a in arrays:
        if isinstance(a, np.ndarray):  # the common case, without the namespace lookup
            row = np.isfinite(a).all(axis=1)
        else:
            xp = array_namespace(a)
            row = xp.all(xp.isfinite(a), axis=1)
        ok = row if ok is None else ok & row
    return host(ok)


def column(h: np.ndarray, like):
    """Per-row step sizes as a column in ``like``'s namespace, dtype and device."""
    if isinstance(like, np.ndarray):
        return np.asarray(h, dtype=like.dtype)[:, None]
    xp = array_namespace(like)
    return xp.asarray(np.asarray(h, dtype=np.float64), dtype=like.dtype,
                      device=_device(like))[:, None]


def rms(x):
    """Root-mean-square over each row (scipy's error norm)."""
    xp = array_namespace(x)
    return xp.sqrt(xp.mean(x * x, axis=1))


def take(x, members: np.ndarray):
    """The rows ``members`` of ``x`` (indexing with an array of ``x``'s own namespace)."""
    if isinstance(x, np.ndarray):
        return x[members]
    return x[array_namespace(x).asarray(members, device=_device(x))]


def zero_rows(y, bad: np.ndarray):
    """``y`` with the rows ``bad`` and every non-finite entry zeroed, so that the field stays
    defined on rows already known to be lost."""
    if not bad.any():
        return y
    xp = array_namespace(y)
    mask = xp.asarray(bad, device=_device(y))[:, None]
    return xp.where(mask, xp.zeros_like(y), xp.where(xp.isfinite(y), y, xp.zeros_like(y)))
