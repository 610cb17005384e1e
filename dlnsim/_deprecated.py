"""Deprecated names of dlnsim 0.1 (before the rules and solve redesign), kept as aliases.

``dlnsim.kfac``, ``dlnsim.hcgd``, ``dlnsim.noise`` and ``dlnsim.krylov`` were modules of the
flat layout; their contents now live in :mod:`dlnsim.optim`, :mod:`dlnsim.quadratic` and
:mod:`dlnsim.curvature.krylov`. The old optimiser objects (``KFAC(KFACConfig(...))``,
``HCGD(...)``, ``CovarianceNoiseSGD(...)``, ``MinibatchSGD(...)``) ran through
``integrate.optimize``; :func:`as_rule` turns each into the equivalent rule and learning rate.
Every use warns with ``DeprecationWarning``.
"""

from __future__ import annotations

import types
import warnings
from dataclasses import dataclass

from dlnsim import _validate as V
from dlnsim import quadratic, rules
from dlnsim.curvature import krylov
from dlnsim.optim import hcgd, kfac, noise


@dataclass(frozen=True)
class KFACConfig:
    """Old K-FAC settings; now ``chain(l2(l2), kfac(...) or tkfac(...), weight_decay(wd))``."""

    lr: float = 0.1
    damping: float = 1e-3
    ema: float = 0.0
    inverse_interval: int = 1
    weight_decay: float = 0.0
    l2: float = 0.0
    curvature: str = "exact_gn"
    trace_restricted: bool = False

    def __post_init__(self):
        V.positive(self.lr, "lr")
        kfac._checked(self.damping, self.ema, self.inverse_interval, self.curvature, 0)
        V.nonnegative(self.weight_decay, "weight_decay")
        V.nonnegative(self.l2, "l2")


@dataclass(frozen=True)
class KFAC:
    config: KFACConfig


@dataclass(frozen=True)
class HCGD:
    lr: float
    inner_lr: float
    lam: float
    corrections: int = 1
    momentum: float = 0.0
    val_batch: int = 64


@dataclass(frozen=True)
class CovarianceNoiseSGD:
    lr: float
    kind: str = "sqrt_diag_fisher"
    scale: float = 1.0


@dataclass(frozen=True)
class MinibatchSGD:
    lr: float
    batch: int = 4


def as_rule(opt, seed: int = 0) -> tuple[rules.Rule, float]:
    """The rule and learning rate equivalent to an old optimiser object."""
    seed = V.seed(seed)
    if isinstance(opt, KFAC):
        c = opt.config
        make = kfac.tkfac if c.trace_restricted else kfac.kfac
        pre = make(c.damping, c.ema, c.inverse_interval, c.curvature, seed)
        return rules.chain(rules.l2(c.l2), pre, rules.weight_decay(c.weight_decay)), c.lr
    if isinstance(opt, HCGD):
        return hcgd.hcgd(opt.inner_lr, opt.lam, opt.corrections, opt.momentum, opt.val_batch,
                         seed), opt.lr
    if isinstance(opt, CovarianceNoiseSGD):
        return noise.noisy_sgd(opt.kind, opt.scale, seed), opt.lr
    if isinstance(opt, MinibatchSGD):
        return noise.minibatch_sgd(opt.batch, seed), opt.lr
    if isinstance(opt, rules.Rule):
        return opt, 1.0
    raise TypeError(f"optimizer must be a rule or an old dlnsim optimiser object, got "
                    f"{type(opt).__name__}")


_OLD_CLASSES = {"kfac": {"KFAC": KFAC, "KFACConfig": KFACConfig},
                "hcgd": {"HCGD": HCGD},
                "noise": {"CovarianceNoiseSGD": CovarianceNoiseSGD,
                          "MinibatchSGD": MinibatchSGD}}
_SOURCES = {"kfac": (kfac,), "hcgd": (hcgd,), "noise": (noise, quadratic), "krylov": (krylov,)}
_NEW_HOME = {"kfac": "dlnsim.optim.kfac", "hcgd": "dlnsim.optim.hcgd",
             "noise": "dlnsim.optim.noise and dlnsim.quadratic",
             "krylov": "dlnsim.curvature.krylov"}
_CACHE: dict[str, types.ModuleType] = {}


def legacy_module(name: str) -> types.ModuleType:
    """``dlnsim.<name>`` of the old flat layout, assembled from its new homes (with a warning)."""
    warnings.warn(f"dlnsim.{name} is deprecated: use {_NEW_HOME[name]} (and dlnsim.rules for "
                  "the optimisers)", DeprecationWarning, stacklevel=3)
    if name not in _CACHE:
        mod = types.ModuleType(f"dlnsim.{name}", f"Deprecated alias of {_NEW_HOME[name]}.")
        for src in _SOURCES[name]:
            for key, value in vars(src).items():
                if not key.startswith("__"):
                    setattr(mod, key, value)
        for key, value in _OLD_CLASSES.get(name, {}).items():
            setattr(mod, key, value)
        _CACHE[name] = mod
    return _CACHE[name]
