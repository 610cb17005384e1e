"""Batched integrators for ensembles, on any array namespace (numpy, or torch on CPU/GPU).

The state is a stack ``(B, P)``: ``B`` independent members. The vector field is autonomous
(the learning dynamics do not depend on ``t``) and is called as ``field(y, idx)`` with the rows
``y`` of the members ``idx`` that are still running, so a member that finishes or diverges costs
nothing more and never stops the others.

* :func:`dopri5`: Dormand-Prince 5(4) with a step size, error norm and status per member. Each
  member takes exactly the steps it would take alone (the steps land on the save times, so no
  interpolation is needed), with scipy's controller (safety 0.9, factors in [0.2, 10]), its
  initial-step heuristic and its RMS error norm.
* :func:`rk4`: classical fixed-step Runge-Kutta, each save interval split into equal steps of
  at most ``dt``.
* :func:`discrete`: ``y <- y + field(y)`` at integer step numbers.

Every member ends with ``status`` 0 (reached the last save time), 1 (diverged: non-finite or
``||y|| > max_norm``) or -1 (step-size underflow, ``max_steps``, or a failed field evaluation),
a message saying when and why, and the number of save times it reached; the stored states past
that number repeat its last saved state, so no NaN is ever returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device
from tqdm.auto import tqdm

from dlnsim import _validate as V
from dlnsim._ode import STALL_WINDOW, stall_message, step_grid, too_large_message

# Dormand & Prince (1980), the 5(4) pair with the FSAL property.
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
# Error estimate: 5th-order minus embedded 4th-order weights (seven stages, the last is FSAL).
_E = (-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40)
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0
SOLVERS = ("dopri5", "rk4")

Field = Callable[[object, object], object]


@dataclass
class BatchResult:
    """Saved states ``y[k]`` of shape ``(B, P)`` at ``t[k]``; per-member outcome."""

    t: np.ndarray
    y: list
    saved: np.ndarray
    status: np.ndarray
    message: list[str]
    nfev: int


@dataclass(frozen=True)
class Options:
    """Validated integration options; build with :meth:`checked`."""

    method: str
    solver: str
    t: np.ndarray
    rtol: float
    atol: float
    dt: float | None
    max_norm: float
    max_steps: int
    min_step: float

    @classmethod
    def checked(cls, method: str, solver: str, t, rtol: float = 1e-10, atol: float = 1e-12,
                dt: float | None = None, max_norm: float = 1e8, max_steps: int = 1_000_000,
                min_step: float = 1e-6) -> Options:
        """Check every option, naming the argument on bad input."""
        common = (V.positive(max_norm, "max_norm"), V.positive_int(max_steps, "max_steps"),
                  V.positive(min_step, "min_step"))
        if method == "discrete":  # the solver options do not apply
            return cls(method, solver, step_grid(t), rtol, atol, dt, *common)
        if method != "ode":
            raise ValueError(f"method must be 'ode' or 'discrete', got {method!r}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS} for an ensemble or the torch "
                             f"backend, got {solver!r}")
        if solver == "rk4":
            if dt is None:
                raise ValueError("dt must be given for solver='rk4'")
            dt = V.positive(dt, "dt")
        return cls(method, solver, V.time_grid(t), V.positive(rtol, "rtol"),
                   V.positive(atol, "atol"), dt, *common)

    @property
    def label(self) -> str:
        return "discrete" if self.method == "discrete" else f"ode:{self.solver}"


def solve(field: Field, y0, opts: Options, quiet: bool = False,
          desc: str = "simulate") -> BatchResult:
    """Run the integrator that ``opts`` names."""
    if opts.method == "discrete":
        return discrete(field, y0, opts.t, opts.max_norm, quiet, desc)
    if opts.solver == "rk4":
        return rk4(field, y0, opts.t, opts.dt, opts.max_norm, quiet, desc)
    return dopri5(field, y0, opts.t, opts.rtol, opts.atol, opts.max_norm, opts.max_steps,
                  opts.min_step, quiet, desc)


class _Run:
    """Bookkeeping shared by the three integrators: storage, statuses, progress, field calls."""

    def __init__(self, field: Field, y0, t: np.ndarray, max_norm: float, quiet: bool,
                 desc: str, unit: str):
        self.xp = array_namespace(y0)
        self.device = _device(y0)
        self.field, self.t, self.max_norm = field, t, max_norm
        b = y0.shape[0]
        self.store = [y0] + [None] * (len(t) - 1)
        self.saved = np.ones(b, dtype=np.int64)
        self.status = np.zeros(b, dtype=np.int64)
        self.message = ["reached the last save time" if unit == "t" else
                        "reached the last save step"] * b
        self.active = np.ones(b, dtype=bool)
        self.nfev = 0
        self.bar = tqdm(total=float(t[-1] - t[0]), desc=desc, disable=True if quiet else None,
                        unit=unit, leave=False)
        self.progress = float(t[0])

    def index(self, members: np.ndarray):
        return self.xp.asarray(members, device=self.device)

    def call(self, y, members: np.ndarray):
        self.nfev += 1
        return self.field(y, self.index(members))

    def finite_rows(self, *arrays) -> np.ndarray:
        xp = self.xp
        ok = None
        for a in arrays:
            row = xp.all(xp.isfinite(a), axis=1)
            ok = row if ok is None else ok & row
        return _host(ok)

    def stop(self, members: np.ndarray, status: int, message: str) -> None:
        for b in members:
            self.active[b] = False
            self.status[b] = status
            self.message[b] = message

    def check_norm(self, y, members: np.ndarray, when) -> np.ndarray:
        """Stop members whose norm exceeds max_norm; returns the mask of those kept.

        ``when`` says where the run is: one string, or one per member.
        """
        norms = _host(self.xp.sqrt(self.xp.sum(y * y, axis=1)))
        big = norms > self.max_norm
        whens = [when] * len(members) if isinstance(when, str) else list(when)
        for j in np.flatnonzero(big):
            self.stop(members[j:j + 1], 1, too_large_message(norms[j], self.max_norm, whens[j]))
        return ~big

    def save(self, k: int, members: np.ndarray, y) -> None:
        """Store the rows ``y`` of ``members`` as save point ``k``."""
        if self.store[k] is None:
            self.store[k] = self.xp.asarray(self.store[k - 1], copy=True)
        self.store[k][self.index(members)] = y
        self.saved[members] = k + 1

    def advance(self, now: float) -> None:
        if now > self.progress:
            self.bar.update(now - self.progress)
            self.progress = now

    def result(self) -> BatchResult:
        self.bar.close()
        for k in range(1, len(self.t)):  # stopped members repeat their last saved state
            if self.store[k] is None:
                self.store[k] = self.xp.asarray(self.store[k - 1], copy=True)
            late = np.flatnonzero(self.saved <= k)
            if late.size:
                idx = self.index(late)
                self.store[k][idx] = self.store[k - 1][idx]
        return BatchResult(self.t, self.store, self.saved, self.status, self.message, self.nfev)


def _host(x) -> np.ndarray:
    """A small array (flags, norms) as numpy on the host."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x)


def _rms(x):
    xp = array_namespace(x)
    return xp.sqrt(xp.mean(x * x, axis=1))


def _field_failed(run: _Run, members: np.ndarray, where: str, exc: Exception) -> None:
    run.stop(members, -1, f"vector field failed {where}: {exc}")


def dopri5(field: Field, y0, t: np.ndarray, rtol: float = 1e-10, atol: float = 1e-12,
           max_norm: float = 1e8, max_steps: int = 1_000_000, min_step: float = 1e-6,
           quiet: bool = False, desc: str = "simulate") -> BatchResult:
    """Adaptive Dormand-Prince 5(4) per member from ``t[0]``, saving at every ``t[k]``."""
    run = _Run(field, y0, t, max_norm, quiet, desc, "t")
    xp = run.xp
    b = y0.shape[0]
    span = float(t[-1] - t[0])
    now = np.full(b, float(t[0]))
    nxt = np.ones(b, dtype=np.int64)  # index of each member's next save time
    steps = np.zeros(b, dtype=np.int64)
    window_start = now.copy()
    y = xp.asarray(y0, copy=True)
    members = np.arange(b)
    try:
        f = run.call(y, members)
    except ArithmeticError as exc:
        _field_failed(run, members, f"at t = {t[0]:.6g}", exc)
        return run.result()
    ok = run.finite_rows(y, f)
    run.stop(members[~ok], 1, f"diverged: the state or velocity became non-finite at "
                               f"t = {t[0]:.6g}")
    h = _initial_step(run, y, f, np.minimum(t[1] - t[0], span), rtol, atol)
    while run.active.any():
        act = np.flatnonzero(run.active)
        idx = run.index(act)
        ya, fa = y[idx], f[idx]
        ha = np.minimum(h[act], t[nxt[act]] - now[act])
        hd = xp.asarray(ha, dtype=y.dtype, device=run.device)[:, None]
        ks = [fa]
        bad = np.zeros(act.size, dtype=bool)
        try:
            for s in range(1, 6):
                ys = ya + hd * sum(a * k for a, k in zip(_A[s], ks) if a != 0.0)
                bad |= ~run.finite_rows(ys)
                ks.append(run.call(_zero_bad(ys, bad, run), act))
            y_new = ya + hd * sum(c * k for c, k in zip(_B, ks) if c != 0.0)
            bad |= ~run.finite_rows(y_new)
            f_new = run.call(_zero_bad(y_new, bad, run), act)
        except ArithmeticError as exc:
            _field_failed(run, act, f"near t = {now[act].min():.6g}", exc)
            break
        ks.append(f_new)
        bad |= ~run.finite_rows(*ks)
        err = hd * sum(c * k for c, k in zip(_E, ks) if c != 0.0)
        scale = atol + rtol * xp.maximum(xp.abs(ya), xp.abs(y_new))
        en = _host(_rms(err / scale))
        if bad.any():
            for m, tm in zip(act[bad], now[act][bad]):
                run.stop(np.array([m]), 1, f"diverged: the state became non-finite at "
                                           f"t = {tm:.6g}")
        accept = (en <= 1.0) & ~bad
        with np.errstate(divide="ignore"):
            grow = np.where(en == 0, MAX_FACTOR,
                            np.minimum(MAX_FACTOR, SAFETY * en ** -0.2))
            shrink = np.maximum(MIN_FACTOR, SAFETY * en ** -0.2)
        h[act] = np.where(accept, ha * grow, ha * shrink)
        acc = act[accept]
        if acc.size == 0:
            continue
        sel = np.flatnonzero(accept)
        sidx = run.index(sel)
        ynew_acc, fnew_acc = y_new[sidx], f_new[sidx]
        aidx = run.index(acc)
        y[aidx] = ynew_acc
        f[aidx] = fnew_acc
        landed = ha[accept] == t[nxt[acc]] - now[acc]
        now[acc] = np.where(landed, t[nxt[acc]], now[acc] + ha[accept])
        steps[acc] += 1
        keep = run.check_norm(ynew_acc, acc, [f"t = {x:.6g}" for x in now[acc]])
        for j in np.flatnonzero(landed & keep):
            m = acc[j]
            run.save(int(nxt[m]), np.array([m]), ynew_acc[run.index(np.array([j]))])
            nxt[m] += 1
            if nxt[m] == len(t):
                run.active[m] = False
        for m in acc[keep]:
            if not run.active[m]:
                continue
            if steps[m] % STALL_WINDOW == 0:
                if now[m] - window_start[m] < min_step * span:
                    run.stop(np.array([m]), -1, stall_message(now[m] - window_start[m], now[m]))
                    continue
                window_start[m] = now[m]
            if steps[m] >= max_steps:
                run.stop(np.array([m]), -1, f"stopped after max_steps = {max_steps} at "
                                            f"t = {now[m]:.6g}")
        run.advance(float(now[run.active].min()) if run.active.any() else float(t[-1]))
    return run.result()


def _zero_bad(y, bad: np.ndarray, run: _Run):
    """Rows of members already marked non-finite are zeroed so the field stays well defined."""
    if not bad.any():
        return y
    xp = run.xp
    mask = xp.asarray(bad, device=run.device)[:, None]
    return xp.where(mask, xp.zeros_like(y), xp.where(xp.isfinite(y), y, xp.zeros_like(y)))


def _initial_step(run: _Run, y, f, first: float, rtol: float, atol: float) -> np.ndarray:
    """scipy's ``select_initial_step`` (Hairer, Norsett & Wanner, II.4), per member."""
    xp = run.xp
    b = y.shape[0]
    h = np.full(b, min(first, 1e-6))
    act = np.flatnonzero(run.active)
    if act.size == 0:
        return h
    idx = run.index(act)
    ya, fa = y[idx], f[idx]
    scale = atol + xp.abs(ya) * rtol
    d0, d1 = _host(_rms(ya / scale)), _host(_rms(fa / scale))
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
    h0 = np.minimum(h0, first)
    y1 = ya + xp.asarray(h0, dtype=y.dtype, device=run.device)[:, None] * fa
    try:
        f1 = run.call(_zero_bad(y1, ~run.finite_rows(y1), run), act)
    except ArithmeticError:
        return h
    d2 = _host(_rms((f1 - fa) / scale)) / h0
    d2 = np.where(np.isfinite(d2), d2, 0.0)
    small = (d1 <= 1e-15) & (d2 <= 1e-15)
    with np.errstate(divide="ignore"):
        h1 = np.where(small, np.maximum(1e-6, h0 * 1e-3),
                      (0.01 / np.maximum(np.maximum(d1, d2), 1e-300)) ** 0.2)
    h[act] = np.minimum(np.minimum(100 * h0, h1), first)
    return h


def rk4(field: Field, y0, t: np.ndarray, dt: float, max_norm: float = 1e8,
        quiet: bool = False, desc: str = "simulate") -> BatchResult:
    """Classical RK4; each save interval is split into ``ceil(interval / dt)`` equal steps."""
    run = _Run(field, y0, t, max_norm, quiet, desc, "t")
    xp = run.xp
    y = xp.asarray(y0, copy=True)
    for k in range(1, len(t)):
        n = max(1, math.ceil((t[k] - t[k - 1]) / dt * (1 - 1e-12)))
        h = (t[k] - t[k - 1]) / n
        for i in range(n):
            act = np.flatnonzero(run.active)
            if act.size == 0:
                return run.result()
            when = f"t = {t[k - 1] + (i + 1) * h:.6g}"
            idx = run.index(act)
            ya = y[idx]
            try:
                k1 = run.call(ya, act)
                k2 = run.call(ya + (h / 2) * k1, act)
                k3 = run.call(ya + (h / 2) * k2, act)
                k4 = run.call(ya + h * k3, act)
            except ArithmeticError as exc:
                _field_failed(run, act, f"near {when}", exc)
                return run.result()
            y_new = ya + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
            if not _commit(run, y, y_new, act, when):
                return run.result()
            run.advance(t[k - 1] + (i + 1) * h)
        act = np.flatnonzero(run.active)
        run.save(k, act, y[run.index(act)])
    return run.result()


def discrete(field: Field, y0, t: np.ndarray, max_norm: float = 1e8, quiet: bool = False,
             desc: str = "simulate") -> BatchResult:
    """Iterate ``y <- y + field(y)`` from step ``t[0]``, saving at every step number ``t[k]``."""
    run = _Run(field, y0, t, max_norm, quiet, desc, "step")
    xp = run.xp
    y = xp.asarray(y0, copy=True)
    n = int(t[0])
    for k in range(1, len(t)):
        while n < t[k]:
            act = np.flatnonzero(run.active)
            if act.size == 0:
                return run.result()
            try:
                y_new = y[run.index(act)] + run.call(y[run.index(act)], act)
            except ArithmeticError as exc:
                _field_failed(run, act, f"at step {n}", exc)
                return run.result()
            n += 1
            if not _commit(run, y, y_new, act, f"step {n}"):
                return run.result()
            run.advance(n)
        act = np.flatnonzero(run.active)
        run.save(k, act, y[run.index(act)])
    return run.result()


def _commit(run: _Run, y, y_new, act: np.ndarray, when: str) -> bool:
    """Write the finite, bounded rows of ``y_new`` into ``y``; stop the others.

    Returns whether any member is still running.
    """
    ok = run.finite_rows(y_new)
    run.stop(act[~ok], 1, f"diverged: the state became non-finite at {when}")
    if ok.any():
        sel = np.flatnonzero(ok)
        rows = y_new[run.index(sel)]
        keep = run.check_norm(rows, act[sel], when)
        y[run.index(act[sel][keep])] = rows[run.index(np.flatnonzero(keep))]
    return bool(run.active.any())
