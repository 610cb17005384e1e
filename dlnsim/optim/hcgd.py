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
from dlnsim.curvature import batched
from dlnsim.curvature.api import gradient
from dlnsim.network import Network, partial_products
from dlnsim.rules.core import Optimiser, Rule, Stage
from dlnsim.rules.stack import Direction
from dlnsim.task import Task


def _map(weights):
    return weights[-1] @ partial_products(weights)[1][-1]


def distance_grad(weights, delta, val_cov) -> tuple:
    """``grad_Delta D = 2 J_{theta+Delta}^T [dW S_v]`` on stacks."""
    moved = tuple(w + x for w, x in zip(weights, delta))
    parts = partial_products(moved)
    dw = moved[-1] @ parts[1][-1] - _map(weights)
    return tuple(2 * x for x in batched.vjp(parts, dw @ val_cov))


def corrected_step(weights, g, val_cov, lr, inner_lr: float, lam: float, corrections: int,
                   momentum: float, velocity) -> tuple[tuple, tuple, list]:
    """Algorithm 1 on stacks: ``(delta, momentum buffer, iterates)``; ``lr`` broadcasts against
    the layers (a scalar, or one value per member shaped ``(B, 1, 1)``)."""
    v = tuple(momentum * vi + lr * gi for vi, gi in zip(velocity, g))
    delta = tuple(-vi for vi in v)
    iterates = [delta]
    for j in range(corrections):
        c = tuple(0.5 * lam * x for x in distance_grad(weights, delta, val_cov))
        if j > 0:
            c = tuple(a + b for a, b in zip(c, g))
        delta = tuple(d - inner_lr * x for d, x in zip(delta, c))
        v = tuple(vi + inner_lr * x for vi, x in zip(v, c))
        iterates.append(delta)
    return delta, v, iterates


def l2_distance_sq(net: Network, delta, val_cov: np.ndarray) -> float:
    """``D(Delta) = Tr[dW S_v dW^T]`` with ``dW = W(theta + Delta) - W(theta)``."""
    dw = _map(tuple(w + d for w, d in zip(net.weights, delta))) - net.map
    return float(np.sum((dw @ val_cov) * dw))


def l2_distance_grad(net: Network, delta, val_cov: np.ndarray) -> tuple[np.ndarray, ...]:
    """``grad_Delta D = 2 J_{theta+Delta}^T [dW S_v]``."""
    return distance_grad(net.weights, tuple(np.asarray(d, dtype=float) for d in delta),
                         np.asarray(val_cov, dtype=float))


@dataclass(frozen=True, eq=False)
class HCGDStep:
    """One HCGD update: the step, the momentum buffer after it, and every iterate."""

    delta: tuple[np.ndarray, ...]
    velocity: tuple[np.ndarray, ...]
    iterates: list


def _check(inner_lr, lam, corrections, momentum):
    inner_lr, lam = V.positive(inner_lr, "inner_lr"), V.positive(lam, "lam")
    momentum = V.nonnegative(momentum, "momentum")
    return inner_lr, lam, V.positive_int(corrections, "corrections"), momentum


def step(net: Network, task: Task, val_inputs: np.ndarray, lr: float, inner_lr: float,
         lam: float, corrections: int = 1, momentum: float = 0.0,
         velocity=None) -> HCGDStep:
    """One step of Algorithm 1 (exact train gradient of ``task``, validation inputs
    ``val_inputs`` of shape ``(n_0, N_v)``)."""
    lr = V.positive(lr, "lr")
    inner_lr, lam, corrections, momentum = _check(inner_lr, lam, corrections, momentum)
    x = V.as_matrix(val_inputs, "val_inputs", (net.widths[0], None))
    g = gradient(net, task.target, task.input_cov)
    v = tuple(np.zeros_like(w) for w in net.weights) if velocity is None else tuple(velocity)
    delta, v, its = corrected_step(net.weights, g, x @ x.T / x.shape[1], lr, inner_lr, lam,
                                   corrections, momentum, v)
    return HCGDStep(delta, v, its)


@dataclass(frozen=True, eq=False)
class HCGD(Optimiser):
    """Algorithm 1 as a preconditioner: the state is the momentum buffer; each step draws a
    fresh validation batch of ``val_batch`` inputs ``x ~ N(0, S)`` from the member's seeded
    generator, so the L2 penalty is measured on data the gradient did not see."""

    inner_lr: float = 0.02
    lam: float = 1.0
    corrections: int = 1
    momentum: float = 0.0
    val_batch: int = 64
    seed: int = 0
    stage = Stage.PRECONDITION
    stateful = True
    stochastic = True

    @property
    def name(self) -> str:
        return f"hcgd(lam={self.lam:g}, n={self.corrections})"

    def init(self, stack):
        return {"v": tuple(np.zeros_like(w) for w in stack.weights)}

    def update(self, d: Direction, stack, state, ctx):
        n0 = stack.weights[0].shape[-1]
        x = np.stack([rng.standard_normal((n0, self.val_batch)) for rng in ctx.rngs])
        if not stack.is_whitened:
            x = stack.input_cov_sqrt @ x
        lr = np.asarray(ctx.lr, dtype=float)[:, None, None]
        delta, v, _ = corrected_step(stack.weights, d.params, x @ np.swapaxes(x, -1, -2)
                                     / self.val_batch, lr, self.inner_lr, self.lam,
                                     self.corrections, self.momentum, state["v"])
        # the rule moves the weights by -lr * direction: hand back -delta / lr
        return Direction(tuple(-x / lr for x in delta)), {"v": v}


def hcgd(inner_lr: float = 0.02, lam: float = 1.0, corrections: int = 1, momentum: float = 0.0,
         val_batch: int = 64, seed: int = 0) -> Rule:
    """HCGD (paper 002, Algorithm 1) as the preconditioner of a discrete rule; the step size
    ``eta`` of the SGD proposal is ``simulate``'s ``lr``.

    Parameters
    ----------
    inner_lr
        Step size of the corrective steps on ``(lam/2) D``.
    lam
        Weight of the L2 function-space penalty.
    corrections
        Number of corrective steps per update (Algorithm 1's ``n``).
    momentum
        Momentum ``beta`` of the buffer ``v <- beta v + lr g``.
    val_batch
        Size of the fresh validation batch drawn each step from ``N(0, S)``.
    seed
        Seed of the validation draws (member ``b`` of a group uses child ``b``).

    Returns
    -------
    Rule
        A discrete-time rule: run it with ``simulate(..., method="discrete")``.
    """
    inner_lr, lam, corrections, momentum = _check(inner_lr, lam, corrections, momentum)
    V.seed(seed)
    return Rule((HCGD(inner_lr, lam, corrections, momentum,
                      V.positive_int(val_batch, "val_batch"), int(seed)),))
