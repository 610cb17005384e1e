"""``dlnsim.verify``: one numerical check per claim of the catalogue.

Each check compares a simulation with an independent quantity (a sympy closed form, a
conserved quantity, a dense reference) and reports the error against a stated tolerance.
"""

from dlnsim.verify import function_space, gao, huh, scale, wen, zhang  # noqa: F401 (registers)
from dlnsim.verify.registry import REGISTRY, CheckResult, Outcome, claim, select, write_json


def run(only: str | None = None, quiet: bool = True) -> list[CheckResult]:
    """Run the claims matching the glob ``only``; a progress bar unless ``quiet``."""
    from tqdm.auto import tqdm

    claims = select(only)
    out = []
    with tqdm(claims, desc="verify", disable=True if quiet else None, leave=False) as bar:
        for c in bar:
            bar.set_postfix_str(c.id)
            out.append(c.run())
    return out


__all__ = ["REGISTRY", "CheckResult", "Outcome", "claim", "run", "select", "write_json"]
