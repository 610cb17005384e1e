"""Argument types and shared flags of the command line: every value is checked by its own
type, so a bad one is a one-line usage error (exit 2) naming the flag, before any work."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys

from dlnsim.rules.presets import DEFAULT_Q

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_NUMBER_LIST = re.compile(r"^-[0-9.,eE+-]+$")  # values such as "-4,4" or "-1e-3"


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "-inf", "-1e3" and "-.5" are values (which the flag's type then judges), not flags
        self._negative_number_matcher = re.compile(
            r"^-(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|infinity|nan)$",
            re.IGNORECASE)

    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(message)


class UsageError(Exception):
    pass


def widths(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, got {text!r}") \
            from None
    if len(out) < 2 or min(out) < 1:
        raise argparse.ArgumentTypeError(f"must be at least two integers >= 1 (n_0,...,n_d), "
                                         f"got {text!r}")
    return out


def number(kind: str, low: float | None = None, strict: bool = False, allow_inf=False):
    """An argparse type: a finite float (or inf where allowed) above ``low``."""
    def parse(text: str) -> float:
        try:
            v = math.inf if allow_inf and text.lower() in ("inf", "infinity", "gd") \
                else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        if math.isnan(v) or (math.isinf(v) and not allow_inf) or (
                low is not None and (v <= low if strict else v < low)):
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
        return v
    return parse


def count(kind: str, low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        if v < low or (high is not None and v > high):
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
        return v
    return parse


def numbers(kind: str, length: int | None = None):
    """An argparse type: comma-separated finite floats (``length`` of them where given)."""
    def parse(text: str) -> tuple[float, ...]:
        try:
            out = tuple(float(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        if not all(math.isfinite(x) for x in out) or (length is not None
                                                        and len(out) != length):
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
        return out
    return parse


def indices(kind: str):
    """An argparse type: two distinct comma-separated integers >= 0 (``i,j``)."""
    def parse(text: str) -> tuple[int, int]:
        try:
            out = tuple(int(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        if len(out) != 2 or min(out) < 0 or out[0] == out[1]:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
        return out
    return parse


def path(text: str) -> str:
    if text.strip() == "":
        raise argparse.ArgumentTypeError("must be a file path, got an empty string")
    return text


def join_negative_values(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``--widths -4,4`` becomes ``--widths=-4,4`` so that argparse does not read the value
    as an option and the value's own check can say what is wrong with it."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and "=" not in a and i + 1 < len(argv) \
                and _NUMBER_LIST.match(argv[i + 1]):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def add_rule_flags(p: argparse.ArgumentParser) -> None:
    """The flags that name a rule: ngd(q, damping, block_diagonal) -> clip -> weight decay."""
    p.add_argument("--q", type=number("a number >= 1 or inf", 1.0, allow_inf=True),
                   default=DEFAULT_Q,
                   help=f"curvature correction order: 1 NGD, 2 sqrt-NGD, inf GD (default "
                        f"{DEFAULT_Q:g})")
    p.add_argument("--block-diagonal", action="store_true", help="use NGD-d blocks")
    p.add_argument("--damping", type=number("a number >= 0", 0.0), default=0.0,
                   help="Levenberg-Marquardt eps")
    p.add_argument("--weight-decay", type=number("a number >= 0", 0.0), default=0.0,
                   help="decoupled weight decay (added after the preconditioner, eq 7)")
    p.add_argument("--l2", type=number("a number >= 0", 0.0), default=0.0,
                   help="L2 regularisation (added to the gradient before it, eq 6)")
    p.add_argument("--clip", type=number("a number > 0", 0.0, strict=True), default=None,
                   help="update-speed clipping")


def rule_from_flags(a):
    """The rule the flags name (the chain's stage order makes the flag order irrelevant)."""
    from dlnsim import rules

    return rules.preset(a.q, damping=a.damping, block_diagonal=a.block_diagonal, l2=a.l2,
                        clip=a.clip, weight_decay=a.weight_decay)


def failures(results, name: str) -> list:
    """Print ``FAIL <name>: <details>`` for each failed result; return the failed ones."""
    failed = [r for r in results if not r.passed]
    for r in failed:
        origin = getattr(r, "origin", "")
        mine = origin and not origin.startswith("dlnsim" + os.sep)  # the user's: say where
        print(f"FAIL {getattr(r, name)}: {r.details}" + (f" [claim at {origin}]" if mine else ""))
    return failed


def interrupted(results, what: str) -> int:
    print(f"dlnsim: interrupted after {len(results)} of {results.total} {what}; the table "
          "above shows those", file=sys.stderr)
    return EXIT_INTERRUPTED


