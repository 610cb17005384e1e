"""Exact Gauss-Newton curvature of deep linear networks, computed in map space.

With ``R = S^{1/2}`` the Jacobian of the input-weighted map is ``J_R(dw) = sum_i W_{>i} dw_i
W_{<i} R`` and the Gauss-Newton matrix (Huh's Hessian_+) is ``H = J_R^T J_R`` (P x P). Every
fractional power ``H^{+1/q}`` is computed through the map-space kernel ``K = J_R J_R^T``,
an operator on ``n_d x n_0`` matrices; the P x P matrix is built only by :func:`gauss_newton`,
the dense reference.

Modules (one job each):

* :mod:`~dlnsim.curvature.batched`: the math on stacks of any array namespace, unchecked;
* :mod:`~dlnsim.curvature.spectral`: fractional (pseudo-)inverse powers, Kronecker powers;
* :mod:`~dlnsim.curvature.api`: the same for one numpy :class:`~dlnsim.Network`, validated once;
* :mod:`~dlnsim.curvature.kernel`: the kernel ``K`` as an operator;
* :mod:`~dlnsim.curvature.krylov`: matrix-free powers of ``K`` for large widths;
* :mod:`~dlnsim.curvature.dense`: dense references and Gauss-Newton norms.
"""

from dlnsim.curvature import batched, krylov, paths
from dlnsim.curvature.api import (
    balanced_ngd_direction,
    balanced_svd,
    block_factors,
    block_ngd_direction,
    gradient,
    is_balanced,
    jvp,
    jvp_r,
    kron_inverse_power,
    ngd_direction,
    vjp,
    vjp_r,
)
from dlnsim.curvature.batched import balanced_kernel_eigenvalues
from dlnsim.curvature.dense import gauss_newton, gn_norm_sq, jacobian_matrix, kfac_gn_norm_sq
from dlnsim.curvature.kernel import MapKernel, map_kernel
from dlnsim.curvature.paths import (  # noqa: F401 (NotBalanced: documented in rules)
    BALANCE_RTOL,
    BALANCED_PATH_RTOL,
    BALANCED_RUN_RTOL,
    DENSE_MAX,
    PATHS,
    NotBalanced,
)
from dlnsim.curvature.spectral import DEFAULT_RCOND, inverse_power
from dlnsim.network import partial_products

__all__ = [
    "BALANCED_PATH_RTOL", "BALANCED_RUN_RTOL", "BALANCE_RTOL", "DEFAULT_RCOND", "DENSE_MAX",
    "MapKernel", "PATHS", "balanced_kernel_eigenvalues",
    "balanced_ngd_direction", "balanced_svd", "batched", "block_factors", "block_ngd_direction",
    "gauss_newton", "gn_norm_sq", "gradient", "inverse_power", "is_balanced", "jacobian_matrix",
    "jvp", "jvp_r", "kfac_gn_norm_sq", "krylov", "kron_inverse_power", "map_kernel",
    "ngd_direction", "partial_products", "paths", "vjp", "vjp_r",
]
