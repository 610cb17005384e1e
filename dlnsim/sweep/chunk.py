"""One chunk of a sweep: a pure function of (spec, chunk id), run by any executor.

:func:`run_chunk` builds its members' networks, task and rules from the spec alone, runs them
with one :func:`dlnsim.simulate_ensemble` call (members that share a rule are batched) and
returns plain arrays. Each member's numbers depend only on its grid point: the batched
integrators keep a step size and status per member, so a member computed in any chunk, by any
worker, equals its lone run bit for bit.
"""

from __future__ import annotations

import math
import time as _time

import numpy as np

from dlnsim.integrate import simulate_ensemble
from dlnsim.sweep.spec import Spec


def mode_strengths(maps: np.ndarray, target: np.ndarray, modes: int) -> np.ndarray:
    """``u_k^T W(t) v_k`` for the target's first ``modes`` singular vectors; maps (..., n, m)."""
    u, _, vt = np.linalg.svd(target)
    return np.sum((u[:, :modes].T @ maps) * vt[:modes], axis=-1)  # no 3-operand einsum loop


def crossing_time(t: np.ndarray, x: np.ndarray, level: float) -> float:
    """First time ``x`` reaches ``level`` from below (linear interpolation between save
    points); NaN if it never does or starts there."""
    above = np.nonzero(x >= level)[0]
    if above.size == 0 or above[0] == 0:
        return math.nan
    k = above[0]
    return float(t[k - 1] + (t[k] - t[k - 1]) * (level - x[k - 1]) / (x[k] - x[k - 1]))


def half_time(t: np.ndarray, loss: np.ndarray) -> float:
    """First time the loss falls to half its initial value (NaN if it never does)."""
    return crossing_time(t, -loss, -0.5 * loss[0])


def run_chunk(spec: Spec, chunk: int, backend: str = "numpy", device: str | None = None,
              limits=None) -> dict:
    """Run chunk ``chunk`` of ``spec``; return its members' series (NaN after a member stops)
    and scalars as numpy arrays, with the members' flat grid indices under ``"member"``."""
    t0 = _time.perf_counter()
    members = spec.chunks()[chunk]
    task = spec.make_task()
    points = [spec.point(m) for m in members]
    nets = [spec.make_network(p, task) for p in points]
    rule_of: dict = {}
    rule_list = []
    for p in points:  # one Rule object per distinct rule: members sharing it run batched
        key = tuple(p[a] for a in ("q", "block_diagonal", "damping", "weight_decay", "l2",
                                   "clip"))
        rule_list.append(rule_of.setdefault(key, spec.make_rule(p)))
    tm = spec.time
    t = spec.times
    ens = simulate_ensemble(nets, task, rule_list, t, lr=[p["lr"] for p in points],
                            method=tm["method"],
                            solver=None if tm["method"] == "discrete" else tm["solver"],
                            rtol=tm["rtol"], atol=tm["atol"], dt=tm["dt"], quiet=True,
                            backend=backend, device=device, limits=limits)
    valid = ens.valid
    n_out, n_in = task.target.shape
    modes = min(n_out, n_in)
    loss = np.where(valid, ens.loss, np.nan)
    if task.has_test:
        test = np.array([[task.test_loss(w) for w in maps] for maps in ens.map])
        test = np.where(valid, test, np.nan)
    else:  # a given target has no test distribution
        test = np.full_like(loss, np.nan)
    strengths = mode_strengths(ens.map, task.target, modes)
    strengths = np.where(valid[..., None], strengths, np.nan)
    drift = np.zeros_like(loss)
    for w0, w1 in zip(ens.weights[:-1], ens.weights[1:]):
        c = w0 @ np.swapaxes(w0, -1, -2) - np.swapaxes(w1, -1, -2) @ w1
        drift = np.maximum(drift, np.sqrt(np.sum((c - c[:, :1]) ** 2, axis=(-2, -1))))
    drift = np.where(valid, drift, np.nan)
    # half-loss times in units of t: a discrete step is lr time units
    times = np.broadcast_to(t.astype(float) * (np.array([p["lr"] for p in points])[:, None]
                                               if tm["method"] == "discrete" else 1.0),
                            loss.shape)
    return {
        "member": np.asarray(members, dtype=np.int64),
        "loss": loss, "test_loss": test, "imbalance_drift": drift,
        "mode_strength": strengths,
        "half_loss_time": np.array([half_time(tt[v], lo[v])
                                    for tt, lo, v in zip(times, ens.loss, valid)]),
        "final_test_loss": np.array([te[v][-1] for te, v in zip(test, valid)]),
        "min_test_loss": np.array([np.min(te[v]) for te, v in zip(test, valid)]),  # NaN: none
        "status": ens.status.astype(np.int64),
        "message": np.array(ens.message, dtype=str),
        "seconds": np.array(_time.perf_counter() - t0),
    }


__all__ = ["crossing_time", "half_time", "mode_strengths", "run_chunk"]
