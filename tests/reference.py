"""Random cases for the property tests, drawn by :mod:`dlnsim.testing`'s strategies; the slow,
obvious references themselves live in :mod:`dlnsim.testing.reference` (a perturbation Jacobian,
the dense P x P Gauss-Newton matrix, powers by eigh: nothing there uses partial products,
Kronecker factors or map space)."""

from __future__ import annotations

from hypothesis import strategies as st

from dlnsim.testing.reference import (  # noqa: F401  (re-exported for the tests)
    dense_gauss_newton,
    dense_jacobian,
    dense_power,
    flat,
    full_map,
    sqrtm_spd,
)
from dlnsim.testing.strategies import networks_and_tasks


@st.composite
def dln_cases(draw, max_depth: int = 4, max_width: int = 5, min_depth: int = 1):
    """``(weights, target, cov)``: random depth, widths (rectangular, bottlenecks), scale (down
    to near-saddle, 1e-3), spectra of condition up to 10, whitened or not."""
    net, task = draw(networks_and_tasks(depth=(min_depth, max_depth), max_width=max_width,
                                        scale=st.sampled_from([1e-3, 0.1, 0.5, 1.0])))
    return list(net.weights), task.target, task.input_cov  # the identity when whitened
