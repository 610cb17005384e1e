"""Hilbert-constrained gradient descent (HCGD; paper 002, Algorithm 1) for deep linear networks.

Each step proposes ``Delta_0 = -v`` with ``v <- beta v + lr g`` (SGD with momentum), then moves
the proposal by gradient steps of size ``inner_lr`` on the L2 function-space penalty measured on
a separate (validation) batch ``X_v``,

    D(Delta) = mean_i ||f_{theta + Delta}(x_i) - f_theta(x_i)||^2
             = Tr[(W(theta + Delta) - W(theta)) S_v (W(theta + Delta) - W(theta))^T],

the first correction with ``grad (lam/2) D`` alone and later ones with ``g + grad (lam/2) D``
(Algorithm 1, lines 11-17), adding each correction back into the momentum buffer. To second
order ``D(Delta) = Delta^T G Delta`` with the Gauss-Newton matrix of ``S_v`` (claim hcgd.metric),
so the corrections converge to ``-(1/lam) G^+ g``, the natural-gradient step scaled by 1/lam
(claim hcgd.ngd_limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlnsim import _validate as V
from dlnsim import curvature
from dlnsim.network import Network
from dlnsim.task import Task


def _shifted(net: Network, delta) -> Network:
    return Network([w + d for w, d in zip(net.weights, delta)])


def l2_distance_sq(net: Network, delta, val_cov: np.ndarray) -> float:
    """``D(Delta) = Tr[dW S_v dW^T]`` with ``dW = W(theta + Delta) - W(theta)``."""
    dw = _shifted(net, delta).map - net.map
    return float(np.sum((dw @ val_cov) * dw))


def l2_distance_grad(net: Network, delta, val_cov: np.ndarray) -> tuple[np.ndarray, ...]:
    """``grad_Delta D = 2 J_{theta+Delta}^T [dW S_v]``."""
    moved = _shifted(net, delta)
    return tuple(2 * x for x in curvature.vjp(moved, (moved.map - net.map) @ val_cov))


@dataclass(frozen=True, eq=False)
class HCGDStep:
    """One HCGD update: the step, the momentum buffer after it, and every iterate."""

    delta: tuple[np.ndarray, ...]
    velocity: tuple[np.ndarray, ...]
    iterates: list


def step(net: Network, task: Task, val_inputs: np.ndarray, lr: float, inner_lr: float,
         lam: float, corrections: int = 1, momentum: float = 0.0,
         velocity=None) -> HCGDStep:
    """One step of Algorithm 1 (exact train gradient of ``task``, validation inputs
    ``val_inputs`` of shape ``(n_0, N_v)``)."""
    lr, inner_lr, lam = V.positive(lr, "lr"), V.positive(inner_lr, "inner_lr"), \
        V.positive(lam, "lam")
    momentum = V.nonnegative(momentum, "momentum")
    if isinstance(corrections, bool) or not isinstance(corrections, int) or corrections < 1:
        raise ValueError(f"corrections must be an integer >= 1, got {corrections!r}")
    x = V.as_matrix(val_inputs, "val_inputs", (net.widths[0], None))
    val_cov = x @ x.T / x.shape[1]
    g = curvature.gradient(net, task.target, task.input_cov)
    v = tuple(np.zeros_like(w) for w in net.weights) if velocity is None else tuple(velocity)
    v = tuple(momentum * vi + lr * gi for vi, gi in zip(v, g))
    delta = tuple(-vi for vi in v)
    iterates = [delta]
    for j in range(corrections):
        g_l2 = tuple(0.5 * lam * x for x in l2_distance_grad(net, delta, val_cov))
        if j > 0:
            g_l2 = tuple(a + b for a, b in zip(g_l2, g))
        delta = tuple(d - inner_lr * c for d, c in zip(delta, g_l2))
        v = tuple(vi + inner_lr * c for vi, c in zip(v, g_l2))
        iterates.append(delta)
    return HCGDStep(delta, v, iterates)


@dataclass(frozen=True)
class HCGD:
    """Algorithm 1 as a stateful optimiser for :func:`dlnsim.integrate.optimize`.

    The state is the momentum buffer; each step draws a fresh validation batch of
    ``val_batch`` inputs ``x ~ N(0, S)`` (the task's input distribution) from the run's seeded
    generator, so the L2 penalty is measured on data the gradient did not see.
    """

    lr: float
    inner_lr: float
    lam: float
    corrections: int = 1
    momentum: float = 0.0
    val_batch: int = 64

    @property
    def name(self) -> str:
        return f"hcgd(lam={self.lam:g}, n={self.corrections})"

    def init(self, net: Network, task: Task):
        return None

    def step(self, net: Network, task: Task, state, rng: np.random.Generator):
        x = task.input_cov_sqrt @ rng.standard_normal((net.widths[0], self.val_batch))
        s = step(net, task, x, self.lr, self.inner_lr, self.lam, self.corrections,
                 self.momentum, state)
        return s.delta, s.velocity
