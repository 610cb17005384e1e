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


def run(only: str | None = None, quiet: bool = True, builtin: bool = True) -> Results:
    """Run the registered claims matching the glob ``only`` (the catalogue's unless
    ``builtin`` is False, and any of the user's); a progress bar unless ``quiet``. Ctrl-C stops
    after the claims finished so far, which are returned (``Results.interrupted``).

    Parameters
    ----------
    only : str, optional
        A glob over claim IDs (all when None).
    quiet : bool
        Hide the progress bar.
    builtin : bool
        Include the catalogue's claims.

    Returns
    -------
    Results
        One :class:`CheckResult` per claim, in order.
    """
    from tqdm.auto import tqdm

    from dlnsim.solve import reraise_interrupts

    claims = select(only, builtin)
    out = Results()
    out.total = len(claims)
    with tqdm(claims, desc="verify", disable=True if quiet else None, leave=False) as bar, \
            reraise_interrupts():
        try:
            for c in bar:
                bar.set_postfix_str(c.id)
                out.append(c.run())
        except KeyboardInterrupt:
            out.interrupted = True
    return out


__all__ = ["REGISTRY", "CheckResult", "ClaimLoadError", "Outcome", "Results", "claim",
           "entry_point_sources", "load", "load_entry_points", "run", "select", "unload",
           "write_json"]
