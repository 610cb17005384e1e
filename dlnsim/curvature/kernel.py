"""The map-space kernel ``K = J_R J_R^T`` as an operator (matvec, dense form, powers)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dlnsim import _validate as V
from dlnsim.curvature import batched
from dlnsim.curvature.api import cov_of
from dlnsim.curvature.spectral import DEFAULT_RCOND, check_spectral, inverse_power, rotate, sqrt_psd
from dlnsim.network import Network


@dataclass(frozen=True, eq=False)
class MapKernel:
    """``K(X) = sum_i L_i X M_i`` with ``L_i = W_{>i} W_{>i}^T``, ``M_i = R W_{<i}^T W_{<i} R``.

    ``K = J_R J_R^T`` shares its nonzero spectrum with the Gauss-Newton matrix ``H``; it acts on
    ``n_d x n_0`` matrices. The dense form exists for eigendecompositions and tests.

    Parameters
    ----------
    left, right : sequence of numpy.ndarray
        The factors ``L_i`` and ``M_i`` (build it with :func:`map_kernel`).
    """

    left: tuple[np.ndarray, ...]
    right: tuple[np.ndarray, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the matrices it acts on, ``(n_d, n_0)``."""
        return (self.left[0].shape[0], self.right[0].shape[0])

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``K(X)`` for one ``(n_d, n_0)`` matrix, O(d n^3).

        Parameters
        ----------
        x : numpy.ndarray
            Shape ``(n_d, n_0)``.

        Returns
        -------
        numpy.ndarray
        """
        return sum(l @ x @ m for l, m in zip(self.left, self.right))

    def dense(self) -> np.ndarray:
        """``K`` as an ``(n_d n_0) x (n_d n_0)`` matrix acting on row-major ``vec(X)``.

        Returns
        -------
        numpy.ndarray
        """
        return batched.kron_sum(self.left, self.right)

    @cached_property
    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigen-decomposition of the dense kernel, O((n_d n_0)^3), cached."""
        k = self.dense()
        return np.linalg.eigh(0.5 * (k + k.T))

    def inverse_power(self, x: np.ndarray, q: float, damping: float = 0.0,
                      rcond: float = DEFAULT_RCOND) -> np.ndarray:
        """``K^{+1/q} X`` (pseudo-inverse) or ``(K + eps I)^{-1/q} X`` (damped).

        Parameters
        ----------
        x : numpy.ndarray
            Shape ``(n_d, n_0)``.
        q : float
            Curvature order, ``>= 1`` (``inf``: the identity, GD).
        damping : float
            Levenberg-Marquardt ``eps >= 0``; 0 is the pseudo-inverse.
        rcond : float
            Relative eigenvalue cutoff of the pseudo-inverse, in ``[0, 1)``.

        Returns
        -------
        numpy.ndarray
        """
        q, damping, rcond = check_spectral(q, damping, rcond)
        x = V.as_matrix(np.reshape(x, self.shape), "x")
        if math.isinf(q):
            return np.array(x)
        evals, evecs = self.eigh
        f = inverse_power(evals, q, damping, rcond)
        return rotate(evecs, lambda c: f * c, x)


def map_kernel(net: Network, input_cov=None) -> MapKernel:
    """The map-space kernel ``K = J_R J_R^T`` of ``net`` under input covariance ``S``.

    Parameters
    ----------
    net : Network
        The network.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    MapKernel
    """
    left, right = batched.kernel_factors(net.parts, sqrt_psd(cov_of(net, input_cov)))
    return MapKernel(tuple(left), tuple(right))
