"""Kronecker-factored curvature from per-example factors: K-FAC and TKFAC.

For a fully-connected layer with per-example input activations ``a_i`` and back-propagated
output gradients ``g_i``, the exact curvature block is
``F = E[Lambda_i kron Gamma_i]`` with ``Lambda_i = a_i a_i^T`` and ``Gamma_i = g_i g_i^T``
(Gao et al., eq 4.2; the Kronecker product acts on column-major ``vec``). K-FAC approximates it
by ``E[Lambda] kron E[Gamma]``; TKFAC (Theorem 4.1, eq 4.9) by ``delta Phi kron Psi`` with

    delta = E[tr(Lambda) tr(Gamma)],  Phi = E[tr(Gamma) Lambda] / delta,
    Psi = E[tr(Lambda) Gamma] / delta,

which keeps the trace of ``F``. Dense blocks here exist for checks at small sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlnsim import _validate as V


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
