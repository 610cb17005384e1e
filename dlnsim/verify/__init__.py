"""``dlnsim.verify``: one numerical check per claim of the catalogue, and the user's own.

Your own claim: ``@claim(id, source, statement, tolerance)`` on a function returning
``Outcome(error, details="", holds=True)``, in a file run by ``dlnsim verify --claims FILE``
(or :func:`load`), or in a package registering its module under the entry-point group
``dlnsim.claims``.

Each check compares a simulation with an independent quantity (a sympy closed form, a
conserved quantity, a dense reference) and reports the error against a stated tolerance.
"""

from dlnsim.solve.status import Results
from dlnsim.verify import (  # noqa: F401 (importing registers the checks)
    canon,
    function_space,
    gao,
    huh_modes,
    huh_networks,
    scale,
    wen,
    zhang,
)
from dlnsim.verify.plugins import (
    ClaimLoadError,
    entry_point_sources,
    load,
    load_entry_points,
    unload,
)
from dlnsim.verify.registry import REGISTRY, CheckResult, Outcome, claim, select, write_json
from dlnsim.verify.runner import run

__all__ = ["REGISTRY", "CheckResult", "ClaimLoadError", "Outcome", "Results", "claim",
           "entry_point_sources", "load", "load_entry_points", "run", "select", "unload",
           "write_json"]
