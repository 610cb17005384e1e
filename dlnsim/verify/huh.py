"""Checks of Huh (2020), *Curvature-corrected learning dynamics in deep neural networks*.

Paper file: 003_71de8b0923317664.txt. Statements and notes: theory/huh_curvature.md.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from dlnsim import curvature, experiments, modes, rules, symbolic
from dlnsim.integrate import simulate
from dlnsim.network import Network
from dlnsim.task import Task
from dlnsim.verify.registry import Outcome, claim

INF = math.inf
FULL_QS = (INF, 1.0, 2.0, 3.0)


def _rel_drift(series: np.ndarray) -> float:
    """max_t |c(t) - c(0)| / max |c(0)| for a (T, ...) series."""
    return float(np.abs(series - series[0]).max() / max(np.abs(series[0]).max(), 1e-300))


def _random_modes(seed: int, m: int = 6, d: int = 3, lo: float = 0.05, hi: float = 2.0):
    rng = np.random.default_rng(seed)
    return lo + (hi - lo) * rng.random((m, d)), 0.2 + 3 * rng.random(m)


def _unaligned_case(widths=(3, 4, 4, 3), seed=0):
    rng = np.random.default_rng(seed)
    task = Task(target=rng.standard_normal((widths[-1], widths[0])),
                input_cov=np.diag(np.linspace(0.5, 2.0, widths[0])))
    return Network.random(widths, scale=0.6, seed=seed + 1), task


def _imbalance_drift(traj) -> float:
    sq = max(sum(float(np.sum(w[k] ** 2)) for w in traj.weights) for k in range(len(traj.t)))
    return max(float(np.abs(c - c[0]).max()) for c in traj.imbalance) / sq


@claim("huh.modes.reduction", "Huh 2020, eqs 5, 10, 12, 20, 21 and footnote 1",
       "A full-matrix network initialised aligned with the target's SVD follows the "
       "singular-mode ODE of its rule exactly", 1e-8)
def modes_reduction() -> Outcome:
    rng = np.random.default_rng(11)
    widths = (3, 4, 5, 3)
    u, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    v, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    s_star = np.array([3.0, 1.0, 0.3])
    target = (u * s_star) @ v.T
    sigma0 = 0.2 + 0.4 * rng.random((3, 3))
    net = Network.aligned(target, sigma0, widths=widths, seed=5)
    t = np.linspace(0, 4, 5)
    worst, parts = 0.0, []
    for q, block in [(INF, False), (1.0, False), (2.0, False), (3.0, False), (1.0, True),
                     (2.0, True)]:
        full = simulate(net, Task(target=target), rules.ngd(q, block_diagonal=block), t,
                        quiet=True)
        red = modes.simulate(sigma0, s_star, t, q=q, block_diagonal=block)
        err = 0.0
        for k in range(len(t)):
            want = Network.aligned(target, red.sigma[k], widths=widths, seed=5)
            err = max(err, max(float(np.abs(a[k] - b).max())
                               for a, b in zip(full.weights, want.weights)))
        worst = max(worst, err)
        parts.append(f"q={q:g}{'-d' if block else ''}: {err:.1e}")
    return Outcome(worst, "max |w_full - w_modes| over t, layers; " + ", ".join(parts))


@claim("huh.paths.hyperbolic", "Huh 2020, eq 6",
       "GD, NGD and q-NGD singular modes move on hyperbolas sigma_i^2 - sigma_{i+1}^2 = const",
       1e-9)
def paths_hyperbolic() -> Outcome:
    sigma0, s_star = _random_modes(1)
    worst, sym = 0.0, []
    for q in FULL_QS:
        run = modes.simulate(sigma0, s_star, np.linspace(0, 10, 6), q=q)
        worst = max(worst, _rel_drift(run.sigma[..., :-1] ** 2 - run.sigma[..., 1:] ** 2))
        sym.append(symbolic.conservation_derivative("hyperbolic", 3, q, False))
    ok = all(r == 0 for r in sym)
    return Outcome(worst, f"numeric drift {worst:.1e}; sympy d/dt(sigma_1^2 - sigma_2^2) = "
                          f"{sym} for q = 1, 2, 3, inf", holds=ok)


@claim("huh.speed", "Huh 2020, eqs 7, 11, 13, 14",
       "Update speed ||sigma_dot|| = lr |sd| ||j||^{1-2/q}: vanishing for GD, exploding for NGD, "
       "constant (= lr |sd|) for sqrt-NGD", 1e-12)
def speed() -> Outcome:
    sigma, s_star = _random_modes(2, m=50, d=4, lo=0.01, hi=3.0)
    sd = np.abs(sigma.prod(axis=1) - s_star)
    jn = np.linalg.norm(modes.jacobian(sigma), axis=1)
    worst = 0.0
    for q in FULL_QS:
        v = np.linalg.norm(modes.velocity(sigma, s_star, q=q), axis=1)
        want = sd * jn ** (1 - (0 if math.isinf(q) else 2 / q))
        worst = max(worst, float(np.max(np.abs(v - want) / want)))
    return Outcome(worst, "max relative error of the speed over 50 random modes, d = 4")


@claim("huh.ngd.minnorm", "Huh 2020, eqs 8-9",
       "The NGD velocity is the minimum-norm solution of H_+ w_dot = -lr g and is orthogonal to "
       "the null-space transforms (m w_i, -w_{i+1} m)", 1e-9)
def ngd_minnorm() -> Outcome:
    net, task = _unaligned_case((3, 4, 2, 3), seed=3)
    v = np.concatenate([x.ravel() for x in rules.ngd(1.0).velocity(net, task)])
    h = curvature.gauss_newton(net, task.input_cov)
    g = np.concatenate([x.ravel() for x in curvature.gradient(net, task.target,
                                                              task.input_cov)])
    ref = np.linalg.lstsq(h, -g, rcond=1e-12)[0]  # min-norm least-squares solution
    err = float(np.linalg.norm(v - ref) / np.linalg.norm(ref))
    residual = float(np.linalg.norm(h @ v + g) / np.linalg.norm(g))
    rng = np.random.default_rng(0)
    ortho = 0.0
    vs = net.unflatten(v)
    for i in range(net.depth - 1):
        m = rng.standard_normal((net.widths[i + 1],) * 2)
        null = [np.zeros_like(w) for w in net.weights]
        null[i], null[i + 1] = m @ net.weights[i], -net.weights[i + 1] @ m
        ortho = max(ortho, abs(sum(float(np.sum(a * b)) for a, b in zip(vs, null)))
                    / (np.linalg.norm(v) * np.linalg.norm(np.concatenate(
                        [x.ravel() for x in null]))))
    return Outcome(max(err, residual, ortho),
                   f"|v - lstsq| = {err:.1e}, constraint residual {residual:.1e}, "
                   f"max |cos(v, null transform)| = {ortho:.1e}")


@claim("huh.conservation", "Huh 2020, Theorem 1, eq 15",
       "c_i = w_i w_i^T - w_{i+1}^T w_{i+1} is conserved by GD, NGD and q-NGD on full matrices "
       "from random unaligned init with non-identity input covariance", 1e-8)
def conservation() -> Outcome:
    worst, parts = 0.0, []
    for widths in [(3, 4, 4, 3), (4, 3, 5, 2)]:
        net, task = _unaligned_case(widths)
        for q in FULL_QS:
            traj = simulate(net, task, rules.ngd(q), np.linspace(0, 20, 5), quiet=True)
            drop = traj.loss[0] / traj.loss[-1]
            if not traj.success or drop < 100:
                return Outcome(math.inf, f"widths {widths}, q={q:g}: {traj.message}, "
                                         f"loss drop {drop:.1e}")
            worst = max(worst, _imbalance_drift(traj))
        parts.append(f"{widths}")
    return Outcome(worst, "max |c_i(t) - c_i(0)| / max ||w||^2 over widths "
                          + ", ".join(parts) + "; q = inf, 1, 2, 3; loss cut >= 100x")


@claim("huh.map.exponent", "Huh 2020, eqs 16-17",
       "At balance the map obeys dsbar/dt = -etabar (sbar - s*) sbar^p with "
       "p = 2(d-1)(q-1)/(dq), etabar = lr d^{1-1/q}", 1e-12)
def map_exponent() -> Outcome:
    residuals = [symbolic.map_dynamics_balanced(d, q) for d in (1, 2, 3, 4) for q in FULL_QS]
    sbar = np.linspace(0.01, 3.0, 40)
    s_star = 1.3 + 0 * sbar
    worst = 0.0
    for d in (1, 2, 3, 5):
        sigma = np.repeat(sbar[:, None] ** (1 / d), d, axis=1)
        for q in FULL_QS:
            v = modes.velocity(sigma, s_star, q=q)
            rate = np.sum(v * modes.jacobian(sigma), axis=1)  # eq 16
            want = modes.map_velocity(sbar, s_star, d, q)
            worst = max(worst, float(np.max(np.abs(rate - want) / np.abs(want))))
    ok = all(r == 0 for r in residuals)
    return Outcome(worst, f"numeric eq16 vs eq17 max rel error {worst:.1e}; sympy residual 0 for "
                          f"d = 1..4, q = 1, 2, 3, inf: {ok}", holds=ok)


@claim("huh.map.closed_forms", "Huh 2020, section 4 (p = 0, 1/2, 1) and Fig 2 (p = 2)",
       "Closed forms of eq 17 solve it (sympy substitution) and match full-matrix networks run "
       "from aligned balanced init", 1e-8)
def map_closed_forms() -> Outcome:
    residual_ok = all(symbolic.ode_residual(p, symbolic.closed_form(p)) == 0
                      for p in (0, 0.5, 1))
    residual_ok &= all(symbolic.ode_residual(p, symbolic.closed_form(p, zero_init=True)) == 0
                       for p in (0, 0.5))
    t2 = symbolic.implicit_time(2)
    residual_ok &= symbolic.implicit_residual(2, t2) == 0
    # full-matrix d = 2 networks: q = 1 (p = 0), q = 2 (p = 1/2), q = inf (p = 1)
    rng = np.random.default_rng(4)
    u, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    v, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    s_star = np.array([2.0, 1.0, 0.5])
    target = (u * s_star) @ v.T
    sbar0 = s_star / 100
    ts = np.linspace(0, 8, 9)
    worst, parts = 0.0, []
    for q, p in [(1.0, 0), (2.0, 0.5), (INF, 1)]:
        net = Network.aligned(target, sbar0, widths=(3, 3, 3), seed=1)
        traj = simulate(net, Task(target=target), rules.ngd(q), ts, quiet=True)
        expr = symbolic.closed_form(p)
        f = sp.lambdify((symbolic.t, symbolic.s_star, symbolic.s0, symbolic.eta), expr, "numpy")
        etabar = modes.calibrated_rate(1.0, 2, q)
        want = np.stack([f(ts, ss, s0, etabar) for ss, s0 in zip(s_star, sbar0)], axis=1)
        err = float(np.abs(traj.mode_strengths - want).max())
        worst = max(worst, err)
        parts.append(f"p={p:g}: {err:.1e}")
    # p = 2 (d -> inf under GD) is realised by eq 17 itself: compare the implicit t(s)
    traj2 = modes.simulate_map_exponent([0.05], [1.0], np.linspace(0, 30, 11), p=2.0)
    tf = sp.lambdify((symbolic.s, symbolic.s_star, symbolic.s0, symbolic.eta), t2, "mpmath")
    sb = traj2.map[1:, 0]
    t_pred = np.array([float(sp.re(tf(x, 1.0, 0.05, 1.0))) for x in sb])  # log branches cancel
    err2 = float(np.max(np.abs(t_pred - traj2.t[1:]) / traj2.t[1:]))
    worst = max(worst, err2)
    parts.append(f"p=2 implicit t(s) rel: {err2:.1e}")
    return Outcome(worst, "max |sbar_full - closed form|; " + ", ".join(parts)
                   + f"; sympy residuals zero: {residual_ok}",
                   holds=bool(residual_ok))


@claim("huh.table1", "Huh 2020, Table 1",
       "p = 0 for d = 1 or q = 1; p = 1/2, 1 for d = 2 at q = 2, inf; limits d -> inf give "
       "1 (q = 2) and 2 (q = inf)", 0.0)
def table1() -> Outcome:
    paper = {(1, 1): 0, (1, 2): 0, (1, sp.oo): 0, (2, 1): 0, (2, 2): sp.Rational(1, 2),
             (2, sp.oo): 1, (sp.oo, 1): 0, (sp.oo, 2): 1, (sp.oo, sp.oo): 2}
    got = symbolic.table1()
    bad = [k for k in paper if sp.simplify(got[k] - paper[k]) != 0]
    return Outcome(float(len(bad)), f"sympy limits {got}; entries differing: {bad}")


@claim("huh.timescale", "Huh 2020, section 4.2 and Fig 2",
       "The half-max time of eq 17 scales as s*^{-p} (zero init for p < 1, s0 = s*/100 else)",
       1e-9)
def timescale() -> Outcome:
    worst, parts = 0.0, []
    for d, q in [(2, 1.0), (2, 2.0), (4, 2.0), (2, INF), (4, INF)]:
        p = modes.exponent(d, q)
        targets = np.array([0.5, 1.0, 2.0, 4.0])
        times = []
        for ss in targets:
            init = None if p < 1 else ss / 100
            times.append(symbolic.half_max_time(d, q, ss, init=init))
            # numeric: integrate eq 17 from s0 up to the predicted half-max time of that s0
            s0 = ss * 1e-12 if init is None else init
            th = symbolic.half_max_time(d, q, ss, init=s0)
            run = modes.simulate_map([s0], [ss], [0.0, th], d=d, q=q, atol=1e-30)
            worst = max(worst, abs(run.map[-1, 0] - ss / 2) / (ss / 2))
        slope = np.polyfit(np.log(targets), np.log(times), 1)[0]
        worst = max(worst, abs(slope + p))
        parts.append(f"d={d},q={q:g}: slope {slope:.6f} vs -p = {-p:.6f}")
    return Outcome(worst, "max of |sbar(t_1/2) - s*/2| / (s*/2) from eq 17 and |slope + p|; "
                   + "; ".join(parts))


@claim("huh.escape", "Huh 2020, section 4.2",
       "From near zero, sqrt-NGD (p < 1) grows polynomially, sbar ~ t^{1/(1-p)}, escaping in "
       "finite time; GD's escape time diverges as s0^{-(p-1)} for d >= 3", 1e-2)
def escape() -> Outcome:
    parts, worst = [], 0.0
    for d in (2, 4):  # sqrt-NGD: p = 1 - 1/d
        expo = float(symbolic.escape_exponent(d, 2.0))
        ts = np.geomspace(1e-4, 1e-2, 5)
        run = modes.simulate_map([1e-30], [1.0], np.concatenate([[0.0], ts]), d=d, q=2.0,
                                 atol=1e-60)  # values ~1e-16: tolerance must be relative
        slope = np.polyfit(np.log(ts), np.log(run.map[1:, 0]), 1)[0]
        worst = max(worst, abs(slope - expo) / expo)
        parts.append(f"sqrt-NGD d={d}: growth exponent {slope:.4f} vs 1/(1-p) = {expo:.4f}")
    d = 3  # GD, p = 4/3: t_escape * s0^{p-1} -> constant
    p = modes.exponent(d, INF)
    vals = []
    for s0 in (1e-3, 1e-4):
        th = symbolic.half_max_time(d, INF, 1.0, init=s0)
        vals.append(th * s0 ** (p - 1))
    ratio = abs(vals[1] / vals[0] - 1)
    worst = max(worst, ratio / 10)  # O(s0^{p-1}) corrections: compare at 10% level
    parts.append(f"GD d=3: t_1/2 s0^(p-1) = {vals[0]:.4f}, {vals[1]:.4f}")
    return Outcome(worst, "; ".join(parts))


@claim("huh.deff", "Huh 2020, eq 18",
       "d_eff = dq/(d+q-1) gives p(d, q) = p(d_eff, inf); d_eff < 2 for sqrt-NGD; d_eff -> q as "
       "d -> inf and -> d as q -> inf", 0.0)
def deff() -> Outcome:
    d, q = symbolic.d_sym, symbolic.q_sym
    de = symbolic.effective_depth()
    same = sp.simplify(2 * (de - 1) / de - symbolic.exponent())  # p(d_eff, inf) - p(d, q)
    sqrt_gap = sp.simplify(2 - symbolic.effective_depth(None, 2))  # = 2/(d+1) > 0
    lim_d = sp.limit(de, d, sp.oo)
    lim_q = sp.limit(de, q, sp.oo)
    bad = int(same != 0) + int(not sqrt_gap.is_positive) + int(lim_d != q) + int(lim_q != d)
    return Outcome(float(bad), f"p(d_eff, inf) - p(d, q) = {same}; 2 - d_eff(q=2) = {sqrt_gap}; "
                               f"lim_d = {lim_d}; lim_q = {lim_q}")



@claim("huh.ngdd.mapdyn", "Huh 2020, section 5 (after eq 20)",
       "NGD-d has the same linear map dynamics as NGD: sum_i sigma_dot_i j_i = -lr (sbar - s*)",
       1e-12)
def ngdd_mapdyn() -> Outcome:
    sigma, s_star = _random_modes(5, m=40, d=4)
    worst = 0.0
    for block in (True, False):
        v = modes.velocity(sigma, s_star, q=1.0, block_diagonal=block)
        rate = np.sum(v * modes.jacobian(sigma), axis=1)
        want = -(sigma.prod(axis=1) - s_star)
        worst = max(worst, float(np.max(np.abs(rate - want) / np.abs(want))))
    return Outcome(worst, "max relative error over 40 random unbalanced modes, d = 4")


@claim("huh.ngdd.ratio", "Huh 2020, section 5, Fig 3A",
       "NGD-d conserves sigma_i / sigma_{i+1}", 1e-9)
def ngdd_ratio() -> Outcome:
    sigma0, s_star = _random_modes(6)
    run = modes.simulate(sigma0, s_star, np.linspace(0, 10, 6), q=1.0, block_diagonal=True)
    drift = _rel_drift(run.sigma[..., :-1] / run.sigma[..., 1:])
    sym = symbolic.conservation_derivative("ratio", 3, 1, True)
    return Outcome(drift, f"numeric drift {drift:.1e}; sympy derivative {sym}",
                   holds=sym == 0)


@claim("huh.ngdd.speed", "Huh 2020, section 5 (Jensen's inequality)",
       "NGD-d moves faster than NGD: ||sigma_dot||_NGD-d >= ||sigma_dot||_NGD", 0.0)
def ngdd_speed() -> Outcome:
    sigma, s_star = _random_modes(7, m=500, d=4, lo=0.01, hi=3.0)
    a = np.linalg.norm(modes.velocity(sigma, s_star, q=1.0, block_diagonal=True), axis=1)
    b = np.linalg.norm(modes.velocity(sigma, s_star, q=1.0), axis=1)
    violation = float(np.max(np.clip(b - a, 0, None) / b - 1e-13).clip(0))
    return Outcome(violation, f"min ratio NGD-d/NGD = {np.min(a / b):.6f} over 500 random modes")


@claim("huh.sqrtngdd.difference", "Huh 2020, eq 21, Fig 3B",
       "sqrt-NGD-d conserves |sigma_i| - |sigma_{i+1}| and moves at speed lr |sd|", 1e-9)
def sqrtngdd_difference() -> Outcome:
    sigma0, s_star = _random_modes(8)
    run = modes.simulate(sigma0, s_star, np.linspace(0, 10, 6), q=2.0, block_diagonal=True)
    drift = _rel_drift(np.abs(run.sigma[..., :-1]) - np.abs(run.sigma[..., 1:]))
    v = modes.velocity(sigma0, s_star, q=2.0, block_diagonal=True)
    sd = np.abs(sigma0.prod(axis=1) - s_star)
    speed = float(np.max(np.abs(np.linalg.norm(v, axis=1) - sd) / sd))
    sym = symbolic.conservation_derivative("difference", 3, 2, True)
    return Outcome(max(drift, speed), f"drift {drift:.1e}, speed error {speed:.1e}, sympy {sym}",
                   holds=sym == 0)


@claim("huh.qngdd.general", "Huh 2020, footnote 4",
       "q-NGD-d conserves sigma_i^{2(1-1/q)} - sigma_k^{2(1-1/q)}", 1e-9)
def qngdd_general() -> Outcome:
    sigma0, s_star = _random_modes(9)
    worst, syms = 0.0, []
    for q in (1.5, 2.0, 3.0, 5.0):
        run = modes.simulate(sigma0, s_star, np.linspace(0, 10, 6), q=q, block_diagonal=True)
        e = 2 * (1 - 1 / q)
        worst = max(worst, _rel_drift(run.sigma[..., :-1] ** e - run.sigma[..., 1:] ** e))
        syms.append(symbolic.conservation_derivative("power", 3, q, True))
    return Outcome(worst, f"drift {worst:.1e}; sympy {syms} (q = 1.5, 2, 3, 5)",
                   holds=all(x == 0 for x in syms))


@claim("huh.blockdiag.breaks", "Huh 2020, section 5 and Fig 5C",
       "NGD-d violates eq 15 on full matrices: its imbalance drift exceeds NGD's by >= 1e4", 1e-4)
def blockdiag_breaks() -> Outcome:
    worst, parts = 0.0, []
    for widths in [(3, 4, 4, 3), (4, 3, 5, 2)]:
        net, task = _unaligned_case(widths)
        t = np.linspace(0, 20, 5)
        full = _imbalance_drift(simulate(net, task, rules.ngd(1.0), t, quiet=True))
        block = _imbalance_drift(simulate(net, task, rules.ngd(1.0, block_diagonal=True), t,
                                          quiet=True))
        ratio = full / block
        worst = max(worst, ratio)
        parts.append(f"{widths}: NGD drift {full:.1e}, NGD-d drift {block:.1e}")
    return Outcome(worst, "error = NGD drift / NGD-d drift; " + "; ".join(parts))


# -- teacher-student (section 6, Figs 4 and 5) ------------------------------------------------
@claim("huh.teacher.signal_first", "Huh 2020, section 6, Fig 4",
       "SGD, sqrt-NGD and sqrt-NGD-d learn the 3 signal modes well before the noise modes "
       "(median noise half-time >= 3x the slowest signal one); NGD and NGD-d learn them "
       "together (< 1.5x); early-stopped test loss of SGD and sqrt-NGD is below NGD's", 1 / 3)
def teacher_signal_first() -> Outcome:
    data = experiments.teacher_student_runs()
    s_star = np.linalg.svd(data["task"].target, compute_uv=False)
    ratio, best, parts = {}, {}, []
    for name, traj in data["runs"].items():
        if not traj.success:
            return Outcome(math.inf, f"{name}: {traj.message}")
        half = experiments.half_max_times(traj, s_star, experiments.TEACHER_DT)
        ratio[name] = float(np.median(half[3:]) / half[:3].max())
        best[name] = float(traj.test_loss.min())
        parts.append(f"{name}: t_signal {half[:3].max():.2f}, t_noise(median) "
                     f"{np.median(half[3:]):.2f}, ratio {ratio[name]:.2f}, "
                     f"min test {best[name]:.4f}")
    slow = min(ratio["SGD"], ratio["sqrt-NGD"], ratio["sqrt-NGD-d"])
    ok = (ratio["NGD"] < 1.5 and ratio["NGD-d"] < 1.5
          and best["SGD"] < best["NGD"] and best["sqrt-NGD"] < best["NGD"])
    return Outcome(1 / slow, "error = 1 / min signal-first ratio; " + "; ".join(parts),
                   holds=ok)


@claim("huh.teacher.balance", "Huh 2020, section 6, Fig 5",
       "In the teacher-student runs NGD-d's imbalance ||c_2|| and weight norm grow (relative "
       "imbalance >= 5x every other rule's) while SGD, NGD, sqrt-NGD, sqrt-NGD-d keep "
       "||c_2|| / ||w||^2 <= 0.02", 0.02)
def teacher_balance() -> Outcome:
    data = experiments.teacher_student_runs()
    rel, parts = {}, []
    for name, traj in data["runs"].items():
        c2 = np.linalg.norm(traj.imbalance[1], axis=(1, 2))
        sq = sum(np.sum(w**2, axis=(1, 2)) for w in traj.weights)
        rel[name] = float(c2[-1] / sq[-1])
        parts.append(f"{name}: ||c_2|| {c2[0]:.2e} -> {c2[-1]:.2e}, ||w||^2 {sq[0]:.2f} -> "
                     f"{sq[-1]:.2f}")
    others = [v for k, v in rel.items() if k != "NGD-d"]
    sq_end = {k: float(sum(np.sum(w[-1] ** 2) for w in tr.weights))
              for k, tr in data["runs"].items()}
    ok = (rel["NGD-d"] >= 5 * max(others)
          and sq_end["NGD-d"] > max(v for k, v in sq_end.items() if k != "NGD-d"))
    return Outcome(max(others), "error = max relative imbalance of the balanced rules; "
                   + "; ".join(parts), holds=ok)
