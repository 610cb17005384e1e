"""Deep linear networks: weights, map, partial products and the imbalance c_i.

Conventions (README, "Conventions"): ``widths = (n_0, ..., n_d)`` input first, ``weights[i]``
has shape
``(n_{i+1}, n_i)`` (the paper's ``w_{i+1}``), map ``W = w_d ... w_1``,
``W_{>i} = w_d ... w_{i+1}`` and ``W_{<i} = w_{i-1} ... w_1`` (identity when empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device

from dlnsim import _validate as V


def partial_products(weights: Sequence) -> tuple[list, list]:
    """``(above, below)``: ``W_{>i}`` and ``W_{<i}`` for every layer ``i`` (0-based).

    Works on stacks of any array-API namespace (numpy or torch) with any leading (ensemble)
    dimensions, ``weights[i]`` of shape ``(..., n_{i+1}, n_i)``. Empty products are identities
    without leading dimensions (matmul broadcasts them). The one place they are computed.

    Parameters
    ----------
    weights : sequence of array
        ``(..., n_{i+1}, n_i)`` per layer.

    Returns
    -------
    tuple of list
        ``(above, below)``.
    """
    xp = array_namespace(*weights)
    d = len(weights)

    def eye(n, like):
        return xp.eye(n, dtype=like.dtype, device=_device(like))

    below = [eye(weights[0].shape[-1], weights[0])]
    for i in range(1, d):
        below.append(weights[i - 1] @ below[-1])
    above = [eye(weights[-1].shape[-2], weights[-1])]
    for i in range(d - 2, -1, -1):
        above.append(above[-1] @ weights[i + 1])
    return above[::-1], below


@dataclass(frozen=True, eq=False)
class Network:
    """A deep linear network ``x -> w_d...w_1 x``.

    Parameters
    ----------
    weights
        Sequence of 2-D arrays, input layer first; ``weights[i]`` maps width ``n_i`` to
        ``n_{i+1}``. Stored as read-only float64 copies.
    """

    weights: tuple[np.ndarray, ...]

    def __init__(self, weights: Sequence):
        if isinstance(weights, np.ndarray) and weights.ndim == 2:
            weights = [weights]
        if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray)):
            raise TypeError(
                f"weights must be a sequence of 2-D arrays, got {type(weights).__name__}"
            )
        if len(weights) == 0:
            raise ValueError("weights must hold at least one layer (depth >= 1), got none")
        ws = tuple(V.as_matrix(w, f"weights[{i}]") for i, w in enumerate(weights))
        for i in range(1, len(ws)):
            if ws[i].shape[1] != ws[i - 1].shape[0]:
                raise ValueError(
                    f"weights[{i}] has {ws[i].shape[1]} columns but weights[{i - 1}] has "
                    f"{ws[i - 1].shape[0]} rows; widths must chain (weights input layer first)"
                )
        object.__setattr__(self, "weights", ws)
        with np.errstate(over="ignore", invalid="ignore"):
            finite = bool(np.all(np.isfinite(self.map)))
        if not finite:
            raise ValueError("weights are too large: their product, the map w_d ... w_1, "
                             "overflows float64")

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def random(cls, widths: Sequence[int], scale: float = 1e-2, seed: int | None = 0) -> Network:
        """I.i.d. Gaussian weights with entries ``N(0, scale^2)``.

        For the usual ``1/sqrt(n)`` initialisation pass ``scale=1/sqrt(n)``.

        Parameters
        ----------
        widths : sequence of int
            ``(n_0, ..., n_d)``, input first; at least two entries, each >= 1.
        scale : float
            Standard deviation of every entry (> 0); small values start near the saddle.
        seed : int or None
            Seed of ``numpy.random.default_rng``; None draws fresh entropy.

        Returns
        -------
        Network

        Raises
        ------
        ValueError
            Bad widths, a scale that is not a positive number, or weights that overflow.
        """
        widths = _widths(widths)
        scale = V.positive(scale, "scale")
        rng = np.random.default_rng(V.seed(seed, allow_none=True))
        with np.errstate(over="ignore"):
            ws = [scale * rng.standard_normal((widths[i + 1], widths[i]))
                  for i in range(len(widths) - 1)]
        try:
            return cls(ws)
        except ValueError as exc:
            raise ValueError(f"scale = {scale:g} is too large for widths {widths}: "
                             f"{exc}") from None

    @classmethod
    def aligned(
        cls,
        target,
        strengths,
        widths: Sequence[int] | None = None,
        depth: int | None = None,
        seed: int | None = 0,
    ) -> Network:
        """Weights aligned with the SVD of ``target`` (Huh 2020, footnote 1).

        ``w_i = U_i diag(sigma_{:, i}) U_{i-1}^T`` with ``U_0 = V_*``, ``U_d = U_*`` and random
        orthonormal hidden bases ``U_i`` (from ``seed``), so that the map is
        ``U_* diag(prod_i sigma_{:, i}) V_*^T`` and the full-matrix dynamics of every rule reduce
        exactly to the singular-mode dynamics of :mod:`dlnsim.modes`.

        Parameters
        ----------
        target
            The target map ``W*`` of shape ``(n_d, n_0)``.
        strengths
            Either per-mode map strengths ``sbar`` of shape ``(m,)``, giving the *balanced*
            network ``sigma_i = |sbar|^{1/d}`` (sign on the first layer, so all ``c_i = 0``),
            or per-layer singular values of shape ``(m, d)`` (aligned, not necessarily balanced).
            Mode ``k`` uses the ``k``-th singular pair of ``target``.
        widths
            ``(n_0, ..., n_d)``; default ``(n_0, r, ..., r, n_d)`` with ``r = min(n_0, n_d)``.
            ``m`` must not exceed ``min(widths)``.
        depth
            Needed with ``(m,)`` strengths when ``widths`` is not given.
        seed
            Seed of the random hidden bases.

        Returns
        -------
        Network
            Aligned with ``target`` (and balanced for ``(m,)`` strengths).
        """
        target = V.as_matrix(target, "target")
        s = V.real_array(strengths, "strengths")
        if s.ndim not in (1, 2) or s.size == 0:
            raise ValueError("strengths must be a non-empty array of shape (m,) or (m, d)")
        if not np.all(np.isfinite(s)):
            raise ValueError("strengths must be finite")
        n_out, n_in = target.shape
        if widths is None:
            d = s.shape[1] if s.ndim == 2 else depth
            if d is None:
                raise ValueError("depth is required when strengths has shape (m,) and no widths")
            d = V.positive_int(d, "depth")
            widths = (n_in,) + (min(n_in, n_out),) * (d - 1) + (n_out,)
        widths = _widths(widths)
        d = len(widths) - 1
        if depth is not None and depth != d:
            raise ValueError(f"depth={depth} disagrees with widths of depth {d}")
        if (widths[0], widths[-1]) != (n_in, n_out):
            raise ValueError(
                f"widths must start with n_0={n_in} and end with n_d={n_out} to match target"
            )
        m = s.shape[0]
        if m > min(widths):
            raise ValueError(f"strengths has {m} modes but the narrowest width is {min(widths)}")
        if s.ndim == 1:
            layer = np.abs(s) ** (1.0 / d)
            sig = np.repeat(layer[:, None], d, axis=1)
            sig[:, 0] *= np.where(s < 0, -1.0, 1.0)
        else:
            if s.shape[1] != d:
                raise ValueError(f"strengths has shape {s.shape} but the depth is {d}")
            sig = s
        u_star, _, vt_star = np.linalg.svd(target, full_matrices=True)
        rng = np.random.default_rng(V.seed(seed, allow_none=True))
        bases = [vt_star.T] + [_random_orthogonal(n, rng) for n in widths[1:-1]] + [u_star]
        ws = []
        for i in range(d):
            ws.append((bases[i + 1][:, :m] * sig[:, i]) @ bases[i][:, :m].T)
        try:
            return cls(ws)
        except ValueError as exc:
            raise ValueError(f"strengths are too large: {exc}") from None

    # -- shape ------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of layers ``d``."""
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        """``(n_0, n_1, ..., n_d)``, input first."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def n_params(self) -> int:
        """Number of parameters ``P = sum_i n_{i+1} n_i``."""
        return sum(w.size for w in self.weights)

    # -- products ---------------------------------------------------------------------------
    @cached_property
    def parts(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """``(above, below)``: every ``W_{>i}`` and ``W_{<i}`` (:func:`partial_products`)."""
        above, below = partial_products(self.weights)
        return tuple(above), tuple(below)

    def below(self, i: int) -> np.ndarray:
        """``W_{<i} = w_{i-1}...w_1`` for ``weights[i]`` (0-based), shape ``(n_i, n_0)``.

        Parameters
        ----------
        i : int
            Layer index, ``0 <= i < depth``.

        Returns
        -------
        numpy.ndarray
            The product of the layers below ``i`` (the identity for ``i = 0``).
        """
        return self.parts[1][self._index(i)]

    def above(self, i: int) -> np.ndarray:
        """``W_{>i} = w_d...w_{i+1}`` for ``weights[i]`` (0-based), shape ``(n_d, n_{i+1})``.

        Parameters
        ----------
        i : int
            Layer index, ``0 <= i < depth``.

        Returns
        -------
        numpy.ndarray
            The product of the layers above ``i`` (the identity for the last layer).
        """
        return self.parts[0][self._index(i)]

    @cached_property
    def map(self) -> np.ndarray:
        """The input-output map ``W = w_d...w_1``, shape ``(n_d, n_0)``."""
        return self.weights[-1] @ self.parts[1][-1]

    def imbalance(self) -> list[np.ndarray]:
        """``c_i = w_i w_i^T - w_{i+1}^T w_{i+1}`` for adjacent layers (Huh 2020, eq 15).

        Returns
        -------
        list of numpy.ndarray
            ``depth - 1`` matrices; entry ``i`` has shape ``(n_{i+1}, n_{i+1})``. Every full
            q-NGD conserves them (Theorem 1).
        """
        ws = self.weights
        return [ws[i] @ ws[i].T - ws[i + 1].T @ ws[i + 1] for i in range(len(ws) - 1)]

    def squared_norm(self) -> float:
        """``sum_i ||w_i||_F^2``.

        Returns
        -------
        float
        """
        return float(sum(np.vdot(w, w) for w in self.weights))

    def flat(self) -> np.ndarray:
        """All weights as one vector (row-major per layer, input layer first).

        Returns
        -------
        numpy.ndarray
            Shape ``(P,)``, the ordering of the dense reference's ``P x P`` matrices.
        """
        return np.concatenate([w.ravel() for w in self.weights])

    def unflatten(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        """Split a flat vector into arrays shaped like the weights.

        Parameters
        ----------
        theta : numpy.ndarray
            Shape ``(..., P)``, ordered as :meth:`flat`; leading dimensions are kept.

        Returns
        -------
        tuple of numpy.ndarray
            One array per layer, shape ``(..., n_{i+1}, n_i)``.
        """
        return unflatten(theta, self.widths)

    def _index(self, i: int) -> int:
        return V.index(i, "layer index", self.depth)

    def __repr__(self) -> str:
        return f"Network(widths={self.widths})"


def unflatten(theta: np.ndarray, widths: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Split a flat parameter vector into weight matrices for ``widths``.

    Leading dimensions of ``theta`` (e.g. ensemble and time) are kept.
    """
    out, k = [], 0
    lead = theta.shape[:-1]
    for i in range(len(widths) - 1):
        size = widths[i + 1] * widths[i]
        out.append(theta[..., k:k + size].reshape(lead + (widths[i + 1], widths[i])))
        k += size
    if k != theta.shape[-1]:
        raise ValueError(f"theta has {theta.shape[-1]} entries, widths {tuple(widths)} need {k}")
    return tuple(out)


def _widths(widths) -> tuple[int, ...]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, (Sequence, np.ndarray)):
        raise TypeError(f"widths must be a sequence of integers, got {type(widths).__name__}")
    out = []
    for n in widths:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"widths must hold integers, got {n!r}")
        if n < 1:
            raise ValueError(f"widths must be >= 1, got {tuple(widths)}")
        out.append(int(n))
    if len(out) < 2:
        raise ValueError(f"widths must have at least 2 entries (depth >= 1), got {tuple(widths)}")
    return tuple(out)


def _random_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))
