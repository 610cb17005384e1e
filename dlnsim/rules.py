"""Update rules as chains of small transforms (in the manner of optax).

A rule starts from the loss gradient and applies its transforms in order; the velocity is minus
the result, ``dw/dt = -lr * (T_k o ... o T_1)(g)``. So

* ``chain(l2(lam), ngd(q=2))`` preconditions ``g + lam w`` (L2 regularisation, Zhang et al. eq 6);
* ``chain(ngd(q=2), weight_decay(lam))`` preconditions ``g`` and then adds ``lam w`` (decoupled
  weight decay, eq 7). The two coincide for gradient descent only.

Each transform passes on a :class:`Direction`: the per-layer arrays and, while it is known, a
map-space cotangent ``Y`` with ``params = J_R^T Y``. The gradient carries ``Y = Delta R``, which
lets the full q-NGD preconditioner use the exact map-space formula ``J_R^T K^{+1/q} Y``.

Transforms act on a :class:`Stack`: ``B`` networks with their tasks as arrays of one array-API
namespace (numpy, or torch on CPU/GPU). The math of each rule is written once, there;
:meth:`Rule.velocity` runs it on one numpy network, :mod:`dlnsim.backends.torch` on ensembles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace

from dlnsim import _validate as V
from dlnsim import curvature, krylov
from dlnsim.network import Network
from dlnsim.task import Task


@dataclass(frozen=True, eq=False)
class Stack:
    """``B`` networks and their tasks as stacked arrays of one namespace (numpy or torch).

    The vector field of a rule is written once, on stacks: the numpy front end
    (:meth:`Rule.velocity`) calls it with ``B = 1``, the torch backend with whole ensembles.

    Attributes
    ----------
    weights
        One array per layer, shape ``(B, n_{i+1}, n_i)``.
    target
        ``W*``, shape ``(B, n_d, n_0)`` or ``(1, n_d, n_0)`` (shared).
    input_cov, input_cov_sqrt
        ``S`` and ``S^{1/2}``, shape ``(B or 1, n_0, n_0)``; both None for whitened inputs.
    """

    weights: tuple
    target: Any
    input_cov: Any = None
    input_cov_sqrt: Any = None

    @classmethod
    def from_tasks(cls, tasks: Sequence[Task], asarray=np.asarray) -> Stack:
        """The tasks' arrays stacked by ``asarray`` (a backend's), without weights yet.

        Tasks that are all one object are stored once (leading dimension 1, shared).
        """
        if all(tk is tasks[0] for tk in tasks):
            tasks = tasks[:1]

        def stacked(get):
            return asarray(np.stack([get(tk) for tk in tasks]))

        if all(tk.is_whitened for tk in tasks):
            return cls((), stacked(lambda tk: tk.target))
        return cls((), stacked(lambda tk: tk.target), stacked(lambda tk: tk.input_cov),
                   stacked(lambda tk: tk.input_cov_sqrt))

    @classmethod
    def from_network(cls, net: Network, task: Task) -> Stack:
        """A stack of one (numpy)."""
        return replace(cls.from_tasks([task]), weights=tuple(w[None] for w in net.weights))

    def take(self, idx, weights: Sequence | None = None) -> Stack:
        """Members ``idx`` (an integer array of the stack's namespace); shared tasks stay.

        ``weights``, if given, are those members' new weights.
        """
        def rows(x):
            return x if x is None or x.shape[0] == 1 else x[idx]

        ws = tuple(w[idx] for w in self.weights) if weights is None else tuple(weights)
        return Stack(ws, rows(self.target), rows(self.input_cov), rows(self.input_cov_sqrt))

    @property
    def xp(self):
        return array_namespace(self.target, *self.weights)

    @property
    def is_whitened(self) -> bool:
        return self.input_cov is None

    @cached_property
    def parts(self) -> tuple[list, list]:
        """``W_{>i}`` and ``W_{<i}`` for every layer (:func:`curvature.partial_products`)."""
        return curvature.partial_products(self.weights)

    @cached_property
    def map(self):
        return self.weights[-1] @ self.parts[1][-1]

    def member(self, b: int) -> Network:
        """Member ``b`` as a numpy :class:`Network`."""
        return Network([np.asarray(w[b]) for w in self.weights])


@dataclass(frozen=True, eq=False)
class Direction:
    """An update direction: per-layer stacks and, optionally, ``Y`` with ``params = J_R^T Y``."""

    params: tuple
    cotangent: Any = None


@dataclass(frozen=True)
class Transform:
    """One step of a rule: ``apply(direction, stack) -> direction``, on stacks of any namespace."""

    name: str
    apply: Callable[[Direction, Stack], Direction]


@dataclass(frozen=True)
class Rule:
    """A chain of transforms applied in order to the loss gradient."""

    transforms: tuple[Transform, ...] = ()

    @property
    def name(self) -> str:
        return " -> ".join(t.name for t in self.transforms) or "gd"

    def direction(self, net: Network, task: Task) -> Direction:
        """The transformed gradient (the velocity is its negative), as numpy arrays."""
        if not isinstance(net, Network):
            raise TypeError(f"net must be a dlnsim.Network, got {type(net).__name__}")
        if not isinstance(task, Task):
            raise TypeError(f"task must be a dlnsim.Task, got {type(task).__name__}")
        if net.map.shape != task.target.shape:
            raise ValueError(
                f"task's target has shape {task.target.shape} but the network's map has shape "
                f"{net.map.shape}"
            )
        d = self.stack_direction(Stack.from_network(net, task))
        return Direction(tuple(p[0] for p in d.params),
                         None if d.cotangent is None else d.cotangent[0])

    def stack_direction(self, stack: Stack) -> Direction:
        """The transformed gradient on a stack (any namespace, any ensemble size)."""
        delta = stack.map - stack.target
        if stack.is_whitened:
            d = Direction(curvature.batched_vjp(stack.parts, delta), delta)
        else:
            d = Direction(curvature.batched_vjp(stack.parts, delta @ stack.input_cov),
                          delta @ stack.input_cov_sqrt)
        for t in self.transforms:
            d = t.apply(d, stack)
        return d

    def velocity(self, net: Network, task: Task) -> tuple[np.ndarray, ...]:
        """``dw/dt`` at unit learning rate: minus the transformed gradient, one array a layer."""
        return tuple(-p for p in self.direction(net, task).params)

    def stack_velocity(self, stack: Stack) -> tuple:
        """``dw/dt`` at unit learning rate for every member of a stack."""
        return tuple(-p for p in self.stack_direction(stack).params)

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
        ``n_d n_0 = DENSE_MAX``, Krylov above (dense where Krylov cannot apply or misses
        ``tol`` within ``maxiter``, so "auto" is always exact). Krylov runs
        on numpy only; on torch stacks ``"auto"`` stays dense above ``DENSE_MAX``.
    tol, maxiter
        Relative accuracy of the Krylov path and its CG iteration cap per shifted solve; with
        ``path="krylov"`` a miss raises :class:`dlnsim.krylov.NotConverged` (``simulate``
        stops with status -1).
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

    def apply(d: Direction, s: Stack) -> Direction:
        if block_diagonal:
            return Direction(curvature.batched_block_ngd_direction(
                s.parts, d.params, q, damping, rcond, s.input_cov))
        applies = d.cotangent is not None and s.is_whitened
        if path in ("balanced", "krylov") and not applies:
            raise ValueError(f"path={path!r} needs whitened inputs (S = I) and the plain "
                             "gradient (no transform before ngd)")
        on_numpy = is_numpy_namespace(s.xp)
        if path == "krylov" and not on_numpy:
            raise ValueError("path='krylov' runs on numpy arrays only; use 'dense' or "
                             "'balanced' with the torch backend")
        chosen = path
        if path == "auto":
            if applies and bool(s.xp.all(
                    curvature.batched_imbalance_ratio(s.weights) <= curvature.BALANCE_RTOL)):
                chosen = "balanced"
            elif applies and on_numpy and math.prod(s.target.shape[-2:]) > DENSE_MAX:
                chosen = "krylov"
            else:
                chosen = "dense"
        if chosen == "balanced":
            return Direction(curvature.batched_balanced_ngd_direction(
                s.parts, s.map, d.cotangent, q, damping, rcond))
        if chosen == "krylov":
            try:
                return Direction(_krylov_direction(s, d.cotangent, q, damping, rcond, tol,
                                                   maxiter))
            except (ValueError, krylov.NotConverged):
                # auto promises the exact direction: where Krylov refuses (singular balanced
                # estimate) or misses its tolerance (far from balance), use the dense kernel
                if path == "krylov":
                    raise
        if d.cotangent is not None:
            return Direction(curvature.batched_ngd_direction(
                s.parts, q, damping, rcond, s.input_cov_sqrt, cotangent=d.cotangent))
        return Direction(curvature.batched_ngd_direction(
            s.parts, q, damping, rcond, s.input_cov_sqrt, params=d.params))

    return Rule((Transform(label, apply),))


def _krylov_direction(s: Stack, cotangent, q, damping, rcond, tol, maxiter) -> tuple:
    """The Krylov path member by member (numpy stacks only)."""
    out = []
    for b in range(cotangent.shape[0]):
        net = s.member(b)
        y, _ = krylov.inverse_power(net, cotangent[b], q, damping, tol, maxiter, rcond)
        out.append(curvature.vjp(net, y))
    return tuple(np.stack([o[i] for o in out]) for i in range(len(s.weights)))


def _add_weights(lam, name: str) -> Rule:
    lam = V.nonnegative(lam, name)

    def apply(d: Direction, s: Stack) -> Direction:
        if lam == 0:
            return d
        return Direction(tuple(p + lam * w for p, w in zip(d.params, s.weights)))

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

    def apply(d: Direction, s: Stack) -> Direction:
        xp = s.xp
        speed = xp.sqrt(sum(xp.sum(p * p, axis=(-2, -1)) for p in d.params))  # per member
        scale = xp.where(speed > c, c / xp.where(speed > c, speed, xp.ones_like(speed)),
                         xp.ones_like(speed))[:, None, None]
        y = None if d.cotangent is None else scale * d.cotangent
        return replace(d, params=tuple(scale * p for p in d.params), cotangent=y)

    return Rule((Transform(f"clip({c:g})", apply),))
