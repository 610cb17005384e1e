"""``dlnsim.testing``: tools for checking your own conjectures about deep linear networks.

* the slow, obvious reference (:mod:`dlnsim.testing.reference`): :func:`dense_velocity` and
  the dense Jacobian, Gauss-Newton matrix and fractional powers behind it;

Importing ``dlnsim`` does not import this module, and this module imports hypothesis only when
a strategy is asked for.
"""

from dlnsim.testing.reference import (
    DenseContext,
    dense_gauss_newton,
    dense_gradient,
    dense_jacobian,
    dense_power,
    dense_velocity,
    full_map,
)

__all__ = ["DenseContext", "dense_gauss_newton", "dense_gradient", "dense_jacobian",
           "dense_power", "dense_velocity", "full_map"]
