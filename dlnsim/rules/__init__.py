"""Update rules: one protocol (:mod:`dlnsim.rules.core`), chains of small transforms.

Continuous-time fields (:mod:`dlnsim.rules.fields`): :func:`gd`, :func:`ngd` (q-NGD, damping,
block-diagonal NGD-d, paths), :func:`l2`, :func:`weight_decay`, :func:`clip`,
:func:`layer_rates`; their keyword
shorthand :func:`preset` and its inverse :func:`parts` (:mod:`dlnsim.rules.presets`). Discrete-time
optimisers of the papers (:mod:`dlnsim.optim`): :func:`kfac`, :func:`tkfac`, :func:`hcgd`,
:func:`noisy_sgd`, :func:`minibatch_sgd`. All compose with :func:`chain`, in stage order
(l2 before the preconditioner, clip and decoupled weight decay after it, wherever written).

A new rule is one file defining a :class:`Transform` (its ``stage``, and ``apply`` or
``init``/``update``) and a constructor returning ``Rule((transform,))``, registered here (core
rules imported above, the papers' optimisers in ``_PAPERS``).
"""


from dlnsim.curvature.paths import DENSE_MAX, PATHS, NotBalanced
from dlnsim.rules.core import NeedsDiscreteTime, Optimiser, Rule, Stage, Transform, chain
from dlnsim.rules.fields import (  # noqa: F401 (the typed transforms: see __all__ below)
    L2,
    NGD,
    Clip,
    LayerRates,
    Map,
    WeightDecay,
    clip,
    gd,
    l2,
    layer_rates,
    ngd,
    weight_decay,
)
from dlnsim.rules.presets import DEFAULT_Q, RuleParts, parts, preset
from dlnsim.rules.stack import Context, Direction, ModeStack, Stack

# The papers' optimisers live in dlnsim.optim (above this package: they are built on its
# protocol); their constructors are served here on first use.
_PAPERS = {"kfac": "kfac", "tkfac": "kfac", "hcgd": "hcgd", "noisy_sgd": "noise",
           "minibatch_sgd": "noise"}


def __getattr__(name: str):
    if name in _PAPERS:
        from importlib import import_module

        return getattr(import_module(f"dlnsim.optim.{_PAPERS[name]}"), name)
    raise AttributeError(f"module 'dlnsim.rules' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_PAPERS))


# The typed transforms (NGD, L2, WeightDecay, Clip) are served here for isinstance checks and
# documented with their constructors (ngd, l2, weight_decay, clip) in dlnsim.rules.fields.
__all__ = ["DEFAULT_Q", "DENSE_MAX", "PATHS", "Context", "Direction", "Map", "ModeStack",
           "NeedsDiscreteTime", "NotBalanced", "Optimiser", "Rule", "RuleParts", "Stack",
           "Stage", "Transform", "chain", "clip", "gd", "hcgd", "kfac", "l2", "layer_rates",
           "minibatch_sgd",
           "ngd", "noisy_sgd", "parts", "preset", "tkfac", "weight_decay"]
