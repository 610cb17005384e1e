"""Noisy gradients on deep linear networks: covariance noise (Wen et al., eq 2) and minibatches.

* :func:`noisy_sgd`: the gradient plus ``-scale C xi`` with ``C`` from the Gauss-Newton (= Fisher
  for Gaussian outputs) matrix at the current weights, computed without the P x P matrix: the
  full square root ``G^{1/2} xi = J_R^T K^{+1/2} J_R xi`` in map space, the diagonal from the
  Kronecker factors (``diag(A_i kron B_i)``), the isotropic scale from ``tr G = sum_i tr A_i
  tr B_i``. A discrete step moves the weights by ``-lr g + lr scale C xi`` (eq 2).
* :func:`minibatch_sgd`: the gradient of ``1/2 mean_i ||W x_i - y_i||^2`` over a minibatch of
  the task's data drawn without replacement each step (the reference noise of Wen et al.).

Both act at the gradient stage, so they chain with any preconditioner:
``rules.chain(rules.minibatch_sgd(batch=4), rules.ngd(2))`` is sqrt-NGD on minibatch gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlnsim import _validate as V
from dlnsim.curvature import batched
from dlnsim.curvature.api import _check_params, cov_of
from dlnsim.curvature.spectral import DEFAULT_RCOND, sqrt_psd
from dlnsim.network import Network
from dlnsim.quadratic import NOISE_KINDS
from dlnsim.rules.core import Optimiser, Rule, Stage
from dlnsim.rules.stack import Direction


def stack_fisher_noise(parts, weights, r, cov, kind: str, xi: tuple) -> tuple:
    """``C xi`` per layer on stacks (``r = S^{1/2}``, ``cov = S``, both None for ``S = I``)."""
    if kind == "none":
        return tuple(np.zeros_like(x) for x in xi)
    if kind == "sqrt_fisher":
        y = batched.jvp(parts, xi)
        y = y if r is None else y @ r
        return batched.ngd_direction(parts, 2.0, 0.0, DEFAULT_RCOND, r, cotangent=y)
    factors = batched.block_factors(parts, cov)
    if kind == "sqrt_diag_fisher":
        diag = np.diagonal
        return tuple(np.sqrt(diag(b, axis1=-2, axis2=-1)[..., :, None]
                             * diag(a, axis1=-2, axis2=-1)[..., None, :]) * x
                     for (a, b), x in zip(factors, xi))
    if kind == "isotropic":
        trace = sum(np.trace(a, axis1=-2, axis2=-1) * np.trace(b, axis1=-2, axis2=-1)
                    for a, b in factors)
        size = sum(w.shape[-1] * w.shape[-2] for w in weights)
        return tuple(np.sqrt(trace / size)[..., None, None] * x for x in xi)
    raise ValueError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")


def fisher_noise(net: Network, input_cov, kind: str, xi: np.ndarray) -> np.ndarray:
    """``C xi`` for the Gauss-Newton (= Fisher) matrix of ``net`` (flat ``xi`` of length P)."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")
    cov = cov_of(net, input_cov)
    xs = _check_params(net, net.unflatten(np.asarray(xi, dtype=float)), "xi")
    out = stack_fisher_noise(net.parts, net.weights, sqrt_psd(cov), cov, kind, xs)
    return np.concatenate([x.ravel() for x in out])


@dataclass(frozen=True, eq=False)
class FisherNoise(Optimiser):
    """Adds ``-scale C xi`` to the gradient, ``xi ~ N(0, I)`` from the member's generator."""

    kind: str
    scale: float = 1.0
    seed: int = 0
    stage = Stage.GRADIENT
    stochastic = True

    @property
    def name(self) -> str:
        return f"noisy_sgd({self.kind}, scale={self.scale:g})"

    def update(self, d: Direction, stack, state, ctx):
        sizes = [w.shape[1:] for w in stack.weights]
        draws = [rng.standard_normal(sum(int(np.prod(s)) for s in sizes)) for rng in ctx.rngs]
        xi, k = [], 0
        for s in sizes:
            n = int(np.prod(s))
            xi.append(np.stack([x[k:k + n].reshape(s) for x in draws]))
            k += n
        noise = stack_fisher_noise(stack.parts, stack.weights, stack.input_cov_sqrt,
                                   stack.input_cov, self.kind, tuple(xi))
        return Direction(tuple(p - self.scale * n for p, n in zip(d.params, noise))), state


def noisy_sgd(noise: str, scale: float = 1.0, seed: int = 0) -> Rule:
    """SGD with covariance noise (Wen et al., eq 2; Algorithm 1 uses ``"sqrt_diag_fisher"``).

    Parameters
    ----------
    noise
        ``"none"``, ``"isotropic"`` (same ``Tr(C^T C)`` as the Fisher kinds), ``"sqrt_fisher"``
        (``C = G^{1/2}``) or ``"sqrt_diag_fisher"`` (``C = diag(G)^{1/2}``).
    scale
        Multiplies ``C``: a step moves the weights by ``-lr g + lr scale C xi``.
    seed
        Seed of the draws (member ``b`` of a group uses child ``b`` of this seed).

    Returns
    -------
    Rule
        A discrete-time rule: run it with ``simulate(..., method="discrete")``.
    """
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")
    return Rule((FisherNoise(noise, V.nonnegative(scale, "scale"), V.seed(seed)),))


@dataclass(frozen=True, eq=False)
class Minibatch(Optimiser):
    """Replaces the loss gradient by a minibatch gradient of the task's data."""

    batch: int = 4
    seed: int = 0
    stage = Stage.GRADIENT
    stochastic = True
    replaces_gradient = True

    @property
    def name(self) -> str:
        return f"minibatch_sgd(batch={self.batch})"

    def check(self, stack) -> None:
        if stack.inputs is None:
            raise ValueError("minibatch_sgd needs a task with data (Task.teacher_student)")
        if self.batch > stack.inputs.shape[-1]:
            raise ValueError(f"batch must be in [1, {stack.inputs.shape[-1]}] (the task's "
                             f"samples), got {self.batch}")

    def update(self, d: Direction, stack, state, ctx):
        residuals = []
        for b, rng in enumerate(ctx.rngs):
            j = b if stack.inputs.shape[0] > 1 else 0
            idx = rng.choice(stack.inputs.shape[-1], size=self.batch, replace=False)
            x, y = stack.inputs[j][:, idx], stack.outputs[j][:, idx]
            residuals.append((stack.map[b] @ x - y) @ x.T / self.batch)
        y = np.stack(residuals)
        return Direction(batched.vjp(stack.parts, y), y if stack.is_whitened else None), state


def minibatch_sgd(batch: int = 4, seed: int = 0) -> Rule:
    """Minibatch SGD on the task's data: each step the gradient of ``1/2 mean_i ||W x_i -
    y_i||^2`` over ``batch`` examples drawn without replacement (seeded).

    Parameters
    ----------
    batch
        Examples per step (at most the task's samples; the task needs data:
        ``Task.teacher_student``).
    seed
        Seed of the draws (member ``b`` of a group uses child ``b`` of this seed).

    Returns
    -------
    Rule
        A discrete-time rule: run it with ``simulate(..., method="discrete")``.
    """
    return Rule((Minibatch(V.positive_int(batch, "batch"), V.seed(seed)),))
