"""Slow, obvious references written independently of the library's fast paths.

The dense Jacobian is built one column at a time by perturbing a single weight entry and
re-multiplying the layers: the map is affine in each single entry, so the difference quotient
is exact up to rounding, and nothing here uses partial products, Kronecker factors or map space.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st


def full_map(weights) -> np.ndarray:
    m = weights[0]
    for w in weights[1:]:
        m = w @ m
    return m


def dense_jacobian(weights) -> np.ndarray:
    """``J``: (n_d n_0) x P, columns ordered layer by layer, row-major within a layer."""
    base = full_map(weights)
    cols = []
    for i, w in enumerate(weights):
        h = max(1.0, float(np.abs(w).max()))
        for idx in np.ndindex(*w.shape):
            ws = [x.copy() for x in weights]
            ws[i][idx] += h
            cols.append(((full_map(ws) - base) / h).ravel())
    return np.array(cols).T


def sqrtm_spd(s: np.ndarray) -> np.ndarray:
    e, u = np.linalg.eigh(s)
    return (u * np.sqrt(e)) @ u.T


def dense_gn(weights, cov) -> np.ndarray:
    """``H = J_R^T J_R`` with ``J_R = (I kron R) J`` (row-major vec of ``dW R``)."""
    r = sqrtm_spd(cov)
    jr = np.kron(np.eye(weights[-1].shape[0]), r) @ dense_jacobian(weights)
    return jr.T @ jr


def dense_power(h: np.ndarray, v: np.ndarray, q: float, damping: float, rcond: float):
    """``f(H) v`` by ``numpy.linalg.eigh`` on the dense matrix."""
    if math.isinf(q):
        return v.copy()
    e, u = np.linalg.eigh(h)
    e = np.clip(e, 0, None)
    if damping > 0:
        f = (e + damping) ** (-1 / q)
    else:
        f = np.where(e > rcond * e.max(), np.maximum(e, 1e-300) ** (-1 / q), 0.0)
    return u @ (f * (u.T @ v))


def flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def random_spd(n: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.standard_normal((n, n))
    return a @ a.T / n + 0.2 * np.eye(n)


@st.composite
def dln_cases(draw, max_depth: int = 4, max_width: int = 5, min_depth: int = 1):
    """Random depth, widths (rectangular, bottlenecks), scale (down to near-saddle) and S."""
    d = draw(st.integers(min_depth, max_depth))
    widths = tuple(draw(st.lists(st.integers(1, max_width), min_size=d + 1, max_size=d + 1)))
    scale = draw(st.sampled_from([1e-3, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    whitened = draw(st.booleans())
    rng = np.random.default_rng(seed)
    weights = [scale * rng.standard_normal((widths[i + 1], widths[i])) for i in range(d)]
    target = rng.standard_normal((widths[-1], widths[0]))
    cov = np.eye(widths[0]) if whitened else random_spd(widths[0], rng)
    return weights, target, cov
