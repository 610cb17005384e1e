"""Kronecker-factored curvature from per-example factors: K-FAC and TKFAC.

For a fully-connected layer with per-example input activations ``a_i`` and back-propagated
output gradients ``g_i``, the exact curvature block is
``F = E[Lambda_i kron Gamma_i]`` with ``Lambda_i = a_i a_i^T`` and ``Gamma_i = g_i g_i^T``
(Gao et al., eq 4.2; the Kronecker product acts on column-major ``vec``). K-FAC approximates it
by ``E[Lambda] kron E[Gamma]``; TKFAC (Theorem 4.1, eq 4.9) by ``delta Phi kron Psi`` with

    delta = E[tr(Lambda) tr(Gamma)],  Phi = E[tr(Gamma) Lambda] / delta,
    Psi = E[tr(Lambda) Gamma] / delta,

which keeps the trace of ``F``. Dense blocks here exist for checks at small sizes.

:class:`KFAC` with :func:`dlnsim.integrate.optimize` trains a network with either as a
discrete-time optimiser from data (exact, sampled or empirical curvature, moving averages,
an inverse-update interval, damping, and weight decay or L2 as in Algorithm 1 of Zhang et al.,
App. F). In the exact whitened limit both step ``d`` times the NGD-d velocity
(tests/test_kfac.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlnsim import _validate as V
from dlnsim import curvature


@dataclass(frozen=True, eq=False)
class PerExample:
    """Per-example factors: ``acts`` of shape ``(N, m_in)`` and ``grads`` of shape
    ``(N, m_out)``; ``Lambda_i = a_i a_i^T``, ``Gamma_i = g_i g_i^T``."""

    acts: np.ndarray
    grads: np.ndarray

    def __post_init__(self):
        a = V.as_matrix(self.acts, "acts")
        g = V.as_matrix(self.grads, "grads", (a.shape[0], None))
        object.__setattr__(self, "acts", a)
        object.__setattr__(self, "grads", g)

    @property
    def n(self) -> int:
        return self.acts.shape[0]


def exact_block(f: PerExample) -> np.ndarray:
    """``F = E[Lambda_i kron Gamma_i]`` as a dense ``(m_in m_out)`` square matrix."""
    return np.mean([np.kron(np.outer(a, a), np.outer(g, g)) for a, g in zip(f.acts, f.grads)],
                   axis=0)


def kfac_factors(f: PerExample) -> tuple[np.ndarray, np.ndarray]:
    """K-FAC: ``(E[Lambda], E[Gamma])``."""
    return f.acts.T @ f.acts / f.n, f.grads.T @ f.grads / f.n


def tkfac_factors(f: PerExample) -> tuple[float, np.ndarray, np.ndarray]:
    """TKFAC (Gao et al., eq 4.9, with tr(Phi) = tr(Psi) = 1): ``(delta, Phi, Psi)``."""
    tr_lam = np.sum(f.acts**2, axis=1)
    tr_gam = np.sum(f.grads**2, axis=1)
    delta = float(np.mean(tr_lam * tr_gam))
    phi = (f.acts * tr_gam[:, None]).T @ f.acts / f.n / delta
    psi = (f.grads * tr_lam[:, None]).T @ f.grads / f.n / delta
    return delta, phi, psi


def tkfac_bound(f: PerExample) -> float:
    """Gao et al. Theorem 4.4: ``2 (N-1)/N max_{i<j} sqrt(tr L_i tr L_j tr G_i tr G_j)``."""
    tl, tg = np.sum(f.acts**2, axis=1), np.sum(f.grads**2, axis=1)
    prod = np.sqrt(np.outer(tl, tl) * np.outer(tg, tg))
    iu = np.triu_indices(f.n, k=1)
    return 2 * (f.n - 1) / f.n * float(prod[iu].max())


def kfac_bound(f: PerExample) -> float:
    """The K-FAC bound after Theorem 4.4:
    ``2 (N-1)/N max_{i<j} (tr L_i + tr L_j)(tr G_i + tr G_j) / 4``."""
    tl, tg = np.sum(f.acts**2, axis=1), np.sum(f.grads**2, axis=1)
    val = np.add.outer(tl, tl) * np.add.outer(tg, tg) / 4
    iu = np.triu_indices(f.n, k=1)
    return 2 * (f.n - 1) / f.n * float(val[iu].max())


def damped_tkfac_factors(f: PerExample, damping: float) -> tuple[np.ndarray, np.ndarray]:
    """Gao et al. eq 5.15: ``Phi^ = sqrt(delta) Phi + sqrt(lambda) I``, same for ``Psi``."""
    lam = V.nonnegative(damping, "damping")
    delta, phi, psi = tkfac_factors(f)
    return (np.sqrt(delta) * phi + np.sqrt(lam) * np.eye(phi.shape[0]),
            np.sqrt(delta) * psi + np.sqrt(lam) * np.eye(psi.shape[0]))


# -- K-FAC / TKFAC as discrete-time optimisers from data (Zhang et al. App. F, Algorithm 1) ----
CURVATURES = ("exact_gn", "sampled_gn", "empirical_fisher")


@dataclass(frozen=True)
class KFACConfig:
    """Settings of K-FAC (Zhang et al. 2019, Algorithm 1) or TKFAC (Gao et al., Algorithm 1).

    Attributes
    ----------
    lr
        Learning rate ``eta``.
    damping
        Tikhonov damping ``lambda``; K-FAC splits it over the factors as
        ``A + pi sqrt(lambda) I``, ``G + sqrt(lambda)/pi I`` with
        ``pi = sqrt((tr A / dim A) / (tr G / dim G))``; TKFAC uses eq 5.15.
    ema
        Moving-average weight of the old factors (0: only the current batch).
    inverse_interval
        Recompute the damped factors' inverses every this many steps.
    weight_decay, l2
        Decoupled decay ``-lr wd w`` after preconditioning, or ``l2 w`` added to the gradient
        before it (Algorithm 1's two variants).
    curvature
        ``"exact_gn"`` (all output directions), ``"sampled_gn"`` (outputs drawn from the model's
        Gaussian predictive distribution) or ``"empirical_fisher"`` (the data's residuals).
    trace_restricted
        Use TKFAC's factors ``delta Phi kron Psi`` instead of K-FAC's.
    """

    lr: float = 0.1
    damping: float = 1e-3
    ema: float = 0.0
    inverse_interval: int = 1
    weight_decay: float = 0.0
    l2: float = 0.0
    curvature: str = "exact_gn"
    trace_restricted: bool = False

    def __post_init__(self):
        V.positive(self.lr, "lr")
        V.nonnegative(self.damping, "damping")
        ema = V.nonnegative(self.ema, "ema")
        if ema >= 1:
            raise ValueError(f"ema must be in [0, 1), got {ema}")
        if isinstance(self.inverse_interval, bool) or not isinstance(self.inverse_interval, int) \
                or self.inverse_interval < 1:
            raise ValueError(f"inverse_interval must be an integer >= 1, got "
                             f"{self.inverse_interval!r}")
        V.nonnegative(self.weight_decay, "weight_decay")
        V.nonnegative(self.l2, "l2")
        if self.curvature not in CURVATURES:
            raise ValueError(f"curvature must be one of {CURVATURES}, got {self.curvature!r}")


def layer_statistics(net, inputs: np.ndarray, outputs: np.ndarray | None, curvature: str,
                     rng: np.random.Generator) -> list[PerExample]:
    """Per-example activations ``a = W_{<i} x`` and output gradients ``g = W_{>i}^T e`` per
    layer, with ``e`` every output direction (exact GN), a standard normal draw (sampled GN)
    or the residual ``W x - y`` (empirical Fisher)."""
    x = np.asarray(inputs, dtype=float)
    p, n_out = x.shape[1], net.widths[-1]
    if curvature == "exact_gn":
        # every output direction, scaled so that the mean over the p * n_out pairs is the
        # Gaussian-output Fisher E_x[J^T J] (a sum over output directions)
        e = np.sqrt(n_out) * np.tile(np.eye(n_out), (1, p))  # (n_out, p * n_out)
        x = np.repeat(x, n_out, axis=1)
    elif curvature == "sampled_gn":
        e = rng.standard_normal((n_out, p))
    else:
        if outputs is None:
            raise ValueError("empirical_fisher needs the task's data (Task.teacher_student)")
        e = net.map @ x - outputs
    return [PerExample((net.below(i) @ x).T, (net.above(i).T @ e).T) for i in range(net.depth)]


def _current_factors(stats: PerExample, trace_restricted: bool):
    """This batch's Kronecker factors: K-FAC ``(A, G)`` or TKFAC ``(sqrt(delta) Phi,
    sqrt(delta) Psi)`` (eq 5.15 before its damping term)."""
    if trace_restricted:
        delta, phi, psi = tkfac_factors(stats)
        return np.sqrt(delta) * phi, np.sqrt(delta) * psi
    return kfac_factors(stats)


def _damped_inverses(a, g, damping, trace_restricted):
    """Inverses of the damped factors: TKFAC adds ``sqrt(lambda) I`` to each (eq 5.15), K-FAC
    splits ``sqrt(lambda)`` by ``pi`` (factored Tikhonov damping). Without damping, the
    pseudo-inverses (``pinv(A kron G) = pinv(A) kron pinv(G)``)."""
    if damping == 0:
        return np.linalg.pinv(a), np.linalg.pinv(g)
    s = np.sqrt(damping)
    if trace_restricted:
        pi = 1.0
    else:
        pi = np.sqrt((np.trace(a) / a.shape[0]) / max(np.trace(g) / g.shape[0], 1e-300))
        pi = pi if np.isfinite(pi) and pi > 0 else 1.0
    return (np.linalg.inv(a + pi * s * np.eye(a.shape[0])),
            np.linalg.inv(g + (s / pi) * np.eye(g.shape[0])))


def kfac_direction_step(net, task, config: KFACConfig, state: dict | None,
                        rng: np.random.Generator):
    """One optimiser step: returns the weight increment and the new state."""
    if task.inputs is not None:
        x = task.inputs
    else:  # n_0 columns whose mean outer product is S: sqrt(n_0) chol(S)
        x = np.sqrt(task.input_cov.shape[0]) * np.linalg.cholesky(task.input_cov)
    stats = layer_statistics(net, x, task.outputs, config.curvature, rng)
    state = {"step": 0, "factors": None, "inverses": None} if state is None else dict(state)
    current = [_current_factors(s, config.trace_restricted) for s in stats]
    if state["factors"] is None or config.ema == 0:
        factors = current
    else:
        b = config.ema
        factors = [(b * a0 + (1 - b) * a1, b * g0 + (1 - b) * g1)
                   for (a0, g0), (a1, g1) in zip(state["factors"], current)]
    if state["inverses"] is None or state["step"] % config.inverse_interval == 0:
        inverses = [_damped_inverses(a, g, config.damping, config.trace_restricted)
                    for a, g in factors]
    else:
        inverses = state["inverses"]
    grads = curvature.gradient(net, task.target, task.input_cov)
    delta = []
    for w, gw, (a_inv, g_inv) in zip(net.weights, grads, inverses):
        d = -config.lr * g_inv @ (gw + config.l2 * w) @ a_inv  # vec(G^-1 X A^-1)
        delta.append(d - config.lr * config.weight_decay * w)
    return delta, {"step": state["step"] + 1, "factors": factors, "inverses": inverses}


@dataclass(frozen=True)
class KFAC:
    """K-FAC/TKFAC as a stateful optimiser for :func:`dlnsim.integrate.optimize`."""

    config: KFACConfig

    @property
    def name(self) -> str:
        return ("tkfac" if self.config.trace_restricted else "kfac") + \
            f"({self.config.curvature})"

    @property
    def lr(self) -> float:
        return self.config.lr

    def init(self, net, task) -> None:
        return None

    def step(self, net, task, state, rng):
        return kfac_direction_step(net, task, self.config, state, rng)
