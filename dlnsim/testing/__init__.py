"""``dlnsim.testing``: tools for checking your own conjectures about deep linear networks.

* hypothesis strategies (:mod:`dlnsim.testing.strategies`): :func:`networks`,
  :func:`input_covariances`, :func:`tasks`, :func:`networks_and_tasks`,
  :func:`aligned_networks`, :func:`lambda_balanced_networks`, :func:`rules`,
  :func:`mode_strengths`, :func:`widths`;
* assertions that report numbers (:mod:`dlnsim.testing.assertions`):
  :func:`assert_conserved`, :func:`assert_trajectories_close`,
  :func:`assert_matches_closed_form`, :func:`assert_velocity_matches_dense`;
* the slow, obvious reference (:mod:`dlnsim.testing.reference`): :func:`dense_velocity` and
  the dense Jacobian, Gauss-Newton matrix and fractional powers behind it.

Importing ``dlnsim`` does not import this module, and this module imports hypothesis only when
a strategy is first used; without hypothesis that says how to install it
(``pip install 'dlnsim[test]'``).
"""

from dlnsim.testing.assertions import (
    assert_conserved,
    assert_matches_closed_form,
    assert_trajectories_close,
    assert_velocity_matches_dense,
)
from dlnsim.testing.reference import (
    DenseContext,
    dense_gauss_newton,
    dense_gradient,
    dense_jacobian,
    dense_power,
    dense_velocity,
    full_map,
)

STRATEGIES = ("AlignedCase", "aligned_networks", "input_covariances",
              "lambda_balanced_networks", "mode_strengths", "networks", "networks_and_tasks",
              "rules", "tasks", "widths")


def __getattr__(name: str):
    """The strategies, imported (with hypothesis) on first use."""
    if name in STRATEGIES:
        from dlnsim.testing import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module 'dlnsim.testing' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(STRATEGIES))


__all__ = ["DenseContext", "assert_conserved", "assert_matches_closed_form",
           "assert_trajectories_close", "assert_velocity_matches_dense", "dense_gauss_newton",
           "dense_gradient", "dense_jacobian", "dense_power", "dense_velocity", "full_map",
           *STRATEGIES]
