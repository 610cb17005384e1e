"""One policy for the exact full q-NGD direction ``H^{+1/q} u``: which path computes it, with
one vocabulary of balance tolerances. :class:`dlnsim.rules.NGD` (on stacks, inside runs) and
:func:`dlnsim.curvature.ngd_direction` (one network) both call :func:`direction`.

Paths (all exact where they apply):

* ``"dense"``: eigenpairs of the dense ``(n_d n_0)``-square map-space kernel;
* ``"depth2"`` (depth 2): the same eigenpairs by blocks (Kronecker sum for ``S = I``);
* ``"balanced"`` (balanced networks, ``S = I``, the plain gradient): one SVD of the map
  (claim scale.end_to_end);
* ``"krylov"`` (numpy, ``S = I``, the plain gradient): matrix-free, to ``tol``;
* ``"auto"``: depth2 at depth 2; balanced where the imbalance ratio is at most
  :data:`BALANCE_RTOL`; Krylov above ``n_d n_0 =`` :data:`DENSE_MAX` on numpy (dense where
  Krylov cannot apply or misses its tolerance); else dense.

The imbalance ratio is ``max_i ||c_i||_F / sum_j ||w_j||_F^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from array_api_compat import is_numpy_namespace

from dlnsim.curvature import batched, krylov
from dlnsim.network import Network, partial_products

PATHS = ("auto", "dense", "depth2", "balanced", "krylov")
DENSE_MAX = 1024  # auto: largest n_d * n_0 for the dense map-space kernel (n = 32 when square)
# The balance tolerances, one vocabulary (all on the imbalance ratio):
BALANCE_RTOL = 1e-10        # auto takes the balanced path at or below this
BALANCED_PATH_RTOL = 1e-8   # path="balanced" accepts a network (a start) up to this
# ... and, inside a run, its states up to this: the stage points of an explicit solver sit
# O(h^2) off the conserved manifold c_i = 0 (about 1e-6 at h = 1e-3); discrete steps do not
# conserve c_i at all and fail this within a few steps
BALANCED_RUN_RTOL = 1e-4


class NotBalanced(ValueError, ArithmeticError):
    """``path="balanced"`` on a network that is not balanced (a ``ValueError``; inside a run an
    ``ArithmeticError``, which stops it with status -1)."""


def check_path(path: str, depth: int | None = None) -> str:
    """``path`` if it is one of :data:`PATHS` (and, given the network's ``depth``, one that
    applies at that depth), else a ``ValueError`` naming what is wrong.

    Parameters
    ----------
    path : str
    depth : int, optional
        The network's depth (``"depth2"`` needs 2).

    Returns
    -------
    str
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if path == "depth2" and depth is not None and depth != 2:
        raise ValueError(f"path='depth2' needs a network of depth 2, got depth {depth}")
    return path


def check_balanced(weights, xp, rtol: float) -> None:
    """Refuse (:class:`NotBalanced`) members whose imbalance ratio passes ``rtol``.

    Parameters
    ----------
    weights : sequence
        One array a layer (leading member axis allowed).
    xp
        Their array namespace.
    rtol : float
        The largest imbalance ratio accepted.
    """
    ratio = float(xp.max(batched.imbalance_ratio(weights)))
    if ratio > rtol:
        raise NotBalanced(f"path='balanced' needs a balanced network: max ||c_i||_F / "
                          f"sum ||w_j||_F^2 = {ratio:.2e} > {rtol:.0e} (discrete steps do "
                          "not conserve c_i); use path='auto' or 'dense'")


@dataclass(frozen=True, eq=False)
class Members:
    """One numpy network seen as a stack of one, with the attributes :func:`direction` reads
    (those of :class:`dlnsim.rules.Stack`).

    Parameters
    ----------
    net : Network
        The network.
    input_cov_sqrt : numpy.ndarray or None
        ``R = S^{1/2}`` (None for ``S = I``).
    """

    net: Network
    input_cov_sqrt: np.ndarray | None = None

    @cached_property
    def weights(self) -> tuple:
        """The layers with a leading member axis of 1."""
        return tuple(w[None] for w in self.net.weights)

    @cached_property
    def parts(self):
        """``W_{>i}`` and ``W_{<i}`` of the stack of one."""
        return partial_products(self.weights)

    @cached_property
    def map(self):
        """The map, shape ``(1, n_d, n_0)``."""
        return self.net.map[None]

    @property
    def is_whitened(self) -> bool:
        """Whether ``S = I``."""
        return self.input_cov_sqrt is None

    xp = np

    def member(self, b: int) -> Network:
        """The network (``b = 0``)."""
        return self.net


def direction(s, q: float, damping: float, rcond: float, path: str, *, cotangent=None,
              params=None, tol: float = 1e-10, maxiter: int = 200,
              balanced_rtol: float = BALANCED_PATH_RTOL) -> tuple:
    """``H^{+1/q} u`` for every member of ``s`` by the path the policy gives.

    Parameters
    ----------
    s : Stack or Members
        The members (``weights``, ``parts``, ``map``, ``input_cov_sqrt``, ``is_whitened``,
        ``xp``, ``member(b)``).
    q, damping, rcond : float
        As for :func:`dlnsim.rules.ngd` (checked by the caller).
    path : str
        One of :data:`PATHS`.
    cotangent
        ``Y`` with ``u = J_R^T Y`` (the plain gradient has it); the balanced and Krylov paths
        need it.
    params
        ``u`` per layer, where there is no cotangent.
    tol, maxiter
        The Krylov path's accuracy and iteration cap.
    balanced_rtol : float
        The imbalance ``path="balanced"`` accepts.

    Returns
    -------
    tuple
        One array a layer, with the members' leading axis.
    """
    applies = cotangent is not None and s.is_whitened
    if path in ("balanced", "krylov") and not applies:
        raise ValueError(f"path={path!r} needs whitened inputs (S = I) and the plain "
                         "gradient (no transform before ngd)")
    on_numpy = is_numpy_namespace(s.xp)
    if path == "krylov" and not on_numpy:
        raise ValueError("path='krylov' runs on numpy arrays only; use 'dense' or "
                         "'balanced' with the torch backend")
    check_path(path, len(s.weights))
    chosen = path
    if path == "auto":
        if len(s.weights) == 2:  # exact for every depth-2 network, S and imbalance
            chosen = "depth2"
        elif applies and bool(s.xp.all(batched.imbalance_ratio(s.weights) <= BALANCE_RTOL)):
            chosen = "balanced"
        elif applies and on_numpy and math.prod(s.map.shape[-2:]) > DENSE_MAX:
            chosen = "krylov"
        else:
            chosen = "dense"
    if chosen == "balanced":
        if path == "balanced":
            check_balanced(s.weights, s.xp, balanced_rtol)
        return batched.balanced_ngd_direction(s.parts, s.map, cotangent, q, damping, rcond)
    if chosen == "krylov":
        try:
            return _krylov(s, cotangent, q, damping, rcond, tol, maxiter)
        except (ValueError, krylov.NotConverged):
            # auto promises the exact direction: where Krylov refuses (singular balanced
            # estimate) or misses its tolerance (far from balance), use the dense kernel
            if path == "krylov":
                raise
    eigh = batched.depth2_kernel_eigh(s.weights, s.input_cov_sqrt) \
        if chosen == "depth2" else None
    if cotangent is not None:
        return batched.ngd_direction(s.parts, q, damping, rcond, s.input_cov_sqrt,
                                     cotangent=cotangent, eigh=eigh)
    return batched.ngd_direction(s.parts, q, damping, rcond, s.input_cov_sqrt, params=params,
                                 eigh=eigh)


def _krylov(s, cotangent, q, damping, rcond, tol, maxiter) -> tuple:
    """The Krylov path member by member (numpy only)."""
    out = []
    for b in range(cotangent.shape[0]):
        net = s.member(b)
        y, _ = krylov.inverse_power(net, cotangent[b], q, damping, tol, maxiter, rcond)
        out.append(batched.vjp(net.parts, y))
    return tuple(np.stack([o[i] for o in out]) for i in range(len(s.weights)))


__all__ = ["BALANCED_PATH_RTOL", "BALANCED_RUN_RTOL", "BALANCE_RTOL", "DENSE_MAX", "PATHS",
           "Members", "NotBalanced", "check_balanced", "check_path", "direction"]
