"""Trajectory: saved times, weights and derived series, with status and message.

Saved and loaded as ``.npz`` without pickle; files are written atomically (:mod:`dlnsim._io`)
and checked field by field on load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from dlnsim import _validate as V
from dlnsim._io import read_npz, write_npz
from dlnsim.network import Network
from dlnsim.solve.status import Status
from dlnsim.task import Task

FORMAT = "dlnsim.trajectory/1"  # written into every saved file; load reads /0 (dlnsim 0.1) too


class RunResult:
    """What every run's result shares (:class:`Trajectory`, :class:`Ensemble` members,
    :class:`dlnsim.modes.ModeTrajectory`): a :class:`dlnsim.Status` and a message, as in
    ``scipy.integrate.solve_ivp``, and ``.npz`` persistence through
    :func:`dlnsim._io.write_npz` and :func:`dlnsim._io.read_npz` (atomic, no pickle, a
    recorded format)."""

    status: int
    message: str

    @property
    def success(self) -> bool:
        """Whether the run reached the last save time (``status == 0``)."""
        return self.status == Status.SUCCESS


def checked_status(value: int, bad) -> Status:
    """``value`` as a :class:`Status`, or ``bad(what)`` raised."""
    if int(value) not in {int(s) for s in Status}:
        raise bad(f"status must be one of {[int(s) for s in Status]}, got {value}")
    return Status(int(value))


@dataclass(frozen=True, eq=False)
class Trajectory(RunResult):
    """The result of :func:`dlnsim.simulate`.

    Parameters
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
    method, rule, lr, nfev
        How it was computed: the integrator's label, the rule's name, the learning rate and
        the number of vector-field evaluations.
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

    def network(self, k: int = -1) -> Network:
        """The network at save index ``k``.

        Parameters
        ----------
        k : int
            Save index (negative counts from the end; default the last).

        Returns
        -------
        Network
        """
        return Network([w[k] for w in self.weights])

    def __len__(self) -> int:
        return len(self.t)

    def plot(self):
        """Loss, mode strengths and imbalance drift against time, labelled
        (:func:`dlnsim.plots.runs.trajectory_figure`).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from dlnsim.plots.runs import trajectory_figure

        return trajectory_figure(self)

    def __repr__(self) -> str:
        return (f"Trajectory(T={len(self.t)}, t=[{self.t[0]:g}, {self.t[-1]:g}], "
                f"rule={self.rule!r}, status={self.status}, message={self.message!r})")

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` file atomically (no pickled objects; the file records its format,
        :data:`FORMAT`). A symbolic link is written through to its target; a destination that
        is not a regular file is refused with ``ValueError``.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (its folder must exist).
        """
        arrays = {
            "format": np.array(FORMAT),
            "t": self.t, "map": self.map, "loss": self.loss,
            "mode_strengths": self.mode_strengths,
            "status": np.array(int(self.status)), "message": np.array(self.message),
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
        write_npz(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        """Read a file written by :meth:`save` (``allow_pickle=False``), checking every field.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        Trajectory

        Raises
        ------
        ValueError
            Naming the file and what is wrong (not an npz archive, pickled data, a newer
            format, a missing field, inconsistent shapes, non-finite values).
        """
        return read_npz(path, "dlnsim trajectory", _read)


def _times(t: np.ndarray, bad) -> np.ndarray:
    """Save times: real numbers (not complex, not text), 1-D, finite, strictly increasing."""
    if t.dtype.kind not in "fi":
        raise bad(f"t must hold real numbers, got {t.dtype}")
    if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise bad("t must be a 1-D, finite, strictly increasing array")
    return t


def _read(f, name: str) -> Trajectory:
    """The fields of an opened trajectory archive, each checked against the others."""
    def bad(what: str):
        return ValueError(f"{name} is not a valid dlnsim trajectory: {what}")

    fmt = str(f["format"]) if "format" in f.files else "dlnsim.trajectory/0"  # dlnsim 0.1
    if fmt not in ("dlnsim.trajectory/0", FORMAT):
        raise bad(f"format {fmt!r} is not one this version reads ({FORMAT!r}); it was written "
                  "by a newer dlnsim")

    def scalar(key, kind):
        a = f[key]
        if a.shape != () or not np.issubdtype(a.dtype, kind):
            raise bad(f"{key} must be a scalar of kind {kind.__name__}, got {a.dtype} "
                      f"{a.shape}")
        return a[()]

    def real(key, shape):
        a = f[key]
        if a.dtype.kind not in "fi" or a.shape != shape or not np.all(np.isfinite(a)):
            raise bad(f"{key} must be a finite real array of shape {shape}, got {a.dtype} "
                      f"{a.shape}")
        return np.asarray(a, dtype=float)

    depth = int(scalar("depth", np.integer))
    if depth < 1:
        raise bad(f"depth must be >= 1, got {depth}")
    expected = {"format", "depth", "t", "map", "loss", "mode_strengths", "status", "message",
                "method", "rule", "lr", "nfev", "test_loss"} | {
        f"weights_{i}" for i in range(depth)} | {f"imbalance_{i}" for i in range(depth - 1)}
    extra = sorted(set(f.files) - expected)
    if extra:
        raise bad(f"unknown fields {', '.join(extra)} (a file of another kind or version?)")
    t = _times(f["t"], bad)
    n_t = t.size
    weights = []
    for i in range(depth):
        w = f[f"weights_{i}"]
        if w.ndim != 3 or w.shape[0] != n_t:
            raise bad(f"weights_{i} must have shape ({n_t}, n_{i + 1}, n_{i}), got {w.shape}")
        if i and w.shape[2] != weights[-1].shape[1]:
            raise bad(f"weights_{i} has {w.shape[2]} columns, weights_{i - 1} has "
                      f"{weights[-1].shape[1]} rows")
        weights.append(real(f"weights_{i}", w.shape))
    widths = (weights[0].shape[2],) + tuple(w.shape[1] for w in weights)
    maps = real("map", (n_t, widths[-1], widths[0]))
    product = weights[0]
    for w in weights[1:]:
        product = w @ product
    if np.abs(product - maps).max() > 1e-10 * max(1.0, np.abs(product).max()):
        raise bad("map is not the product of the weights")
    imbalance = tuple(real(f"imbalance_{i}", (n_t, widths[i + 1], widths[i + 1]))
                      for i in range(depth - 1))
    for i, c in enumerate(imbalance):  # eq 15, from the weights it was saved with
        w0, w1 = weights[i], weights[i + 1]
        want = w0 @ np.swapaxes(w0, -1, -2) - np.swapaxes(w1, -1, -2) @ w1
        scale = max(1.0, float(np.abs(w0).max()) ** 2, float(np.abs(w1).max()) ** 2)
        if np.abs(c - want).max() > 1e-10 * scale:
            raise bad(f"imbalance_{i} is not w_{i + 1} w_{i + 1}^T - w_{i + 2}^T w_{i + 2} "
                      f"of the weights")
    test = real("test_loss", (n_t,)) if "test_loss" in f.files else None
    status = checked_status(scalar("status", np.integer), bad)
    lr = float(scalar("lr", np.floating))
    nfev = int(scalar("nfev", np.integer))
    if not (lr > 0 and np.isfinite(lr)) or nfev < 0:
        raise bad(f"lr must be > 0 and nfev >= 0, got lr = {lr}, nfev = {nfev}")
    return Trajectory(
        t=np.asarray(t, dtype=float), weights=tuple(weights), map=maps,
        loss=real("loss", (n_t,)), imbalance=imbalance,
        mode_strengths=real("mode_strengths", (n_t, min(widths[0], widths[-1]))),
        test_loss=test, status=status, message=str(scalar("message", np.str_)),
        method=str(scalar("method", np.str_)), rule=str(scalar("rule", np.str_)), lr=lr,
        nfev=nfev)


def from_weights(t: np.ndarray, weights: list[tuple[np.ndarray, ...]], task: Task,
                 status: int, message: str, **meta) -> Trajectory:
    """Build a trajectory from saved per-time weight tuples, computing the derived series."""
    depth = len(weights[0])
    stacked = tuple(np.stack([w[i] for w in weights]) for i in range(depth))
    nets = [Network(list(w)) for w in weights]
    maps = np.stack([n.map for n in nets])
    u_star, _, vt_star = np.linalg.svd(task.target)
    r = min(task.target.shape)
    # u_i^T W v_i as (U_r^T W) * V_r^T summed: two BLAS-sized steps (a three-operand einsum
    # loops over t, k, l and i at once: 0.65 s per run at n = 256)
    strengths = np.sum((u_star[:, :r].T @ maps) * vt_star[:r], axis=-1)
    per_net = [n.imbalance() for n in nets]
    imbalance = tuple(np.stack([c[i] for c in per_net]) for i in range(depth - 1))
    test = np.array([task.test_loss(m) for m in maps]) if task.has_test else None
    return Trajectory(
        t=np.asarray(t, dtype=float), weights=stacked, map=maps,
        loss=np.array([task.loss(m) for m in maps]), imbalance=imbalance,
        mode_strengths=strengths, test_loss=test, status=Status(int(status)), message=message,
        **meta,
    )


MODES_FORMAT = "dlnsim.modes/1"  # written into every saved mode trajectory


@dataclass(frozen=True, eq=False)
class ModeTrajectory(RunResult):
    """Singular-mode run: ``sigma`` of shape ``(T, modes, d)`` at times ``t``; status,
    message, ``success`` and ``.npz`` persistence as :class:`dlnsim.Trajectory`.

    Parameters
    ----------
    t : numpy.ndarray
        Save times reached.
    sigma : numpy.ndarray
        Strengths, shape ``(T, modes, d)`` (the map ``W(t)`` for end-to-end runs).
    status : int
        :class:`dlnsim.Status` of the run.
    message : str
        Why it stopped.
    """

    t: np.ndarray
    sigma: np.ndarray
    status: int
    message: str

    @property
    def map(self) -> np.ndarray:
        """``sbar(t) = prod_i sigma_i``, shape ``(T, modes)``."""
        return np.prod(self.sigma, axis=-1)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.sigma, dtype=dtype)

    def save(self, path) -> None:
        """Write an ``.npz`` file atomically, without pickled objects (format
        ``dlnsim.modes/1``).

        Parameters
        ----------
        path : str or os.PathLike
            The file (its folder must exist).
        """
        write_npz(path, {"format": np.array(MODES_FORMAT), "t": self.t, "sigma": self.sigma,
                         "status": np.array(int(self.status)),
                         "message": np.array(self.message)})

    @classmethod
    def load(cls, path) -> ModeTrajectory:
        """Read a file written by :meth:`save`, checking every field.

        Parameters
        ----------
        path : str or os.PathLike
            The file.

        Returns
        -------
        ModeTrajectory

        Raises
        ------
        ValueError
            Naming the file and what is wrong.
        """
        return read_npz(path, "dlnsim mode trajectory", _read_modes)


def _read_modes(f, name: str) -> ModeTrajectory:
    def bad(what: str):
        return ValueError(f"{name} is not a valid dlnsim mode trajectory: {what}")

    fmt = str(f["format"])
    if fmt != MODES_FORMAT:
        raise bad(f"format {fmt!r} is not {MODES_FORMAT!r}")
    extra = sorted(set(f.files) - {"format", "t", "sigma", "status", "message"})
    if extra:
        raise bad(f"unknown fields {', '.join(extra)} (a file of another kind or version?)")
    t, sigma = _times(f["t"], bad), f["sigma"]
    if sigma.dtype.kind not in "fi" or sigma.ndim < 2 or sigma.shape[0] != t.size \
            or not np.all(np.isfinite(sigma)):
        raise bad(f"sigma must be a finite real array of shape ({t.size}, ...), got "
                  f"{sigma.dtype} {sigma.shape}")
    status, message = f["status"], f["message"]
    if status.shape != () or not np.issubdtype(status.dtype, np.integer) \
            or message.shape != () or not np.issubdtype(message.dtype, np.str_):
        raise bad("status must be an integer and message a string")
    return ModeTrajectory(np.asarray(t, dtype=float), np.asarray(sigma, dtype=float),
                          checked_status(status[()], bad), str(message[()]))


@dataclass(frozen=True, eq=False)
class Ensemble:
    """The result of :func:`dlnsim.simulate_ensemble`: ``B`` runs stacked on a shared time grid.

    Parameters
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
    tasks, rule, lr
        Per member: its task, its rule's name and its learning rate.
    method, backend, nfev
        The integrator's label, where the arrays lived (``numpy`` or ``torch:DEVICE``) and the
        number of vector-field evaluations.
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
        return bool(np.all(self.status == Status.SUCCESS))

    @property
    def valid(self) -> np.ndarray:
        """``(B, T)`` mask of the entries each member actually reached."""
        return np.arange(len(self.t))[None, :] < self.saved[:, None]

    def __len__(self) -> int:
        return len(self.status)

    def plot(self):
        """Every member's train loss against time (:func:`dlnsim.plots.runs.ensemble_figure`).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from dlnsim.plots.runs import ensemble_figure

        return ensemble_figure(self)

    def member(self, b: int) -> Trajectory:
        """Member ``b`` as a :class:`Trajectory` (its reached save times only).

        Parameters
        ----------
        b : int
            Member index, ``-B <= b < B``.

        Returns
        -------
        Trajectory
        """
        b = V.index(b, "b", len(self), negative=True)
        k = int(self.saved[b])
        return from_weights(self.t[:k], [tuple(w[b, j] for w in self.weights) for j in range(k)],
                            self.tasks[b], int(self.status[b]), self.message[b],
                            method=self.method, rule=self.rule[b], lr=float(self.lr[b]),
                            nfev=self.nfev)

    def __repr__(self) -> str:
        ok = int(np.sum(self.status == Status.SUCCESS))
        return (f"Ensemble(B={len(self)}, T={len(self.t)}, backend={self.backend!r}, "
                f"{ok} of {len(self)} reached t={self.t[-1]:g})")
