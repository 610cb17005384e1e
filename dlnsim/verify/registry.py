"""The claim registry: one check per claim ID of the catalogue (theory/*.md)."""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from dlnsim._io import write_json as _write_json


@dataclass(frozen=True)
class Outcome:
    """What a check measured: ``error`` against the claim's tolerance, and details.

    ``holds`` carries the claim's other conditions (a symbolic residual that must be 0, an
    ordering of measured times); the claim passes when they hold and ``error <= tolerance``.
    """

    error: float
    details: str = ""
    holds: bool = True


@dataclass(frozen=True)
class CheckResult:
    id: str
    source: str
    statement: str
    passed: bool
    error: float
    tolerance: float
    seconds: float
    details: str = ""


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    statement: str
    tolerance: float
    check: Callable[[], Outcome] = field(repr=False)

    def run(self) -> CheckResult:
        t0 = time.perf_counter()
        try:
            out = self.check()
        except Exception as exc:  # a crashing check is a failed claim, reported, not raised
            return CheckResult(self.id, self.source, self.statement, False, math.inf,
                               self.tolerance, time.perf_counter() - t0,
                               f"check raised {type(exc).__name__}: {exc}")
        err = float(out.error)
        passed = bool(out.holds) and math.isfinite(err) and err <= self.tolerance
        return CheckResult(self.id, self.source, self.statement, passed, err, self.tolerance,
                           time.perf_counter() - t0, out.details)


REGISTRY: dict[str, Claim] = {}


def claim(id: str, source: str, statement: str, tolerance: float):
    """Register ``fn() -> Outcome`` as the check of claim ``id``."""
    def wrap(fn):
        if id in REGISTRY:
            raise ValueError(f"claim {id!r} registered twice")
        REGISTRY[id] = Claim(id, source, statement, tolerance, fn)
        return fn
    return wrap


def select(only: str | None = None) -> list[Claim]:
    """Claims whose ID matches the glob ``only`` (all when None), in registry order."""
    if only is None:
        return list(REGISTRY.values())
    picked = [c for c in REGISTRY.values() if fnmatch.fnmatchcase(c.id, only)]
    if not picked:
        raise ValueError(f"--only {only!r} matches no claim ID")
    return picked


def write_json(results: list[CheckResult], path: str) -> None:
    """Write the list of ``{id, source, statement, passed, error, tolerance,
    seconds}`` (plus details) atomically; infinite errors are written as null."""
    _write_json([asdict(r) for r in results], path)
