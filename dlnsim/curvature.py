"""Exact Gauss-Newton curvature of a deep linear network, computed in map space.

With ``R = S^{1/2}`` the Jacobian of the (input-weighted) map is
``J_R(dw) = sum_i W_{>i} dw_i W_{<i} R`` and the Gauss-Newton matrix (Huh's Hessian_+) is
``H = J_R^T J_R`` (P x P). Because ``f(J^T J) J^T = J^T f(J J^T)`` for any spectral function f,
every fractional power is computed through the map-space kernel

    K = J_R J_R^T,   K(X) = sum_i W_{>i} W_{>i}^T X R W_{<i}^T W_{<i} R,

an operator on ``n_d x n_0`` matrices (DESIGN.md). The P x P matrix is built only by
:func:`gauss_newton`, the dense reference.

One copy of the math, any array library
---------------------------------------
The ``batched_*`` functions hold the math. They take stacks of arrays with any leading
(ensemble) dimensions, of any array-API namespace (numpy or torch, CPU or GPU; found with
``array_api_compat.array_namespace``), and use only broadcasting, ``matmul``, ``reshape`` and
``linalg.eigh``/``svd``. The :class:`~dlnsim.network.Network`-based functions (``jvp``,
``ngd_direction``, ``block_ngd_direction``, ...) validate their input and call them on numpy
arrays; the torch backend (:mod:`dlnsim.backends.torch`) calls them on tensors.

Spectral conventions
--------------------
``q`` in ``[1, inf]``; the preconditioner is ``f(H)`` with ``f(l) = (l + eps)^{-1/q}`` when damped
(``eps > 0``, Levenberg-Marquardt) and the Moore-Penrose fractional pseudo-inverse
``f(l) = l^{-1/q}`` for ``l > rcond * l_max``, else 0, when ``eps = 0``. ``q = inf`` is the
identity (gradient descent), not the projection onto the range.

``rcond`` defaults to :data:`DEFAULT_RCOND` = 1e-12: a float64 symmetric eigensolver returns
eigenvalues with absolute error about ``n * 2.2e-16 * l_max`` (~1e-13 ``l_max`` for n ~ 1000),
so smaller eigenvalues cannot be told apart from the exact zeros of the null-space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from dlnsim import _validate as V
from dlnsim.network import Network

DEFAULT_RCOND = 1e-12

Params = tuple[np.ndarray, ...]


def _cov(net: Network, input_cov) -> np.ndarray:
    n0 = net.widths[0]
    if input_cov is None:
        return np.eye(n0)
    return V.spd(input_cov, "input_cov", n0)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    evals, evecs = np.linalg.eigh(a)
    return (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T


def _check_params(net: Network, params: Sequence, name: str) -> Params:
    if len(params) != net.depth:
        raise ValueError(f"{name} must hold {net.depth} arrays (one per layer), got {len(params)}")
    for i, (p, w) in enumerate(zip(params, net.weights)):
        if np.shape(p) != w.shape:
            raise ValueError(f"{name}[{i}] must have shape {w.shape}, got {np.shape(p)}")
    return tuple(np.asarray(p, dtype=np.float64) for p in params)


# -- the math on stacks of arrays (any namespace, any leading dimensions) --------------------
def _mT(x):
    return array_namespace(x).matrix_transpose(x)


def _eye_like(x, n: int):
    xp = array_namespace(x)
    return xp.eye(n, dtype=x.dtype, device=_device(x))


def partial_products(weights: Sequence) -> tuple[list, list]:
    """``(above, below)``: ``W_{>i}`` and ``W_{<i}`` for every layer, on stacks ``(..., n, m)``.

    Empty products are identities (without leading dimensions; matmul broadcasts them).
    """
    d = len(weights)
    below = [_eye_like(weights[0], weights[0].shape[-1])]
    for i in range(1, d):
        below.append(weights[i - 1] @ below[-1])
    above = [_eye_like(weights[-1], weights[-1].shape[-2])]
    for i in range(d - 2, -1, -1):
        above.append(above[-1] @ weights[i + 1])
    return above[::-1], below


def batched_jvp(parts: tuple[list, list], tangents: Sequence):
    """``sum_i W_{>i} dw_i W_{<i}`` on stacks (:func:`jvp`)."""
    above, below = parts
    return sum(a @ t @ b for a, b, t in zip(above, below, tangents))


def batched_vjp(parts: tuple[list, list], cotangent) -> tuple:
    """``(W_{>i}^T Y W_{<i}^T)_i`` on stacks (:func:`vjp`)."""
    above, below = parts
    return tuple(_mT(a) @ cotangent @ _mT(b) for a, b in zip(above, below))


def batched_kernel_factors(parts: tuple[list, list], r=None) -> tuple[list, list]:
    """``L_i = W_{>i} W_{>i}^T`` and ``M_i = R W_{<i}^T W_{<i} R`` of ``K(X) = sum_i L_i X M_i``,
    on stacks; ``r = S^{1/2}`` or None (S = I)."""
    above, below = parts
    left = [a @ _mT(a) for a in above]
    right = [_mT(b) @ b if r is None else r @ _mT(b) @ b @ r for b in below]
    return left, right


def _kron_sum(left: Sequence, right: Sequence):
    """``sum_i L_i kron M_i`` on stacks by broadcasting (row-major ``vec``; ``M_i`` symmetric)."""
    xp = array_namespace(*left, *right)
    out = None
    for l, m in zip(left, right):
        kron = l[..., :, None, :, None] * m[..., None, :, None, :]
        n = l.shape[-1] * m.shape[-1]
        kron = xp.reshape(kron, kron.shape[:-4] + (n, n))
        out = kron if out is None else out + kron
    return out


def _dense_kernel(parts: tuple[list, list], r=None):
    """The dense map-space kernel ``K`` on stacks, symmetrised against round-off."""
    k = _kron_sum(*batched_kernel_factors(parts, r))
    return 0.5 * (k + _mT(k))


def _max_last(x, keepdims: bool = True):
    xp = array_namespace(x)
    if x.shape[-1] == 0:
        return xp.zeros(x.shape[:-1] + ((1,) if keepdims else ()), dtype=x.dtype,
                        device=_device(x))
    return xp.max(x, axis=-1, keepdims=keepdims)


def _rotate(evecs, coef_fn, y):
    """``E diag(.) E^T vec(Y)`` reshaped back: ``coef_fn`` maps ``E^T vec(Y)`` to new coefs."""
    xp = array_namespace(evecs, y)
    shape = y.shape
    vec = xp.reshape(y, shape[:-2] + (shape[-2] * shape[-1], 1))
    coef = coef_fn((_mT(evecs) @ vec)[..., 0])
    return xp.reshape(evecs @ coef[..., None], coef.shape[:-1] + shape[-2:])


def batched_ngd_direction(parts: tuple[list, list], q: float, damping: float = 0.0,
                          rcond: float = DEFAULT_RCOND, r=None, cotangent=None,
                          params: Sequence | None = None) -> tuple:
    """``H^{+1/q} u`` in map space on stacks (:func:`ngd_direction`; Huh 2020, eq 9 generalised).

    Give ``cotangent`` (``u = J_R^T Y``) for the exact form ``J_R^T K^{+1/q} Y``, or ``params``
    (``u`` itself) for the split into range and null-space parts. ``r = S^{1/2}`` or None.
    """
    xp = array_namespace(*parts[0], *parts[1])
    evals, evecs = xp.linalg.eigh(_dense_kernel(parts, r))
    f = inverse_power(evals, q, damping, rcond, lam_max=_max_last(evals))

    def back(x):  # J_R^T X = J^T (X R)
        return batched_vjp(parts, x if r is None else x @ r)

    if cotangent is not None:
        return back(_rotate(evecs, lambda c: f * c, cotangent))
    # Least-squares map-space representative y = K^+ J_R u of u's range part.
    jr_u = batched_jvp(parts, params)
    jr_u = jr_u if r is None else jr_u @ r
    pinv = inverse_power(evals, 1.0, 0.0, rcond, lam_max=_max_last(evals))
    out = back(_rotate(evecs, lambda c: f * pinv * c, jr_u))
    if damping > 0:
        range_part = back(_rotate(evecs, lambda c: pinv * c, jr_u))
        null_scale = damping ** (-1.0 / q)
        out = tuple(o + null_scale * (ui - ri) for o, ui, ri in zip(out, params, range_part))
    return out


def batched_block_ngd_direction(parts: tuple[list, list], params: Sequence, q: float,
                                damping: float = 0.0, rcond: float = DEFAULT_RCOND,
                                cov=None) -> tuple:
    """Block-diagonal q-NGD-d on stacks: ``d^{-1/q} H_i^{+1/q} u_i`` (Huh 2020, eqs 19-21)."""
    scale = len(params) ** (-1.0 / q)
    return tuple(scale * kron_inverse_power(a, b, u, q, damping, rcond)
                 for (a, b), u in zip(batched_block_factors(parts, cov), params))


def batched_block_factors(parts: tuple[list, list], cov=None) -> list[tuple]:
    """``(A_i, B_i) = (W_{<i} S W_{<i}^T, W_{>i}^T W_{>i})`` on stacks; ``cov`` None is S = I."""
    above, below = parts
    return [(b @ _mT(b) if cov is None else b @ cov @ _mT(b), _mT(a) @ a)
            for a, b in zip(above, below)]


def batched_imbalance_ratio(weights: Sequence):
    """``max_i ||c_i||_F / sum_j ||w_j||_F^2`` per stack member (0 for depth 1)."""
    xp = array_namespace(*weights)
    scale = sum(xp.sum(w * w, axis=(-2, -1)) for w in weights)
    worst = xp.zeros_like(scale)
    for w0, w1 in zip(weights[:-1], weights[1:]):
        c = w0 @ _mT(w0) - _mT(w1) @ w1
        worst = xp.maximum(worst, xp.sqrt(xp.sum(c * c, axis=(-2, -1))))
    return worst / xp.where(scale > 0, scale, xp.ones_like(scale))


def batched_balanced_svd(w, d: int):
    """``U``, ``V`` and the eigenvalues of ``K`` in that basis, on stacks (:func:`balanced_svd`)."""
    xp = array_namespace(w)
    u, s, vt = xp.linalg.svd(w, full_matrices=True)
    # Singular values at round-off level are exact zeros of a rank-deficient map; left as
    # ~1e-17 they would turn into ~1e-9 under the small fractional powers s^{2/d}.
    cut = max(w.shape[-2:]) * float(np.finfo(np.float64).eps) * _max_last(s)
    s = xp.where(s > cut, s, xp.zeros_like(s))

    def pad(n):
        extra = xp.zeros(s.shape[:-1] + (n - s.shape[-1],), dtype=s.dtype, device=_device(s))
        return xp.concat([s, extra], axis=-1)

    return u, _mT(vt), balanced_kernel_eigenvalues(pad(w.shape[-2]), pad(w.shape[-1]), d)


def batched_balanced_ngd_direction(parts: tuple[list, list], w, cotangent, q: float,
                                   damping: float = 0.0, rcond: float = DEFAULT_RCOND) -> tuple:
    """``J^T K^{+1/q} Y`` for balanced networks with ``S = I`` on stacks
    (:func:`balanced_ngd_direction`)."""
    u, v, lam = batched_balanced_svd(w, len(parts[0]))
    top = _max_last(_max_last(lam, keepdims=False))[..., None]
    f = inverse_power(lam, q, damping, rcond, lam_max=top)
    return batched_vjp(parts, u @ (f * (_mT(u) @ cotangent @ v)) @ _mT(v))


# -- Jacobian products ------------------------------------------------------------------------
def jvp(net: Network, tangents: Sequence[np.ndarray]) -> np.ndarray:
    """Jacobian-vector product ``dW = sum_i W_{>i} dw_i W_{<i}`` (shape ``(n_d, n_0)``)."""
    tangents = _check_params(net, tangents, "tangents")
    return batched_jvp(_parts(net), tangents)


def vjp(net: Network, cotangent: np.ndarray) -> Params:
    """Vector-Jacobian product ``(W_{>i}^T Y W_{<i}^T)_i`` for a map-space ``Y``."""
    y = np.asarray(cotangent, dtype=np.float64)
    if y.shape != net.map.shape:
        raise ValueError(f"cotangent must have the map's shape {net.map.shape}, got {y.shape}")
    return batched_vjp(_parts(net), y)


def _parts(net: Network) -> tuple[list, list]:
    return ([net.above(i) for i in range(net.depth)], [net.below(i) for i in range(net.depth)])


def gradient(net: Network, target: np.ndarray, input_cov=None) -> Params:
    """Loss gradient ``g_i = W_{>i}^T (W - W*) S W_{<i}^T`` (DESIGN.md conventions)."""
    cov = _cov(net, input_cov)
    return vjp(net, (net.map - target) @ cov)


# -- spectral functions -----------------------------------------------------------------------
def inverse_power(evals, q: float, damping: float = 0.0, rcond: float = DEFAULT_RCOND,
                  lam_max=None):
    """``f(l) = (l + eps)^{-1/q}``, or the pseudo-inverse ``l^{-1/q}`` (0 below the cutoff).

    ``lam_max`` is the largest eigenvalue of the whole operator (default ``max(evals)``; an
    array broadcasting against ``evals`` gives one per stack member); the pseudo-inverse drops
    ``l <= rcond * lam_max``. ``q = inf`` gives ones (identity). Any array namespace.
    """
    xp = array_namespace(evals)
    if math.isinf(q):
        return xp.ones_like(evals)
    lam = xp.clip(evals, min=0.0)  # round-off can make null eigenvalues slightly negative
    if damping > 0:
        return (lam + damping) ** (-1.0 / q)
    if rcond == 0 or math.prod(lam.shape) == 0:
        cut = 0.0
    else:
        cut = rcond * (xp.max(lam) if lam_max is None else lam_max)
    keep = lam > cut
    safe = xp.where(keep, lam, xp.ones_like(lam))
    return xp.where(keep, safe ** (-1.0 / q), xp.zeros_like(lam))


def _check_spectral(q, damping, rcond) -> tuple[float, float, float]:
    q = V.order_q(q)
    damping = V.nonnegative(damping, "damping")
    rcond = V.nonnegative(rcond, "rcond")
    if rcond >= 1:
        raise ValueError(f"rcond must be < 1, got {rcond}")
    return q, damping, rcond


# -- the map-space kernel K -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MapKernel:
    """``K(X) = sum_i L_i X M_i`` with ``L_i = W_{>i} W_{>i}^T``, ``M_i = R W_{<i}^T W_{<i} R``.

    ``K = J_R J_R^T`` shares its nonzero spectrum with the Gauss-Newton matrix ``H``.
    """

    left: tuple[np.ndarray, ...]
    right: tuple[np.ndarray, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the matrices it acts on, ``(n_d, n_0)``."""
        return (self.left[0].shape[0], self.right[0].shape[0])

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``K(X)`` for one ``(n_d, n_0)`` matrix, O(d n^3)."""
        return sum(l @ x @ m for l, m in zip(self.left, self.right))

    def dense(self) -> np.ndarray:
        """``K`` as an ``(n_d n_0) x (n_d n_0)`` matrix acting on row-major ``vec(X)``."""
        return _kron_sum(self.left, self.right)

    @cached_property
    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigen-decomposition of the dense kernel, O((n_d n_0)^3), cached."""
        k = self.dense()
        return np.linalg.eigh(0.5 * (k + k.T))

    def inverse_power(self, x: np.ndarray, q: float, damping: float = 0.0,
                      rcond: float = DEFAULT_RCOND) -> np.ndarray:
        """``K^{+1/q} X`` (pseudo-inverse) or ``(K + eps I)^{-1/q} X`` (damped)."""
        q, damping, rcond = _check_spectral(q, damping, rcond)
        x = np.asarray(x, dtype=np.float64).reshape(self.shape)
        if math.isinf(q):
            return x.copy()
        evals, evecs = self.eigh
        f = inverse_power(evals, q, damping, rcond)
        return _rotate(evecs, lambda c: f * c, x)


def map_kernel(net: Network, input_cov=None) -> MapKernel:
    """The map-space kernel ``K = J_R J_R^T`` of ``net`` under input covariance ``S``."""
    left, right = batched_kernel_factors(_parts(net), _sqrt_psd(_cov(net, input_cov)))
    return MapKernel(tuple(left), tuple(right))


def jvp_r(net: Network, tangents: Sequence[np.ndarray], input_cov=None) -> np.ndarray:
    """``J_R(dw) = J(dw) R``."""
    return jvp(net, tangents) @ _sqrt_psd(_cov(net, input_cov))


def vjp_r(net: Network, cotangent: np.ndarray, input_cov=None) -> Params:
    """``J_R^T(Y) = J^T(Y R)``."""
    return vjp(net, np.asarray(cotangent) @ _sqrt_psd(_cov(net, input_cov)))


def ngd_direction(net: Network, params: Sequence[np.ndarray], input_cov=None, q: float = 1.0,
                  damping: float = 0.0, rcond: float = DEFAULT_RCOND,
                  cotangent: np.ndarray | None = None) -> Params:
    """``H^{+1/q} u`` (or ``(H + eps I)^{-1/q} u``) for the full Gauss-Newton matrix, in map space.

    Parameters
    ----------
    params
        The vector ``u`` as per-layer arrays.
    cotangent
        Optional map-space ``Y`` with ``u = J_R^T Y`` exactly (the loss gradient has
        ``Y = Delta R``). Then ``H^{+1/q} u = J_R^T K^{+1/q} Y`` (Huh 2020, eq 9 generalised),
        which needs no projection. Without it ``u`` is split into its part in the range of
        ``J_R^T``, ``J_R^T K^+ J_R u``, which is treated the same way, and its null-space part,
        which the pseudo-inverse removes and damping scales by ``eps^{-1/q}``. That split costs
        accuracy: about ``eps_mach * cond(K)^{1.5}`` relative without damping, against about
        ``eps_mach * cond(K)`` for the cotangent form.
    """
    q, damping, rcond = _check_spectral(q, damping, rcond)
    u = _check_params(net, params, "params")
    if math.isinf(q):
        return u
    r = _sqrt_psd(_cov(net, input_cov))
    if cotangent is not None:
        y = np.asarray(cotangent, dtype=np.float64)
        if y.shape != net.map.shape:
            raise ValueError(f"cotangent must have shape {net.map.shape}, got {y.shape}")
        return batched_ngd_direction(_parts(net), q, damping, rcond, r, cotangent=y)
    return batched_ngd_direction(_parts(net), q, damping, rcond, r, params=u)


# -- the balanced path: K diagonal in the SVD basis of the map -------------------------------
BALANCE_RTOL = 1e-10


def is_balanced(net: Network, rtol: float = BALANCE_RTOL) -> bool:
    """Whether every ``||c_i||_F <= rtol * sum_j ||w_j||_F^2`` (all layers balanced)."""
    return bool(batched_imbalance_ratio(net.weights) <= rtol)


def balanced_kernel_eigenvalues(s_out, s_in, d: int):
    """Eigenvalues of ``K`` for a balanced network with ``S = I``, on ``u_a v_b^T``.

    With ``W = U diag(s) V^T``, balance gives ``W_{>i} W_{>i}^T = (W W^T)^{(d-1-i)/d}`` and
    ``W_{<i}^T W_{<i} = (W^T W)^{i/d}`` (0-based ``i``), so
    ``lambda_ab = sum_{i=0}^{d-1} s_a^{2(d-1-i)/d} s_b^{2i/d}`` with ``0^0 = 1``; ``s_out`` and
    ``s_in`` are the singular values padded with zeros to ``n_d`` and ``n_0`` (any leading
    dimensions).
    """
    return sum(s_out[..., :, None] ** (2.0 * (d - 1 - i) / d)
               * s_in[..., None, :] ** (2.0 * i / d) for i in range(d))


def balanced_svd(w: np.ndarray, d: int):
    """``U`` (n_d x n_d), ``V`` (n_0 x n_0) and the eigenvalues of ``K`` in that basis."""
    return batched_balanced_svd(np.asarray(w, dtype=np.float64), d)


def balanced_ngd_direction(net: Network, cotangent: np.ndarray, q: float = 1.0,
                           damping: float = 0.0, rcond: float = DEFAULT_RCOND) -> Params:
    """``J^T K^{+1/q} Y`` for a balanced network with whitened inputs, in O(d n^3).

    One SVD of the map diagonalises ``K`` (:func:`balanced_kernel_eigenvalues`); the caller
    must ensure balance (:func:`is_balanced`) and ``S = I``. Exact up to the imbalance.
    """
    q, damping, rcond = _check_spectral(q, damping, rcond)
    y = np.asarray(cotangent, dtype=np.float64)
    if y.shape != net.map.shape:
        raise ValueError(f"cotangent must have the map's shape {net.map.shape}, got {y.shape}")
    if math.isinf(q):
        return vjp(net, y)
    return batched_balanced_ngd_direction(_parts(net), net.map, y, q, damping, rcond)


# -- exact diagonal blocks --------------------------------------------------------------------
def block_factors(net: Network, input_cov=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Kronecker factors of the exact diagonal blocks ``H_i = A_i kron B_i``.

    ``A_i = W_{<i} S W_{<i}^T`` (``n_i x n_i``) and ``B_i = W_{>i}^T W_{>i}``
    (``n_{i+1} x n_{i+1}``), so that ``H_i vec(dw_i) = vec(B_i dw_i A_i)`` (column-major vec).
    """
    return batched_block_factors(_parts(net), _cov(net, input_cov))


def kron_inverse_power(a, b, g, q: float, damping: float = 0.0, rcond: float = DEFAULT_RCOND):
    """``(A kron B)^{+1/q} vec(G)`` or ``(A kron B + eps I)^{-1/q} vec(G)``, exactly, O(n^3).

    Rotates ``G`` into the joint eigenbasis of the factors, scales entry ``(l, k)`` by
    ``f(b_l a_k)`` and rotates back. For ``eps = 0`` this equals ``B^{+1/q} G A^{+1/q}`` up to the
    cutoff, which applies to the products ``b_l a_k`` relative to ``max(b) max(a)``. Any array
    namespace and leading (stack) dimensions.
    """
    q, damping, rcond = _check_spectral(q, damping, rcond)
    xp = array_namespace(a, b, g)
    if math.isinf(q):
        return g + xp.zeros_like(g)
    ea, ua = xp.linalg.eigh(0.5 * (a + _mT(a)))
    eb, ub = xp.linalg.eigh(0.5 * (b + _mT(b)))
    ea, eb = xp.clip(ea, min=0.0), xp.clip(eb, min=0.0)
    prod = eb[..., :, None] * ea[..., None, :]
    top = (_max_last(eb) * _max_last(ea))[..., None]
    scale = inverse_power(prod, q, damping, rcond, lam_max=top)
    return ub @ (scale * (_mT(ub) @ g @ ua)) @ _mT(ua)


def block_ngd_direction(net: Network, params: Sequence[np.ndarray], input_cov=None,
                        q: float = 1.0, damping: float = 0.0,
                        rcond: float = DEFAULT_RCOND) -> Params:
    """Block-diagonal q-NGD-d: ``d^{-1/q} H_i^{+1/q} u_i`` per layer (Huh 2020, eqs 19-21)."""
    q, damping, rcond = _check_spectral(q, damping, rcond)
    u = _check_params(net, params, "params")
    if math.isinf(q):
        return u
    return batched_block_ngd_direction(_parts(net), u, q, damping, rcond,
                                       _cov(net, input_cov))


# -- dense references and norms ---------------------------------------------------------------
def jacobian_matrix(net: Network, input_cov=None) -> np.ndarray:
    """Dense ``J_R`` as an ``(n_d n_0) x P`` matrix (row-major vec on both sides)."""
    r = _sqrt_psd(_cov(net, input_cov))
    return np.hstack([np.kron(net.above(i), (net.below(i) @ r).T) for i in range(net.depth)])


def gauss_newton(net: Network, input_cov=None) -> np.ndarray:
    """The dense P x P Gauss-Newton matrix ``H = J_R^T J_R``: a reference, O(P^2) memory.

    Parameters are ordered as :meth:`Network.flat` (layers input first, row-major).
    """
    j = jacobian_matrix(net, input_cov)
    return j.T @ j


def gn_norm_sq(net: Network, input_cov=None) -> float:
    """Gauss-Newton norm ``theta^T G theta = ||J_R(theta)||_F^2`` (Zhang et al. 2019, Lemma 2).

    For a linear network ``J(theta) = d W`` (Lemma 1), so this is ``d^2 Tr(W S W^T)``; it is
    computed here from the Jacobian product, not from that identity.
    """
    return float(np.sum(jvp_r(net, net.weights, input_cov) ** 2))


def kfac_gn_norm_sq(net: Network, input_cov=None) -> float:
    """K-FAC Gauss-Newton norm ``sum_i vec(w_i)^T (A_i kron B_i) vec(w_i)`` (Zhang et al., eq 12).

    Uses the exact diagonal blocks; equals ``d Tr(W S W^T)`` for a linear network.
    """
    return float(sum(np.sum((b @ w) * (w @ a))
                     for (a, b), w in zip(block_factors(net, input_cov), net.weights)))
