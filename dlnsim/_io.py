"""Atomic file writes (a temporary file in the target's folder, then ``os.replace``) and JSON."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, is_dataclass


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path``; nothing half-written
    is ever visible at ``path``, and the temporary file is removed on failure."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(path)[1] + ".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _finite(x):
    """JSON has no infinity or NaN: such numbers are written as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def write_json(doc, path: str | os.PathLike) -> None:
    """Write ``doc`` (dataclass rows, dicts, lists) as indented JSON, atomically; non-finite
    numbers become null."""
    if is_dataclass(doc):
        doc = asdict(doc)
    elif isinstance(doc, list):
        doc = [asdict(r) if is_dataclass(r) else r for r in doc]

    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(_finite(doc), fh, indent=2)
            fh.write("\n")

    atomic_write(path, write)
