"""Random cases for the property tests; the slow, obvious references themselves live in
:mod:`dlnsim.testing.reference` (a perturbation Jacobian, the dense P x P Gauss-Newton matrix,
powers by eigh: nothing there uses partial products, Kronecker factors or map space)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from dlnsim.testing.reference import (  # noqa: F401  (re-exported for the tests)
    dense_gauss_newton,
    dense_jacobian,
    dense_power,
    flat,
    full_map,
    sqrtm_spd,
)


def dense_gn(weights, cov) -> np.ndarray:
    """``H = J_R^T J_R`` with ``J_R = (I kron R) J`` (row-major vec of ``dW R``)."""
    return dense_gauss_newton(weights, cov)


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
