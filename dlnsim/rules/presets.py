"""The keyword shorthand for the core rules and its inverse: :func:`preset` builds
``ngd(q, damping, block_diagonal)`` with ``l2``, ``clip`` and ``weight_decay`` from keywords,
:func:`parts` reads a rule back into those keywords. The command line, sweep specs,
:mod:`dlnsim.modes`, phase portraits and phase planes all go through these two, so they agree
on what a keyword means and on the default order :data:`DEFAULT_Q`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlnsim import _validate as V
from dlnsim.rules import fields as F
from dlnsim.rules.core import Rule, chain

# The curvature order of every keyword shorthand when none is given: sqrt-NGD, the rule whose
# map dynamics separate signal from noise (Huh 2020, section 6). rules.ngd itself takes q
# explicitly.
DEFAULT_Q = 2.0


@dataclass(frozen=True)
class RuleParts:
    """What a chain of the core rules is made of, as :func:`preset`'s keywords.

    Parameters
    ----------
    q : float
        The preconditioner's order (``inf``: none, gradient descent).
    block_diagonal : bool
        NGD-d.
    damping : float
        Levenberg-Marquardt ``eps``.
    l2, weight_decay : float
        Their coefficients (0: absent).
    clip : float or None
        The largest speed (None: no clipping).
    unknown : tuple of str
        The names of transforms that are not core rules (the user's own, the papers'
        optimisers).
    """

    q: float = math.inf
    block_diagonal: bool = False
    damping: float = 0.0
    l2: float = 0.0
    weight_decay: float = 0.0
    clip: float | None = None
    unknown: tuple[str, ...] = ()


def preset(q: float = DEFAULT_Q, *, damping: float = 0.0, block_diagonal: bool = False,
           l2: float = 0.0, clip: float | None = None, weight_decay: float = 0.0) -> Rule:
    """The rule the keywords name: ``chain(l2(l2), ngd(q, damping, block_diagonal),
    clip(clip), weight_decay(weight_decay))``, each term left out where it does nothing
    (a zero coefficient, no clip, ``q = inf`` without damping: plain GD).

    Parameters
    ----------
    q : float
        Curvature order, ``>= 1`` (``inf``: gradient descent); default :data:`DEFAULT_Q`.
    damping : float
        Levenberg-Marquardt ``eps >= 0``.
    block_diagonal : bool
        NGD-d (Huh 2020, eqs 19-21) instead of full q-NGD.
    l2 : float
        L2 coefficient ``>= 0`` (before the preconditioner, Zhang et al. eq 6).
    clip : float, optional
        Largest update speed ``> 0`` (``inf`` or None: no clipping).
    weight_decay : float
        Decoupled decay ``>= 0`` (after the preconditioner, eq 7).

    Returns
    -------
    Rule
    """
    terms = [F.ngd(q, damping=damping, block_diagonal=block_diagonal)]
    if V.nonnegative(l2, "l2"):
        terms.append(F.l2(l2))
    if clip is not None and not (isinstance(clip, (int, float)) and math.isinf(clip)):
        terms.append(F.clip(clip))
    if V.nonnegative(weight_decay, "weight_decay"):
        terms.append(F.weight_decay(weight_decay))
    return chain(*terms)


def parts(rule: Rule) -> RuleParts:
    """Read a rule back into :func:`preset`'s keywords (``preset(**fields)`` rebuilds a rule
    of core transforms with the same velocity).

    Parameters
    ----------
    rule : Rule

    Returns
    -------
    RuleParts
    """
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a dlnsim.rules.Rule, got {type(rule).__name__}")
    kw: dict = {"unknown": ()}
    for t in rule.transforms:
        if isinstance(t, F.NGD):
            kw.update(q=t.q, block_diagonal=t.block_diagonal, damping=t.damping)
        elif isinstance(t, (F.L2, F.WeightDecay)):
            kw[t.label] = kw.get(t.label, 0.0) + t.lam
        elif isinstance(t, F.Clip):
            kw["clip"] = t.max_speed
        else:
            kw["unknown"] = kw["unknown"] + (t.name,)
    return RuleParts(**kw)


__all__ = ["DEFAULT_Q", "RuleParts", "parts", "preset"]
