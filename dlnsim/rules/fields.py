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
from dlnsim.curvature.spectral import DEFAULT_RCOND, check_spectral
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
            if not math.isinf(self.q):
                _check_curvature_scale(s)
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
        zero Jacobian gets zero velocity, whatever the other modes).

        Scaled by ``m = max_i |j_i|`` so that ``||j||^2`` never underflows where the velocity
        ``j ||j||^{-2/q}`` is representable (depth 20 at strengths 1e-12: ``||j||^2 ~ 1e-456``,
        the velocity ~ 1e228); where it is not, the field raises ``ArithmeticError`` (the run
        stops with status -1 and says so) instead of returning a zero velocity."""
        xp, j, u = s.xp, s.jacobian, d.params[0]
        q, eps = self.q, self.damping
        if self.block_diagonal:
            aj = xp.abs(j)
            # d^{-1/q} |j_i| (j_i^2 + eps)^{-1/q}, scaled like the full form below
            scale = j.shape[-1] ** (-1.0 / q) * _scaled_power(xp, aj, xp.ones_like(aj), q, eps)
            if d.cotangent is not None:  # u = y j exactly: scale y sign(j) instead of u
                out = d.cotangent[..., None] * xp.sign(j) * scale
            else:  # u (j_i^2 + eps)^{-1/q} d^{-1/q}; at j_i = 0 the damped (or cut) limit
                null = (j.shape[-1] * eps) ** (-1.0 / q) if eps > 0 else 0.0
                with np.errstate(over="ignore"):
                    out = u * xp.where(j != 0, scale / xp.where(j != 0, aj, xp.ones_like(aj)),
                                       null)
            return Direction((_representable(xp, out, s),))
        m = xp.max(xp.abs(j), axis=-1)
        safe = xp.where(m > 0, m, xp.ones_like(m))
        jh = j / safe[..., None]                      # max |jh| = 1 per mode (or all 0)
        nh2 = xp.sum(jh * jh, axis=-1)                # in [1, d] (or 0)
        g = _scaled_power(xp, m, nh2, q, eps)         # m (m^2 nh2 + eps)^{-1/q}
        if d.cotangent is not None:  # u = y j exactly (the range of J^T): y jh g
            c = d.cotangent
        else:  # the part of u along j, c jh with c = (u . j) / (m ||j||^2)
            c = xp.sum(u * jh, axis=-1) / (safe * xp.where(nh2 > 0, nh2, xp.ones_like(nh2)))
        out = (c * g)[..., None] * jh
        if eps > 0 and d.cotangent is None:  # the null part of u, damped
            along = (c * safe)[..., None] * jh
            out = out + eps ** (-1.0 / q) * (u - along)
        return Direction((_representable(xp, out, s),))


SMALLEST_CURVATURE = 1e-290  # below, Gauss-Newton eigenvalues are subnormal or 0 in float64


def _check_curvature_scale(s) -> None:
    """Refuse a network whose Gauss-Newton matrix float64 cannot hold: every layer non-zero
    but ``max_i prod_{k != i} ||w_k||_F^2`` (an upper bound of its largest eigenvalue, with
    ``||S||``) below :data:`SMALLEST_CURVATURE`, so that its eigenvalues underflow and the
    preconditioned velocity would silently be 0 (depth 21 at scale 1e-12)."""
    logs = []
    for w in s.weights:
        a = np.asarray(_host(w), dtype=float)
        top = np.abs(a).reshape(a.shape[0], -1).max(axis=1)
        safe = np.where(top > 0, top, 1.0)
        fro = top * np.sqrt(((a / safe[:, None, None]) ** 2).sum(axis=(1, 2)))
        with np.errstate(divide="ignore"):
            logs.append(np.log10(fro))
    logs = np.stack(logs, axis=1)                       # (members, depth)
    if logs.shape[1] < 2:
        return
    cov = 0.0  # log10 of an upper bound of ||S||_2: n max |S_ij|
    if getattr(s, "input_cov", None) is not None:
        c = np.asarray(_host(s.input_cov), dtype=float)
        cov = math.log10(max(float(np.abs(c).max()) * c.shape[-1], 1e-300))
    jac = 2 * (logs.sum(axis=1, keepdims=True) - logs).max(axis=1) + cov
    nonzero = np.all(np.isfinite(logs), axis=1)
    low = nonzero & (jac < math.log10(SMALLEST_CURVATURE))
    if low.any():
        b = int(np.argmax(low))
        raise ValueError(
            f"the Gauss-Newton matrix of this network underflows float64 (its largest "
            f"eigenvalue is at most 1e{jac[b]:.0f}"
            + (f", member {b}" if logs.shape[0] > 1 else "")
            + f"): the products of {logs.shape[1]} layers at these scales are not "
            f"representable, so q-NGD would not move; start from larger weights, or follow "
            f"the singular modes' map instead (dlnsim.modes.simulate_map)")


def _host(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


MAX_SPEED = 1e150  # a solver's error norm squares the velocity: above ~1e154 that overflows


def _scaled_power(xp, m, n2, q: float, eps: float):
    """``m (m^2 n2 + eps)^{-1/q}`` for ``m >= 0`` without forming ``m^2`` (which underflows
    for ``m < 1e-154``): ``m^{1-2/q} (n2 + eps / m^2)^{-1/q}``, and 0 where ``m = 0``."""
    if math.isinf(q):
        return m
    pos = m > 0
    safe = xp.where(pos, m, xp.ones_like(m))
    with np.errstate(over="ignore", divide="ignore"):
        rest = n2 + eps / (safe * safe) if eps > 0 else n2
        val = safe ** (1.0 - 2.0 / q) * xp.where(rest > 0, rest, xp.ones_like(rest)) ** (-1.0 / q)
    return xp.where(pos & (rest > 0), val, xp.zeros_like(val))


def _representable(xp, out, s):
    """Refuse a singular-mode velocity that float64 cannot represent, or a Jacobian that
    underflowed to 0 while no strength is 0, naming the scale (the run then stops with status
    -1 and this message)."""
    top = float(xp.max(xp.abs(out))) if math.prod(out.shape) else 0.0
    if not top <= MAX_SPEED:  # NaN too
        jmax = float(xp.max(xp.abs(s.jacobian)))
        why = (f"the Jacobian j_i (max |j_i| = {jmax:.3g}) is too small for ||j||^{{-2/q}}; "
               f"start from larger strengths, raise q, or follow the map instead "
               f"(modes.simulate_map)" if jmax < 1 else
               f"the strengths are too large (max |j_i| = {jmax:.3g}); start from smaller ones")
        raise ArithmeticError(
            f"the singular-mode velocity ({top:.3g}) is beyond what float64 and an ODE "
            f"solver's error norm can hold (|v| <= {MAX_SPEED:g}) at these strengths: {why}")
    zero = xp.all(s.jacobian == 0, axis=-1)  # a mode at a saddle (or underflowed)
    if bool(xp.any(zero)) and bool(xp.any(zero & xp.all(s.weights[0] != 0, axis=-1))):
        raise ArithmeticError(
            "the singular-mode Jacobian j_i = prod_{k != i} sigma_k underflows float64 at "
            "these strengths, so no mode could move; start from larger strengths or follow "
            "the map instead (modes.simulate_map)")
    return out


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
class LayerRates(Transform):
    """Per-layer learning rates: layer ``i``'s whole update scaled by ``rates[i]``, last in a
    chain (:func:`layer_rates`).

    Parameters
    ----------
    rates : tuple of float
        One positive rate per layer, input layer first.
    """

    rates: tuple
    stage = Stage.LAYER_RATES

    @property
    def name(self) -> str:
        return "layer_rates(" + ", ".join(f"{r:g}" for r in self.rates) + ")"

    def check(self, s) -> None:
        depth = s.weights[0].shape[-1] if s.is_modes else len(s.weights)
        if len(self.rates) != depth:
            raise ValueError(f"layer_rates has {len(self.rates)} rates for a network of depth "
                             f"{depth}")

    def apply(self, d: Direction, s) -> Direction:
        if s.is_modes:  # sigma (..., modes, d): layer i is the last axis' entry i
            p = d.params[0]
            rates = s.xp.asarray(self.rates, dtype=p.dtype, device=getattr(p, "device", None))
            return Direction((p * rates,))
        return Direction(tuple(r * p for r, p in zip(self.rates, d.params)))

    def dense(self, v, ctx):
        out = np.array(v, dtype=float)
        for r, sl in zip(self.rates, ctx.slices):
            out[sl] *= r
        return out


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


def layer_rates(rates) -> Rule:
    """Per-layer learning rates (Kunin et al. 2024, "Get rich quick"): layer ``i``'s update,
    everything the chain computed for it (decay included), scaled by ``rates[i]``. Under
    gradient flow it conserves ``w_i w_i^T / rates[i] - w_{i+1}^T w_{i+1} / rates[i+1]``
    instead of ``c_i`` (claim canon.layer_rates).

    Parameters
    ----------
    rates
        One positive rate per layer, input layer first.

    Returns
    -------
    Rule
    """
    try:
        values = tuple(V.positive(r, f"rates[{k}]") for k, r in enumerate(rates))
    except TypeError as exc:
        if "rates[" in str(exc):
            raise
        raise TypeError(f"rates must be a sequence of positive numbers, got {rates!r}") from None
    if not values:
        raise ValueError("rates must hold one rate per layer, got none")
    return Rule((LayerRates(tuple(float(r) for r in values)),))
