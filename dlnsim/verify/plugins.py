"""Users' own claims: ``@claim`` functions in a file or module, or in an installed package
that names its claims module under the entry-point group ``dlnsim.claims``
(``[project.entry-points."dlnsim.claims"] mine = "mypkg.claims"`` in its pyproject.toml).

Loading imports the module, and each ``@claim`` in it registers in
:data:`dlnsim.verify.REGISTRY`; :func:`unload` takes them out again. A file that fails to
import, or registers an ID that exists elsewhere, raises :class:`ClaimLoadError` (a
``ValueError``) whose one-line message names the file and line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from contextlib import contextmanager

from dlnsim.verify import registry
from dlnsim.verify.registry import Claim, _raised_at, where

GROUP = "dlnsim.claims"
# claim ID -> the source (absolute file path or module name) that registered it: what worker
# processes load to run the user's claims
SOURCES: dict[str, str] = {}


class ClaimLoadError(ValueError):
    """A claims file, module or entry point that could not be loaded (one line)."""


@contextmanager
def _recording():
    record: list[Claim] = []
    registry._RECORDING.append(record)
    try:
        yield record
    finally:
        registry._RECORDING.remove(record)


def _is_path(source: str) -> bool:
    return source.endswith(".py") or os.sep in source or os.path.exists(source)


def _one_line(exc: BaseException, prefer: str) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{where(exc.filename, exc.lineno or 0)}: SyntaxError: {exc.msg}"
    at = _raised_at(exc, prefer)
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{at + ': ' if at else ''}{type(exc).__name__}: {msg}"


def load(source: str, label: str = "claims") -> list[Claim]:
    """Import the claims of ``source``, a ``.py`` file or an importable module name; return
    the claims it registered (in order). ``label`` names the source in error messages.

    Parameters
    ----------
    source : str
        A file path or a module name.
    label : str
        Names the source in error messages (``--claims``, an entry point).

    Returns
    -------
    list of Claim

    Raises
    ------
    ClaimLoadError
        One line naming the file and line: a missing file, an import error, a duplicate ID.
    """
    if not isinstance(source, str) or not source.strip():
        raise ClaimLoadError(f"{label} must be a file path or a module name, got {source!r}")
    with _recording() as record:
        if _is_path(source):
            path = os.path.abspath(source)
            if os.path.isdir(path):
                raise ClaimLoadError(f"{label} {source} is a folder: give a .py file of "
                                     "claims, or a module name")
            if not os.path.isfile(path):
                raise ClaimLoadError(f"{label} {source}: no such file")
            digest = hashlib.sha1(path.encode()).hexdigest()[:12]
            name = f"dlnsim_user_claims_{digest}"  # one name per file: loading twice reloads
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 (sys.exit at import, too)
                del sys.modules[name]
                unload(record)
                raise ClaimLoadError(f"{label} {source}: {_one_line(exc, path)}") from None
        else:
            try:
                if source in sys.modules:  # loaded before: run it again to register its claims
                    importlib.reload(sys.modules[source])
                else:
                    importlib.import_module(source)
            except ModuleNotFoundError as exc:
                unload(record)
                if exc.name and source.startswith(exc.name):
                    raise ClaimLoadError(f"{label} {source}: no such file or module") from None
                raise ClaimLoadError(f"{label} {source}: {_one_line(exc, '')}") from None
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 (sys.exit at import, too)
                unload(record)
                file = getattr(sys.modules.get(source), "__file__", "") or ""
                raise ClaimLoadError(f"{label} {source}: "
                                     f"{_one_line(exc, os.path.abspath(file))}") from None
    for c in record:
        SOURCES[c.id] = path if _is_path(source) else source
    return list(record)


def entry_point_sources() -> list[tuple[str, str]]:
    """``(name, module)`` of every installed entry point in the group ``dlnsim.claims``.

    Returns
    -------
    list of tuple of str
    """
    from importlib.metadata import entry_points

    return [(ep.name, ep.module) for ep in entry_points(group=GROUP)]


def load_entry_points() -> list[Claim]:
    """Load every installed package's claims (:func:`entry_point_sources`).

    Returns
    -------
    list of Claim
    """
    out: list[Claim] = []
    for name, module in entry_point_sources():
        out += load(module, label=f"entry point {name!r} ({GROUP})")
    return out


def unload(claims) -> None:
    """Remove these claims from the registry (what :func:`load` added).

    Parameters
    ----------
    claims : iterable of Claim
        As :func:`load` returned them.
    """
    for c in claims:
        if registry.REGISTRY.get(c.id) is c:
            del registry.REGISTRY[c.id]
            SOURCES.pop(c.id, None)


__all__ = ["GROUP", "ClaimLoadError", "entry_point_sources", "load", "load_entry_points",
           "unload"]
