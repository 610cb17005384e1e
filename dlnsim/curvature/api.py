"""The curvature of one :class:`~dlnsim.network.Network` on numpy arrays, validated once.

Each function checks its arguments (shapes, finiteness, ``q >= 1``, SPD covariance), then calls
the unchecked math of :mod:`dlnsim.curvature.batched` once. Runs never come through here: the
rules call the batched math directly on stacks, so nothing is re-validated per evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dlnsim import _validate as V
from dlnsim.curvature import batched, paths
from dlnsim.curvature.paths import BALANCE_RTOL
from dlnsim.curvature.spectral import DEFAULT_RCOND, check_spectral, sqrt_psd
from dlnsim.curvature.spectral import kron_inverse_power as _kron_inverse_power
from dlnsim.network import Network

Params = tuple[np.ndarray, ...]


def cov_of(net: Network, input_cov) -> np.ndarray:
    """``S`` for ``net``'s input width: the identity for None, else a checked SPD matrix."""
    n0 = net.widths[0]
    if input_cov is None:
        return np.eye(n0)
    return V.spd(input_cov, "input_cov", n0)


def _check_params(net: Network, params: Sequence, name: str) -> Params:
    if isinstance(params, np.ndarray) or not isinstance(params, Sequence):
        raise TypeError(f"{name} must be a sequence of {net.depth} arrays (one per layer)")
    if len(params) != net.depth:
        raise ValueError(f"{name} must hold {net.depth} arrays (one per layer), got {len(params)}")
    out = []
    for i, (p, w) in enumerate(zip(params, net.weights)):
        a = V.as_matrix(p, f"{name}[{i}]")
        if a.shape != w.shape:
            raise ValueError(f"{name}[{i}] must have shape {w.shape}, got {a.shape}")
        out.append(a)
    return tuple(out)


def _check_cotangent(net: Network, cotangent, name: str = "cotangent") -> np.ndarray:
    return V.as_matrix(cotangent, name, net.map.shape)


def jvp(net: Network, tangents: Sequence[np.ndarray]) -> np.ndarray:
    """Jacobian-vector product ``dW = sum_i W_{>i} dw_i W_{<i}`` (shape ``(n_d, n_0)``).

    Parameters
    ----------
    net : Network
        The network.
    tangents : sequence of numpy.ndarray
        ``dw``, one array per layer.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_d, n_0)``.
    """
    return batched.jvp(net.parts, _check_params(net, tangents, "tangents"))


def vjp(net: Network, cotangent: np.ndarray) -> Params:
    """Vector-Jacobian product ``(W_{>i}^T Y W_{<i}^T)_i`` for a map-space ``Y``.

    Parameters
    ----------
    net : Network
        The network.
    cotangent : numpy.ndarray
        ``Y``, shape ``(n_d, n_0)``.

    Returns
    -------
    tuple of numpy.ndarray
        One array per layer, shaped like the weights.
    """
    return batched.vjp(net.parts, _check_cotangent(net, cotangent))


def gradient(net: Network, target: np.ndarray, input_cov=None) -> Params:
    """Loss gradient ``g_i = W_{>i}^T (W - W*) S W_{<i}^T`` (Huh 2020, eq 3).

    Parameters
    ----------
    net : Network
        The network.
    target : numpy.ndarray
        ``W*``, shape ``(n_d, n_0)``.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    tuple of numpy.ndarray
        One array per layer, shaped like the weights.
    """
    target = V.as_matrix(target, "target", net.map.shape)
    return batched.vjp(net.parts, (net.map - target) @ cov_of(net, input_cov))


def jvp_r(net: Network, tangents: Sequence[np.ndarray], input_cov=None) -> np.ndarray:
    """``J_R(dw) = J(dw) R`` with ``R = S^{1/2}``.

    Parameters
    ----------
    net : Network
        The network.
    tangents : sequence of numpy.ndarray
        ``dw``, one array per layer.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_d, n_0)``.
    """
    return jvp(net, tangents) @ sqrt_psd(cov_of(net, input_cov))


def vjp_r(net: Network, cotangent: np.ndarray, input_cov=None) -> Params:
    """``J_R^T(Y) = J^T(Y R)``.

    Parameters
    ----------
    net : Network
        The network.
    cotangent : numpy.ndarray
        ``Y``, shape ``(n_d, n_0)``.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    tuple of numpy.ndarray
        One array per layer, shaped like the weights.
    """
    y = _check_cotangent(net, cotangent)
    return batched.vjp(net.parts, y @ sqrt_psd(cov_of(net, input_cov)))


def ngd_direction(net: Network, params: Sequence[np.ndarray], input_cov=None, q: float = 1.0,
                  damping: float = 0.0, rcond: float = DEFAULT_RCOND,
                  cotangent: np.ndarray | None = None, path: str = "auto") -> Params:
    """``H^{+1/q} u`` (or ``(H + eps I)^{-1/q} u``) for the full Gauss-Newton matrix, in map space.

    Parameters
    ----------
    net : Network
        The network.
    params
        The vector ``u`` as per-layer arrays.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).
    q : float
        Curvature order, ``>= 1`` (``inf``: the identity, GD).
    damping : float
        Levenberg-Marquardt ``eps >= 0``; 0 is the pseudo-inverse.
    rcond : float
        Relative eigenvalue cutoff of the pseudo-inverse, in ``[0, 1)``.
    cotangent
        Optional map-space ``Y`` with ``u = J_R^T Y`` exactly (the loss gradient has
        ``Y = Delta R``). Then ``H^{+1/q} u = J_R^T K^{+1/q} Y`` (Huh 2020, eq 9 generalised),
        which needs no projection. Without it ``u`` is split into its part in the range of
        ``J_R^T``, ``J_R^T K^+ J_R u``, which is treated the same way, and its null-space part,
        which the pseudo-inverse removes and damping scales by ``eps^{-1/q}``. That split costs
        accuracy: about ``eps_mach * cond(K)^{1.5}`` relative without damping, against about
        ``eps_mach * cond(K)`` for the cotangent form.
    path
        One of :data:`dlnsim.curvature.paths.PATHS`, chosen by the one policy of
        :mod:`dlnsim.curvature.paths` that :func:`dlnsim.rules.ngd` follows too:
        ``"dense"`` (the dense ``(n_d n_0)``-square kernel, O(n^6)), ``"depth2"`` (depth 2:
        ``n_2`` blocks of size ``n_0``, O(n^4), O(n^3) for ``S = I``), ``"balanced"`` and
        ``"krylov"`` (``S = I`` and a ``cotangent``; balanced networks only, resp. numpy
        matrix-free), ``"auto"``.

    Returns
    -------
    tuple of numpy.ndarray
        One array per layer, shaped like the weights.
    """
    q, damping, rcond = check_spectral(q, damping, rcond)
    paths.check_path(path, net.depth)
    u = _check_params(net, params, "params")
    r = None if input_cov is None else sqrt_psd(cov_of(net, input_cov))
    y = None if cotangent is None else _check_cotangent(net, cotangent)[None]
    if math.isinf(q):  # the identity; a path that does not apply is refused all the same
        if path == "balanced":
            paths.check_balanced(net.weights, np, paths.BALANCED_PATH_RTOL)
        return u
    out = paths.direction(paths.Members(net, None if r is None else r[None]), q, damping, rcond,
                          path, cotangent=y, params=tuple(p[None] for p in u))
    return tuple(o[0] for o in out)


def is_balanced(net: Network, rtol: float = BALANCE_RTOL) -> bool:
    """Whether every ``||c_i||_F <= rtol * sum_j ||w_j||_F^2`` (all layers balanced).

    Parameters
    ----------
    net : Network
        The network.
    rtol : float
        Relative tolerance.

    Returns
    -------
    bool
    """
    return bool(batched.imbalance_ratio(net.weights) <= V.nonnegative(rtol, "rtol"))


def balanced_svd(w: np.ndarray, d: int):
    """``U`` (n_d x n_d), ``V`` (n_0 x n_0) and the eigenvalues of ``K`` in that basis for a
    balanced network of depth ``d`` with map ``w`` (:func:`batched.balanced_kernel_eigenvalues`).

    Parameters
    ----------
    w : numpy.ndarray
        The map, shape ``(n_d, n_0)``.
    d : int
        Depth.

    Returns
    -------
    tuple
        ``(U, V, lam)`` with ``lam`` of shape ``(n_d, n_0)``.
    """
    return batched.balanced_svd(V.as_matrix(w, "w"), V.positive_int(d, "d"))


def balanced_ngd_direction(net: Network, cotangent: np.ndarray, q: float = 1.0,
                           damping: float = 0.0, rcond: float = DEFAULT_RCOND,
                           rtol: float = BALANCE_RTOL) -> Params:
    """``J^T K^{+1/q} Y`` for a balanced network with whitened inputs, in O(d n^3).

    One SVD of the map diagonalises ``K``; exact for balanced networks (claim scale.end_to_end).
    Raises ``ValueError`` naming the measured imbalance when ``net`` is not balanced to
    ``rtol`` (relative to ``sum_j ||w_j||_F^2``).

    Parameters
    ----------
    net : Network
        The network.
    cotangent : numpy.ndarray
        ``Y`` with ``u = J^T Y`` (the loss gradient has ``Y = W - W*``).
    q : float
        Curvature order, ``>= 1`` (``inf``: the identity, GD).
    damping : float
        Levenberg-Marquardt ``eps >= 0``; 0 is the pseudo-inverse.
    rcond : float
        Relative eigenvalue cutoff of the pseudo-inverse, in ``[0, 1)``.
    rtol : float
        The imbalance accepted (relative to ``sum_j ||w_j||_F^2``).

    Returns
    -------
    tuple of numpy.ndarray
        One array per layer, shaped like the weights.
    """
    q, damping, rcond = check_spectral(q, damping, rcond)
    y = _check_cotangent(net, cotangent)
    paths.check_balanced(net.weights, np, V.nonnegative(rtol, "rtol"))
    if math.isinf(q):
        return batched.vjp(net.parts, y)
    return batched.balanced_ngd_direction(net.parts, net.map, y, q, damping, rcond)


def block_factors(net: Network, input_cov=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Kronecker factors of the exact diagonal blocks ``H_i = A_i kron B_i``.

    ``A_i = W_{<i} S W_{<i}^T`` (``n_i x n_i``) and ``B_i = W_{>i}^T W_{>i}``
    (``n_{i+1} x n_{i+1}``), so that ``H_i vec(dw_i) = vec(B_i dw_i A_i)`` (column-major vec).

    Parameters
    ----------
    net : Network
        The network.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).

    Returns
    -------
    list of tuple of numpy.ndarray
        ``(A_i, B_i)`` per layer.
    """
    return batched.block_factors(net.parts, cov_of(net, input_cov))


def kron_inverse_power(a, b, g, q: float, damping: float = 0.0, rcond: float = DEFAULT_RCOND):
    """``(A kron B)^{+1/q} vec(G)`` or ``(A kron B + eps I)^{-1/q} vec(G)``, exactly, O(n^3)
    (:func:`dlnsim.curvature.spectral.kron_inverse_power`, with the arguments checked).

    Parameters
    ----------
    a, b : array_like
        The symmetric PSD factors (``n x n`` and ``m x m``).
    g : array_like
        The vector as an ``m x n`` matrix.
    q : float
        Curvature order, ``>= 1`` (``inf``: the identity, GD).
    damping : float
        Levenberg-Marquardt ``eps >= 0``; 0 is the pseudo-inverse.
    rcond : float
        Relative eigenvalue cutoff of the pseudo-inverse, in ``[0, 1)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(m, n)``.
    """
    q, damping, rcond = check_spectral(q, damping, rcond)
    a = V.as_matrix(a, "a")
    b = V.as_matrix(b, "b")
    g = V.as_matrix(g, "g", (b.shape[0], a.shape[0]))
    return _kron_inverse_power(a, b, g, q, damping, rcond)


def block_ngd_direction(net: Network, params: Sequence[np.ndarray], input_cov=None,
                        q: float = 1.0, damping: float = 0.0,
                        rcond: float = DEFAULT_RCOND) -> Params:
    """Block-diagonal q-NGD-d: ``d^{-1/q} H_i^{+1/q} u_i`` per layer (Huh 2020, eqs 19-21).

    Parameters
    ----------
    net : Network
        The network.
    params : sequence of numpy.ndarray
        The vector ``u``, one array per layer.
    input_cov : array_like, optional
        The input covariance ``S`` (SPD; default the identity).
    q : float
        Curvature order, ``>= 1`` (``inf``: the identity, GD).
    damping : float
        Levenberg-Marquardt ``eps >= 0``; 0 is the pseudo-inverse.
    rcond : float
        Relative eigenvalue cutoff of the pseudo-inverse, in ``[0, 1)``.

    Returns
    -------
    tuple of numpy.ndarray
        One array per layer, shaped like the weights.
    """
    q, damping, rcond = check_spectral(q, damping, rcond)
    u = _check_params(net, params, "params")
    cov = cov_of(net, input_cov)
    if math.isinf(q):
        return u
    return batched.block_ngd_direction(net.parts, u, q, damping, rcond, cov)
