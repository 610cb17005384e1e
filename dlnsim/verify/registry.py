"""The claim registry: one check per claim ID of the catalogue (theory/*.md), and the user's
own claims (``@claim`` in a file or module loaded by :func:`dlnsim.verify.load`)."""

from __future__ import annotations

import fnmatch
import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from dlnsim._io import write_json as _write_json


@dataclass(frozen=True)
class Outcome:
    """What a check measured: ``error`` against the claim's tolerance, and details.

    ``holds`` carries the claim's other conditions (a symbolic residual that must be 0, an
    ordering of measured times); the claim passes when they hold and ``error <= tolerance``.

    Parameters
    ----------
    error : float
        The measured error, ``>= 0`` (``inf`` when the check could not measure it; a NaN or
        infinite error fails and says so).
    details : str or dict
        What was measured, for the report (a dict may hold numpy numbers and arrays; ``--json``
        writes them as numbers and lists).
    holds : bool
        Whether the claim's other conditions hold.
    """

    error: float
    details: str = ""
    holds: bool = True


@dataclass(frozen=True)
class CheckResult:
    """One claim's result, as ``dlnsim verify`` prints it and ``--json`` writes it.

    Parameters
    ----------
    id, source, statement : str
        The claim (its ID, where the paper states it, what it says).
    passed : bool
        ``holds`` and ``error <= tolerance``.
    error, tolerance : float
        Measured and allowed.
    seconds : float
        Time the check took.
    details : str
        What was measured.
    origin : str
        ``file:line`` of the check.
    """

    id: str
    source: str
    statement: str
    passed: bool
    error: float
    tolerance: float
    seconds: float
    details: str = ""
    origin: str = ""


_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def where(filename: str, line: int) -> str:
    """``file:line``, relative to the installed package's folder for dlnsim's own files."""
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE + os.sep):
        path = os.path.relpath(path, _PACKAGE)
    return f"{path}:{line}"


def _raised_at(exc: BaseException, prefer: str) -> str:
    """Where an exception was raised: the deepest frame in ``prefer`` (the claim's file),
    else the deepest frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    mine = [f for f in frames if os.path.abspath(f.filename) == prefer]
    f = (mine or frames)[-1]
    return where(f.filename, f.lineno)


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    statement: str
    tolerance: float
    check: Callable[[], Outcome] = field(repr=False)

    @property
    def origin(self) -> str:
        """``file:line`` of the check function."""
        code = getattr(self.check, "__code__", None)
        return where(code.co_filename, code.co_firstlineno) if code else ""

    @property
    def builtin(self) -> bool:
        """Whether the claim is one of the catalogue's (defined in :mod:`dlnsim.verify`)."""
        return getattr(self.check, "__module__", "").startswith("dlnsim.verify.")

    def run(self, timeout: float | None = None) -> CheckResult:
        """Run the check; whatever it does (raise, exit, return a malformed Outcome, run past
        ``timeout`` seconds), the result is this claim's, and only Ctrl-C escapes."""
        t0 = time.perf_counter()
        try:
            with _time_limit(timeout):
                out = self.check()
            err, holds = _judged(out)
        except KeyboardInterrupt:
            raise
        except TimedOut as exc:
            return CheckResult(self.id, self.source, self.statement, False, math.inf,
                               self.tolerance, time.perf_counter() - t0, str(exc), self.origin)
        except BaseException as exc:  # noqa: BLE001 (a user's check may even sys.exit)
            code = getattr(self.check, "__code__", None)
            at = _raised_at(exc, os.path.abspath(code.co_filename) if code else "")
            return CheckResult(self.id, self.source, self.statement, False, math.inf,
                               self.tolerance, time.perf_counter() - t0,
                               f"check raised {type(exc).__name__}: {exc}"
                               + (f" (at {at})" if at else ""), self.origin)
        details = out.details
        if not math.isfinite(err):
            why = ("the measured error is NaN" if math.isnan(err) else
                   "the measured error is infinite (the check could not measure it)")
            details = (f"{why}; {details}" if details else why) if isinstance(details, str) \
                else {"reason": why, "details": details}
        passed = holds and math.isfinite(err) and err <= self.tolerance
        return CheckResult(self.id, self.source, self.statement, passed, err, self.tolerance,
                           time.perf_counter() - t0, details, self.origin)


class TimedOut(Exception):
    """A check that ran past its time limit (``dlnsim verify --timeout``)."""


@contextmanager
def _time_limit(seconds: float | None):
    """Raise :class:`TimedOut` in the check after ``seconds`` (by SIGALRM, so in the main
    thread of a process, as the runner and its workers run claims; a no-op elsewhere). A
    check inside one long C call (an eigensolve) is stopped when the call returns."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise TimedOut(f"timed out after {seconds:g} s (the --timeout of each claim)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _judged(out) -> tuple[float, bool]:
    """``(error, holds)`` of a check's return value, refusing what is not a valid Outcome."""
    if not isinstance(out, Outcome):
        raise TypeError(f"a check must return dlnsim.verify.Outcome, got {type(out).__name__}")
    e = out.error
    if isinstance(e, (bool, np.bool_)) or not isinstance(e, (int, float, np.integer,
                                                              np.floating)):
        raise TypeError(f"Outcome.error must be a real number, got {type(e).__name__} "
                        f"{e!r:.60}")
    err = float(e)
    if err < 0:
        raise ValueError(f"Outcome.error must be >= 0 (a distance or a relative error; "
                         f"compare absolute values), got {err!r}")
    if not isinstance(out.holds, (bool, np.bool_)):
        raise TypeError(f"Outcome.holds must be True or False, got {type(out.holds).__name__}")
    return err, bool(out.holds)


REGISTRY: dict[str, Claim] = {}
_RECORDING: list[list[Claim]] = []  # claims registered while a load() is under way


def _same_check(old: Claim, new: Claim) -> bool:
    """Whether ``new`` is ``old`` defined again (its module or notebook cell run twice): the
    same function of the same module, at the same place unless typed interactively (a
    notebook cell edited and run again moves). Two checks of one ID in one file are not."""
    key = [(getattr(c.check, "__qualname__", None), getattr(c.check, "__module__", None))
           for c in (old, new)]
    return key[0] == key[1] and (old.origin == new.origin or key[0][1] == "__main__")


def claim(id: str, source: str, statement: str, tolerance: float):
    """Register ``fn() -> Outcome`` as the check of claim ``id``.

    ``tolerance`` is the largest ``Outcome.error`` that passes. Registering an ID again from
    the same function at the same place (a module or notebook cell run twice) replaces it;
    from elsewhere, or from a second function of the same file, it is an error naming both
    places.

    Parameters
    ----------
    id : str
        A stable ID, e.g. ``"mine.ngdd.ratio"``.
    source : str
        Where the claim is stated (paper, equation).
    statement : str
        What it says.
    tolerance : float
        The largest error that passes, ``>= 0``.

    Returns
    -------
    callable
        A decorator that registers ``fn`` and returns it unchanged.

    Raises
    ------
    ValueError
        An empty ID, a bad tolerance, or an ID registered from elsewhere.
    """
    if not isinstance(id, str) or not id.strip():
        raise ValueError(f"claim id must be a non-empty string, got {id!r}")
    tol = float(tolerance)
    if not tol >= 0:
        raise ValueError(f"claim {id!r}: tolerance must be a number >= 0, got {tolerance!r}")

    def wrap(fn):
        new = Claim(id, source, statement, tol, fn)
        old = REGISTRY.get(id)
        if old is not None and not _same_check(old, new):
            raise ValueError(f"claim {id!r} at {new.origin} is already registered at "
                             f"{old.origin}")
        REGISTRY[id] = new
        for record in _RECORDING:
            record.append(new)
        return fn
    return wrap


def select(only: str | None = None, builtin: bool = True) -> list[Claim]:
    """Registered claims whose ID matches the glob ``only`` (all when None), in registry
    order: the user's (registered by ``@claim`` or :func:`dlnsim.verify.load`) and, unless
    ``builtin`` is False, the catalogue's.

    Parameters
    ----------
    only : str, optional
        A glob over claim IDs.
    builtin : bool
        Include the catalogue's claims.

    Returns
    -------
    list of Claim

    Raises
    ------
    ValueError
        A glob that matches no claim.
    """
    pool = [c for c in REGISTRY.values() if builtin or not c.builtin]
    if only is None:
        return pool
    picked = [c for c in pool if fnmatch.fnmatchcase(c.id, only)]
    if not picked:
        raise ValueError(f"--only {only!r} matches no claim ID")
    return picked


def write_json(results: list[CheckResult], path: str) -> None:
    """Write the list of ``{id, source, statement, passed, error, tolerance,
    seconds}`` (plus details) atomically; infinite errors are written as null.

    Parameters
    ----------
    results : list of CheckResult
        As :func:`dlnsim.verify.run` returns them.
    path : str
        The file (its folder must exist).
    """
    _write_json([asdict(r) for r in results], path)
