"""Exact Gauss-Newton curvature of a deep linear network, computed in map space.

With ``R = S^{1/2}`` the Jacobian of the (input-weighted) map is
``J_R(dw) = sum_i W_{>i} dw_i W_{<i} R`` and the Gauss-Newton matrix (Huh's Hessian_+) is
``H = J_R^T J_R`` (P x P). Because ``f(J^T J) J^T = J^T f(J J^T)`` for any spectral function f,
every fractional power is computed through the map-space kernel

    K = J_R J_R^T,   K(X) = sum_i W_{>i} W_{>i}^T X R W_{<i}^T W_{<i} R,

an operator on ``n_d x n_0`` matrices (DESIGN.md). The P x P matrix is built only by
:func:`gauss_newton`, the dense reference.

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


# -- Jacobian products ------------------------------------------------------------------------
def jvp(net: Network, tangents: Sequence[np.ndarray]) -> np.ndarray:
    """Jacobian-vector product ``dW = sum_i W_{>i} dw_i W_{<i}`` (shape ``(n_d, n_0)``)."""
    tangents = _check_params(net, tangents, "tangents")
    return sum(net.above(i) @ t @ net.below(i) for i, t in enumerate(tangents))


def vjp(net: Network, cotangent: np.ndarray) -> Params:
    """Vector-Jacobian product ``(W_{>i}^T Y W_{<i}^T)_i`` for a map-space ``Y``."""
    y = np.asarray(cotangent, dtype=np.float64)
    if y.shape != net.map.shape:
        raise ValueError(f"cotangent must have the map's shape {net.map.shape}, got {y.shape}")
    return tuple(net.above(i).T @ y @ net.below(i).T for i in range(net.depth))


def gradient(net: Network, target: np.ndarray, input_cov=None) -> Params:
    """Loss gradient ``g_i = W_{>i}^T (W - W*) S W_{<i}^T`` (DESIGN.md conventions)."""
    cov = _cov(net, input_cov)
    return vjp(net, (net.map - target) @ cov)


# -- spectral functions -----------------------------------------------------------------------
def inverse_power(evals: np.ndarray, q: float, damping: float = 0.0,
                  rcond: float = DEFAULT_RCOND, lam_max: float | None = None) -> np.ndarray:
    """``f(l) = (l + eps)^{-1/q}``, or the pseudo-inverse ``l^{-1/q}`` (0 below the cutoff).

    ``lam_max`` is the largest eigenvalue of the whole operator (default ``max(evals)``); the
    pseudo-inverse drops ``l <= rcond * lam_max``. ``q = inf`` gives ones (identity).
    """
    if math.isinf(q):
        return np.ones_like(evals)
    lam = np.clip(evals, 0.0, None)  # round-off can make null eigenvalues slightly negative
    if damping > 0:
        return (lam + damping) ** (-1.0 / q)
    top = float(lam.max(initial=0.0)) if lam_max is None else lam_max
    keep = lam > rcond * top
    out = np.zeros_like(lam)
    out[keep] = lam[keep] ** (-1.0 / q)
    return out


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
        return sum(np.kron(l, m) for l, m in zip(self.left, self.right))  # M_i symmetric

    @cached_property
    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigen-decomposition of the dense kernel, O((n_d n_0)^3), cached."""
        k = self.dense()
        return np.linalg.eigh(0.5 * (k + k.T))

    def inverse_power(self, x: np.ndarray, q: float, damping: float = 0.0,
                      rcond: float = DEFAULT_RCOND) -> np.ndarray:
        """``K^{+1/q} X`` (pseudo-inverse) or ``(K + eps I)^{-1/q} X`` (damped)."""
        q, damping, rcond = _check_spectral(q, damping, rcond)
        if math.isinf(q):
            return np.array(x, dtype=np.float64)
        evals, evecs = self.eigh
        coef = evecs.T @ np.ravel(x)
        return (evecs @ (inverse_power(evals, q, damping, rcond) * coef)).reshape(self.shape)


def map_kernel(net: Network, input_cov=None) -> MapKernel:
    """The map-space kernel ``K = J_R J_R^T`` of ``net`` under input covariance ``S``."""
    r = _sqrt_psd(_cov(net, input_cov))
    left = tuple(net.above(i) @ net.above(i).T for i in range(net.depth))
    right = tuple(r @ net.below(i).T @ net.below(i) @ r for i in range(net.depth))
    return MapKernel(left, right)


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
    kernel = map_kernel(net, input_cov)
    evals, evecs = kernel.eigh
    f = inverse_power(evals, q, damping, rcond)
    if cotangent is not None:
        y = np.asarray(cotangent, dtype=np.float64)
        if y.shape != kernel.shape:
            raise ValueError(f"cotangent must have shape {kernel.shape}, got {y.shape}")
        coef = evecs.T @ y.ravel()
        return vjp(net, (evecs @ (f * coef)).reshape(kernel.shape) @ r)
    # Least-squares map-space representative y = K^+ J_R u of u's range part.
    pinv = inverse_power(evals, 1.0, 0.0, rcond)
    coef = pinv * (evecs.T @ (jvp(net, u) @ r).ravel())
    out = vjp(net, (evecs @ (f * coef)).reshape(kernel.shape) @ r)
    if damping > 0:
        range_part = vjp(net, (evecs @ coef).reshape(kernel.shape) @ r)
        null_scale = damping ** (-1.0 / q)
        out = tuple(o + null_scale * (ui - ri) for o, ui, ri in zip(out, u, range_part))
    return out


# -- the balanced path: K diagonal in the SVD basis of the map -------------------------------
BALANCE_RTOL = 1e-10


def is_balanced(net: Network, rtol: float = BALANCE_RTOL) -> bool:
    """Whether every ``||c_i||_F <= rtol * sum_j ||w_j||_F^2`` (all layers balanced)."""
    scale = net.squared_norm()
    return all(float(np.linalg.norm(c)) <= rtol * scale for c in net.imbalance())


def balanced_kernel_eigenvalues(s_out: np.ndarray, s_in: np.ndarray, d: int) -> np.ndarray:
    """Eigenvalues of ``K`` for a balanced network with ``S = I``, on ``u_a v_b^T``.

    With ``W = U diag(s) V^T``, balance gives ``W_{>i} W_{>i}^T = (W W^T)^{(d-1-i)/d}`` and
    ``W_{<i}^T W_{<i} = (W^T W)^{i/d}`` (0-based ``i``), so
    ``lambda_ab = sum_{i=0}^{d-1} s_a^{2(d-1-i)/d} s_b^{2i/d}`` with ``0^0 = 1``; ``s_out`` and
    ``s_in`` are the singular values padded with zeros to ``n_d`` and ``n_0``.
    """
    return sum(s_out[:, None] ** (2.0 * (d - 1 - i) / d) * s_in[None, :] ** (2.0 * i / d)
               for i in range(d))


def balanced_svd(w: np.ndarray, d: int):
    """``U`` (n_d x n_d), ``V`` (n_0 x n_0) and the eigenvalues of ``K`` in that basis."""
    u, s, vt = np.linalg.svd(w, full_matrices=True)
    # Singular values at round-off level are exact zeros of a rank-deficient map; left as
    # ~1e-17 they would turn into ~1e-9 under the small fractional powers s^{2/d}.
    s = np.where(s > max(w.shape) * np.finfo(float).eps * s.max(initial=0.0), s, 0.0)
    s_out = np.zeros(w.shape[0])
    s_in = np.zeros(w.shape[1])
    s_out[:s.size], s_in[:s.size] = s, s
    return u, vt.T, balanced_kernel_eigenvalues(s_out, s_in, d)


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
    u, v, lam = balanced_svd(net.map, net.depth)
    f = inverse_power(lam, q, damping, rcond)
    return vjp(net, u @ (f * (u.T @ y @ v)) @ v.T)


# -- exact diagonal blocks --------------------------------------------------------------------
def block_factors(net: Network, input_cov=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Kronecker factors of the exact diagonal blocks ``H_i = A_i kron B_i``.

    ``A_i = W_{<i} S W_{<i}^T`` (``n_i x n_i``) and ``B_i = W_{>i}^T W_{>i}``
    (``n_{i+1} x n_{i+1}``), so that ``H_i vec(dw_i) = vec(B_i dw_i A_i)`` (column-major vec).
    """
    cov = _cov(net, input_cov)
    return [(net.below(i) @ cov @ net.below(i).T, net.above(i).T @ net.above(i))
            for i in range(net.depth)]


def kron_inverse_power(a: np.ndarray, b: np.ndarray, g: np.ndarray, q: float,
                       damping: float = 0.0, rcond: float = DEFAULT_RCOND) -> np.ndarray:
    """``(A kron B)^{+1/q} vec(G)`` or ``(A kron B + eps I)^{-1/q} vec(G)``, exactly, O(n^3).

    Rotates ``G`` into the joint eigenbasis of the factors, scales entry ``(l, k)`` by
    ``f(b_l a_k)`` and rotates back. For ``eps = 0`` this equals ``B^{+1/q} G A^{+1/q}`` up to the
    cutoff, which applies to the products ``b_l a_k`` relative to ``max(b) max(a)``.
    """
    q, damping, rcond = _check_spectral(q, damping, rcond)
    if math.isinf(q):
        return np.array(g, dtype=np.float64)
    ea, ua = np.linalg.eigh(0.5 * (a + a.T))
    eb, ub = np.linalg.eigh(0.5 * (b + b.T))
    ea, eb = np.clip(ea, 0, None), np.clip(eb, 0, None)
    prod = eb[:, None] * ea[None, :]
    scale = inverse_power(prod, q, damping, rcond, lam_max=float(eb.max() * ea.max()))
    return ub @ (scale * (ub.T @ g @ ua)) @ ua.T


def block_ngd_direction(net: Network, params: Sequence[np.ndarray], input_cov=None,
                        q: float = 1.0, damping: float = 0.0,
                        rcond: float = DEFAULT_RCOND) -> Params:
    """Block-diagonal q-NGD-d: ``d^{-1/q} H_i^{+1/q} u_i`` per layer (Huh 2020, eqs 19-21)."""
    q, damping, rcond = _check_spectral(q, damping, rcond)
    u = _check_params(net, params, "params")
    if math.isinf(q):
        return u
    scale = net.depth ** (-1.0 / q)
    return tuple(scale * kron_inverse_power(a, b, ui, q, damping, rcond)
                 for (a, b), ui in zip(block_factors(net, input_cov), u))


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
