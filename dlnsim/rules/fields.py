"""The continuous-time rules: gd, q-NGD (full or block-diagonal), l2, weight_decay, clip, and
:class:`Map`, a stateless transform of the user's own.

Each acts on a full-matrix :class:`~dlnsim.rules.core.Stack` and on a singular-mode
:class:`~dlnsim.rules.core.ModeStack`; l2, weight_decay and clip are the same formula on both
(they act parameter-wise), q-NGD has a map-space form and a singular-mode form (Huh 2020,
eqs 12, 20, 21).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlnsim import _validate as V
from dlnsim.curvature import batched, paths
from dlnsim.curvature.dense import dense_power
from dlnsim.curvature.paths import DENSE_MAX
from dlnsim.curvature.spectral import DEFAULT_RCOND, check_spectral, inverse_power
from dlnsim.rules.core import Rule, Stage, Transform
from dlnsim.rules.stack import Direction


def gd() -> Rule:
    """Gradient descent: the empty chain (Huh 2020, eq 4).

    Returns
    -------
    Rule
    """
    return Rule()


@dataclass(frozen=True, eq=False)
class NGD(Transform):
    """The fractional natural-gradient preconditioner ``H^{+1/q}`` (:func:`ngd`).

    Parameters
    ----------
    q, damping, rcond, block_diagonal, path, tol, maxiter
        As for :func:`ngd`, which checks them.
    """

    q: float
    damping: float = 0.0
    rcond: float = DEFAULT_RCOND
    block_diagonal: bool = False
    path: str = "auto"
    tol: float = 1e-10
    maxiter: int = 200
    stage = Stage.PRECONDITION

    @property
    def name(self) -> str:
        return ("ngd-d" if self.block_diagonal else "ngd") + f"(q={self.q:g}" + (
            f", damping={self.damping:g})" if self.damping else ")")

    def check(self, s) -> None:
        if not s.is_modes:
            paths.check_path(self.path, len(s.weights))
        if self.path == "balanced" and not s.is_modes:
            if not s.is_whitened:
                raise ValueError("path='balanced' needs whitened inputs (S = I) and the plain "
                                 "gradient (no transform before ngd)")
            paths.check_balanced(s.weights, s.xp, paths.BALANCED_PATH_RTOL)

    def dense(self, v, ctx):
        # the slow, obvious route: eigh of the dense P x P Gauss-Newton matrix, or of its exact
        # diagonal blocks with d^{-1/q} for NGD-d (eqs 9, 19)
        if not self.block_diagonal:
            return dense_power(ctx.h, v, self.q, self.damping, self.rcond)
        out = np.empty_like(v)
        scale = ctx.depth ** (-1.0 / self.q)
        for sl in ctx.slices:
            out[sl] = scale * dense_power(ctx.h[sl, sl], v[sl], self.q, self.damping,
                                          self.rcond)
        return out

    def decomposition_size(self, widths) -> int:
        # the dense map-space kernel is (n_d n_0) x (n_d n_0); auto takes it at depth > 2 up
        # to DENSE_MAX (above, Krylov works on widths; balanced and depth-2 paths on widths)
        kernel = widths[0] * widths[-1]
        if self.block_diagonal or self.path in ("balanced", "krylov", "depth2"):
            return max(widths)
        if self.path == "auto" and (len(widths) == 3 or kernel > DENSE_MAX):
            return max(widths)
        return max(kernel, max(widths))

    def apply(self, d: Direction, s) -> Direction:
        if s.is_modes:
            return self._modes(d, s)
        q, damping, rcond = self.q, self.damping, self.rcond
        if self.block_diagonal:
            return Direction(batched.block_ngd_direction(s.parts, d.params, q, damping, rcond,
                                                         s.input_cov))
        return Direction(paths.direction(s, q, damping, rcond, self.path,
                                         cotangent=d.cotangent, params=d.params, tol=self.tol,
                                         maxiter=self.maxiter,
                                         balanced_rtol=paths.BALANCED_RUN_RTOL))

    def _modes(self, d: Direction, s) -> Direction:
        """Singular-mode form (Huh 2020, eqs 12, 20, 21). Per mode the Gauss-Newton matrix is
        ``j j^T`` (full) or ``diag(j_i^2)`` (blocks), applied exactly (cutoff 0: a mode with a
        zero Jacobian gets zero velocity, whatever the other modes)."""
        xp, j, u = s.xp, s.jacobian, d.params[0]
        q, eps = self.q, self.damping
        if self.block_diagonal:
            scale = j.shape[-1] ** (-1.0 / q) * inverse_power(j * j, q, eps, rcond=0.0)
            return Direction((u * scale,))
        nj2 = xp.sum(j * j, axis=-1)
        power = inverse_power(nj2, q, eps, rcond=0.0)[..., None]
        if d.cotangent is not None:  # u = y j exactly (the range of J^T): scale it
            return Direction((u * power,))
        # split u into its part along j (the range of J^T in this mode) and the rest (null)
        c = xp.sum(u * j, axis=-1) / xp.where(nj2 > 0, nj2, xp.ones_like(nj2))
        along = c[..., None] * j
        out = along * power
        if eps > 0:
            out = out + eps ** (-1.0 / q) * (u - along)
        return Direction((out,))


def ngd(q: float, damping: float = 0.0, rcond: float = DEFAULT_RCOND,
        block_diagonal: bool = False, path: str = "auto", tol: float = 1e-10,
        maxiter: int = 200) -> Rule:
    """Fractional natural gradient ``H^{+1/q}`` (q = 1 NGD, 2 sqrt-NGD, inf GD; Huh 2020, eq 12).

    Parameters
    ----------
    q
        Order of the correction, ``q >= 1``; ``math.inf`` is gradient descent. Always given
        (the keyword shorthand :func:`preset` has the one default, ``DEFAULT_Q``).
    damping
        Levenberg-Marquardt ``eps``: use ``(H + eps I)^{-1/q}``; 0 means the pseudo-inverse.
    rcond
        Relative eigenvalue cutoff of the pseudo-inverse (:mod:`dlnsim.curvature.spectral`).
    block_diagonal
        Use the exact diagonal blocks ``H_i`` and the factor ``d^{-1/q}`` (NGD-d, eqs 19-21).
    path
        How the full direction is computed: ``"dense"`` diagonalises the (n_d n_0)-square
        map-space kernel, O((n_d n_0)^3); ``"depth2"`` (depth 2 only; any widths, ``S``,
        imbalance and damping) diagonalises the same kernel exactly through ``n_2`` blocks of
        size ``n_0``, O(n^4), or two ``n x n`` eigendecompositions for ``S = I``
        (:func:`dlnsim.curvature.batched.depth2_kernel_eigh`); ``"balanced"`` uses one SVD of
        the map, O(n^3), exact for balanced networks (all ``c_i = 0``) with whitened inputs;
        others are refused (imbalance ratio above 1e-8, :class:`NotBalanced`); ``"krylov"`` is
        matrix-free (:func:`dlnsim.curvature.krylov.inverse_power`, relative accuracy ``tol``;
        whitened inputs, gradient input, damping or a full-rank map); ``"auto"`` takes the
        depth-2 path at depth 2; at other depths the balanced path whenever it is exact
        (``c_i`` within ``BALANCE_RTOL`` = 1e-10 of zero, ``S = I``, gradient input), dense up
        to ``n_d n_0 = DENSE_MAX`` (1024), Krylov above (dense where Krylov cannot apply or
        misses ``tol`` within ``maxiter``, so "auto" is always exact). Krylov runs on numpy
        only; on torch stacks ``"auto"`` stays dense above ``DENSE_MAX`` (depth 2 excepted).
    tol, maxiter
        Relative accuracy of the Krylov path and its CG iteration cap per shifted solve; with
        ``path="krylov"`` a miss raises :class:`dlnsim.curvature.krylov.NotConverged`
        (``simulate`` stops with status -1).

    Returns
    -------
    Rule
        A chain of one transform; :func:`gd` for ``q = inf``.

    Raises
    ------
    ValueError, TypeError
        ``q < 1``, a negative damping, ``rcond`` outside ``[0, 1)``, an unknown path.
    """
    q, damping, rcond = check_spectral(q, damping, rcond)
    if not isinstance(block_diagonal, bool):
        raise TypeError(f"block_diagonal must be a bool, got {type(block_diagonal).__name__}")
    paths.check_path(path)
    tol = V.positive(tol, "tol")
    maxiter = V.positive_int(maxiter, "maxiter")
    if math.isinf(q):
        return gd()
    return Rule((NGD(q, damping, rcond, block_diagonal, path, tol, maxiter),))


@dataclass(frozen=True, eq=False)
class _AddWeights(Transform):
    """``direction + lam * w``: the one formula of L2 and of decoupled weight decay, which
    differ only in where they act (their ``stage``)."""

    lam: float
    label = ""

    @property
    def name(self) -> str:
        return f"{self.label}({self.lam:g})"

    def apply(self, d: Direction, s) -> Direction:
        if self.lam == 0:
            return d
        return Direction(tuple(p + self.lam * w for p, w in zip(d.params, s.weights)))

    def dense(self, v, ctx):
        return v + self.lam * ctx.theta


@dataclass(frozen=True, eq=False)
class L2(_AddWeights):
    """L2 regularisation, before the preconditioner (:func:`l2`; Zhang et al. eq 6).

    Parameters
    ----------
    lam : float
        The coefficient, ``>= 0``.
    """

    label = "l2"
    stage = Stage.REGULARIZE


@dataclass(frozen=True, eq=False)
class WeightDecay(_AddWeights):
    """Decoupled weight decay, after the preconditioner (:func:`weight_decay`; eq 7).

    Parameters
    ----------
    lam : float
        The coefficient, ``>= 0``.
    """

    label = "weight_decay"
    stage = Stage.DECAY


@dataclass(frozen=True, eq=False)
class Clip(Transform):
    """Update-speed clipping of the preconditioned direction (:func:`clip`).

    Parameters
    ----------
    max_speed : float
        The largest speed, ``> 0``.
    """

    max_speed: float
    stage = Stage.RESCALE

    @property
    def name(self) -> str:
        return f"clip({self.max_speed:g})"

    def apply(self, d: Direction, s) -> Direction:
        xp, c = s.xp, self.max_speed
        speed = xp.sqrt(sum(xp.sum(p * p, axis=(-2, -1), keepdims=True) for p in d.params))
        over = speed > c
        scale = xp.where(over, c / xp.where(over, speed, xp.ones_like(speed)),
                         xp.ones_like(speed))
        y = d.cotangent
        if y is not None:
            y = y * (scale[..., 0] if y.ndim < scale.ndim else scale)
        return Direction(tuple(scale * p for p in d.params), y)

    def dense(self, v, ctx):
        speed = float(np.linalg.norm(v))
        return v * (self.max_speed / speed if speed > self.max_speed else 1.0)


@dataclass(frozen=True, eq=False)
class Map(Transform):
    """A stateless transform of the user's own, given by a function
    ``(direction, stack) -> direction`` (the core rules are typed transforms: ``NGD``,
    ``L2``, ``WeightDecay``, ``Clip``). It has no dense form; to be judged by
    :func:`dlnsim.testing.dense_velocity`, subclass :class:`Transform` with ``apply`` and
    ``dense``.

    Parameters
    ----------
    name
        Shown in the rule's name.
    stage
        Where it acts in a chain (:class:`Stage`).
    fn
        ``(direction, stack) -> direction``.
    """

    name: str = field()  # field(): no default (the base class's attributes are not defaults)
    stage: Stage = field()
    fn: Callable[[Direction, Any], Direction] = field()

    def apply(self, d: Direction, stack) -> Direction:
        """``fn(d, stack)``.

        Parameters
        ----------
        d : Direction
            The direction so far.
        stack : Stack or ModeStack
            The members it belongs to.

        Returns
        -------
        Direction
        """
        return self.fn(d, stack)


def l2(lam: float) -> Rule:
    """L2 regularisation: ``lam * w`` added to the gradient *before* any preconditioner (Zhang
    et al. 2019, eq 6), wherever it is written in a chain.

    Parameters
    ----------
    lam
        The coefficient, ``>= 0``.

    Returns
    -------
    Rule
    """
    return Rule((L2(V.nonnegative(lam, "l2")),))


def weight_decay(lam: float) -> Rule:
    """Decoupled weight decay: ``lam * w`` added *after* the preconditioner (Zhang et al. 2019,
    eq 7), wherever it is written in a chain. With it every rule whose preconditioned gradient
    conserves ``c_i`` gives ``c_i(t) = exp(-2 lr lam t) c_i(0)`` (claim wd.imbalance_decay).

    Parameters
    ----------
    lam
        The coefficient, ``>= 0``.

    Returns
    -------
    Rule
    """
    return Rule((WeightDecay(V.nonnegative(lam, "weight_decay")),))


def clip(max_speed: float) -> Rule:
    """Update-speed clipping: rescale the preconditioned direction to norm at most
    ``max_speed`` per member, before weight decay (Huh 2020, section 6, clips NGD and NGD-d).

    The norm is ``sqrt(sum_i ||u_i||_F^2)`` over all layers (all modes and layers for singular
    modes); the direction is kept, so every conservation law of the clipped rule still holds.

    Parameters
    ----------
    max_speed
        The largest speed, ``> 0``.

    Returns
    -------
    Rule
    """
    return Rule((Clip(V.positive(max_speed, "max_speed")),))
