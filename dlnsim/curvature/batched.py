"""The curvature math on stacks of arrays: any array-API namespace, any leading dimensions.

These functions hold every formula of the exact Gauss-Newton geometry (the conventions of
the README's architecture section). They take the partial products ``parts = (above, below)``
of :func:`dlnsim.network.partial_products`, use only broadcasting, ``matmul``, ``reshape`` and
``linalg.eigh``/``svd``, and check nothing: the numpy API (:mod:`dlnsim.curvature.api`)
validates its input once and calls them; the rules call them on numpy or torch stacks inside a
run, where no validation is repeated.

With ``R = S^{1/2}``, ``J_R(dw) = sum_i W_{>i} dw_i W_{<i} R``, the Gauss-Newton matrix is
``H = J_R^T J_R`` and every fractional power goes through the map-space kernel

    K = J_R J_R^T,   K(X) = sum_i W_{>i} W_{>i}^T X R W_{<i}^T W_{<i} R,

because ``f(J^T J) J^T = J^T f(J J^T)`` for any spectral function ``f`` (Huh 2020, eq 9
generalised to ``H^{+1/q}``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from dlnsim.curvature.spectral import (
    DEFAULT_RCOND,
    inverse_power,
    kron_inverse_power,
    max_last,
    mT,
    rotate,
)

Parts = tuple[list, list]


def jvp(parts: Parts, tangents: Sequence):
    """``J(dw) = sum_i W_{>i} dw_i W_{<i}`` (the map's change under ``dw``)."""
    above, below = parts
    return sum(a @ t @ b for a, b, t in zip(above, below, tangents))


def vjp(parts: Parts, cotangent) -> tuple:
    """``J^T(Y) = (W_{>i}^T Y W_{<i}^T)_i`` for a map-space ``Y``."""
    above, below = parts
    return tuple(mT(a) @ cotangent @ mT(b) for a, b in zip(above, below))


def kernel_factors(parts: Parts, r=None) -> tuple[list, list]:
    """``L_i = W_{>i} W_{>i}^T`` and ``M_i = R W_{<i}^T W_{<i} R`` of ``K(X) = sum_i L_i X M_i``;
    ``r = S^{1/2}`` or None (S = I)."""
    above, below = parts
    left = [a @ mT(a) for a in above]
    right = [mT(b) @ b if r is None else r @ mT(b) @ b @ r for b in below]
    return left, right


def kron_sum(left: Sequence, right: Sequence):
    """``sum_i L_i kron M_i`` by broadcasting (row-major ``vec``; ``M_i`` symmetric)."""
    xp = array_namespace(*left, *right)
    out = None
    for l, m in zip(left, right):
        kron = l[..., :, None, :, None] * m[..., None, :, None, :]
        n = l.shape[-1] * m.shape[-1]
        kron = xp.reshape(kron, kron.shape[:-4] + (n, n))
        out = kron if out is None else out + kron
    return out


def dense_kernel(parts: Parts, r=None):
    """The dense ``(n_d n_0)``-square map-space kernel ``K``, symmetrised against round-off."""
    k = kron_sum(*kernel_factors(parts, r))
    return 0.5 * (k + mT(k))


def dense_kernel_eigh(parts: Parts, r=None):
    """The eigendecomposition of the dense map-space kernel ``K``: ``(evals, lam_max, rot)``.

    ``evals`` has shape ``(..., N)`` with ``N = n_d n_0``; ``rot(fn, Y)`` is ``E fn(E^T vec Y)``
    reshaped back to ``Y``'s shape (``fn`` acts on coefficients shaped like ``evals``);
    ``lam_max`` is the largest eigenvalue, shaped to broadcast against ``evals``. O(n^6).
    """
    xp = array_namespace(*parts[0], *parts[1])
    evals, evecs = xp.linalg.eigh(dense_kernel(parts, r))
    return evals, max_last(evals), lambda fn, y: rotate(evecs, fn, y)


def depth2_kernel_eigh(weights: Sequence, r=None):
    """The exact eigendecomposition of ``K`` at depth 2, without the ``(n_2 n_0)``-square matrix.

    With ``A = w_2 w_2^T`` and ``B = w_1^T w_1`` the kernel is ``K(X) = A X S + X R B R``
    (``vec K = A kron S + I kron R B R``, row-major ``vec``; theory/scale.md, eq D2). In the
    eigenbasis ``A = U diag(alpha) U^T`` row ``a`` of ``U^T X`` is acted on by the
    ``n_0 x n_0`` block ``C_a = R B R + alpha_a S`` alone, so ``n_2`` symmetric
    eigendecompositions of size ``n_0`` (batched, O(n^4)) diagonalise ``K``; for ``S = I``
    every block shares the eigenvectors of ``B`` and the eigenvalues are ``alpha_a + beta_b``
    (two eigendecompositions, O(n^3)). Returns ``(evals, lam_max, rot)`` as
    :func:`dense_kernel_eigh` does, with ``evals`` of shape ``(..., n_2, n_0)``.
    """
    w1, w2 = weights
    xp = array_namespace(w1, w2)
    a = w2 @ mT(w2)
    alpha, u = xp.linalg.eigh(0.5 * (a + mT(a)))
    b = mT(w1) @ w1
    if r is None:
        beta, v = xp.linalg.eigh(0.5 * (b + mT(b)))
        evals = alpha[..., :, None] + beta[..., None, :]

        def rot(fn, y):
            return u @ fn(mT(u) @ y @ v) @ mT(v)
    else:
        rbr, s = r @ b @ r, r @ r
        c = (rbr + mT(rbr))[..., None, :, :] / 2 + alpha[..., :, None, None] * \
            ((s + mT(s)) / 2)[..., None, :, :]
        evals, v = xp.linalg.eigh(c)  # (..., n_2, n_0) and (..., n_2, n_0, n_0)

        def rot(fn, y):
            coef = (mT(u) @ y)[..., :, None, :] @ v          # row a of U^T Y times V_a
            z = fn(coef[..., 0, :])[..., :, None, :] @ mT(v)  # back through V_a^T
            return u @ z[..., 0, :]
    top = max_last(max_last(evals, keepdims=False))[..., None]
    return evals, top, rot


def ngd_direction(parts: Parts, q: float, damping: float = 0.0, rcond: float = DEFAULT_RCOND,
                  r=None, cotangent=None, params: Sequence | None = None,
                  eigh=None) -> tuple:
    """``H^{+1/q} u`` (or ``(H + eps I)^{-1/q} u``) in map space (Huh 2020, eq 9 generalised).

    Give ``cotangent`` (``u = J_R^T Y``) for the exact form ``J_R^T K^{+1/q} Y``, or ``params``
    (``u`` itself) for the split into range and null-space parts: the range part
    ``J_R^T K^+ J_R u`` is treated as above, the null-space part is removed by the
    pseudo-inverse and scaled by ``eps^{-1/q}`` with damping. ``r = S^{1/2}`` or None.
    ``eigh`` is the eigendecomposition of ``K`` as ``(evals, lam_max, rot)``: by default
    :func:`dense_kernel_eigh`; :func:`depth2_kernel_eigh` at depth 2.
    """
    evals, top, rot = dense_kernel_eigh(parts, r) if eigh is None else eigh
    f = inverse_power(evals, q, damping, rcond, lam_max=top)

    def back(x):  # J_R^T X = J^T (X R)
        return vjp(parts, x if r is None else x @ r)

    if cotangent is not None:
        return back(rot(lambda c: f * c, cotangent))
    jr_u = jvp(parts, params)
    jr_u = jr_u if r is None else jr_u @ r
    pinv = inverse_power(evals, 1.0, 0.0, rcond, lam_max=top)
    out = back(rot(lambda c: f * pinv * c, jr_u))
    if damping > 0:
        range_part = back(rot(lambda c: pinv * c, jr_u))
        null_scale = damping ** (-1.0 / q)
        out = tuple(o + null_scale * (ui - ri) for o, ui, ri in zip(out, params, range_part))
    return out


def block_factors(parts: Parts, cov=None) -> list[tuple]:
    """``(A_i, B_i) = (W_{<i} S W_{<i}^T, W_{>i}^T W_{>i})`` of the exact diagonal blocks
    ``H_i = A_i kron B_i``; ``cov`` None is S = I."""
    above, below = parts
    return [(b @ mT(b) if cov is None else b @ cov @ mT(b), mT(a) @ a)
            for a, b in zip(above, below)]


def block_ngd_direction(parts: Parts, params: Sequence, q: float, damping: float = 0.0,
                        rcond: float = DEFAULT_RCOND, cov=None) -> tuple:
    """Block-diagonal q-NGD-d: ``d^{-1/q} H_i^{+1/q} u_i`` per layer (Huh 2020, eqs 19-21)."""
    scale = len(params) ** (-1.0 / q)
    return tuple(scale * kron_inverse_power(a, b, u, q, damping, rcond)
                 for (a, b), u in zip(block_factors(parts, cov), params))


def imbalance_ratio(weights: Sequence):
    """``max_i ||c_i||_F / sum_j ||w_j||_F^2`` per stack member (0 for depth 1), with
    ``c_i = w_i w_i^T - w_{i+1}^T w_{i+1}`` (Huh 2020, eq 15)."""
    xp = array_namespace(*weights)
    scale = sum(xp.sum(w * w, axis=(-2, -1)) for w in weights)
    worst = xp.zeros_like(scale)
    for w0, w1 in zip(weights[:-1], weights[1:]):
        c = w0 @ mT(w0) - mT(w1) @ w1
        worst = xp.maximum(worst, xp.sqrt(xp.sum(c * c, axis=(-2, -1))))
    return worst / xp.where(scale > 0, scale, xp.ones_like(scale))


def balanced_kernel_eigenvalues(s_out, s_in, d: int):
    """Eigenvalues of ``K`` for a balanced network with ``S = I``, on ``u_a v_b^T``.

    With ``W = U diag(s) V^T``, balance gives ``W_{>i} W_{>i}^T = (W W^T)^{(d-1-i)/d}`` and
    ``W_{<i}^T W_{<i} = (W^T W)^{i/d}`` (0-based ``i``), so
    ``lambda_ab = sum_{i=0}^{d-1} s_a^{2(d-1-i)/d} s_b^{2i/d}`` with ``0^0 = 1``; ``s_out`` and
    ``s_in`` are the singular values padded with zeros to ``n_d`` and ``n_0``.

    Parameters
    ----------
    s_out, s_in : array
        Singular values padded with zeros to ``n_d`` and ``n_0``.
    d : int
        Depth.

    Returns
    -------
    array
        ``lambda``, shape ``(..., n_d, n_0)``.
    """
    return sum(s_out[..., :, None] ** (2.0 * (d - 1 - i) / d)
               * s_in[..., None, :] ** (2.0 * i / d) for i in range(d))


def balanced_svd(w, d: int, rank: int | None = None):
    """``U`` (n_d x n_d), ``V`` (n_0 x n_0) and the eigenvalues of ``K`` in that basis;
    ``rank`` (the narrowest width of the network) makes the singular values beyond it 0."""
    xp = array_namespace(w)
    u, s, vt = xp.linalg.svd(w, full_matrices=True)
    # Singular values at round-off level are exact zeros of a rank-deficient map; left as
    # ~1e-17 they would turn into ~1e-9 under the small fractional powers s^{2/d}.
    cut = max(w.shape[-2:]) * float(np.finfo(np.float64).eps) * max_last(s)
    s = xp.where(s > cut, s, xp.zeros_like(s))
    if rank is not None and rank < s.shape[-1]:
        # a map that factors through width r has rank <= r: what an integrator's error puts
        # beyond it is not the network's, and s^{2/d} of it (1e-13 -> 1e-9) is not small
        keep = xp.arange(s.shape[-1], device=_device(s)) < rank
        s = xp.where(keep, s, xp.zeros_like(s))

    def pad(n):
        extra = xp.zeros(s.shape[:-1] + (n - s.shape[-1],), dtype=s.dtype, device=_device(s))
        return xp.concat([s, extra], axis=-1)

    return u, mT(vt), balanced_kernel_eigenvalues(pad(w.shape[-2]), pad(w.shape[-1]), d)


def balanced_ngd_direction(parts: Parts, w, cotangent, q: float, damping: float = 0.0,
                           rcond: float = DEFAULT_RCOND) -> tuple:
    """``J^T K^{+1/q} Y`` for balanced networks (all ``c_i = 0``) with ``S = I``, O(d n^3):
    one SVD of the map diagonalises ``K`` (:func:`balanced_kernel_eigenvalues`)."""
    u, v, lam = balanced_svd(w, len(parts[0]))
    top = max_last(max_last(lam, keepdims=False))[..., None]
    f = inverse_power(lam, q, damping, rcond, lam_max=top)
    return vjp(parts, u @ (f * (mT(u) @ cotangent @ v)) @ mT(v))


def mode_jacobian(sigma):
    """Singular-mode Jacobian ``j_i = prod_{k != i} sigma_k`` over the last axis, as prefix
    times suffix products (never a quotient, so zeros are exact); any leading dimensions."""
    xp = array_namespace(sigma)
    d = sigma.shape[-1]
    prefix = [xp.ones_like(sigma[..., 0])]
    for i in range(d - 1):
        prefix.append(prefix[-1] * sigma[..., i])
    suffix = [xp.ones_like(sigma[..., 0])]
    for i in range(d - 1, 0, -1):
        suffix.append(suffix[-1] * sigma[..., i])
    return xp.stack([p * s for p, s in zip(prefix, suffix[::-1])], axis=-1)
