"""One integration driver for every vector field: adaptive ODE or discrete steps.

Steps a ``scipy.integrate`` one-step solver by hand (as ``solve_ivp`` does) so that a run that
diverges keeps everything saved before it and reports when and why it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import integrate as _si
from tqdm.auto import tqdm

from dlnsim import _validate as V

SOLVERS = {"RK23": _si.RK23, "RK45": _si.RK45, "DOP853": _si.DOP853,
           "Radau": _si.Radau, "BDF": _si.BDF, "LSODA": _si.LSODA}


STALL_WINDOW = 2000


class Diverged(Exception):
    """Raised by a vector field whose state or velocity is not finite."""


@dataclass
class Result:
    t: np.ndarray
    y: list[np.ndarray]
    status: int
    message: str
    nfev: int


def check_solver_options(solver: str, rtol, atol) -> tuple[float, float]:
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
    return V.positive(rtol, "rtol"), V.positive(atol, "atol")


def _finite_velocity(fun: Callable[[float, np.ndarray], np.ndarray], counter: list[int]):
    def wrapped(t, y):
        counter[0] += 1
        if not np.all(np.isfinite(y)):
            raise Diverged(f"the state became non-finite at t = {t:.6g}")
        v = fun(t, y)
        if not np.all(np.isfinite(v)):
            raise Diverged(f"the velocity became non-finite at t = {t:.6g}")
        return v
    return wrapped


def too_large_message(norm: float, max_norm: float, when: str) -> str:
    """The message of a run whose state norm passed ``max_norm`` (status 1)."""
    return f"diverged: state norm {norm:.3g} exceeded max_norm = {max_norm:.3g} at {when}"


def stall_message(advance: float, t: float) -> str:
    """The message of a run whose last ``STALL_WINDOW`` steps advanced time by ``advance``."""
    return (f"step size underflow: {STALL_WINDOW} steps advanced t by only {advance:.3g} up to "
            f"t = {t:.6g}; the vector field is singular or discontinuous here (try damping)")


def _too_large(y: np.ndarray, max_norm: float, when: str) -> str | None:
    norm = float(np.linalg.norm(y))
    return too_large_message(norm, max_norm, when) if norm > max_norm else None


def ode(fun, y0: np.ndarray, t: np.ndarray, solver: str = "DOP853", rtol: float = 1e-10,
        atol: float = 1e-12, max_norm: float = 1e8, max_steps: int = 1_000_000,
        quiet: bool = False, desc: str = "simulate", min_step: float = 1e-6) -> Result:
    """Integrate ``dy/dt = fun(t, y)`` from ``t[0]`` and save at every ``t[k]``.

    Stops with status -1 when ``STALL_WINDOW`` consecutive accepted steps together advance time
    by less than ``min_step * (t[-1] - t[0])``: the field is then singular or discontinuous
    there (e.g. undamped NGD-d where a block's eigenvalue crosses the pseudo-inverse cutoff), and
    grinding on would take hours. Isolated tiny steps (a power-law escape from near zero) pass.
    """
    counter = [0]
    f = _finite_velocity(fun, counter)
    ys = [np.array(y0, dtype=float)]
    status, message = 0, "reached the last save time"
    bar = tqdm(total=float(t[-1] - t[0]), desc=desc, disable=True if quiet else None,
               unit="t", leave=False)
    try:
        try:  # the solver evaluates the field once while it starts
            integ = SOLVERS[solver](f, t[0], ys[0], t[-1], rtol=rtol, atol=atol)
        except Diverged as exc:
            return Result(t[:1], ys, 1, f"diverged: {exc}", counter[0])
        except ArithmeticError as exc:
            return Result(t[:1], ys, -1, f"vector field failed at t = {t[0]:.6g}: {exc}",
                          counter[0])
        k, steps, last, window_start = 1, 0, t[0], t[0]
        while integ.status == "running":
            try:
                msg = integ.step()
            except Diverged as exc:
                status, message = 1, f"diverged: {exc}"
                break
            except ArithmeticError as exc:  # e.g. a Krylov solve that missed its tolerance
                status, message = -1, f"vector field failed near t = {integ.t:.6g}: {exc}"
                break
            steps += 1
            if integ.status == "failed":
                status, message = -1, f"integrator failed at t = {integ.t:.6g}: {msg}"
                break
            if k < len(t) and t[k] <= integ.t:
                dense = integ.dense_output()
                while k < len(t) and t[k] <= integ.t:
                    ys.append(dense(t[k]))
                    k += 1
            bar.update(float(integ.t - last))
            last = integ.t
            big = _too_large(integ.y, max_norm, f"t = {integ.t:.6g}")
            if big:
                status, message = 1, big
                break
            if steps % STALL_WINDOW == 0:
                if integ.t - window_start < min_step * (t[-1] - t[0]):
                    status, message = -1, stall_message(integ.t - window_start, integ.t)
                    break
                window_start = integ.t
            if steps >= max_steps and integ.status == "running":
                status, message = -1, f"stopped after max_steps = {max_steps} at t = {integ.t:.6g}"
                break
    finally:
        bar.close()
    return Result(t[:len(ys)], ys, status, message, counter[0])


def discrete(step: Callable[[np.ndarray], np.ndarray], y0: np.ndarray, t: np.ndarray,
             max_norm: float = 1e8, quiet: bool = False, desc: str = "simulate") -> Result:
    """Iterate ``y <- y + step(y)`` from step ``t[0]`` and save at every step number ``t[k]``."""
    counter = [0]
    f = _finite_velocity(lambda _t, y: step(y), counter)
    y = np.array(y0, dtype=float)
    ys = [y]
    status, message = 0, "reached the last save step"
    n = int(t[0])
    k = 1
    with tqdm(total=int(t[-1] - t[0]), desc=desc, disable=True if quiet else None,
              unit="step", leave=False) as bar:
        while k < len(t):
            try:
                y = y + f(n, y)
            except Diverged as exc:
                status, message = 1, f"diverged: {exc}".replace("t =", "step")
                break
            except ArithmeticError as exc:
                status, message = -1, f"vector field failed at step {n}: {exc}"
                break
            n += 1
            bar.update(1)
            if not np.all(np.isfinite(y)):
                status, message = 1, f"diverged: the state became non-finite at step {n}"
                break
            big = _too_large(y, max_norm, f"step {n}")
            if big:
                status, message = 1, big
                break
            if n == t[k]:
                ys.append(y)
                k += 1
    return Result(t[:len(ys)], ys, status, message, counter[0])


def step_grid(t) -> np.ndarray:
    """Validate save steps of a discrete run: increasing non-negative integers."""
    a = V.time_grid(t, "t")
    if np.any(a < 0) or np.any(a != np.round(a)):
        raise ValueError("t must hold non-negative integer step numbers for method='discrete'")
    return a.astype(np.int64)
