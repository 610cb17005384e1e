"""Spectral functions of the curvature: the fractional (pseudo-)inverse power and rotations.

``q`` in ``[1, inf]``; the preconditioner is ``f(H)`` with ``f(l) = (l + eps)^{-1/q}`` when damped
(``eps > 0``, Levenberg-Marquardt) and the Moore-Penrose fractional pseudo-inverse
``f(l) = l^{-1/q}`` for ``l > rcond * l_max``, else 0, when ``eps = 0``. ``q = inf`` is the
identity (gradient descent), not the projection onto the range.

``rcond`` defaults to :data:`DEFAULT_RCOND` = 1e-12: a float64 symmetric eigensolver returns
eigenvalues with absolute error about ``n * 2.2e-16 * l_max`` (~1e-13 ``l_max`` for n ~ 1000),
so smaller eigenvalues cannot be told apart from the exact zeros of the null-space.

Everything here works on any array-API namespace (numpy, torch) and any leading dimensions, and
checks nothing: :func:`check_spectral` validates the arguments once, at the public entry points.
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from dlnsim import _validate as V

DEFAULT_RCOND = 1e-12


def check_spectral(q, damping, rcond) -> tuple[float, float, float]:
    """Validate ``(q, damping, rcond)``: ``q >= 1``, ``damping >= 0``, ``0 <= rcond < 1``."""
    q = V.order_q(q)
    damping = V.nonnegative(damping, "damping")
    rcond = V.nonnegative(rcond, "rcond")
    if rcond >= 1:
        raise ValueError(f"rcond must be < 1, got {rcond}")
    return q, damping, rcond


def mT(x):
    """Transpose of the last two axes (the ``.mT`` attribute of numpy >= 2 and torch)."""
    try:
        return x.mT
    except AttributeError:  # numpy 1.x
        return array_namespace(x).matrix_transpose(x)


def max_last(x, keepdims: bool = True):
    """Max over the last axis (0 for an empty axis)."""
    xp = array_namespace(x)
    if x.shape[-1] == 0:
        return xp.zeros(x.shape[:-1] + ((1,) if keepdims else ()), dtype=x.dtype,
                        device=_device(x))
    return xp.max(x, axis=-1, keepdims=keepdims)


def inverse_power(evals, q: float, damping: float = 0.0, rcond: float = DEFAULT_RCOND,
                  lam_max=None):
    """``f(l) = (l + eps)^{-1/q}``, or the pseudo-inverse ``l^{-1/q}`` (0 below the cutoff).

    ``lam_max`` is the largest eigenvalue of the whole operator (default ``max(evals)``; an
    array broadcasting against ``evals`` gives one per stack member); the pseudo-inverse drops
    ``l <= rcond * lam_max``. ``q = inf`` gives ones (identity). Any array namespace.

    Parameters
    ----------
    evals : array
        Eigenvalues (any namespace and leading dimensions).
    q : float
        Curvature order, ``>= 1`` (``inf``: the identity, GD).
    damping : float
        Levenberg-Marquardt ``eps >= 0``; 0 is the pseudo-inverse.
    rcond : float
        Relative eigenvalue cutoff of the pseudo-inverse, in ``[0, 1)``.
    lam_max : array, optional
        The largest eigenvalue of the operator.

    Returns
    -------
    array
        ``f(evals)``, the same shape.
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


def rotate(evecs, coef_fn, y):
    """``E diag(.) E^T vec(Y)`` reshaped back: ``coef_fn`` maps ``E^T vec(Y)`` to new coefs
    (row-major ``vec``, stacks of any leading dimensions)."""
    xp = array_namespace(evecs, y)
    shape = y.shape
    vec = xp.reshape(y, shape[:-2] + (shape[-2] * shape[-1], 1))
    coef = coef_fn((mT(evecs) @ vec)[..., 0])
    return xp.reshape(evecs @ coef[..., None], coef.shape[:-1] + shape[-2:])


def kron_inverse_power(a, b, g, q: float, damping: float = 0.0, rcond: float = DEFAULT_RCOND):
    """``(A kron B)^{+1/q} vec(G)`` or ``(A kron B + eps I)^{-1/q} vec(G)``, exactly, O(n^3).

    Rotates ``G`` into the joint eigenbasis of the factors, scales entry ``(l, k)`` by
    ``f(b_l a_k)`` and rotates back. For ``eps = 0`` this equals ``B^{+1/q} G A^{+1/q}`` up to the
    cutoff, which applies to the products ``b_l a_k`` relative to ``max(b) max(a)``. Any array
    namespace and leading (stack) dimensions; no checks.
    """
    xp = array_namespace(a, b, g)
    if math.isinf(q):
        return g + xp.zeros_like(g)
    ea, ua = xp.linalg.eigh(0.5 * (a + mT(a)))
    eb, ub = xp.linalg.eigh(0.5 * (b + mT(b)))
    ea, eb = xp.clip(ea, min=0.0), xp.clip(eb, min=0.0)
    prod = eb[..., :, None] * ea[..., None, :]
    top = (max_last(eb) * max_last(ea))[..., None]
    scale = inverse_power(prod, q, damping, rcond, lam_max=top)
    return ub @ (scale * (mT(ub) @ g @ ua)) @ mT(ua)


def sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite numpy matrix (negative round-off -> 0)."""
    evals, evecs = np.linalg.eigh(a)
    return (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T
