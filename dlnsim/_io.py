"""Files: atomic writes, output-path checks made before any work, and JSON.

Semantics of a write to ``path`` (documented in the README, "Bad input and failures"):

* the data go to a temporary file in the destination's folder, are flushed and fsynced, and
  the file is renamed onto the destination (``os.replace``), then the folder is fsynced: a
  reader sees the old file or the new one, never half of one, also after a crash;
* a symbolic link is followed: its target is replaced (atomically) and the link stays;
* a destination that exists and is not a regular file (a folder, a device, a FIFO, a socket)
  is refused with ``ValueError``, never replaced;
* on any failure the temporary file is removed and the error names ``path``.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, is_dataclass

import numpy as np


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def destination(path: str | os.PathLike, name: str = "path") -> str:
    """The file a write to ``path`` replaces: ``path`` with symbolic links followed.

    Raises ``ValueError`` for an empty path, an existing non-regular file, or a missing folder.
    """
    path = os.fspath(path)
    if not isinstance(path, str) or path == "":
        raise ValueError(f"{name} must be a file path, got {path!r}")
    real = os.path.realpath(path)
    if os.path.lexists(real):
        mode = os.stat(real).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"{name} {path!r} is {_kind(mode)}; refusing to replace it")
    folder = os.path.dirname(real) or "."
    if not os.path.isdir(folder):
        link = (f" is a symbolic link to {os.readlink(path)!r}, and" if os.path.islink(path)
                else ":")
        raise ValueError(f"{name} {path!r}{link} the folder {folder!r} does not exist")
    return real


def _probe(folder: str, path: str, name: str) -> None:
    """Create and remove a file in ``folder``: the only test that also holds for root and for
    read-only file systems."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".dlnsim-probe-")
    except OSError as exc:
        raise ValueError(f"{name} {path!r}: cannot write in {folder!r} "
                         f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_file(path: str | os.PathLike, name: str = "path") -> str:
    """Check, before any work, that a file can be written at ``path``; returns the path."""
    real = destination(path, name)
    _probe(os.path.dirname(real) or ".", os.fspath(path), name)
    return os.fspath(path)


def check_output_folder(path: str | os.PathLike, name: str = "folder",
                        parents: bool = False) -> str:
    """Check, before any work, that files can be written in ``path`` (created if missing;
    its parent must exist, or with ``parents`` every missing folder above it is created, as
    ``mkdir -p`` does, below an existing one); returns the path."""
    path = os.fspath(path)
    if not isinstance(path, str) or path == "":
        raise ValueError(f"{name} must be a folder path, got {path!r}")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} {path!r} exists and is not a folder")
    if not os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        if parents:
            while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
                parent = os.path.dirname(parent)
            if not os.path.isdir(parent):
                raise ValueError(f"{name} {path!r}: {parent!r} is not a folder")
        elif not os.path.isdir(parent):
            raise ValueError(f"{name} {path!r}: the folder {parent!r} does not exist")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"{name} {path!r}: cannot create it ({exc.strerror or exc})") \
                from None
    _probe(path, path, name)
    return path


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path`` (see the module docs);
    nothing half-written is ever visible at ``path``, and the temporary file is removed on
    failure. OS errors are re-raised naming ``path``."""
    shown = os.fspath(path)
    real = destination(shown)
    folder = os.path.dirname(real) or "."
    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(real)[1] + ".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
        os.replace(tmp, real)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"cannot write {shown!r}: {exc.strerror or exc}") from exc
        raise
    _fsync_folder(folder)


def _finite(x):
    """JSON has no infinity or NaN: such numbers are written as null; numpy scalars and arrays
    become numbers and lists, keys become strings, anything else JSON lacks its ``str``."""
    if isinstance(x, np.generic):
        x = x.item()
    elif isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


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


def write_npz(path: str | os.PathLike, arrays: dict) -> None:
    """Write ``arrays`` to an ``.npz`` file atomically (a symbolic link is written through to
    its target; a destination that is not a regular file is refused with ``ValueError``).

    Parameters
    ----------
    path : str or os.PathLike
        The file (its folder must exist).
    arrays : dict
        Name -> array (``format`` among them, naming what the file holds).
    """
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:  # a file object: savez would append ".npz" to a name
            np.savez(fh, **arrays)

    atomic_write(path, write)


class _Archive:
    """An open ``.npz`` archive whose fields load without pickle and fail naming the file:
    an object array (which dlnsim never writes) or a header declaring an array too large to
    hold is a ``ValueError``, not numpy's invitation to unpickle or a ``MemoryError``."""

    def __init__(self, f, name: str, what: str):
        self._f, self._name, self._what = f, name, what
        self.files = f.files

    def __contains__(self, key) -> bool:
        return key in self._f.files

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._f[key]
        except ValueError as exc:
            why = ("holds an object array, which dlnsim never writes (it is not loaded)"
                   if "pickle" in str(exc) else f"is damaged ({exc})")
        except MemoryError:
            why = "declares an array too large to load (a damaged header?)"
        raise ValueError(f"{self._name} is not a valid {self._what}: field {key!r} {why}")


def read_npz(path: str | os.PathLike, what: str, reader):
    """``reader(archive, name)`` on the ``.npz`` file ``path`` (``allow_pickle=False``), with
    every failure a ``ValueError`` naming the file: missing, not an archive, pickled data, a
    missing field, a damaged archive.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str
        What it should hold, for messages (``"dlnsim trajectory"``).
    reader : callable
        ``reader(archive, name)``, checking every field.

    Returns
    -------
    object
        What ``reader`` returns.
    """
    name = os.fspath(path)
    try:
        f = np.load(name, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickle" in why:  # numpy's fallback for unknown files; dlnsim never unpickles
            why = "numpy would read it as pickled data, which dlnsim never loads"
        raise ValueError(f"{name} is not a {what} (not a readable .npz archive: "
                         f"{why})") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(f"{name} is not a {what}: it holds one array (.npy), not an .npz "
                         "archive")
    with f:
        try:
            return reader(_Archive(f, name, what), name)
        except KeyError as exc:
            field = str(exc.args[0]).split(" is not a file")[0] if exc.args else "?"
            raise ValueError(f"{name} is not a {what}: missing field {field!r}") from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"{name} is damaged: {exc}") from None
