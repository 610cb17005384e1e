"""One-call figures of a run: :meth:`dlnsim.Trajectory.plot` and :meth:`dlnsim.Ensemble.plot`."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dlnsim.plots.style import subplots


def _time_label(method: str) -> str:
    return "step" if method.startswith("discrete") else "time $t$"


def trajectory_figure(traj) -> Figure:
    """Train (and test) loss, the map's mode strengths in the target's basis, and the drift of
    the imbalance ``c_i(t) - c_i(0)`` (Huh 2020, eq 15), against time.

    Parameters
    ----------
    traj : Trajectory

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = subplots(1, 3, figsize=(13, 3.8))
    xlabel = _time_label(traj.method)
    axes[0].semilogy(traj.t, np.maximum(traj.loss, 1e-300), label="train")
    if traj.test_loss is not None:
        axes[0].semilogy(traj.t, np.maximum(traj.test_loss, 1e-300), "--", label="test")
    axes[0].set_ylabel("loss $L$")
    axes[0].set_title("(A) loss", fontsize=10)
    axes[0].legend(fontsize=8)
    for k in range(traj.mode_strengths.shape[1]):
        axes[1].plot(traj.t, traj.mode_strengths[:, k], label=rf"$\bar\sigma_{{{k + 1}}}$")
    axes[1].set_ylabel(r"mode strength $u_k^{*\top} W v^*_k$")
    axes[1].set_title("(B) the map in the target's singular basis", fontsize=10)
    if traj.mode_strengths.shape[1] <= 8:
        axes[1].legend(fontsize=8, ncol=2)
    for i, c in enumerate(traj.imbalance):
        drift = np.linalg.norm((c - c[0]).reshape(len(traj.t), -1), axis=1)
        axes[2].plot(traj.t, drift, label=rf"$\|c_{{{i + 1}}}(t) - c_{{{i + 1}}}(0)\|_F$")
    axes[2].set_ylabel("imbalance drift")
    axes[2].set_title("(C) imbalance, eq 15 (0 under GD and full q-NGD)", fontsize=10)
    if traj.imbalance:
        axes[2].legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel(xlabel)
    fig.suptitle(f"{traj.rule}, lr = {traj.lr:g}: {traj.message}", fontsize=10)
    fig.tight_layout()
    return fig


def ensemble_figure(ens) -> Figure:
    """Every member's train loss against time (the steps each reached), one line a member,
    labelled by rule and learning rate.

    Parameters
    ----------
    ens : Ensemble

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = subplots(1, 1, figsize=(6.5, 4.2))
    for b in range(len(ens)):
        k = int(ens.saved[b])
        ax.semilogy(ens.t[:k], np.maximum(ens.loss[b, :k], 1e-300), lw=1.2,
                    label=f"{b}: {ens.rule[b]}, lr = {float(ens.lr[b]):g}")
    ax.set_xlabel(_time_label(ens.method))
    ax.set_ylabel("train loss $L$")
    ax.set_title(f"{len(ens)} members, {int(np.sum(ens.status == 0))} reached the end",
                 fontsize=10)
    if len(ens) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["ensemble_figure", "trajectory_figure"]
