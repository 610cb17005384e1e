"""K-FAC and TKFAC: Kronecker-factored curvature from per-example statistics, and the rules.

For a fully-connected layer with per-example input activations ``a_i`` and back-propagated
output gradients ``g_i``, the exact curvature block is ``F = E[Lambda_i kron Gamma_i]`` with
``Lambda_i = a_i a_i^T`` and ``Gamma_i = g_i g_i^T`` (Gao et al., eq 4.2; the Kronecker product
acts on column-major ``vec``). K-FAC approximates it by ``E[Lambda] kron E[Gamma]``; TKFAC
(Theorem 4.1, eq 4.9) by ``delta Phi kron Psi`` with

    delta = E[tr(Lambda) tr(Gamma)],  Phi = E[tr(Gamma) Lambda] / delta,
    Psi = E[tr(Lambda) Gamma] / delta,

which keeps the trace of ``F``. Dense blocks here exist for checks at small sizes.

:func:`kfac` and :func:`tkfac` are preconditioners for :mod:`dlnsim.rules` (discrete time:
they keep moving averages and refresh their inverses every ``inverse_interval`` steps, as in
Algorithm 1 of Zhang et al., App. F, and Gao et al., Algorithm 1). Weight decay and L2 are the
chain's: ``rules.chain(rules.kfac(), rules.weight_decay(1e-3))``. In the exact whitened limit
both step ``d`` times the NGD-d velocity (tests/test_kfac.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlnsim import _validate as V
from dlnsim.curvature.spectral import mT
from dlnsim.rules.core import Optimiser, Rule, Stage
from dlnsim.rules.stack import Direction


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


def kfac_moments(acts, grads):
    """K-FAC's ``(E[Lambda], E[Gamma])`` from rows ``(..., N, m)`` of activations, gradients."""
    n = acts.shape[-2]
    return mT(acts) @ acts / n, mT(grads) @ grads / n


def tkfac_moments(acts, grads):
    """TKFAC's ``(delta, Phi, Psi)`` (eq 4.9, ``tr Phi = tr Psi = 1``) from rows ``(..., N, m)``."""
    n = acts.shape[-2]
    tr_lam = (acts * acts).sum(axis=-1)
    tr_gam = (grads * grads).sum(axis=-1)
    delta = (tr_lam * tr_gam).mean(axis=-1)
    phi = mT(acts * tr_gam[..., None]) @ acts / n / delta[..., None, None]
    psi = mT(grads * tr_lam[..., None]) @ grads / n / delta[..., None, None]
    return delta, phi, psi


def kfac_factors(f: PerExample) -> tuple[np.ndarray, np.ndarray]:
    """K-FAC: ``(E[Lambda], E[Gamma])``."""
    return kfac_moments(f.acts, f.grads)


def tkfac_factors(f: PerExample) -> tuple[float, np.ndarray, np.ndarray]:
    """TKFAC (Gao et al., eq 4.9, with tr(Phi) = tr(Psi) = 1): ``(delta, Phi, Psi)``."""
    delta, phi, psi = tkfac_moments(f.acts, f.grads)
    return float(delta), phi, psi


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


# -- the rules ----------------------------------------------------------------------------------
CURVATURES = ("exact_gn", "sampled_gn", "empirical_fisher")


def layer_statistics(stack, curvature: str, rngs=()):
    """Per-layer rows ``(acts, grads)`` of shape ``(B, N, m)``: ``a = W_{<i} x`` and
    ``g = W_{>i}^T e`` with ``e`` every output direction (exact GN, scaled so that the mean over
    the pairs is the Gaussian-output Fisher ``E_x[J^T J]``), a standard normal draw per member
    (sampled GN) or the residual ``W x - y`` (empirical Fisher). Inputs are the task's data, or
    ``sqrt(n_0) chol(S)`` (whose mean outer product is ``S``) for tasks without data."""
    above, below = stack.parts
    if stack.inputs is not None:
        x = stack.inputs
    else:
        cov = np.eye(stack.target.shape[-1])[None] if stack.is_whitened else stack.input_cov
        x = np.sqrt(cov.shape[-1]) * np.linalg.cholesky(cov)
    b, n_out, p = stack.weights[0].shape[0], stack.target.shape[-2], x.shape[-1]
    x = np.broadcast_to(x, (b,) + x.shape[1:])
    if curvature == "exact_gn":
        e = np.sqrt(n_out) * np.tile(np.eye(n_out), (1, p))[None]
        x = np.repeat(x, n_out, axis=-1)
    elif curvature == "sampled_gn":
        e = np.stack([rng.standard_normal((n_out, p)) for rng in rngs])
    else:
        if stack.outputs is None:
            raise ValueError("curvature='empirical_fisher' needs the task's data "
                             "(Task.teacher_student)")
        e = stack.map @ x - stack.outputs
    return [(mT(bl @ x), mT(mT(ab) @ e)) for ab, bl in zip(above, below)]


def _damped_inverses(a, g, damping: float, trace_restricted: bool):
    """Inverses of the damped factors (stacks): TKFAC adds ``sqrt(lambda) I`` to each (eq 5.15),
    K-FAC splits ``sqrt(lambda)`` by ``pi = sqrt((tr A / dim A) / (tr G / dim G))`` (factored
    Tikhonov damping). Without damping, pseudo-inverses
    (``pinv(A kron G) = pinv A kron pinv G``)."""
    if damping == 0:
        return np.linalg.pinv(a, hermitian=True), np.linalg.pinv(g, hermitian=True)
    s = np.sqrt(damping)
    if trace_restricted:
        pi = np.ones(a.shape[:-2])
    else:
        ta = np.trace(a, axis1=-2, axis2=-1) / a.shape[-1]
        tg = np.trace(g, axis1=-2, axis2=-1) / g.shape[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            pi = np.sqrt(ta / np.maximum(tg, 1e-300))
        pi = np.where(np.isfinite(pi) & (pi > 0), pi, 1.0)
    eye_a, eye_g = np.eye(a.shape[-1]), np.eye(g.shape[-1])
    return (np.linalg.inv(a + (pi * s)[..., None, None] * eye_a),
            np.linalg.inv(g + (s / pi)[..., None, None] * eye_g))


@dataclass(frozen=True, eq=False)
class KFAC(Optimiser):
    """The K-FAC / TKFAC preconditioner ``G^{-1} u A^{-1}`` per layer (:func:`kfac`)."""

    damping: float = 1e-3
    ema: float = 0.0
    inverse_interval: int = 1
    curvature: str = "exact_gn"
    trace_restricted: bool = False
    seed: int = 0
    stage = Stage.PRECONDITION
    stateful = True

    @property
    def stochastic(self) -> bool:
        return self.curvature == "sampled_gn"

    @property
    def name(self) -> str:
        return ("tkfac" if self.trace_restricted else "kfac") + f"({self.curvature})"

    def check(self, stack) -> None:
        if self.curvature == "empirical_fisher" and stack.outputs is None:
            raise ValueError("curvature='empirical_fisher' needs the task's data "
                             "(Task.teacher_student)")

    def init(self, stack):
        """Per member: the step count, the (averaged) factors ``(A_i, G_i)`` and the damped
        inverses in use (zeros until the first step, which always computes them)."""
        b = stack.weights[0].shape[0]

        def zeros(n):
            return np.zeros((b, n, n))

        pairs = tuple((zeros(w.shape[-1]), zeros(w.shape[-2])) for w in stack.weights)
        return {"step": np.zeros(b, dtype=np.int64), "factors": pairs,
                "inverses": tuple((np.array(a), np.array(g)) for a, g in pairs)}

    def update(self, d: Direction, stack, state, ctx):
        stats = layer_statistics(stack, self.curvature, ctx.rngs)
        step = state["step"]
        first = (step == 0)[:, None, None]
        refresh = (step % self.inverse_interval == 0)[:, None, None]
        factors, inverses, out = [], [], []
        for i, (acts, grads) in enumerate(stats):
            if self.trace_restricted:  # eq 5.15 before its damping term: sqrt(delta) Phi, Psi
                delta, phi, psi = tkfac_moments(acts, grads)
                root = np.sqrt(delta)[:, None, None]
                cur = (root * phi, root * psi)
            else:
                cur = kfac_moments(acts, grads)
            fac = tuple(np.where(first, c, self.ema * o + (1 - self.ema) * c)
                        for o, c in zip(state["factors"][i], cur))
            fresh = _damped_inverses(*fac, self.damping, self.trace_restricted)
            inv = tuple(np.where(refresh, n, o) for n, o in zip(fresh, state["inverses"][i]))
            factors.append(fac)
            inverses.append(inv)
            out.append(inv[1] @ d.params[i] @ inv[0])  # vec(G^{-1} U A^{-1})
        return Direction(tuple(out)), {"step": step + 1, "factors": tuple(factors),
                                       "inverses": tuple(inverses)}


def _checked(damping, ema, inverse_interval, curvature, seed):
    V.nonnegative(damping, "damping")
    if not 0 <= V.nonnegative(ema, "ema") < 1:
        raise ValueError(f"ema must be in [0, 1), got {ema}")
    V.positive_int(inverse_interval, "inverse_interval")
    if curvature not in CURVATURES:
        raise ValueError(f"curvature must be one of {CURVATURES}, got {curvature!r}")
    V.seed(seed)


def kfac(damping: float = 1e-3, ema: float = 0.0, inverse_interval: int = 1,
         curvature: str = "exact_gn", seed: int = 0) -> Rule:
    """K-FAC (Zhang et al. 2019, App. F, Algorithm 1) as a preconditioner of a discrete rule.

    Parameters
    ----------
    damping
        Tikhonov ``lambda``, split over the factors as ``A + pi sqrt(lambda) I`` and
        ``G + sqrt(lambda)/pi I`` with ``pi = sqrt((tr A / dim A) / (tr G / dim G))``; 0 uses
        pseudo-inverses.
    ema
        Moving-average weight of the old factors (0: only the current batch).
    inverse_interval
        Recompute the damped inverses every this many steps (reused in between).
    curvature
        ``"exact_gn"`` (all output directions), ``"sampled_gn"`` (outputs drawn from the
        model's Gaussian predictive distribution, seeded) or ``"empirical_fisher"`` (residuals).
    seed
        Seed of the sampled curvature's draws (member ``b`` of a group uses child ``b``).

    Returns
    -------
    Rule
        A discrete-time rule: run it with ``simulate(..., method="discrete")``.
    """
    _checked(damping, ema, inverse_interval, curvature, seed)
    return Rule((KFAC(float(damping), float(ema), int(inverse_interval), curvature, False,
                      int(seed)),))


def tkfac(damping: float = 1e-3, ema: float = 0.0, inverse_interval: int = 1,
          curvature: str = "exact_gn", seed: int = 0) -> Rule:
    """TKFAC (Gao et al., Algorithm 1): K-FAC with the trace-restricted factors ``sqrt(delta)
    Phi + sqrt(lambda) I`` and ``sqrt(delta) Psi + sqrt(lambda) I`` (eq 5.15).

    Parameters
    ----------
    damping
        ``lambda`` of eq 5.15, added to each trace-restricted factor as ``sqrt(lambda) I``.
    ema, inverse_interval, curvature, seed
        As in :func:`kfac`.

    Returns
    -------
    Rule
        A discrete-time rule: run it with ``simulate(..., method="discrete")``.
    """
    _checked(damping, ema, inverse_interval, curvature, seed)
    return Rule((KFAC(float(damping), float(ema), int(inverse_interval), curvature, True,
                      int(seed)),))
