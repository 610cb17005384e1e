"""Trajectory: saved times, weights and derived series, with status and message.

Saved and loaded as ``.npz`` without pickle; files are written atomically (temporary file in
the same folder, then ``os.replace``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from dlnsim._io import atomic_write
from dlnsim.network import Network
from dlnsim.solve.status import Status
from dlnsim.task import Task

STATUS_SUCCESS = int(Status.SUCCESS)   # aliases of dlnsim.Status, kept for dlnsim 0.1 code
STATUS_DIVERGED = int(Status.DIVERGED)
STATUS_FAILED = int(Status.FAILED)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The result of :func:`dlnsim.simulate`.

    Attributes
    ----------
    t
        Save times (continuous time, or step numbers for discrete runs), shape ``(T,)``.
    weights
        One array per layer, shape ``(T, n_{i+1}, n_i)``.
    map
        ``W(t)``, shape ``(T, n_d, n_0)``.
    loss
        Train loss, shape ``(T,)``.
    imbalance
        ``c_i(t)`` (Huh 2020, eq 15), ``depth - 1`` arrays of shape ``(T, n_{i+1}, n_{i+1})``.
    mode_strengths
        ``diag(U*^T W(t) V*)``: the map's singular-mode strengths in the target's SVD basis,
        shape ``(T, min(n_0, n_d))``.
    test_loss
        Population test loss for teacher-student tasks, else ``None``.
    status, message
        :class:`dlnsim.Status`, as in ``scipy.integrate.solve_ivp``: 0 reached the last time,
        1 diverged (non-finite or too large state), -1 the integrator or the field failed,
        2 interrupted. Arrays then end at the last good save time.
    """

    t: np.ndarray
    weights: tuple[np.ndarray, ...]
    map: np.ndarray
    loss: np.ndarray
    imbalance: tuple[np.ndarray, ...]
    mode_strengths: np.ndarray
    test_loss: np.ndarray | None
    status: int
    message: str
    method: str = ""
    rule: str = ""
    lr: float = 1.0
    nfev: int = 0

    @property
    def success(self) -> bool:
        return self.status == STATUS_SUCCESS

    def network(self, k: int = -1) -> Network:
        """The network at save index ``k``."""
        return Network([w[k] for w in self.weights])

    def __len__(self) -> int:
        return len(self.t)

    def __repr__(self) -> str:
        return (f"Trajectory(T={len(self.t)}, t=[{self.t[0]:g}, {self.t[-1]:g}], "
                f"rule={self.rule!r}, status={self.status}, message={self.message!r})")

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` file atomically (no pickled objects)."""
        path = os.fspath(path)
        arrays = {
            "t": self.t, "map": self.map, "loss": self.loss,
            "mode_strengths": self.mode_strengths,
            "status": np.array(self.status), "message": np.array(self.message),
            "method": np.array(self.method), "rule": np.array(self.rule),
            "lr": np.array(self.lr), "nfev": np.array(self.nfev),
            "depth": np.array(len(self.weights)),
        }
        for i, w in enumerate(self.weights):
            arrays[f"weights_{i}"] = w
        for i, c in enumerate(self.imbalance):
            arrays[f"imbalance_{i}"] = c
        if self.test_loss is not None:
            arrays["test_loss"] = self.test_loss
        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:  # a file object: savez would append ".npz" to a name
                np.savez(fh, **arrays)

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        """Read a file written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(os.fspath(path), allow_pickle=False) as f:
            try:
                d = int(f["depth"])
                return cls(
                    t=f["t"], weights=tuple(f[f"weights_{i}"] for i in range(d)),
                    map=f["map"], loss=f["loss"],
                    imbalance=tuple(f[f"imbalance_{i}"] for i in range(d - 1)),
                    mode_strengths=f["mode_strengths"],
                    test_loss=f["test_loss"] if "test_loss" in f.files else None,
                    status=int(f["status"]), message=str(f["message"]),
                    method=str(f["method"]), rule=str(f["rule"]), lr=float(f["lr"]),
                    nfev=int(f["nfev"]),
                )
            except KeyError as exc:
                raise ValueError(f"{os.fspath(path)} is not a dlnsim trajectory: missing {exc}")\
                    from None


def from_weights(t: np.ndarray, weights: list[tuple[np.ndarray, ...]], task: Task,
                 status: int, message: str, **meta) -> Trajectory:
    """Build a trajectory from saved per-time weight tuples, computing the derived series."""
    depth = len(weights[0])
    stacked = tuple(np.stack([w[i] for w in weights]) for i in range(depth))
    nets = [Network(list(w)) for w in weights]
    maps = np.stack([n.map for n in nets])
    u_star, _, vt_star = np.linalg.svd(task.target)
    r = min(task.target.shape)
    strengths = np.einsum("ki,tkl,li->ti", u_star[:, :r], maps, vt_star[:r].T)
    per_net = [n.imbalance() for n in nets]
    imbalance = tuple(np.stack([c[i] for c in per_net]) for i in range(depth - 1))
    test = np.array([task.test_loss(m) for m in maps]) if task.has_test else None
    return Trajectory(
        t=np.asarray(t, dtype=float), weights=stacked, map=maps,
        loss=np.array([task.loss(m) for m in maps]), imbalance=imbalance,
        mode_strengths=strengths, test_loss=test, status=Status(int(status)), message=message,
        **meta,
    )


@dataclass(frozen=True, eq=False)
class Ensemble:
    """The result of :func:`dlnsim.simulate_ensemble`: ``B`` runs stacked on a shared time grid.

    Attributes
    ----------
    t
        Save times (or step numbers), shape ``(T,)``.
    weights
        One array per layer, shape ``(B, T, n_{i+1}, n_i)``.
    map, loss
        ``W(t)`` of shape ``(B, T, n_d, n_0)`` and the train loss, shape ``(B, T)``.
    saved
        How many save times each member reached, shape ``(B,)``. A member that stopped early
        (``status != 0``) repeats its last saved state after that, so the arrays hold no NaN;
        :attr:`valid` masks those entries and :meth:`member` drops them.
    status, message
        Per member, as :class:`Trajectory`.
    """

    t: np.ndarray
    weights: tuple[np.ndarray, ...]
    map: np.ndarray
    loss: np.ndarray
    saved: np.ndarray
    status: np.ndarray
    message: tuple[str, ...]
    tasks: tuple[Task, ...]
    rule: tuple[str, ...]
    lr: np.ndarray
    method: str = ""
    backend: str = "numpy"
    nfev: int = 0

    @property
    def success(self) -> bool:
        """Whether every member reached the last save time."""
        return bool(np.all(self.status == STATUS_SUCCESS))

    @property
    def valid(self) -> np.ndarray:
        """``(B, T)`` mask of the entries each member actually reached."""
        return np.arange(len(self.t))[None, :] < self.saved[:, None]

    def __len__(self) -> int:
        return len(self.status)

    def member(self, b: int) -> Trajectory:
        """Member ``b`` as a :class:`Trajectory` (its reached save times only)."""
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)):
            raise TypeError(f"b must be an integer, got {type(b).__name__}")
        if not -len(self) <= b < len(self):
            raise ValueError(f"b must be in [0, {len(self)}), got {b}")
        k = int(self.saved[b])
        return from_weights(self.t[:k], [tuple(w[b, j] for w in self.weights) for j in range(k)],
                            self.tasks[b], int(self.status[b]), self.message[b],
                            method=self.method, rule=self.rule[b], lr=float(self.lr[b]),
                            nfev=self.nfev)

    def __repr__(self) -> str:
        ok = int(np.sum(self.status == STATUS_SUCCESS))
        return (f"Ensemble(B={len(self)}, T={len(self.t)}, backend={self.backend!r}, "
                f"{ok} of {len(self)} reached t={self.t[-1]:g})")
