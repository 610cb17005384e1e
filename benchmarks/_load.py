"""One competing CPU-bound process, as on a shared machine (an editor's indexer, a second
terminal): a plain Python busy loop in a subprocess, ended when the context exits."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager


@contextmanager
def busy(processes: int = 1):
    """Keep ``processes`` CPU-bound subprocesses running for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(processes)]
    time.sleep(0.2)  # let them get scheduled before anything is timed
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
