"""The one integration loop: saving, divergence, stall and budget checks, progress, statuses.

A *stepper* (one module of :mod:`dlnsim.solve` each: dopri5, rk4, discrete, scipy) only
knows how to advance the running members of a stack ``y`` of shape ``(B, P)`` by one step;
everything else is here, once, for every method:

* save points: a stepper that *lands* on the save times (dopri5, rk4, discrete) has its state
  stored when it reaches one; a stepper with dense output (scipy's) is interpolated there;
* divergence: a non-finite state or one whose norm passes ``max_norm`` stops that member with
  :attr:`Status.DIVERGED`;
* failure: a field that raises ``ArithmeticError`` (a failed eigensolve, a Krylov solve that
  missed its tolerance), step-size underflow, ``max_steps`` and the evaluation budget stop with
  :attr:`Status.FAILED` and a message that says what to try;
* Ctrl-C stops every running member with :attr:`Status.INTERRUPTED`, keeping what was saved;
* one progress bar (tqdm) over time or steps.

Members stop independently: the field is called as ``field(y, idx)`` with the rows of the
members ``idx`` still running, so a member that diverges costs nothing more. A stopped member
repeats its last saved state in the stored arrays (never NaN); ``saved`` says how many save
times each reached.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace
from array_api_compat import device as _device

from dlnsim._progress import tqdm
from dlnsim.solve.base import Diverged, finite_rows, host, take
from dlnsim.solve.options import IMPLICIT_SOLVERS, Options
from dlnsim.solve.status import (
    STALL_WINDOW,
    Status,
    budget_message,
    field_failed_message,
    integrator_failed_message,
    interrupted_message,
    max_steps_message,
    non_finite_message,
    reached_message,
    stall_message,
    time_limit_message,
    too_large_message,
)

BUDGET_CHECK = 1000  # steps between predictions of a member's total evaluations
SHORTEST, TINIEST = 1e-14, 1e-300  # a step below SHORTEST |t| (or TINIEST) does not move t
_RERAISE = [0]  # > 0 inside reraise_interrupts()


@contextmanager
def reraise_interrupts():
    """Inside this context Ctrl-C is not turned into an interrupted result but re-raised, for
    callers that run many integrations (``dlnsim verify``) and must stop as a whole."""
    _RERAISE[0] += 1
    try:
        yield
    finally:
        _RERAISE[0] -= 1


@dataclass
class Result:
    """Saved states ``y[k]`` of shape ``(B, P)`` at ``t[k]`` and each member's outcome."""

    t: np.ndarray
    y: list
    saved: np.ndarray
    status: np.ndarray
    message: list[str]
    nfev: int


class Run:
    """The state of one integration: current states, times, save points, statuses, progress."""

    def __init__(self, field, y0, opts: Options, quiet: bool = False, desc: str = "simulate",
                 hint: str = ""):
        self.xp = array_namespace(y0)
        self.numpy = is_numpy_namespace(self.xp)
        self.device = _device(y0)
        self.field, self.opts, self.hint = field, opts, hint
        self.t = opts.t
        self.discrete = opts.method == "discrete"
        b = y0.shape[0]
        self.y = self.xp.asarray(y0, copy=True)
        self.store = [self.xp.asarray(y0, copy=True)] + [None] * (len(self.t) - 1)
        self.saved = np.ones(b, dtype=np.int64)
        self.status = np.full(b, int(Status.SUCCESS), dtype=np.int64)
        self.message = [reached_message(self.discrete)] * b
        self.active = np.ones(b, dtype=bool)
        self._running = np.arange(b)  # flatnonzero(active), kept in step with it
        self.now = np.full(b, float(self.t[0]))
        self.nxt = np.ones(b, dtype=np.int64)  # each member's next save index
        self.steps = np.zeros(b, dtype=np.int64)
        self.window_start = self.now.copy()
        self.lost = np.zeros(b, dtype=np.int64)  # trial steps not finite, this stall window
        self.evals = np.zeros(b, dtype=np.int64)
        self.nfev = 0
        self.state = None  # the stepper's state rows (e.g. its first-same-as-last stage)
        self.span = float(self.t[-1] - self.t[0])
        self.bar = tqdm(total=self.span, desc=desc, disable=True if quiet else None,
                        unit="step" if self.discrete else "t", leave=False)
        self.progress = float(self.t[0])
        self.started = time.monotonic()

    # -- helpers ---------------------------------------------------------------------------------
    def index(self, members: np.ndarray):
        if self.numpy:  # numpy indexes with numpy arrays as they are
            return members
        return self.xp.asarray(members, device=self.device)

    def call(self, y, members: np.ndarray):
        """Evaluate the field on the rows ``y`` of ``members`` (counted per member)."""
        self.nfev += 1
        self.evals[members] += 1
        return self.field(y, self.index(members))

    def rows(self, x, members: np.ndarray):
        """The rows of ``members`` of a per-member array (the array itself, not a copy, when
        every member runs: steppers read it and return new arrays)."""
        if x is None or members.size == x.shape[0]:
            return x
        return x[self.index(members)]

    def running(self) -> np.ndarray:
        """The members still running, in order."""
        if self._running is None:
            self._running = np.flatnonzero(self.active)
        return self._running

    def when(self, time: float) -> str:
        return f"step {int(time)}" if self.discrete else f"t = {time:.6g}"

    def stop(self, members, status: Status, message: str) -> None:
        for m in np.atleast_1d(members):
            self.active[m] = False
            self._running = None
            self.status[m] = int(status)
            self.message[m] = message

    # -- what the loop does with a step ---------------------------------------------------------
    def accept(self, members: np.ndarray, y_new, t_new: np.ndarray, dense=None,
               target: np.ndarray | None = None) -> None:
        """Take the new rows of ``members`` at times ``t_new``: check, store, save, limit.

        ``y_new`` must be a new array (the loop may keep it as its state); ``target``: each
        member's next save time, when known."""
        if members.size == 0:
            return
        # one pass: a non-finite squared norm flags both NaN/inf rows and rows too large
        norms = host(self.xp.sqrt(self.xp.sum(y_new * y_new, axis=1)))
        max_norm = self.opts.limits.max_norm
        keep = norms <= max_norm  # False for NaN
        if not keep.all():
            finite = finite_rows(y_new)
            for j in np.flatnonzero(~keep):
                when = self.when(t_new[j])
                self.stop(members[j], Status.DIVERGED, non_finite_message(when)
                          if not finite[j] else too_large_message(norms[j], max_norm, when))
            sel = np.flatnonzero(keep)
            if sel.size == 0:
                return
            y_new, members, t_new = y_new[self.index(sel)], members[sel], t_new[sel]
            target = None if target is None else target[sel]
        rows = y_new
        if members.size == self.y.shape[0]:  # every member, in order: keep the new array
            self.y = rows
        else:
            self.y[self.index(members)] = rows
        self.now[members] = t_new
        if dense is None:
            if target is None:
                target = self.t[self.nxt[members]]
            landed = np.flatnonzero(t_new == target)
            for j in landed:
                self._save(members[j], rows[self.index(np.array([j]))])
        else:
            for j, m in enumerate(members):
                while self.nxt[m] < len(self.t) and self.t[self.nxt[m]] <= t_new[j]:
                    self._save(m, dense(float(self.t[self.nxt[m]]))[j:j + 1])
        self.steps[members] += 1
        if not self.discrete:
            self._limits(members)
        self._advance()

    def _save(self, m: int, row) -> None:
        k = int(self.nxt[m])
        if self.store[k] is None:
            self.store[k] = self.xp.asarray(self.store[k - 1], copy=True)
        self.store[k][self.index(np.array([m]))] = row
        self.saved[m] = k + 1
        self.nxt[m] += 1
        if self.nxt[m] == len(self.t):
            self.active[m] = False
            self._running = None

    def _limits(self, members: np.ndarray) -> None:
        """Stall, ``max_steps`` and evaluation-budget checks for ODE members."""
        lim = self.opts.limits
        for m in members:
            if not self.active[m]:
                continue
            when = self.when(self.now[m])
            if self.steps[m] % STALL_WINDOW == 0:
                advance = self.now[m] - self.window_start[m]
                if advance < lim.min_step * self.span:
                    self.stop(m, Status.FAILED, stall_message(advance, self.now[m], self.hint,
                                                              int(self.lost[m])))
                    continue
                self.window_start[m] = self.now[m]
                self.lost[m] = 0
            if self.steps[m] >= lim.max_steps:
                self.stop(m, Status.FAILED, max_steps_message(lim.max_steps, when))
                continue
            done = (self.now[m] - self.t[0]) / self.span
            predicted = self.evals[m] / done if done > 0 else np.inf
            if self.evals[m] >= lim.max_evals or (
                    self.steps[m] % BUDGET_CHECK == 0 and self.evals[m] >= lim.max_evals // 20
                    and predicted > 2 * lim.max_evals):
                self.stop(m, Status.FAILED, self._budget_message(m, predicted))

    def _budget_message(self, m: int, predicted: float) -> str:
        return budget_message(self.when(self.now[m]), int(self.evals[m]),
                              self.opts.limits.max_evals, predicted,
                              self.opts.solver in IMPLICIT_SOLVERS,
                              int(self.nxt[m] - 1), int(self.steps[m]))

    def clock(self) -> None:
        """``Limits.max_seconds``: stop every running member past it, or predicted (after a
        tenth of it, from the progress in time) to need more than twice it."""
        limit = self.opts.limits.max_seconds
        if limit is None:
            return
        elapsed = time.monotonic() - self.started
        if elapsed < limit / 10:
            return
        act = self.running()
        if not act.size:
            return
        now = float(self.now[act].min())
        done = (now - float(self.t[0])) / self.span
        predicted = elapsed / done if done > 0 else math.inf
        if elapsed > limit or predicted > 2 * limit:
            self.stop(act, Status.FAILED, time_limit_message(
                self.when(now), elapsed, limit, None if elapsed > limit else predicted))

    def _advance(self) -> None:
        act = self.running()
        now = float(self.now[act].min()) if act.size else float(self.t[-1])
        if now > self.progress:
            self.bar.update(now - self.progress)
            self.progress = now

    def result(self) -> Result:
        self.bar.close()
        for k in range(1, len(self.t)):  # stopped members repeat their last saved state
            if self.store[k] is None:
                self.store[k] = self.xp.asarray(self.store[k - 1], copy=True)
            late = np.flatnonzero(self.saved <= k)
            if late.size:
                idx = self.index(late)
                self.store[k][idx] = self.store[k - 1][idx]
        return Result(self.t, self.store, self.saved, self.status, self.message, self.nfev)


def start(stepper, controller, run: Run) -> None:
    """Initialize the stepper's state and the controller; a member whose initial state or
    first velocity is not finite stops as diverged at ``t[0]``."""
    members = np.arange(run.y.shape[0])

    def call(y):
        return run.call(y, members)

    run.state = stepper.init(call, run.y)
    bad = ~finite_rows(run.y) if run.state is None else ~finite_rows(run.y, run.state)
    run.stop(members[bad], Status.DIVERGED, non_finite_message(run.when(run.t[0])))
    controller.init(call, run.t, run.y, run.state, np.flatnonzero(run.active))


def advance(stepper, controller, run: Run) -> None:
    """One step of every running member: propose, step, judge, then hand the accepted rows to
    :meth:`Run.accept` (which checks, stores and saves them)."""
    act = run.running()
    now, target = run.now[act], run.t[run.nxt[act]]
    h = controller.propose(act, now, target)
    y = run.rows(run.y, act)

    def call(z):
        return run.call(z, act)

    out = stepper.step(call, y, h, run.rows(run.state, act))
    if out.failed:
        run.stop(act, Status.FAILED, integrator_failed_message(run.when(out.t[0]), out.failed))
        return
    if out.failure is not None:  # a trial stage raised: an infinite error, retried shorter
        accept = controller.adapt(act, h, y, y, run.xp.full_like(y, math.inf))
    else:
        accept = controller.adapt(act, h, y, out.y, out.error)  # True: every step is taken
    if out.lost:
        run.lost[act] += out.lost
    if out.finite is not None:
        bad = ~out.finite
        run.lost[act[bad]] += 1
        # a failed try is retried shorter until the step no longer moves t (or underflows):
        # then the field fails at the state itself, not at an overshooting trial point
        for j in np.flatnonzero(bad & ((h <= SHORTEST * np.abs(now)) | (h < TINIEST))):
            when = run.when(now[j])
            run.stop(act[j], *((Status.FAILED, field_failed_message(when, out.failure))
                               if out.failure is not None else
                               (Status.DIVERGED, non_finite_message(when))))
        accept = accept & out.finite
    every = accept is True or bool(np.all(accept))
    sel = slice(None) if every else np.flatnonzero(accept)
    acc = act[sel]
    if out.state is not None and acc.size:
        if every and act.size == run.y.shape[0]:
            run.state = out.state
        else:
            run.state[run.index(acc)] = out.state if every else take(out.state, sel)
    if out.t is not None:
        t_new = out.t[sel]
    else:  # a step of exactly the time left lands on the save time
        hs, ts, ns = h[sel], target[sel], now[sel]
        t_new = np.where(hs == ts - ns, ts, ns + hs)
    run.accept(acc, out.y if every else take(out.y, sel), t_new, out.dense,
               None if out.t is not None else target[sel])


def integrate(stepper, controller, run: Run) -> Result:
    """Drive ``stepper`` with ``controller`` until every member has reached the last save
    time or stopped."""
    try:
        # non-finite values are handled explicitly (trial steps rejected, states stopped), so
        # numpy's overflow warnings would only repeat them to the user
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _drive(stepper, controller, run)
    except KeyboardInterrupt:
        if _RERAISE[0]:
            run.bar.close()
            raise
        act = np.flatnonzero(run.active)
        if act.size:
            run.stop(act, Status.INTERRUPTED,
                     interrupted_message(run.when(float(run.now[act].min()))))
    return run.result()


def _drive(stepper, controller, run: Run) -> None:
    """Step until done; a field that fails at a state stops every running member."""
    try:
        start(stepper, controller, run)
        while run.running().size:
            advance(stepper, controller, run)
            run.clock()
    except Diverged as exc:
        act = np.flatnonzero(run.active)
        run.stop(act, Status.DIVERGED, non_finite_message(run.when(exc.t)))
    except ArithmeticError as exc:
        act = np.flatnonzero(run.active)
        when = run.when(float(run.now[act].min())) if act.size else ""
        run.stop(act, Status.FAILED, field_failed_message(when, exc))
