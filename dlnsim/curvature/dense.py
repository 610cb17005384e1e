"""Dense references and Gauss-Newton norms: the P x P matrix exists only here, for checks."""

from __future__ import annotations

import math

import numpy as np

from dlnsim.curvature.api import block_factors, cov_of, jvp_r
from dlnsim.curvature.spectral import sqrt_psd
from dlnsim.network import Network


def jacobian_matrix(net: Network, input_cov=None) -> np.ndarray:
    """Dense ``J_R`` as an ``(n_d n_0) x P`` matrix (row-major vec on both sides).

    Parameters
    ----------
    net : Network
        The network.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    numpy.ndarray
        ``J_R``, shape ``(n_d n_0, P)``.
    """
    r = sqrt_psd(cov_of(net, input_cov))
    return np.hstack([np.kron(net.above(i), (net.below(i) @ r).T) for i in range(net.depth)])


def gauss_newton(net: Network, input_cov=None) -> np.ndarray:
    """The dense P x P Gauss-Newton matrix ``H = J_R^T J_R``: a reference, O(P^2) memory.

    Parameters are ordered as :meth:`Network.flat` (layers input first, row-major).

    Parameters
    ----------
    net : Network
        The network.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    numpy.ndarray
        ``H``, ``P x P``.
    """
    j = jacobian_matrix(net, input_cov)
    return j.T @ j


def gn_norm_sq(net: Network, input_cov=None) -> float:
    """Gauss-Newton norm ``theta^T G theta = ||J_R(theta)||_F^2`` (Zhang et al. 2019, Lemma 2).

    For a linear network ``J(theta) = d W`` (Lemma 1), so this is ``d^2 Tr(W S W^T)``; it is
    computed here from the Jacobian product, not from that identity.

    Parameters
    ----------
    net : Network
        The network.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    float
    """
    return float(np.sum(jvp_r(net, net.weights, input_cov) ** 2))


def kfac_gn_norm_sq(net: Network, input_cov=None) -> float:
    """K-FAC Gauss-Newton norm ``sum_i vec(w_i)^T (A_i kron B_i) vec(w_i)`` (Zhang et al., eq 12).

    Uses the exact diagonal blocks; equals ``d Tr(W S W^T)`` for a linear network.

    Parameters
    ----------
    net : Network
        The network.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    float
    """
    return float(sum(np.sum((b @ w) * (w @ a))
                     for (a, b), w in zip(block_factors(net, input_cov), net.weights)))


def dense_power(h: np.ndarray, v: np.ndarray, q: float, damping: float = 0.0,
                rcond: float = 1e-12) -> np.ndarray:
    """``f(H) v`` by ``numpy.linalg.eigh``: ``(l + eps)^{-1/q}``, or ``l^{-1/q}`` above
    ``rcond * l_max`` and 0 below (the pseudo-inverse); the identity for ``q = inf``.

    Parameters
    ----------
    h : numpy.ndarray
        A symmetric PSD matrix.
    v : numpy.ndarray
        A vector.
    q : float
        The order (``inf``: identity).
    damping : float
        ``eps``.
    rcond : float
        The pseudo-inverse's relative cutoff.

    Returns
    -------
    numpy.ndarray
    """
    if math.isinf(q):
        return np.array(v, dtype=float)
    e, u = np.linalg.eigh(0.5 * (h + h.T))
    e = np.clip(e, 0, None)
    if damping > 0:
        f = (e + damping) ** (-1 / q)
    else:
        f = np.where(e > rcond * e.max(), np.maximum(e, 1e-300) ** (-1 / q), 0.0)
    return u @ (f * (u.T @ v))
