"""Checks of the field's classic exact results beyond the five papers (theory/canon.md).

Each compares dlnsim's simulation with a closed form (:mod:`dlnsim.symbolic.canon`), an
independently integrated scalar ODE, or a dense reference, at a stated tolerance.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import solve_ivp

from dlnsim import modes, rules
from dlnsim.integrate import simulate
from dlnsim.network import Network
from dlnsim.symbolic import canon
from dlnsim.task import Task
from dlnsim.testing.reference import full_map
from dlnsim.verify.registry import Outcome, claim
from dlnsim.verify.zhang import _random_spd


def _unbalanced_mode(u0: float, c: float) -> list[float]:
    """``(sigma_1, sigma_2)`` with ``sigma_1 sigma_2 = u0`` and ``sigma_1^2 - sigma_2^2 = c``,
    the small one as ``u0 / big`` (no cancellation at large |c|)."""
    big = math.sqrt((abs(c) + math.sqrt(c * c + 4 * u0 * u0)) / 2)
    return [big, u0 / big] if c > 0 else [u0 / big, big]


@claim("canon.lazy_rich", "Fukumizu 1998; Braun et al. 2022; Dominé et al. (lazy to rich)",
       "One aligned depth-2 mode from any imbalance c: gradient flow follows the Riccati closed "
       "form u(t) (u = |c|/4 (x - 1/x)), q-NGD the scalar ODE du/dt = lr (s - u) (c^2 + "
       "4u^2)^((q-1)/2q), from rich (c = 1e-3) to lazy (c = 3), until the loss has converged",
       1e-9)
def lazy_rich() -> Outcome:
    # modes.simulate (the mode field, DOP853 at rtol 1e-12) against the closed form (GD) and
    # against scipy integrating the scalar ODE of u alone (q = 1.5, 2, 3), to t = 25 where
    # every run has converged (|u - s*| < 1e-12)
    s_star, lr, u0 = 1.5, 0.8, 0.01
    t = np.linspace(0.0, 25.0, 51)
    worst, converged, parts = 0.0, 0.0, []
    for c in (1e-3, 1.0, 3.0, -1.0):
        for q in (math.inf, 1.5, 2.0, 3.0):
            run = modes.simulate([_unbalanced_mode(u0, c)], [s_star], t, q=q, lr=lr,
                                 rtol=1e-12, atol=1e-14)
            if not run.success:
                return Outcome(math.inf, f"c={c:g} q={q:g}: {run.message}")
            if math.isinf(q):
                want = canon.unbalanced_mode_gd(t, u0, c, s_star, lr)
            else:
                want = solve_ivp(lambda _, y, q=q, c=c: canon.unbalanced_mode_rate(
                    y, c, s_star, q, lr), (0.0, t[-1]), [u0], t_eval=t, method="DOP853",
                    rtol=1e-13, atol=1e-15).y[0]
            err = float(np.abs(run.map[:, 0] - want).max())
            worst = max(worst, err)
            converged = max(converged, abs(float(run.map[-1, 0]) - s_star))
        parts.append(f"c={c:g}: {worst:.1e}")
    return Outcome(worst, "max |u_modes(t) - u_closed(t)| over q = inf, 1.5, 2, 3 (running "
                   "max by c): " + ", ".join(parts) + f"; |u(25) - s*| <= {converged:.0e}",
                   holds=converged < 1e-9)


def _no_bottleneck_case(seed: int, whitened: bool):
    rng = np.random.default_rng(seed)
    net = Network.random((3, 4, 5, 3), scale=0.6, seed=seed)
    spd = _random_spd(3, rng)  # drawn either way, so that the targets are the same draws
    return net, Task(target=rng.standard_normal((3, 3)), input_cov=None if whitened else spd)


@claim("canon.ngd_exact", "Bernacchia, Lengyel and Hennequin 2018",
       "Without a bottleneck, full NGD (q = 1) from any start and any S gives W(t) = W* + "
       "e^{-lr t} (W0 - W*); NGD-d at q = 1 the same map dynamics; at a bottleneck dW/dt = "
       "-lr P (W - W*), P the projection onto the range of the map-space kernel", 1e-9)
def ngd_exact() -> Outcome:
    # unbalanced random starts, widths (3, 4, 5, 3) (every W_{>i} of full row rank, W_{<i} of
    # full column rank), S = I (path 'auto': dense, the imbalance rules out 'balanced') and
    # S != I; DOP853 at rtol 1e-11 against the closed form; at a bottleneck (3, 2, 4, 3) the
    # map velocity against -P (W - W*) with P from the dense Jacobian's pseudo-inverse
    from dlnsim.testing.reference import dense_jacobian

    t = np.linspace(0.0, 6.0, 7)
    lr, worst, parts = 0.7, 0.0, []
    for seed, whitened in ((1, True), (2, False)):
        net, task = _no_bottleneck_case(seed, whitened)
        want = task.target + np.exp(-lr * t)[:, None, None] * (net.map - task.target)
        for name, rule in (("NGD", rules.ngd(1.0)), ("NGD-d", rules.ngd(1.0,
                                                                        block_diagonal=True))):
            run = simulate(net, task, rule, t, lr=lr, rtol=1e-11, atol=1e-13, quiet=True)
            if not run.success:
                return Outcome(math.inf, f"{name}: {run.message}")
            err = float(np.abs(run.map - want).max())
            worst = max(worst, err)
            parts.append(f"{name} S{'=' if whitened else '!='}I {err:.1e}")
    rng = np.random.default_rng(3)
    net = Network.random((3, 2, 4, 3), scale=0.8, seed=3)
    task = Task(target=rng.standard_normal((3, 3)))
    j = dense_jacobian(net.weights)              # d vec(W) / d theta, (9, P)
    proj = j @ np.linalg.pinv(j, rcond=1e-10)    # onto the range of J J^T = K
    v = rules.ngd(1.0).velocity(net, task)
    moved = _map_velocity(net.weights, v)
    want_v = -(proj @ (net.map - task.target).ravel()).reshape(3, 3)
    err = float(np.abs(moved - want_v).max() / np.abs(want_v).max())
    full = float(np.abs(want_v + (net.map - task.target)).max())
    worst = max(worst, err)
    parts.append(f"bottleneck: map velocity vs -P (W - W*) {err:.1e} (P != I: "
                 f"|P (W - W*) - (W - W*)| = {full:.2f})")
    return Outcome(worst, "max |W(t) - W* - e^{-lr t} (W0 - W*)|: " + ", ".join(parts),
                   holds=full > 0.1)


def _map_velocity(weights, v) -> np.ndarray:
    """``dW = sum_i W_{>i} dw_i W_{<i}`` written out."""
    d, out = len(weights), 0.0
    for i in range(d):
        above = full_map(weights[i + 1:]) if i + 1 < d else np.eye(weights[-1].shape[0])
        below = full_map(weights[:i]) if i else np.eye(weights[0].shape[1])
        out = out + above @ v[i] @ below
    return out


def _aligned_target(seed: int, sv) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((len(sv), len(sv))))
    v, _ = np.linalg.qr(rng.standard_normal((len(sv), len(sv))))
    return (u * np.asarray(sv)) @ v.T, u, v


@claim("canon.discrete_steps", "Gidel, Bach and Lacoste-Julien 2019; Huh 2020, Theorem 1",
       "One discrete step with direction v of a rule whose flow conserves c_i (GD, full q-NGD) "
       "changes c_i by exactly lr^2 (v_i v_i^T - v_{i+1}^T v_{i+1}); with decoupled decay lam, "
       "c_i <- (1 - lr lam)^2 c_i + lr^2 (g_i g_i^T - g_{i+1}^T g_{i+1}); a balanced aligned "
       "depth-2 mode under discrete GD is the map u <- u (1 + lr (s - u))^2", 1e-12)
def discrete_steps() -> Outcome:
    # (a) one step of each rule on unbalanced depth-3 and depth-4 networks with S != I: the
    # first-order change of c_i is the flow's derivative, 0, so what is left is exactly the
    # quadratic term; (b) 25 steps of full-matrix discrete GD from a balanced aligned start
    # against the scalar map iterated per mode
    rng = np.random.default_rng(9)
    worst, parts = 0.0, []
    for widths in ((3, 4, 2, 3), (2, 3, 3, 3, 2)):
        net = Network.random(widths, scale=0.7, seed=len(widths))
        cov = _random_spd(widths[0], rng)
        task = Task(target=rng.standard_normal((widths[-1], widths[0])), input_cov=cov)
        for lam in (0.0, 0.4):
            for q in (math.inf, 1.0, 2.0, 3.0):
                lr = 0.05
                rule = rules.ngd(q) if lam == 0 else rules.chain(rules.ngd(q),
                                                                 rules.weight_decay(lam))
                run = simulate(net, task, rule, [0, 1], lr=lr, method="discrete", quiet=True)
                w0, w1 = net.weights, [w[-1] for w in run.weights]
                g = [((1 - lr * lam) * a0 - a1) / lr for a0, a1 in zip(w0, w1)]
                for i in range(net.depth - 1):
                    c0 = w0[i] @ w0[i].T - w0[i + 1].T @ w0[i + 1]
                    c1 = w1[i] @ w1[i].T - w1[i + 1].T @ w1[i + 1]
                    want = (1 - lr * lam) ** 2 * c0 + lr**2 * (g[i] @ g[i].T
                                                               - g[i + 1].T @ g[i + 1])
                    scale = max(float(np.abs(c0).max()), lr**2 * float(np.abs(
                        g[i] @ g[i].T).max()))
                    worst = max(worst, float(np.abs(c1 - want).max()) / scale)
    parts.append(f"imbalance after one step (GD, q = 1, 2, 3; decay 0 and 0.4): {worst:.1e}")
    target, u, v = _aligned_target(10, [2.0, 1.0, 0.5])
    net = Network.aligned(target, np.array([2.0, 1.0, 0.5]) / 50, widths=(3, 3, 3))
    lr, steps = 0.3, 25
    run = simulate(net, Task(target=target), rules.gd(), np.arange(steps + 1.0), lr=lr,
                   method="discrete", quiet=True)
    strengths = np.einsum("ai,tab,bi->ti", u, run.map, v)  # u_k^T W(t) v_k
    want = [np.array([2.0, 1.0, 0.5]) / 50]
    for _ in range(steps):
        want.append(canon.discrete_mode_map(want[-1], np.array([2.0, 1.0, 0.5]), lr))
    gidel = float(np.abs(strengths - np.array(want)).max() / 2.0)
    worst = max(worst, gidel)
    parts.append(f"modes against u <- u (1 + lr (s - u))^2 over {steps} steps: {gidel:.1e} "
                 f"(u reached {strengths[-1, 0]:.4f} of 2)")
    return Outcome(worst, "; ".join(parts))


@claim("canon.sharpness", "Mulayoff and Michaeli 2020",
       "At a balanced global minimum with S = I the top Gauss-Newton (= Hessian) eigenvalue is "
       "d s_max^{2(d-1)/d}, unbalanced minima of the same map are sharper, and discrete GD "
       "started next to the minimum stays at lr = 0.95 x 2/lambda_max and leaves at 1.05 x",
       1e-10)
def sharpness() -> Outcome:
    # depths 1-3, target singular values 2, 1, 0.5; the eigenvalue of curvature.gauss_newton
    # (P x P) by eigvalsh; the unbalanced minimum scales layer 1 by 2 and layer 2 by 1/2 (the
    # same map); 1000 steps from the minimum plus 1e-6 noise
    target, _, _ = _aligned_target(4, [2.0, 1.0, 0.5])
    from dlnsim import curvature

    rng = np.random.default_rng(5)
    worst, stable, parts = 0.0, True, []
    for d, widths in ((1, (3, 3)), (2, (3, 4, 3)), (3, (3, 3, 3, 3))):
        net = Network.aligned(target, np.array([2.0, 1.0, 0.5]), widths=widths)
        lam = float(np.linalg.eigvalsh(curvature.gauss_newton(net)).max())
        want = canon.balanced_sharpness(2.0, d)
        err = abs(lam / want - 1)
        worst = max(worst, err)
        line = f"d={d}: {lam:.6f} vs {want:.6f}"
        if d > 1:
            layers = np.tile(np.array([2.0, 1.0, 0.5])[:, None] ** (1 / d), (1, d))
            layers[:, 0], layers[:, 1] = layers[:, 0] * 2, layers[:, 1] / 2
            other = Network.aligned(target, layers, widths=widths)
            sharper = float(np.linalg.eigvalsh(curvature.gauss_newton(other)).max())
            stable &= sharper > lam and np.allclose(other.map, net.map, atol=1e-12)
            line += f", unbalanced {sharper:.3f}"
        start = Network([w + 1e-6 * rng.standard_normal(w.shape) for w in net.weights])
        for factor in (0.95, 1.05):
            run = simulate(start, Task(target=target), rules.gd(), np.arange(0, 1001, 100.0),
                           lr=factor * 2 / lam, method="discrete", quiet=True)
            away = float(np.abs(run.map[-1] - target).max())
            stays = run.success and away < 1e-9
            stable &= stays if factor < 1 else not stays and (away > 1e-2 or not run.success)
            line += f", {factor:g}x: {'stays' if stays else 'leaves'} ({away:.1e})"
        parts.append(line)
    return Outcome(worst, "relative error of the top eigenvalue; " + "; ".join(parts),
                   holds=stable)


@claim("canon.decay_fixed_points", "Ziyin et al. 2022 (in dlnsim's normalisation)",
       "Balanced aligned modes under gradient flow with decoupled weight decay gamma end on "
       "the non-zero fixed point (s - sbar) sbar^{(d-2)/d} = gamma (sbar = s - gamma at d = 2), "
       "or at 0: at d >= 3 from below the unstable point and for gamma above the critical one",
       1e-9)
def decay_fixed_points() -> Outcome:
    # modes.simulate (DOP853, rtol 1e-12) to t = 60 from balanced starts; the fixed points by
    # brentq on the equation above (symbolic.canon.decay_fixed_points)
    s_star, worst, parts = 1.5, 0.0, []
    cases = [(2, 0.3, 0.3, -1), (3, 0.2, 1.0, -1), (3, 0.2, 0.05, None),
             (4, 0.15, 1.0, -1), (4, 0.15, 0.05, None), (3, 0.9, 1.0, None)]
    for d, gamma, a0, which in cases:
        points = canon.decay_fixed_points(s_star, gamma, d)
        want = 0.0 if which is None else points[which]
        run = modes.simulate([[a0] * d], [s_star], np.linspace(0.0, 60.0, 4), q=math.inf,
                             weight_decay=gamma, rtol=1e-12, atol=1e-14)
        if not run.success:
            return Outcome(math.inf, run.message)
        err = abs(float(run.map[-1, 0]) - want)
        worst = max(worst, err)
        parts.append(f"d={d} gamma={gamma:g} from {a0 ** d:.3g}: {float(run.map[-1, 0]):.10f}"
                     f" vs {want:.10f}")
    # and full matrices: a balanced aligned depth-3 network, every mode on its own point
    target, _, _ = _aligned_target(6, [s_star, 1.0, 0.6])
    net = Network.aligned(target, np.array([s_star, 1.0, 0.6]), widths=(3, 4, 4, 3))
    run = simulate(net, Task(target=target), rules.chain(rules.gd(), rules.weight_decay(0.2)),
                   [0.0, 60.0], rtol=1e-12, atol=1e-14, quiet=True)
    got = np.linalg.svd(run.map[-1], compute_uv=False)
    want = np.array([canon.decay_fixed_points(s, 0.2, 3)[-1] for s in (s_star, 1.0, 0.6)])
    err = float(np.abs(got - want).max())
    worst = max(worst, err)
    parts.append(f"full matrices (3, 4, 4, 3), gamma = 0.2: {err:.1e}")
    crit = canon.critical_decay(s_star, 3)
    return Outcome(worst, "|sbar(60) - predicted|; " + "; ".join(parts)
                   + f" (critical gamma at d = 3: {crit:.4f})")


def _lambda_balanced(n0: int, n1: int, n2: int, lam: float, rng) -> tuple:
    """``w_2`` random, ``w_1 = (w_2^T w_2 + lam I)^{1/2} O^T``: ``c_1 = lam I``, not aligned;
    a negative ``lam`` is taken as that fraction of the smallest eigenvalue of ``w_2^T w_2``.
    Returns ``(w_1, w_2, lam)``."""
    left, _ = np.linalg.qr(rng.standard_normal((n2, n2)))
    right, _ = np.linalg.qr(rng.standard_normal((n1, n1)))
    r = min(n1, n2)
    w2 = (left[:, :r] * rng.uniform(0.3, 0.6, r)) @ right[:, :r].T  # singular values 0.3-0.6
    if lam < 0:
        lam = lam * float(np.linalg.eigvalsh(w2.T @ w2).min())
    evals, vecs = np.linalg.eigh(w2.T @ w2 + lam * np.eye(n1))
    root = (vecs * np.sqrt(np.clip(evals, 0.0, None))) @ vecs.T
    o, _ = np.linalg.qr(rng.standard_normal((n0, n1)))
    return root @ o.T, w2, lam


@claim("canon.riccati", "Fukumizu 1998; Braun et al. 2022; Dominé et al. (lazy to rich)",
       "Depth-2 gradient flow from any lambda-balanced start (full matrices, not aligned, "
       "S = I) follows the matrix Riccati solution X(t) = e^{Ft} Q0 [I + Q0^T int e^{2Fs} ds "
       "Q0]^{-1} Q0^T e^{Ft}: the map and the hidden kernel w2 w2^T, for n0 != n2, a "
       "bottleneck, singular F and lambda < 0, 0, > 0, until the loss has converged", 1e-9)
def riccati() -> Outcome:
    # simulate (DOP853, rtol 1e-12) against symbolic.canon.lambda_balanced_depth2 (mpmath at
    # the digits the exponentials need) to t = 30, where the loss is within 1e-12 of its
    # minimum (the best rank-n1 approximation's 1/2 sum_{k > n1} s_k^2)
    rng = np.random.default_rng(11)
    t = np.linspace(0.0, 30.0, 16)
    worst, gap, parts = 0.0, 0.0, []
    for (n0, n1, n2), lam, rank in (((3, 2, 4), 0.5, 3), ((4, 3, 3), -0.5, 3),
                                    ((2, 2, 5), 0.0, 2), ((3, 3, 3), 1.0, 2)):
        w1, w2, lam = _lambda_balanced(n0, n1, n2, lam, rng)
        u, _ = np.linalg.qr(rng.standard_normal((n2, n2)))
        v, _ = np.linalg.qr(rng.standard_normal((n0, n0)))
        sv = np.zeros(min(n0, n2))
        sv[:rank] = np.linspace(2.0, 0.7, rank)
        target = (u[:, :sv.size] * sv) @ v[:, :sv.size].T
        run = simulate(Network([w1, w2]), Task(target=target), rules.gd(), t, rtol=1e-12,
                       atol=1e-14, quiet=True)
        if not run.success:
            return Outcome(math.inf, run.message)
        maps, _, kernel = canon.lambda_balanced_depth2(w1, w2, target, t)
        got_kernel = np.einsum("tij,tkj->tik", run.weights[1], run.weights[1])
        err = max(float(np.abs(run.map - maps).max()), float(np.abs(got_kernel - kernel).max()))
        worst = max(worst, err)
        gap = max(gap, abs(float(run.loss[-1]) - 0.5 * float(np.sum(sv[n1:] ** 2))))
        singular = bool(np.abs(np.linalg.eigvalsh(canon.riccati_matrix(target, lam))).min()
                        < 1e-12)
        parts.append(f"({n0}, {n1}, {n2}) lam={lam:g}{' F singular' if singular else ''}: "
                     f"{err:.1e}")
    return Outcome(worst, "max |W_sim - W_riccati| and |w2 w2^T - kernel| to t = 30: "
                   + ", ".join(parts) + f"; loss at t = 30 within {gap:.0e} of its minimum",
                   holds=gap < 1e-12)


@claim("canon.layer_rates", "Kunin et al. 2024 (Get rich quick)",
       "Gradient flow with per-layer rates eta_i conserves w_i w_i^T / eta_i - w_{i+1}^T "
       "w_{i+1} / eta_{i+1} (any depth, any S); a depth-2 mode from a balanced start with "
       "eta_1 != eta_2 follows the lazy/rich closed form with lr sqrt(eta_1 eta_2) and "
       "c = sqrt(eta_1 eta_2) (s_1^2/eta_1 - s_2^2/eta_2)", 1e-9)
def layer_rates() -> Outcome:
    # (a) full matrices, depth 3, S != I, rates 0.5, 2, 1: the weighted imbalance's drift
    # along a DOP853 run (rtol 1e-11), relative to its size, while c_i itself moves;
    # (b) one mode from sigma_1 = sigma_2 (c = 0): the rates alone make it lazy or rich
    rng = np.random.default_rng(13)
    cov = _random_spd(3, rng)
    task = Task(target=rng.standard_normal((3, 3)), input_cov=cov)
    net = Network.random((3, 4, 4, 3), scale=0.6, seed=13)
    rates = (0.5, 2.0, 1.0)
    run = simulate(net, task, rules.chain(rules.gd(), rules.layer_rates(rates)),
                   np.linspace(0.0, 4.0, 5), rtol=1e-11, atol=1e-13, quiet=True)
    if not run.success:
        return Outcome(math.inf, run.message)
    drift, moved = 0.0, 0.0
    for i in range(net.depth - 1):
        w0, w1 = run.weights[i], run.weights[i + 1]
        weighted = (w0 @ np.swapaxes(w0, 1, 2)) / rates[i] \
            - (np.swapaxes(w1, 1, 2) @ w1) / rates[i + 1]
        drift = max(drift, float(np.abs(weighted - weighted[0]).max())
                    / float(np.abs(weighted[0]).max()))
        c = run.imbalance[i]
        moved = max(moved, float(np.abs(c - c[0]).max()) / float(np.abs(c[0]).max()))
    worst, parts = drift, [f"weighted imbalance drift {drift:.1e} (plain c_i moved "
                           f"{moved:.2f})"]
    s_star, t = 1.5, np.linspace(0.0, 20.0, 41)
    for sigma, eta1, eta2 in ((0.1, 4.0, 0.25), (0.1, 0.25, 4.0), (0.1, 1.5, 0.5),
                              (1.0, 8.0, 0.125)):  # the last one lazy: |c_eff| = 7.9
        rule = rules.chain(rules.gd(), rules.layer_rates((eta1, eta2)))
        mode = modes.simulate([[sigma, sigma]], [s_star], t, rule=rule, rtol=1e-12,
                              atol=1e-14)
        lr_eff = math.sqrt(eta1 * eta2)
        c_eff = lr_eff * (sigma**2 / eta1 - sigma**2 / eta2)
        want = canon.unbalanced_mode_gd(t, sigma**2, c_eff, s_star, lr_eff)
        err = float(np.abs(mode.map[:, 0] - want).max())
        worst = max(worst, err)
        parts.append(f"rates ({eta1:g}, {eta2:g}): c_eff = {c_eff:.3g}, {err:.1e}")
    return Outcome(worst, "; ".join(parts), holds=moved > 1e-2)


def _svd_aligned(x, ref_u):
    """The thin SVD of ``x`` with each pair's sign chosen to agree with ``ref_u``."""
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    sign = np.sign(np.sum(u * ref_u, axis=0))
    return u * sign, s, vt.T * sign


@claim("canon.end_to_end_cov", "Arora, Cohen and Hazan 2018; Arora, Cohen, Hu and Luo 2019",
       "From a balanced start under gradient flow with any S, the map obeys dW/dt = -lr "
       "sum_j (W W^T)^{(d-j)/d} G (W^T W)^{(j-1)/d}, G = (W - W*) S; its singular values "
       "ds_r/dt = -lr d s_r^{2-2/d} <G, u_r v_r^T>, and its singular vectors the equations "
       "of theory/canon.md", 1e-6)
def end_to_end_cov() -> Outcome:
    # balanced, not aligned networks with correlated S: (a) the map velocity of the dense
    # reference (perturbation Jacobian) against the end-to-end formula; (b) the singular
    # values' and vectors' velocities against central differences (h = 1e-5) of the SVD of
    # W + h dW, and Arora's form of ds_r; (c) a full-matrix GD run against the end-to-end ODE
    # integrated on W alone (DOP853, rtol 1e-11 both)
    from dlnsim.testing.reference import dense_velocity

    rng = np.random.default_rng(17)
    worst, parts = 0.0, []
    for widths in ((3, 3, 3, 3), (3, 4, 5, 2), (2, 3, 3, 3, 4)):
        d = len(widths) - 1
        net = Network.aligned(rng.standard_normal((widths[-1], widths[0])),
                              0.4 + rng.random(min(widths)), widths=widths, seed=3)
        cov = _random_spd(widths[0], rng)
        task = Task(target=rng.standard_normal((widths[-1], widths[0])), input_cov=cov)
        dw = _map_velocity(net.weights, dense_velocity(net, task, rules.gd()))
        e2e = canon.end_to_end_gd_velocity(net.map, task.target, d, cov)
        vel = float(np.abs(e2e - dw).max() / np.abs(dw).max())
        ds, du, dv = canon.end_to_end_svd_velocity(net.map, task.target, d, cov)
        u0, s0, vt0 = np.linalg.svd(net.map, full_matrices=False)
        v0 = vt0.T
        h = 1e-5
        up, sp, vp = _svd_aligned(net.map + h * dw, u0)
        um, sm, vm = _svd_aligned(net.map - h * dw, u0)
        fd = max(float(np.abs((sp - sm) / (2 * h) - ds).max()),
                 float(np.abs((up - um) / (2 * h) - du).max()),
                 float(np.abs((vp - vm) / (2 * h) - dv).max())) / float(np.abs(ds).max())
        g = (net.map - task.target) @ cov
        arora = -d * s0 ** (2 - 2 / d) * np.einsum("ir,ij,jr->r", u0, g, v0)
        form = float(np.abs(arora - ds).max() / np.abs(ds).max())
        worst = max(worst, vel, fd, form)
        parts.append(f"{widths}: dW {vel:.1e}, SVD {fd:.1e}, ds_r form {form:.1e}")
    t = np.linspace(0.0, 3.0, 4)
    run = simulate(net, task, rules.gd(), t, lr=0.5, rtol=1e-11, atol=1e-13, quiet=True)
    ode = solve_ivp(lambda _, y: 0.5 * canon.end_to_end_gd_velocity(
        y.reshape(net.map.shape), task.target, net.depth, task.input_cov).ravel(),
        (0.0, 3.0), net.map.ravel(), t_eval=t, method="DOP853", rtol=1e-11, atol=1e-13)
    traj = float(np.abs(run.map - ode.y.T.reshape(run.map.shape)).max())
    worst = max(worst, traj)
    parts.append(f"run of {net.widths} against the end-to-end ODE: {traj:.1e}")
    return Outcome(worst, "; ".join(parts))
