"""Command line: ``dlnsim verify | figures | simulate | portrait | sweep | validate-backend`` (also
``python -m dlnsim``). One module per command; :mod:`dlnsim.cli.args` holds the value types
and the flags shared by commands.

Exit codes: 0 success; 1 a run diverged or failed, or a claim failed; 2 usage or bad input,
checked before any work (output paths included); 3 an internal error (one line; ``--debug``
shows the traceback); 130 interrupted (what was computed is printed and saved). Errors are one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings

import numpy as np

from dlnsim.cli import figures, portrait, simulate, sweep, verify
from dlnsim.cli.args import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    UsageError,
    count,
    join_negative_values,
)

COMMANDS = (verify, figures, simulate, portrait, sweep)  # each adds its subparsers and run()


def build_parser() -> argparse.ArgumentParser:
    from dlnsim._version import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an internal error")
    common.add_argument("--threads", type=count("a positive integer", 1), metavar="N",
                        default=argparse.SUPPRESS,
                        help="BLAS/OpenMP threads for dlnsim's own work (default: one, or all "
                             "CPUs for matrices of dimension >= 1024; dlnsim verify: per "
                             "worker)")
    p = Parser(prog="dlnsim", description="Analytical deep-linear-network simulator.",
               parents=[common])
    p.add_argument("--version", action="version", version=f"dlnsim {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    for command in COMMANDS:
        command.add(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docs)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    debug = "--debug" in argv
    try:
        args = parser.parse_args(join_negative_values(argv, parser))
        if args.command is None:
            raise UsageError("missing command (try: dlnsim verify, or dlnsim simulate)")
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # runs report overflow as a status; numpy's warnings would only add noise
            warnings.simplefilter("ignore", RuntimeWarning)
            from dlnsim import threads

            with threads.using(getattr(args, "threads", None)):
                return args.run(args)
    except UsageError as exc:
        print(f"dlnsim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, OSError) as exc:
        if debug:
            traceback.print_exc()
        print(f"dlnsim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dlnsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        if debug:
            traceback.print_exc()
        print("dlnsim: internal error: out of memory (use smaller --widths or --points; "
              "--debug shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # a bug: one line and a hint, the traceback on request
        if debug:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"dlnsim: internal error: {type(exc).__name__}: {first} (please report it; "
              "--debug shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


__all__ = ["EXIT_FAILED", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE",
           "build_parser", "main"]
