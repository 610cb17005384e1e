"""Update rules as chains of small transforms (in the manner of optax).

A rule starts from the loss gradient and applies its transforms in order; the velocity is minus
the result, ``dw/dt = -lr * (T_k o ... o T_1)(g)``. So

* ``chain(l2(lam), ngd(q=2))`` preconditions ``g + lam w`` (L2 regularisation, Zhang et al. eq 6);
* ``chain(ngd(q=2), weight_decay(lam))`` preconditions ``g`` and then adds ``lam w`` (decoupled
  weight decay, eq 7). The two coincide for gradient descent only.

Each transform passes on a :class:`Direction`: the per-layer arrays and, while it is known, a
map-space cotangent ``Y`` with ``params = J_R^T Y``. The gradient carries ``Y = Delta R``, which
lets the full q-NGD preconditioner use the exact map-space formula ``J_R^T K^{+1/q} Y``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from dlnsim import _validate as V
from dlnsim import curvature, krylov
from dlnsim.network import Network
from dlnsim.task import Task


@dataclass(frozen=True, eq=False)
class Direction:
    """An update direction: per-layer arrays and, optionally, ``Y`` with ``params = J_R^T Y``."""

    params: tuple[np.ndarray, ...]
    cotangent: np.ndarray | None = None


@dataclass(frozen=True)
class Transform:
    """One step of a rule: ``apply(direction, net, task) -> direction``."""

    name: str
    apply: Callable[[Direction, Network, Task], Direction]


@dataclass(frozen=True)
class Rule:
    """A chain of transforms applied in order to the loss gradient."""

    transforms: tuple[Transform, ...] = ()

    @property
    def name(self) -> str:
        return " -> ".join(t.name for t in self.transforms) or "gd"

    def direction(self, net: Network, task: Task) -> Direction:
        """The transformed gradient (the velocity is its negative)."""
        if not isinstance(net, Network):
            raise TypeError(f"net must be a dlnsim.Network, got {type(net).__name__}")
        if not isinstance(task, Task):
            raise TypeError(f"task must be a dlnsim.Task, got {type(task).__name__}")
        if net.map.shape != task.target.shape:
            raise ValueError(
                f"task's target has shape {task.target.shape} but the network's map has shape "
                f"{net.map.shape}"
            )
        delta = task.residual(net.map)
        d = Direction(curvature.vjp(net, delta @ task.input_cov), delta @ task.input_cov_sqrt)
        for t in self.transforms:
            d = t.apply(d, net, task)
        return d

    def velocity(self, net: Network, task: Task) -> tuple[np.ndarray, ...]:
        """``dw/dt`` at unit learning rate: minus the transformed gradient, one array a layer."""
        return tuple(-p for p in self.direction(net, task).params)

    def __str__(self) -> str:
        return self.name


def chain(*rules: Rule) -> Rule:
    """Compose rules left to right: ``chain(a, b)`` applies ``a``'s transforms, then ``b``'s."""
    for i, r in enumerate(rules):
        if not isinstance(r, Rule):
            raise TypeError(f"chain argument {i} must be a Rule, got {type(r).__name__}")
    return Rule(tuple(t for r in rules for t in r.transforms))


def gd() -> Rule:
    """Gradient descent: the empty chain (Huh 2020, eq 4)."""
    return Rule()


PATHS = ("auto", "dense", "balanced", "krylov")
DENSE_MAX = 1024  # auto: largest n_d * n_0 for the dense map-space kernel (n = 32 when square)


def ngd(q: float = 1.0, damping: float = 0.0, rcond: float = curvature.DEFAULT_RCOND,
        block_diagonal: bool = False, path: str = "auto", tol: float = 1e-10,
        maxiter: int = 200) -> Rule:
    """Fractional natural gradient ``H^{+1/q}`` (q = 1 NGD, 2 sqrt-NGD, inf GD; Huh 2020, eq 12).

    Parameters
    ----------
    q
        Order of the correction, ``q >= 1``; ``math.inf`` is gradient descent.
    damping
        Levenberg-Marquardt ``eps``: use ``(H + eps I)^{-1/q}``; 0 means the pseudo-inverse.
    rcond
        Relative eigenvalue cutoff of the pseudo-inverse (see :mod:`dlnsim.curvature`).
    block_diagonal
        Use the exact diagonal blocks ``H_i`` and the factor ``d^{-1/q}`` (NGD-d, eqs 19-21).
    path
        How the full direction is computed: ``"dense"`` diagonalises the (n_d n_0)-square
        map-space kernel, O((n_d n_0)^3); ``"balanced"`` uses one SVD of the map, O(n^3), exact
        for balanced networks (all ``c_i = 0``) with whitened inputs and an error for others;
        ``"krylov"`` is matrix-free (:func:`dlnsim.krylov.inverse_power`, relative accuracy
        ``tol``; whitened inputs, gradient input, damping or a full-rank map); ``"auto"`` takes
        the balanced path whenever it is exact (``c_i`` within
        :data:`curvature.BALANCE_RTOL` of zero, ``S = I``, gradient input), dense up to
        ``n_d n_0 = DENSE_MAX``, Krylov above (dense where Krylov cannot apply).
    tol, maxiter
        Relative accuracy of the Krylov path and its CG iteration cap per shifted solve; a
        miss raises :class:`dlnsim.krylov.NotConverged` (``simulate`` stops with status -1).
    """
    q = V.order_q(q)
    damping = V.nonnegative(damping, "damping")
    rcond = V.nonnegative(rcond, "rcond")
    if rcond >= 1:
        raise ValueError(f"rcond must be < 1, got {rcond}")
    if not isinstance(block_diagonal, bool):
        raise TypeError(f"block_diagonal must be a bool, got {type(block_diagonal).__name__}")
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    tol = V.positive(tol, "tol")
    if isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
    if math.isinf(q):
        return gd()
    label = ("ngd-d" if block_diagonal else "ngd") + f"(q={q:g}" + (
        f", damping={damping:g})" if damping else ")")

    def apply(d: Direction, net: Network, task: Task) -> Direction:
        if block_diagonal:
            return Direction(curvature.block_ngd_direction(
                net, d.params, task.input_cov, q, damping, rcond))
        applies = d.cotangent is not None and task.is_whitened
        if path in ("balanced", "krylov") and not applies:
            raise ValueError(f"path={path!r} needs whitened inputs (S = I) and the plain "
                             "gradient (no transform before ngd)")
        chosen = path
        if path == "auto":
            if applies and curvature.is_balanced(net):
                chosen = "balanced"
            elif applies and net.map.size > DENSE_MAX:
                chosen = "krylov"
            else:
                chosen = "dense"
        if chosen == "balanced":
            return Direction(curvature.balanced_ngd_direction(net, d.cotangent, q, damping,
                                                              rcond))
        if chosen == "krylov":
            try:
                y, _ = krylov.inverse_power(net, d.cotangent, q, damping, tol, maxiter, rcond)
                return Direction(curvature.vjp(net, y))
            except ValueError:
                if path == "krylov":
                    raise
        return Direction(curvature.ngd_direction(
            net, d.params, task.input_cov, q, damping, rcond, cotangent=d.cotangent))

    return Rule((Transform(label, apply),))


def _add_weights(lam, name: str) -> Rule:
    lam = V.nonnegative(lam, name)

    def apply(d: Direction, net: Network, task: Task) -> Direction:
        if lam == 0:
            return d
        return Direction(tuple(p + lam * w for p, w in zip(d.params, net.weights)))

    return Rule((Transform(f"{name}({lam:g})", apply),))


def l2(lam: float) -> Rule:
    """L2 regularisation: add ``lam * w`` to the gradient *before* preconditioning (eq 6).

    Place it before the preconditioner in a chain: ``chain(l2(lam), ngd(q))``.
    """
    return _add_weights(lam, "l2")


def weight_decay(lam: float) -> Rule:
    """Decoupled weight decay: add ``lam * w`` *after* preconditioning (Zhang et al., eq 7).

    Place it after the preconditioner: ``chain(ngd(q), weight_decay(lam))``. With it every rule
    whose preconditioned gradient conserves ``c_i`` gives ``c_i(t) = exp(-2 lr lam t) c_i(0)``.
    """
    return _add_weights(lam, "weight_decay")


def clip(max_speed: float) -> Rule:
    """Update-speed clipping: rescale the direction to norm at most ``max_speed``.

    The norm is ``sqrt(sum_i ||u_i||_F^2)`` over all layers; the direction is kept, so every
    conservation law of the clipped rule still holds. Huh (2020, section 6) clips NGD and NGD-d.
    """
    c = V.positive(max_speed, "max_speed")

    def apply(d: Direction, net: Network, task: Task) -> Direction:
        speed = math.sqrt(sum(float(np.vdot(p, p)) for p in d.params))
        if speed <= c:
            return d
        s = c / speed
        y = None if d.cotangent is None else s * d.cotangent
        return replace(d, params=tuple(s * p for p in d.params), cotangent=y)

    return Rule((Transform(f"clip({c:g})", apply),))
