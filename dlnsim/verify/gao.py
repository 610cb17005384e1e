"""Checks of Gao et al., *Trace-restricted Kronecker-factored approximation (TKFAC)*.

Paper file: 004_9d50abbdd436d6aa.txt. Statements and notes: theory/gao_tkfac.md.
"""

from __future__ import annotations

import numpy as np

from dlnsim import curvature, rules
from dlnsim.network import Network
from dlnsim.optim import kfac
from dlnsim.verify.registry import Outcome, claim


def _random_batches(seed: int, count: int = 200):
    rng = np.random.default_rng(seed)
    for k in range(count):
        n, m_in, m_out = int(rng.integers(2, 12)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
        # half the batches with per-example scales, so that traces differ across examples
        scale = rng.uniform(0.1, 3.0, size=(n, 1)) if k % 2 else 1.0
        yield kfac.PerExample(scale * rng.standard_normal((n, m_in)),
                              rng.standard_normal((n, m_out)))


def _partial_traces(f: kfac.PerExample):
    """``(PTr_Gamma F, PTr_Lambda F)`` of the dense ``F = E[Lambda kron Gamma]``."""
    m_in, m_out = f.acts.shape[1], f.grads.shape[1]
    dense = kfac.exact_block(f).reshape(m_in, m_out, m_in, m_out)
    return np.einsum("agbg->ab", dense), np.einsum("agah->gh", dense)


@claim("tkfac.factors", "Gao et al., Theorem 4.1, eqs 4.4-4.6 and 4.9",
       "delta Phi and delta Psi of eq 4.9 are the partial traces of F = E[Lambda kron Gamma] "
       "(over Gamma and over Lambda) on any batch, and when F is a scaled Kronecker product "
       "delta Phi kron Psi recovers it exactly (with tr Phi = tr Psi = 1)", 1e-12)
def factors() -> Outcome:
    worst = 0.0
    for f in _random_batches(3, 100):  # general batches: F is not a Kronecker product
        delta, phi, psi = kfac.tkfac_factors(f)
        ptr_gam, ptr_lam = _partial_traces(f)
        scale = max(np.abs(ptr_gam).max(), np.abs(ptr_lam).max())
        worst = max(worst, float(np.abs(delta * phi - ptr_gam).max()) / scale,
                    float(np.abs(delta * psi - ptr_lam).max()) / scale)
    partial = worst
    rng = np.random.default_rng(0)
    exact, traces = 0.0, 0.0
    for _ in range(20):
        m_in, m_out, n1, n2 = 3, 4, 5, 6
        acts = rng.standard_normal((n1, m_in))
        grads = rng.standard_normal((n2, m_out))
        # all pairs (a_j, g_k): E[Lambda kron Gamma] = E[Lambda] kron E[Gamma] exactly
        f = kfac.PerExample(np.repeat(acts, n2, axis=0), np.tile(grads, (n1, 1)))
        dense = kfac.exact_block(f)
        delta, phi, psi = kfac.tkfac_factors(f)
        exact = max(exact, float(np.abs(delta * np.kron(phi, psi) - dense).max()
                                 / np.abs(dense).max()))
        traces = max(traces, abs(np.trace(phi) - 1), abs(np.trace(psi) - 1))
    return Outcome(max(partial, exact, traces),
                   f"partial traces on 100 general batches: {partial:.1e}; all-pairs batches "
                   f"|delta Phi kron Psi - F| / max|F| = {exact:.1e}; |tr - 1| <= {traces:.1e}")


@claim("tkfac.trace", "Gao et al., section 4 (trace restriction)",
       "tr F_TKFAC = tr F exactly on random batches, while K-FAC's trace differs in general",
       1e-12)
def trace() -> Outcome:
    worst, kfac_gap = 0.0, []
    for f in _random_batches(1):
        exact = np.trace(kfac.exact_block(f))
        delta, phi, psi = kfac.tkfac_factors(f)
        a, b = kfac.kfac_factors(f)
        worst = max(worst, abs(delta * np.trace(phi) * np.trace(psi) - exact) / exact)
        kfac_gap.append(abs(np.trace(a) * np.trace(b) - exact) / exact)
    med = float(np.median(kfac_gap))
    return Outcome(worst, f"TKFAC max rel trace error {worst:.1e}; K-FAC median rel trace error "
                          f"{med:.2f}, max {max(kfac_gap):.2f}", holds=med > 1e-3)


@claim("tkfac.exact_dln", "Gao et al., eq 4.2, in the setting of Zhang et al. Theorem 1",
       "For a deep linear network with whitened inputs and exact Gauss-Newton factors (inputs "
       "x_p, output directions e_k), K-FAC and TKFAC both equal the exact diagonal blocks", 1e-12)
def exact_dln() -> Outcome:
    rng = np.random.default_rng(2)
    widths = (4, 3, 5, 2)
    net = Network.random(widths, scale=0.7, seed=3)
    p = 8
    x = np.linalg.qr(rng.standard_normal((p, widths[0])))[0].T * np.sqrt(p)  # X X^T / P = I
    h = curvature.gauss_newton(net)
    worst, k = 0.0, 0
    n_out = widths[-1]
    for i, w in enumerate(net.weights):
        acts = (net.below(i) @ x).T                    # a_p = W_{<i} x_p
        grads = net.above(i).T                         # g_k = W_{>i}^T e_k (columns -> rows)
        f = kfac.PerExample(np.repeat(acts, n_out, axis=0), np.tile(grads.T, (p, 1)))
        block = h[k:k + w.size, k:k + w.size]         # row-major vec: B kron A
        k += w.size
        a, b = kfac.kfac_factors(f)
        delta, phi, psi = kfac.tkfac_factors(f)
        scale = np.abs(block).max()
        worst = max(worst,
                    float(np.abs(n_out * np.kron(b, a) - block).max()) / scale,
                    float(np.abs(n_out * delta * np.kron(psi, phi) - block).max()) / scale)
    return Outcome(worst, "max |n_out * factors - dense GN block| / max|block| over layers "
                          "(E over P = 8 whitened inputs and n_out output directions)")


@claim("tkfac.bound", "Gao et al., Theorem 4.4 and the K-FAC bound after it",
       "||F - F_TKFAC||_F and ||F - F_KFAC||_F stay under their bounds on random batches; "
       "error = largest error / bound (tightness)", 1.0)
def bound() -> Outcome:
    tk, kf = [], []
    for f in _random_batches(4, 300):
        exact = kfac.exact_block(f)
        delta, phi, psi = kfac.tkfac_factors(f)
        a, b = kfac.kfac_factors(f)
        tk.append(np.linalg.norm(exact - delta * np.kron(phi, psi)) / kfac.tkfac_bound(f))
        kf.append(np.linalg.norm(exact - np.kron(a, b)) / kfac.kfac_bound(f))
    worst = max(max(tk), max(kf))
    return Outcome(worst, f"TKFAC error / bound: max {max(tk):.2f}, median {np.median(tk):.2f}; "
                          f"K-FAC error / bound: max {max(kf):.2f}, median {np.median(kf):.2f} "
                          "(300 random batches, N = 2-11)")


@claim("tkfac.algorithm", "Gao et al., Algorithm 1 and eq 5.15",
       "TKFAC step by step: the trace-restricted factors sqrt(delta) Phi + sqrt(lam) I and "
       "sqrt(delta) Psi + sqrt(lam) I from the exact Gauss-Newton or the residuals, their "
       "moving average and inverses refreshed every k steps", 1e-10)
def tkfac_algorithm() -> Outcome:
    # as wd.kfac_algorithm: 5 discrete steps on a data-built task (S != I) against the
    # algorithm written out from eqs 4.9 and 5.15 in plain numpy
    from dlnsim.verify.zhang import kfac_against_algorithm

    configs = [dict(damping=0.01, ema=0.3, inverse_interval=2),
               dict(damping=0.04, curvature="empirical_fisher")]
    worst, parts = kfac_against_algorithm(rules.tkfac, configs, True, 22)
    return Outcome(worst, "max relative weight error after 5 steps against TKFAC written "
                   "out; " + "; ".join(parts))
