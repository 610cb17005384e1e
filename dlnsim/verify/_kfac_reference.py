"""K-FAC and TKFAC written out from their papers, step by step, for the claims.

Zhang et al. (2019), App. F, Algorithm 1 (K-FAC) and Gao et al., Algorithm 1 and eq 5.15
(TKFAC), on a data-built task, with plain numpy from the definitions: per-layer pairs of an
activation ``a = W_{<i} x`` and a back-propagated output vector ``g = W_{>i}^T e``, the factors
as means over the pairs, a moving average, inverses refreshed every few steps, and the damping
of each paper. None of :mod:`dlnsim.optim.kfac` is used.
"""

from __future__ import annotations

import numpy as np


def _products(ws):
    """``W_{<i}`` (n_i x n_0) and ``W_{>i}`` (n_d x n_{i+1}) for every layer."""
    below, acc = [], np.eye(ws[0].shape[1])
    for w in ws:
        below.append(acc)
        acc = w @ acc
    above, acc = [], np.eye(ws[-1].shape[0])
    for w in reversed(ws):
        above.append(acc)
        acc = acc @ w
    return below, above[::-1]


def _pairs(x, y, w_map, below, above, source: str, draw):
    """Rows of activations and output-side vectors: every (example, output direction) with
    ``e = sqrt(n_d) e_k`` (exact GN: the mean of ``e e^T`` is I), the residual (empirical
    Fisher) or a standard normal draw per example (sampled GN)."""
    n_out, n = y.shape
    a = below @ x
    if source == "exact_gn":
        e = np.sqrt(n_out) * np.tile(np.eye(n_out), (1, n))
        a = np.repeat(a, n_out, axis=1)
    elif source == "empirical_fisher":
        e = w_map @ x - y
    else:
        e = draw
    return a.T, (above.T @ e).T


def kfac_steps(weights, x, y, lr: float, steps: int, damping: float, ema: float,
               interval: int, source: str, trace_restricted: bool = False,
               rng=None) -> list[np.ndarray]:
    """The weights after ``steps`` discrete steps of K-FAC (or TKFAC) on data ``x, y``.

    The loss is ``1/2 mean ||W x - y||^2``; a step moves layer ``i`` by
    ``-lr G_i^{-1} grad_i A_i^{-1}`` with the damped factors of each paper: K-FAC's
    ``A + pi sqrt(damping) I``, ``G + sqrt(damping)/pi I``,
    ``pi = sqrt((tr A / dim A) / (tr G / dim G))``; TKFAC's ``sqrt(delta) Phi + sqrt(damping) I``
    and ``sqrt(delta) Psi + sqrt(damping) I`` with ``delta = E[tr Lambda tr Gamma]``,
    ``Phi = E[tr Gamma Lambda] / delta``, ``Psi = E[tr Lambda Gamma] / delta``. ``rng`` draws the
    sampled GN's outputs, one ``(n_d, N)`` standard normal block a step.
    """
    ws = [np.array(w, dtype=float) for w in weights]
    n = x.shape[1]
    factors: list = [None] * len(ws)
    inverses: list = [None] * len(ws)
    for k in range(steps):
        below, above = _products(ws)
        w_map = above[0] @ ws[0]
        residual = (w_map @ x - y) @ x.T / n
        draw = rng.standard_normal(y.shape) if source == "sampled_gn" else None
        new = []
        for i, w in enumerate(ws):
            acts, grads = _pairs(x, y, w_map, below[i], above[i], source, draw)
            m = acts.shape[0]
            if trace_restricted:
                tl, tg = (acts**2).sum(1), (grads**2).sum(1)
                delta = float(np.mean(tl * tg))
                cur = (np.sqrt(delta) * (acts * tg[:, None]).T @ acts / m / delta,
                       np.sqrt(delta) * (grads * tl[:, None]).T @ grads / m / delta)
            else:
                cur = (acts.T @ acts / m, grads.T @ grads / m)
            factors[i] = cur if k == 0 else tuple(ema * o + (1 - ema) * c
                                                  for o, c in zip(factors[i], cur))
            if k % interval == 0:
                a, g = factors[i]
                s = np.sqrt(damping)
                pi = 1.0 if trace_restricted else np.sqrt(
                    (np.trace(a) / a.shape[0]) / (np.trace(g) / g.shape[0]))
                inverses[i] = (np.linalg.inv(a + pi * s * np.eye(a.shape[0])),
                               np.linalg.inv(g + s / pi * np.eye(g.shape[0])))
            grad = above[i].T @ residual @ below[i].T
            new.append(w - lr * inverses[i][1] @ grad @ inverses[i][0])
        ws = new
    return ws
