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
    for c in (1e-3, 0.1, 1.0, 3.0, -1.0):
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
    a = rng.standard_normal((3, 3))
    cov = None if whitened else a @ a.T / 3 + 0.3 * np.eye(3)
    return net, Task(target=rng.standard_normal((3, 3)), input_cov=cov)


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
        a = rng.standard_normal((widths[0], widths[0]))
        task = Task(target=rng.standard_normal((widths[-1], widths[0])),
                    input_cov=a @ a.T / widths[0] + 0.3 * np.eye(widths[0]))
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
