"""Regression tasks: target map, input covariance, train and test loss.

Loss (Huh 2020, eq 1): ``L(W) = 1/2 Tr[(W - W*) S (W - W*)^T] + loss_offset``, where the
offset is the part of the data loss that no map can remove (zero for a bare target).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dlnsim import _validate as V


@dataclass(frozen=True, eq=False)
class Task:
    """Target ``W*`` (shape ``(n_d, n_0)``) and SPD input covariance ``S`` (default ``I``).

    Parameters
    ----------
    target
        The desired map ``W* = E[y x^T] S^{-1}``.
    input_cov
        ``S = E[x x^T]``, symmetric positive definite; ``None`` means the identity.
    loss_offset
        Constant added to the train loss (the irreducible part of a data set's loss).
    teacher
        For teacher-student tasks, the teacher map; enables :meth:`test_loss`.
    test_offset
        Constant added to the test loss (the noise floor of fresh data).
    inputs, outputs
        The training data ``X`` (``n_0 x P``) and ``Y`` (``n_d x P``) of data-built tasks.
    """

    target: np.ndarray
    input_cov: np.ndarray | None = None
    loss_offset: float = 0.0
    teacher: np.ndarray | None = None
    test_offset: float = 0.0
    inputs: np.ndarray | None = None
    outputs: np.ndarray | None = None

    def __post_init__(self):
        target = V.as_matrix(self.target, "target")
        n_in = target.shape[1]
        cov = np.eye(n_in) if self.input_cov is None else V.spd(self.input_cov, "input_cov")
        if cov.shape[0] != n_in:
            raise ValueError(
                f"input_cov must be ({n_in}, {n_in}) to match target's {n_in} columns, "
                f"got {cov.shape}"
            )
        cov.setflags(write=False)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "input_cov", cov)
        object.__setattr__(self, "loss_offset", V.real(self.loss_offset, "loss_offset"))
        object.__setattr__(self, "test_offset", V.real(self.test_offset, "test_offset"))
        if self.teacher is not None:
            object.__setattr__(self, "teacher", V.as_matrix(self.teacher, "teacher", target.shape))
        if (self.inputs is None) != (self.outputs is None):
            raise ValueError("inputs and outputs must be given together")
        if self.inputs is not None:
            x = V.as_matrix(self.inputs, "inputs", (n_in, None))
            y = V.as_matrix(self.outputs, "outputs", (target.shape[0], x.shape[1]))
            object.__setattr__(self, "inputs", x)
            object.__setattr__(self, "outputs", y)

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def teacher_student(
        cls,
        n: int = 16,
        rank: int = 3,
        samples: int | None = None,
        noise: float = 0.1,
        seed: int | None = 0,
        strengths=None,
        n_out: int | None = None,
    ) -> Task:
        """The teacher-student task of Huh (2020), section 6.

        A rank-``rank`` teacher ``W_t = U diag(strengths) V^T`` (random orthonormal ``U, V``)
        labels ``samples`` whitened inputs (``X X^T / P = I`` exactly) with Gaussian label noise
        of standard deviation ``noise`` per output: ``y = W_t x + z``. The train target is
        ``W* = E[y x^T] S^{-1} = W_t + Z X^T / P``; the test loss is the population loss on fresh
        data, ``1/2 ||W - W_t||_F^2 + n_out noise^2 / 2``.

        Parameters
        ----------
        n, n_out
            Input and output widths (``n_out`` defaults to ``n``).
        rank
            Rank of the teacher.
        samples
            Number of training samples ``P >= n``; default ``P = n`` (most prone to overfit).
        noise
            Standard deviation of the label noise.
        strengths
            Teacher singular values, shape ``(rank,)``; default ``rank, rank - 1, ..., 1``.
        seed
            Seed of the teacher's bases, the inputs and the noise.

        Returns
        -------
        Task
            With ``teacher`` set, so :meth:`test_loss` is defined.
        """
        n = _count(n, "n")
        n_out = n if n_out is None else _count(n_out, "n_out")
        rank = _count(rank, "rank")
        if rank > min(n, n_out):
            raise ValueError(f"rank must be <= min(n, n_out) = {min(n, n_out)}, got {rank}")
        samples = n if samples is None else _count(samples, "samples")
        if samples < n:
            raise ValueError(f"samples must be >= n = {n} so the inputs can be whitened")
        noise = V.nonnegative(noise, "noise")
        if strengths is None:
            s = np.arange(rank, 0, -1, dtype=float)
        else:
            s = V.real_array(strengths, "strengths").reshape(-1)
            if s.shape != (rank,) or not np.all(np.isfinite(s)):
                raise ValueError(f"strengths must be {rank} finite numbers, got {strengths!r}")
        rng = np.random.default_rng(V.seed(seed, allow_none=True))
        u = np.linalg.qr(rng.standard_normal((n_out, rank)))[0]
        v = np.linalg.qr(rng.standard_normal((n, rank)))[0]
        teacher = (u * s) @ v.T
        x = rng.standard_normal((n, samples))
        # Whiten exactly: X = U S V^T -> sqrt(P) U V^T, i.e. (X X^T / P)^{-1/2} X, computed
        # through the SVD so that X X^T / P = I to machine precision even when P = n.
        u_x, _, vt_x = np.linalg.svd(x, full_matrices=False)
        x = np.sqrt(samples) * (u_x @ vt_x)
        with np.errstate(over="ignore", invalid="ignore"):
            y = teacher @ x + noise * rng.standard_normal((n_out, samples))
            target = y @ x.T / samples  # S = I
            loss_offset = 0.5 * (np.sum(y * y) / samples - np.sum(target * target))
            test_offset = float(0.5 * n_out * np.float64(noise) ** 2)
        if not (np.all(np.isfinite(y)) and np.isfinite(loss_offset) and np.isfinite(test_offset)):
            raise ValueError(f"noise = {noise:g} or strengths (max {np.abs(s).max():g}) are too "
                             "large: the labels or their loss overflow float64")
        return cls(
            target=target,
            input_cov=None,
            loss_offset=loss_offset,
            teacher=teacher,
            test_offset=test_offset,
            inputs=x,
            outputs=y,
        )

    # -- derived quantities ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(n_d, n_0)`` of the target map."""
        return self.target.shape

    @cached_property
    def input_cov_sqrt(self) -> np.ndarray:
        """``R = S^{1/2}`` (symmetric square root)."""
        evals, evecs = np.linalg.eigh(self.input_cov)
        return (evecs * np.sqrt(evals)) @ evecs.T

    @cached_property
    def is_whitened(self) -> bool:
        """Whether the input covariance is exactly the identity (``S = I``)."""
        return bool(np.array_equal(self.input_cov, np.eye(self.input_cov.shape[0])))

    def residual(self, W: np.ndarray) -> np.ndarray:
        """``Delta = W - W*``.

        Parameters
        ----------
        W : numpy.ndarray
            A map of shape ``(n_d, n_0)``.

        Returns
        -------
        numpy.ndarray
        """
        return W - self.target

    def loss(self, W: np.ndarray) -> float:
        """Train loss ``1/2 Tr[Delta S Delta^T] + loss_offset`` (Huh 2020, eq 1).

        Both terms are sums of squares; a total below 0 (rounding, ~1e-15 relative to the data
        loss when the map fits the data) is reported as 0.

        Parameters
        ----------
        W : numpy.ndarray
            A map of shape ``(n_d, n_0)``.

        Returns
        -------
        float
        """
        delta = self.residual(W)
        return max(0.5 * float(np.sum((delta @ self.input_cov) * delta)) + self.loss_offset, 0.0)

    @property
    def has_test(self) -> bool:
        """Whether the task has a teacher, hence a test loss (``Task.teacher_student``)."""
        return self.teacher is not None

    def test_loss(self, W: np.ndarray) -> float:
        """Population loss on fresh whitened data from the teacher,
        ``1/2 ||W - W_t||_F^2 + n_out noise^2 / 2``.

        Parameters
        ----------
        W : numpy.ndarray
            A map of shape ``(n_d, n_0)``.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            The task has no teacher (it was not built by :meth:`teacher_student`).
        """
        if self.teacher is None:
            raise ValueError("this task has no teacher; test_loss needs Task.teacher_student")
        delta = W - self.teacher
        return 0.5 * float(np.sum(delta * delta)) + self.test_offset

    def __repr__(self) -> str:
        kind = "teacher-student" if self.has_test else "target"
        return f"Task({kind}, shape={self.shape}, whitened={self.is_whitened})"


def _count(x, name: str) -> int:
    return V.positive_int(x, name)
