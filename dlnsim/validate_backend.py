"""``dlnsim validate-backend``: the same runs on numpy and on torch, compared.

A fixed set of cases covers every rule (GD; q-NGD for q = 1, 1.5, 2, 3; damping; NGD-d; L2
before and weight decay after the preconditioner; clipping; the balanced path) at depths 1 to
4 with rectangular and bottleneck widths, whitened and non-identity input covariance, and the
singular-mode dynamics. Each case is an ensemble of three seeds run with the batched
integrators (adaptive Dormand-Prince and discrete steps) once on numpy arrays and once on
torch tensors on the chosen device. Both evaluate the same functions, so the trajectories
differ only by the libraries' floating-point arithmetic (LAPACK on the host against torch's
eigensolvers, possibly on a GPU) and by the step-size choices that round-off can flip.

Deviation of a case: ``max_{member, t} ||theta_torch(t) - theta_numpy(t)|| / ||theta_numpy(t)||``
with ``theta`` all weights (or all singular values). Tolerance 1e-9 in float64: the two fields
differ by about eps times the condition number of ``K`` on its kept spectrum, which peaks at
1.6e6 in these cases (NGD through the width-2 bottleneck of ``5,2,4,3``, seed 1, where the
largest deviation, 1.0e-10, is measured; most cases sit at 1e-16 to 1e-13), and a flipped
accept/reject decision moves an adaptive run by at most its local error, ~rtol = 1e-11.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from dlnsim import modes, rules
from dlnsim._io import write_json as _write_json
from dlnsim.integrate import simulate_ensemble
from dlnsim.network import Network
from dlnsim.solve.status import Results
from dlnsim.task import Task

TOLERANCE = 1e-9
RTOL, ATOL = 1e-11, 1e-13
WIDTHS = {1: (4, 3), 2: (3, 5, 4), 3: (5, 2, 4, 3), 4: (4, 6, 3, 5, 4)}  # 3: a bottleneck
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class CaseResult:
    """One case: ``widths`` are the layer widths, ``()`` for singular-mode cases (5 modes)."""

    case: str
    rule: str
    widths: tuple[int, ...]
    whitened: bool
    method: str
    deviation: float
    tolerance: float
    passed: bool
    seconds: float
    details: str = ""


def _rules() -> dict[str, Callable[[], rules.Rule]]:
    return {
        "gd": rules.gd,
        "ngd(q=1)": lambda: rules.ngd(1),
        "ngd(q=1.5)": lambda: rules.ngd(1.5),
        "ngd(q=2)": lambda: rules.ngd(2),
        "ngd(q=3)": lambda: rules.ngd(3),
        "ngd(q=1, damping)": lambda: rules.ngd(1, damping=1e-3),
        "ngd-d(q=1)": lambda: rules.ngd(1, block_diagonal=True, damping=1e-4),
        "ngd-d(q=2)": lambda: rules.ngd(2, block_diagonal=True),
        "l2 -> ngd(q=2)": lambda: rules.chain(rules.l2(0.05), rules.ngd(2)),
        "ngd(q=2) -> weight_decay": lambda: rules.chain(rules.ngd(2), rules.weight_decay(0.05)),
        "ngd(q=1) -> clip -> weight_decay": lambda: rules.chain(
            rules.ngd(1), rules.clip(0.2), rules.weight_decay(0.02)),
        "ngd(q=2, balanced)": lambda: rules.ngd(2, path="balanced"),
    }


def _covariance(n: int) -> np.ndarray:
    a = np.random.default_rng(7).standard_normal((n, n))
    return a @ a.T / n + 0.5 * np.eye(n)


def _setup(name: str, depth: int) -> tuple[list[Network], Task, bool]:
    widths = WIDTHS[depth]
    whitened = depth % 2 == 1 or name == "ngd(q=2, balanced)"
    target = Task.teacher_student(n=widths[0], n_out=widths[-1], rank=2, noise=0.1,
                                  seed=depth).target
    task = Task(target, input_cov=None if whitened else _covariance(widths[0]))
    if name == "ngd(q=2, balanced)":  # balanced but not aligned with the target
        nets = []
        for s in SEEDS:
            other = np.random.default_rng(100 + s).standard_normal(target.shape)
            strengths = 0.3 + 0.4 * np.random.default_rng(s).random(min(widths))
            nets.append(Network.aligned(other, strengths, widths=widths, seed=s))
    else:
        nets = [Network.random(widths, scale=0.5, seed=s) for s in SEEDS]
    return nets, task, whitened


def _deviation(a: np.ndarray, b: np.ndarray) -> float:
    """``max ||a - b|| / ||b||`` over the leading axes; the last axis is the state."""
    num = np.linalg.norm(a - b, axis=-1)
    den = np.maximum(np.linalg.norm(b, axis=-1), np.finfo(float).tiny)
    return float(np.max(num / den))


def _flat(ens) -> np.ndarray:
    b, k = ens.weights[0].shape[:2]
    return np.concatenate([w.reshape(b, k, -1) for w in ens.weights], axis=-1)


def _compare_full(name: str, depth: int, method: str, device: str) -> CaseResult:
    nets, task, whitened = _setup(name, depth)
    rule = _rules()[name]()
    if method == "discrete":
        t, kw = np.arange(0, 21, 5), dict(method="discrete", lr=0.05)
    else:
        t, kw = np.linspace(0.0, 1.0, 3), dict(rtol=RTOL, atol=ATOL)
    t0 = time.perf_counter()
    ref = simulate_ensemble(nets, task, rule, t, quiet=True, backend="numpy", **kw)
    got = simulate_ensemble(nets, task, rule, t, quiet=True, backend="torch", device=device,
                            **kw)
    seconds = time.perf_counter() - t0
    details = ""
    if not (ref.success and got.success):
        dev = math.inf
        details = f"numpy: {set(ref.message)}; torch: {set(got.message)}"
    else:
        dev = _deviation(_flat(got), _flat(ref))
    return CaseResult(f"{name} d={depth} {method}", rule.name, WIDTHS[depth], whitened,
                      method, dev, TOLERANCE, dev <= TOLERANCE, seconds, details)


MODE_CASES = {
    "modes gd": dict(q=math.inf),
    "modes ngd(q=1)": dict(q=1.0),
    "modes ngd(q=2)": dict(q=2.0),
    "modes ngd-d(q=1)": dict(q=1.0, block_diagonal=True),
    "modes ngd-d(q=2)": dict(q=2.0, block_diagonal=True),
    "modes ngd(q=2) clip+decay+damping": dict(q=2.0, max_speed=0.3, weight_decay=0.01,
                                              damping=1e-3),
}


def _compare_modes(name: str, depth: int, method: str, device: str) -> CaseResult:
    rng = np.random.default_rng(depth)
    sigma0 = 0.05 + 0.3 * rng.random((5, depth))
    target = 0.5 + rng.random(5)
    kw = dict(MODE_CASES[name])
    if method == "discrete":
        t, extra = np.arange(0, 41, 10), dict(method="discrete", lr=0.05)
    else:
        t, extra = np.linspace(0.0, 4.0, 5), dict(solver="dopri5", rtol=RTOL, atol=ATOL)
    t0 = time.perf_counter()
    ref = modes.simulate(sigma0, target, t, **kw, **extra)
    got = modes.simulate(sigma0, target, t, backend="torch", device=device, **kw, **extra)
    seconds = time.perf_counter() - t0
    ok = ref.success and got.success and ref.sigma.shape == got.sigma.shape
    dev = _deviation(got.sigma.reshape(len(t), -1), ref.sigma.reshape(len(t), -1)) if ok \
        else math.inf
    details = "" if ok else f"numpy: {ref.message}; torch: {got.message}"
    return CaseResult(f"{name} d={depth} {method}", name, (), True, method, dev,
                      TOLERANCE, dev <= TOLERANCE, seconds, details)


def cases(quick: bool = False) -> list[tuple[Callable, str, int, str]]:
    """The fixed case list: every full-matrix rule at depths 1-4 and every singular-mode rule
    at depths 1-4, each with adaptive ODE and discrete steps (the balanced path: ODE only, as
    discrete steps do not conserve balance). ``quick`` keeps one depth per rule (cycling 1-4),
    for the test suite."""
    out = []
    for j, name in enumerate(_rules()):
        depths = [1 + j % 4] if quick else [1, 2, 3, 4]
        # discrete steps do not conserve balance, so the balanced path runs in continuous time
        methods = ("ode",) if "balanced" in name else ("ode", "discrete")
        out += [(_compare_full, name, d, m) for d in depths for m in methods]
    for j, name in enumerate(MODE_CASES):
        depths = [1 + j % 4] if quick else [1, 2, 3, 4]
        out += [(_compare_modes, name, d, m) for d in depths for m in ("ode", "discrete")]
    return out


def validate(device: str = "cpu", quick: bool = False, quiet: bool = True) -> Results:
    """Run every case on numpy and on torch (``device``) and report the deviations. Ctrl-C
    stops after the cases finished so far (``Results.interrupted``)."""
    from dlnsim import backends
    from dlnsim._progress import tqdm
    from dlnsim.solve import reraise_interrupts

    backends.get("torch", device)  # a clear error now if torch or the device is missing
    out = Results()
    todo = cases(quick)
    out.total = len(todo)
    with tqdm(todo, desc="validate-backend", disable=True if quiet else None,
              leave=False) as bar, reraise_interrupts():
        try:
            for compare, name, depth, method in bar:
                bar.set_postfix_str(f"{name} d={depth} {method}")
                try:
                    out.append(compare(name, depth, method, device))
                except Exception as exc:  # a crashing case is a failed case, reported
                    out.append(CaseResult(f"{name} d={depth} {method}", name, WIDTHS[depth],
                                          True, method, math.inf, TOLERANCE, False, 0.0,
                                          f"raised {type(exc).__name__}: {exc}"))
        except KeyboardInterrupt:
            out.interrupted = True
    return out


def write_json(results: list[CaseResult], path, device: str) -> None:
    """Write ``{"device", "torch", "tolerance", "cases": [...]}`` atomically."""
    import torch

    _write_json({"device": device, "torch": torch.__version__, "tolerance": TOLERANCE,
                 "max_deviation": max((r.deviation for r in results), default=0.0),
                 "passed": all(r.passed for r in results),
                 "cases": [asdict(r) for r in results]}, path)
