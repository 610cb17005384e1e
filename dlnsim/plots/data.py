"""The numbers behind the papers' figures, apart from the drawing (plain arrays and runs)."""

from __future__ import annotations

import numpy as np

from dlnsim import curvature, modes, symbolic
from dlnsim.network import Network

FIG2_TARGETS = (0.5, 1.0, 2.0)
FIG2_EXPONENTS = (0.0, 0.5, 1.0, 2.0)


def fig2_data(p: float, targets=FIG2_TARGETS) -> dict:
    """Simulation, closed form and half-max points of eq 17 at etabar = 1 for exponent p.

    Zero initial condition for p < 1 (the simulation starts from 1e-12 s*, which the closed
    form at the same start matches), s*/100 for p >= 1.

    Parameters
    ----------
    p : float
        The exponent of eq 17.
    targets : sequence of float
        The targets ``s*``.

    Returns
    -------
    dict
        ``t``, ``simulation``, ``closed`` (times and values per target), ``half`` and
        ``targets``.
    """
    import sympy as sp

    init = [ss / 100 if p >= 1 else 0.0 for ss in targets]
    halves = [symbolic.half_max_time_exponent(p, ss, 1.0, init=i or None)
              for ss, i in zip(targets, init)]
    t = np.linspace(0.0, 2.5 * max(halves), 400)
    seeds = [i if i > 0 else ss * 1e-12 for ss, i in zip(targets, init)]
    sim = modes.simulate_map_exponent(seeds, list(targets), t, p=p, atol=1e-30).map
    if p in (0.0, 0.5, 1.0):
        expr = symbolic.closed_form(p, zero_init=p < 1)
        f = sp.lambdify((symbolic.t, symbolic.s_star, symbolic.s0, symbolic.eta), expr, "numpy")
        closed = [(t, f(t, ss, i, 1.0) * np.ones_like(t)) for ss, i in zip(targets, init)]
    else:  # p = 2: implicit t(sbar) from s0
        texpr = symbolic.implicit_time(p)
        g = sp.lambdify((symbolic.s, symbolic.s_star, symbolic.s0, symbolic.eta), texpr, "mpmath")
        closed = []
        for ss, i in zip(targets, init):
            sgrid = np.linspace(i * 1.0001, ss * 0.995, 200)
            closed.append((np.array([float(sp.re(g(x, ss, i, 1.0))) for x in sgrid]), sgrid))
    return {"t": t, "simulation": sim, "closed": closed, "half": halves,
            "targets": np.array(targets)}


def early_stopping(traj, dt: float) -> tuple[float, float]:
    """Time and value of the minimum test loss.

    Parameters
    ----------
    traj : Trajectory
        A teacher-student run.
    dt : float
        Time per saved step (the step size of a discrete run).

    Returns
    -------
    tuple of float
        ``(time, test loss)``.
    """
    k = int(np.argmin(traj.test_loss))
    return float(traj.t[k] * dt), float(traj.test_loss[k])


def gn_norm_data(n_nets: int = 120, seed: int = 0) -> dict:
    """GN and K-FAC GN norms of random networks (depth 1-5, widths 2-6), whitened or not.

    Parameters
    ----------
    n_nets : int
        Number of random networks.
    seed : int
        Their seed.

    Returns
    -------
    dict
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_nets):
        d = int(rng.integers(1, 6))
        widths = tuple(int(x) for x in rng.integers(2, 7, size=d + 1))
        net = Network.random(widths, scale=float(rng.uniform(0.3, 1.0)),
                             seed=int(rng.integers(2**31)))
        for whitened in (True, False):
            if whitened:
                cov = None
            else:
                a = rng.standard_normal((widths[0], widths[0]))
                cov = a @ a.T / widths[0] + 0.1 * np.eye(widths[0])
            jx = float(np.sum(net.map**2))
            rows.append((whitened, d, d**2 * jx, curvature.gn_norm_sq(net, cov), d * jx,
                         curvature.kfac_gn_norm_sq(net, cov)))
    arr = np.array([r[1:] for r in rows], dtype=float)
    white = np.array([r[0] for r in rows])
    return {"whitened": white, "depth": arr[:, 0], "d2_jx": arr[:, 1], "gn": arr[:, 2],
            "d_jx": arr[:, 3], "kfac": arr[:, 4]}




def other_rules_data() -> dict:
    """Wen et al. eq 2 on a correlated 2-D quadratic (paths, Monte Carlo mean losses, exact
    stationary losses) and the papers' optimisers training a teacher-student task."""
    from dlnsim import quadratic, rules
    from dlnsim.integrate import simulate
    from dlnsim.task import Task

    a = np.array([[1.0, 0.9], [0.9, 1.0]])
    theta0 = np.array([1.2, -1.0])
    paths, mean_loss, stationary = {}, {}, {}
    for kind in ("sqrt_fisher", "sqrt_diag_fisher"):
        c = quadratic.noise_matrix(kind, a)
        rng = np.random.default_rng(0)
        theta, path = theta0.copy(), []
        for _ in range(500):
            theta = theta - 0.1 * a @ theta + 0.1 * c @ rng.standard_normal(2)
            path.append(theta)
        paths[kind] = np.array(path)
        mean_loss[kind] = quadratic.run_quadratic(a, c, theta0, np.full(600, 0.1), runs=2000,
                                                  seed=1).mean(axis=1)
        stationary[kind] = quadratic.stationary_loss(a, c, 0.1)
    task = Task.teacher_student(n=6, rank=2, noise=0.1, samples=24, seed=0)
    net = Network.random((6, 6, 6, 6), scale=0.3, seed=1)
    specs = {
        "K-FAC (exact GN)": (rules.kfac(damping=1e-3), 0.02),
        "TKFAC (exact GN)": (rules.tkfac(damping=1e-3), 0.02),
        "HCGD (lam = 1, 2 corr.)": (rules.hcgd(inner_lr=0.02, lam=1.0, corrections=2,
                                               momentum=0.9, val_batch=24, seed=2), 0.05),
        "minibatch SGD (batch 4)": (rules.minibatch_sgd(batch=4, seed=2), 0.05),
        r"SGD + $\sqrt{\rm diag}$ Fisher noise": (
            rules.noisy_sgd("sqrt_diag_fisher", scale=0.05, seed=2), 0.05),
    }
    steps = np.arange(0, 301, 5)
    runs = {label: simulate(net, task, rule, steps, lr=lr, method="discrete", quiet=True)
            for label, (rule, lr) in specs.items()}
    return {"a": a, "theta0": theta0, "paths": paths, "mean_loss": mean_loss,
            "stationary": stationary, "task": task, "runs": runs}


WIDE_N = 256


def depth2_wide_data(n: int = WIDE_N, steps: int = 150, lr: float = 0.1) -> dict:
    """Teacher-student learning at depth 2 and width ``n`` (256: a dense map-space kernel of
    ``n^2 x n^2`` = 65536^2 doubles, 32 GiB, could not be diagonalised here) under GD,
    sqrt-NGD and NGD, through the exact depth-2 path (claim scale.depth2). Discrete steps of
    ``lr`` from small random weights (entries ``0.2 N(0, 1/n)``); rank-8 teacher, noise 0.1.
    """
    from dlnsim import rules
    from dlnsim.integrate import simulate
    from dlnsim.task import Task

    task = Task.teacher_student(n=n, rank=8, noise=0.1, seed=0)
    net = Network.random((n, n, n), scale=0.2 / np.sqrt(n), seed=1)
    specs = {"SGD": rules.gd(), "sqrt-NGD": rules.ngd(2.0),
             "NGD": rules.ngd(1.0, damping=1e-6)}
    save = np.arange(0, steps + 1, 2)
    runs = {name: simulate(net, task, rule, save, lr=lr, method="discrete", quiet=True)
            for name, rule in specs.items()}
    return {"task": task, "runs": runs, "rules": specs, "lr": lr, "n": n,
            "s_star": np.linalg.svd(task.target, compute_uv=False)[:8]}


LAZY_RICH_LAMBDAS = (0.0, 0.5, 2.0, 8.0)


def lazy_rich_data(lams=LAZY_RICH_LAMBDAS, t_end: float = 8.0, seed: int = 0) -> dict:
    """Depth-2 gradient flow from lambda-balanced starts (widths 4, 4, 4, ``S = I``): the loss
    and the alignment of the hidden representation's kernel ``w_1^T w_1`` (``<h(x), h(x')>``
    with ``h = w_1 x``) with the task's ``W*^T W*``, simulated (DOP853) and by the matrix
    Riccati solution (:func:`dlnsim.symbolic.canon.lambda_balanced_depth2`).

    The second layer starts small (singular values 0.1) and ``w_1 = (w_2^T w_2 + lam I)^{1/2}
    O^T``: ``lam = 0`` is a small balanced start (rich), large ``lam`` a large first layer
    (lazy). Returns ``t`` and ``t_closed`` and, per ``lam``, the loss and the alignment, each
    simulated and closed-form.
    """
    from dlnsim import rules
    from dlnsim.integrate import simulate
    from dlnsim.symbolic import canon
    from dlnsim.task import Task

    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    v, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    target = (u * np.array([3.0, 2.0, 1.0, 0.5])) @ v.T
    ideal = target.T @ target
    w2_left, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    w2_right, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    o, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    w2 = 0.1 * w2_left @ w2_right.T
    t = np.linspace(0.0, t_end, 81)
    t_closed = np.linspace(0.0, t_end, 17)

    def loss(maps):
        return 0.5 * np.sum((maps - target) ** 2, axis=(1, 2))

    def align(kernels):
        return np.einsum("tij,ij->t", kernels, ideal) / (
            np.linalg.norm(kernels, axis=(1, 2)) * np.linalg.norm(ideal))

    out = {"t": t, "t_closed": t_closed, "lams": tuple(lams)}
    for lam in lams:
        evals, vecs = np.linalg.eigh(w2.T @ w2 + lam * np.eye(4))
        w1 = (vecs * np.sqrt(evals)) @ vecs.T @ o.T
        run = simulate(Network([w1, w2]), Task(target=target), rules.gd(), t, rtol=1e-10,
                       atol=1e-12, quiet=True)
        kernel = np.einsum("tji,tjk->tik", run.weights[0], run.weights[0])  # w_1^T w_1
        maps, closed_kernel, _ = canon.lambda_balanced_depth2(w1, w2, target, t_closed)
        out[lam] = {"loss": loss(run.map), "align": align(kernel),
                    "loss_closed": loss(maps), "align_closed": align(closed_kernel)}
    return out
