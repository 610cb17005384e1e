"""The ``dlnsim`` command's entry point: imports the command line inside a Ctrl-C handler, so
that an interrupt during start-up is one line and exit 130, never a traceback."""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    """Import and run :func:`dlnsim.cli.main`; Ctrl-C while importing exits 130."""
    try:
        from dlnsim.cli import main as run
    except KeyboardInterrupt:
        print("dlnsim: interrupted", file=sys.stderr, flush=True)
        # at once: an interpreter that winds down after an import cut by Ctrl-C may still
        # report the signal (exit -2); nothing has been computed yet to clean up
        os._exit(130)
    code = run()
    # the work is done and its exit code decided: a Ctrl-C during the interpreter's wind-down
    # would otherwise end it by the signal (exit -2) instead of this code
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if code == 130:
        # a Ctrl-C that cut an import inside a C extension (numpy, scipy) leaves CPython
        # marked as interrupted, and it then ends by the signal (-2) whatever main returned;
        # what the command had running is stopped and its output written, so leave now
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)
    return code
