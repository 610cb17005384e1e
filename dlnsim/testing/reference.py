"""The slow, obvious reference: dense Jacobians by perturbation, the dense P x P Gauss-Newton
matrix, fractional powers by ``numpy.linalg.eigh``.

Nothing here uses the library's fast paths (no partial products, no Kronecker factors, no
map-space kernel, no :mod:`dlnsim.curvature.spectral`): the Jacobian is built one column at a
time by perturbing one weight entry and re-multiplying the layers (the map is affine in each
entry, so the difference quotient is exact up to rounding). :func:`dense_velocity` rebuilds a
rule from what its transforms say they are and applies it to flat vectors, so it can judge
the fast field of any rule made of gd, ngd (full or block, any q, damping, cutoff), l2,
weight_decay and clip, and of a user's own transform that defines ``dense(v, ctx)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlnsim.curvature.dense import dense_power
from dlnsim.network import Network
from dlnsim.rules.core import Rule
from dlnsim.task import Task


def full_map(weights) -> np.ndarray:
    """``w_d...w_1`` by plain repeated products.

    Parameters
    ----------
    weights : sequence of array_like
        The layers, input first.

    Returns
    -------
    numpy.ndarray
    """
    m = np.asarray(weights[0], dtype=float)
    for w in weights[1:]:
        m = np.asarray(w, dtype=float) @ m
    return m


def dense_jacobian(weights) -> np.ndarray:
    """``J``: (n_d n_0) x P, columns ordered layer by layer, row-major within a layer.

    Parameters
    ----------
    weights : sequence of array_like
        The layers, input first.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_d n_0, P)``.
    """
    base = full_map(weights)
    cols = []
    for i, w in enumerate(weights):
        h = max(1.0, float(np.abs(w).max()))
        for idx in np.ndindex(*w.shape):
            ws = [np.array(x, dtype=float) for x in weights]
            ws[i][idx] += h
            cols.append(((full_map(ws) - base) / h).ravel())
    return np.array(cols).T


def sqrtm_spd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root by eigh."""
    e, u = np.linalg.eigh(s)
    return (u * np.sqrt(np.clip(e, 0, None))) @ u.T


def dense_gauss_newton(weights, cov=None) -> np.ndarray:
    """``H = J_R^T J_R`` with ``J_R = (I kron R) J`` (row-major vec of ``dW R``).

    Parameters
    ----------
    weights : sequence of array_like
        The layers, input first.
    cov : array_like, optional
        ``S`` (default the identity).

    Returns
    -------
    numpy.ndarray
        ``P x P``.
    """
    cov = np.eye(np.shape(weights[0])[1]) if cov is None else np.asarray(cov, dtype=float)
    jr = np.kron(np.eye(np.shape(weights[-1])[0]), sqrtm_spd(cov)) @ dense_jacobian(weights)
    return jr.T @ jr


def dense_gradient(weights, target, cov=None) -> np.ndarray:
    """``g = J^T vec(Delta S)`` with the perturbation Jacobian.

    Parameters
    ----------
    weights : sequence of array_like
        The layers, input first.
    target : array_like
        ``W*``.
    cov : array_like, optional
        ``S`` (default the identity).

    Returns
    -------
    numpy.ndarray
        Shape ``(P,)``.
    """
    cov = np.eye(np.shape(weights[0])[1]) if cov is None else np.asarray(cov, dtype=float)
    return dense_jacobian(weights).T @ ((full_map(weights) - target) @ cov).ravel()


def flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


@dataclass(frozen=True)
class DenseContext:
    """What a dense transform may use.

    Parameters
    ----------
    h : numpy.ndarray
        The dense Gauss-Newton matrix.
    theta : numpy.ndarray
        The flat weights.
    slices : tuple of slice
        Each layer's part of the flat vector.
    depth : int
        The number of layers.
    """

    h: np.ndarray
    theta: np.ndarray
    slices: tuple
    depth: int


def dense_velocity(net: Network, task: Task, rule: Rule) -> tuple[np.ndarray, ...]:
    """``dw/dt`` at unit learning rate by the slow, obvious route, shaped like the weights
    (as :meth:`dlnsim.rules.Rule.velocity` returns it): the gradient and the Gauss-Newton
    matrix from a perturbation Jacobian, every preconditioner by ``eigh`` of the dense
    matrix or its exact diagonal blocks, the transforms applied in the rule's stage order.

    A transform of the user's own is used through its ``dense(v, ctx)`` method
    (:class:`DenseContext`); stateful or stochastic rules have no velocity and are refused.

    Parameters
    ----------
    net : Network
        The network.
    task : Task
        Its task.
    rule : Rule
        A continuous-time rule.

    Returns
    -------
    tuple of numpy.ndarray
        One array per layer.

    Raises
    ------
    TypeError
        A stateful rule, or a transform without a dense form.
    """
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a dlnsim.rules.Rule, got {type(rule).__name__}")
    if rule.discrete_only:
        raise TypeError(f"rule {rule.name} is a discrete-time optimiser: it has no velocity")
    weights = [np.asarray(w, dtype=float) for w in net.weights]
    cov = task.input_cov
    theta = flat(weights)
    k, slices = 0, []
    for w in weights:
        slices.append(slice(k, k + w.size))
        k += w.size
    ctx = DenseContext(dense_gauss_newton(weights, cov), theta, tuple(slices), len(weights))
    v = dense_gradient(weights, task.target, cov)
    for t in sorted(rule.transforms, key=lambda t: int(t.stage)):
        v = t.dense(v, ctx)
    return net.unflatten(-v)


__all__ = ["DenseContext", "dense_gauss_newton", "dense_gradient", "dense_jacobian",
           "dense_power", "dense_velocity", "flat", "full_map", "sqrtm_spd"]
