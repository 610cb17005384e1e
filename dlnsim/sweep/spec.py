"""A sweep's specification: the grid of runs a TOML file names, its members and their chunks.

A spec has four tables (every key optional unless said; a grid key takes one value or a list):

``[task]``
    ``kind = "teacher_student"`` (``n``, ``rank``, ``noise``, ``samples``, ``seed``: as
    :meth:`dlnsim.Task.teacher_student`) or ``kind = "target"`` (``singular_values`` of a
    diagonal ``n x n`` target, or ``target`` as a nested list; ``input_cov`` optional).
``[grid]``
    ``q`` (``inf`` is GD), ``block_diagonal``, ``damping``, ``weight_decay``, ``l2``, ``clip``
    (``inf``: none), ``depth``, ``width`` (the hidden layers' width), ``scale`` (random init),
    ``lr``, and ``seeds`` (a list, or a count ``k`` for ``0..k-1``). The product is the set of
    members; dims of the result keep this order, ``seed`` last.
``[init]``
    ``kind = "random"`` (``Network.random(widths, scale, seed)``) or ``"aligned"`` (balanced
    and aligned with the target's SVD, every mode at map strength ``strength``; a singular-mode
    start, where the balanced map ODE is exact).
``[time]``
    ``t_end``, ``points`` (save times ``linspace(0, t_end, points)``; for ``method =
    "discrete"`` the steps ``0..t_end`` at ``points`` saves), ``method`` (``"ode"`` or
    ``"discrete"``), ``solver`` (``"dopri5"`` or ``"rk4"``), ``rtol``, ``atol``, ``dt``;
    ``chunk_size`` (members per chunk, default 16).

Members that share a shape ``(depth, width)`` are split, in grid order, into chunks of at most
``chunk_size``; a chunk is identified by its number, and every member's result depends only on
its own grid point (its network is built from its seed), not on its chunk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import sys
from dataclasses import dataclass, field

import numpy as np

from dlnsim import _validate as V
from dlnsim import rules as R
from dlnsim.network import Network
from dlnsim.task import Task

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# grid axes in the order of the result's dims (seed last, then time)
MAX_MEMBERS = 10**7  # a sweep larger than this is refused before anything is enumerated
AXES = ("q", "block_diagonal", "damping", "weight_decay", "l2", "clip", "depth", "width",
        "scale", "lr", "seed")
DEFAULTS = {"q": (R.DEFAULT_Q,), "block_diagonal": (False,), "damping": (0.0,),
            "weight_decay": (0.0,), "l2": (0.0,), "clip": (math.inf,), "depth": (2,),
            "width": (8,), "scale": (0.1,), "lr": (1.0,), "seed": (0,)}
TABLES = {
    "": {"name", "task", "grid", "init", "time"},
    "task": {"kind", "n", "rank", "noise", "samples", "seed", "singular_values", "target",
             "input_cov"},
    "grid": set(AXES[:-1]) | {"seeds"},
    "init": {"kind", "strength"},
    "time": {"t_end", "points", "method", "solver", "rtol", "atol", "dt", "chunk_size"},
}


class SpecError(ValueError):
    """A spec that cannot be run: the message names the table and key."""


@dataclass(frozen=True)
class Spec:
    """A parsed, checked sweep spec (build it with :func:`read`).

    Parameters
    ----------
    name : str
        A label.
    task, init, time : dict
        The checked ``[task]``, ``[init]`` and ``[time]`` tables.
    grid : dict
        Each of :data:`AXES` mapped to its tuple of values.
    text : str
        The TOML it came from (empty for a dict).
    """

    name: str
    task: dict
    grid: dict
    init: dict
    time: dict
    text: str = field(default="", compare=False, repr=False)

    # -- the grid ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The grid's shape: one length per axis of :data:`AXES`."""
        return tuple(len(self.grid[a]) for a in AXES)

    @property
    def size(self) -> int:
        """The number of members (the product of the grid's lengths)."""
        return math.prod(self.shape)

    def point(self, member: int) -> dict:
        """The grid values of member ``member`` (flat index in grid order).

        Parameters
        ----------
        member : int
            Flat index in grid order, ``0 <= member < size``.

        Returns
        -------
        dict
            One value per axis of :data:`AXES`.
        """
        idx = np.unravel_index(member, self.shape)
        return {a: self.grid[a][int(i)] for a, i in zip(AXES, idx)}

    @property
    def times(self) -> np.ndarray:
        """The save times (step numbers for ``method = "discrete"``)."""
        tm = self.time
        if tm["method"] == "discrete":
            return np.unique(np.linspace(0, tm["t_end"], tm["points"]).round().astype(int))
        return np.linspace(0.0, tm["t_end"], tm["points"])

    def chunks(self) -> list[tuple[int, ...]]:
        """The members of each chunk: grouped by shape ``(depth, width)``, in grid order.

        Returns
        -------
        list of tuple of int
            The members of each chunk; a chunk's number is its index here.
        """
        groups: dict[tuple, list[int]] = {}
        for m in range(self.size):
            p = self.point(m)
            groups.setdefault((p["depth"], p["width"]), []).append(m)
        size = self.time["chunk_size"]
        return [tuple(ms[k:k + size]) for ms in groups.values() for k in range(0, len(ms), size)]

    def document(self) -> dict:
        """The spec as a dict that :func:`read` accepts (JSON-safe: ``inf`` as "inf").

        Returns
        -------
        dict
        """
        def enc(x):
            return "inf" if isinstance(x, float) and math.isinf(x) else x

        grid = {("seeds" if a == "seed" else a): [enc(v) for v in self.grid[a]] for a in AXES}
        time = {k: v for k, v in self.time.items() if v is not None}
        return {"name": self.name, "task": {k: v for k, v in self.task.items() if v is not None},
                "grid": grid, "time": time,
                "init": dict(self.init) if self.init["kind"] == "aligned" else {"kind": "random"}}

    @property
    def digest(self) -> str:
        """A hash of what the spec means (not of its comments or layout)."""
        doc = {"name": self.name, "task": self.task, "grid": self.grid, "init": self.init,
               "time": self.time}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()
                              ).hexdigest()[:16]

    # -- what a member runs -----------------------------------------------------------------
    def make_task(self) -> Task:
        """The sweep's task (shared by every member).

        Returns
        -------
        Task
        """
        tk = self.task
        if tk["kind"] == "teacher_student":
            return Task.teacher_student(n=tk["n"], rank=tk["rank"], noise=tk["noise"],
                                        samples=tk["samples"], seed=tk["seed"])
        return Task(np.asarray(tk["target"], dtype=float),
                    None if tk["input_cov"] is None else np.asarray(tk["input_cov"], float))

    def widths(self, depth: int, width: int, task: Task) -> tuple[int, ...]:
        """``(n_0, width, ..., width, n_d)`` with the task's input and output widths.

        Parameters
        ----------
        depth, width : int
            The member's depth and hidden width.
        task : Task
            The sweep's task (its shape gives ``n_0`` and ``n_d``).

        Returns
        -------
        tuple of int
        """
        n_out, n_in = task.target.shape
        return (n_in,) + (width,) * (depth - 1) + (n_out,)

    def make_network(self, point: dict, task: Task) -> Network:
        """The initial network of the member at ``point`` (from its seed alone).

        Parameters
        ----------
        point : dict
            The member's grid values (:meth:`point`).
        task : Task
            The sweep's task.

        Returns
        -------
        Network
        """
        widths = self.widths(point["depth"], point["width"], task)
        if self.init["kind"] == "random":
            return Network.random(widths, scale=point["scale"], seed=point["seed"])
        m = min(widths)
        s0 = np.full(m, self.init["strength"])
        sigma = np.repeat((s0 ** (1.0 / point["depth"]))[:, None], point["depth"], axis=1)
        return Network.aligned(task.target, sigma, widths=widths, seed=point["seed"])

    @staticmethod
    def make_rule(point: dict) -> R.Rule:
        """The rule of the member at ``point``: ngd(q, damping, block) -> l2, clip, decay.

        Parameters
        ----------
        point : dict
            The member's grid values (:meth:`point`).

        Returns
        -------
        Rule
        """
        return R.preset(point["q"], damping=point["damping"],
                        block_diagonal=point["block_diagonal"], l2=point["l2"],
                        clip=point["clip"], weight_decay=point["weight_decay"])


# -- reading and checking ------------------------------------------------------------------
def read(source) -> Spec:
    """A :class:`Spec` from a TOML file, a TOML string or a dict of the tables.

    Parameters
    ----------
    source : str, dict or Spec
        A path, a TOML string (one containing a newline or ``=``), or the tables as a dict.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        A ``ValueError`` naming the table and key that is wrong.
    """
    if isinstance(source, Spec):
        return source
    if isinstance(source, dict):
        return _check(source, "")
    if not isinstance(source, str):
        raise TypeError(f"spec must be a path, a TOML string or a dict, got "
                        f"{type(source).__name__}")
    text = source
    if "\n" not in source and ("=" not in source or os.path.exists(source)):
        text = _read_file(source)  # a path (``q=1.toml`` too, when it exists)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec is not valid TOML: {exc}") from None
    return _check(doc, text)


MAX_SPEC_BYTES = 1 << 20  # a spec is a few lines of TOML


def _read_file(path: str) -> str:
    """The text of the spec file ``path``: a regular file of at most 1 MiB of UTF-8 (a device
    such as /dev/zero is refused, never read)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise SpecError(f"spec {path!r} is not a regular file")
        if st.st_size > MAX_SPEC_BYTES:
            raise SpecError(f"spec {path!r} is {st.st_size} bytes, more than a spec's "
                            f"{MAX_SPEC_BYTES}; is it the right file?")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"spec {path!r}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"spec {path!r} is not a text file (not UTF-8)") from None


def _unknown(doc: dict, table: str) -> None:
    bad = sorted(set(doc) - TABLES[table])
    if bad:
        where = f"[{table}]" if table else "the spec's top level"
        raise SpecError(f"unknown key {bad[0]!r} in {where} (known: "
                        f"{', '.join(sorted(TABLES[table]))})")


def _values(raw, key: str, conv) -> tuple:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise SpecError(f"grid.{key} must hold at least one value")
    out = []
    for x in items:
        try:
            out.append(conv(x, f"grid.{key}"))
        except (TypeError, ValueError) as exc:
            raise SpecError(str(exc)) from None
    if len(set(out)) != len(out):
        raise SpecError(f"grid.{key} repeats a value: {items!r}")
    return tuple(out)


def _bool(x, name):
    if not isinstance(x, bool):
        raise TypeError(f"{name} must be true or false, got {x!r}")
    return x


def _inf_or_positive(x, name):
    x = V.real(math.inf if x == "inf" else x, name)
    if not x > 0:
        raise ValueError(f"{name} must be > 0 or inf, got {x!r}")
    return float(x)


def _q(x, name):
    return float(V.order_q(math.inf if x == "inf" else x, name))


CONVERT = {
    "q": _q, "block_diagonal": _bool,
    "damping": lambda x, n: float(V.nonnegative(x, n)),
    "weight_decay": lambda x, n: float(V.nonnegative(x, n)),
    "l2": lambda x, n: float(V.nonnegative(x, n)),
    "clip": _inf_or_positive,
    "depth": lambda x, n: int(V.positive_int(x, n)),
    "width": lambda x, n: int(V.positive_int(x, n)),
    "scale": lambda x, n: float(V.positive(x, n)),
    "lr": lambda x, n: float(V.positive(x, n)),
    "seed": V.seed,
}


def _check(doc: dict, text: str) -> Spec:
    _unknown(doc, "")
    name = doc.get("name", "sweep")
    if not isinstance(name, str):
        raise SpecError(f"name must be a string, got {name!r}")
    for t in ("task", "grid", "init", "time"):
        if not isinstance(doc.get(t, {}), dict):
            raise SpecError(f"[{t}] must be a table")
        _unknown(doc.get(t, {}), t)
    task = _check_task(doc.get("task", {}))
    g = doc.get("grid", {})
    grid = {}
    for a in AXES[:-1]:
        grid[a] = _values(g[a], a, CONVERT[a]) if a in g else DEFAULTS[a]
    seeds = g.get("seeds", 1)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise SpecError(f"grid.seeds must be a count >= 1 or a list of seeds, got {seeds}")
        if seeds > MAX_MEMBERS:  # counted, never enumerated
            raise SpecError(f"grid.seeds = {seeds} is above the {MAX_MEMBERS} members a sweep "
                            f"may hold")
        seeds = list(range(seeds))
    grid["seed"] = _values(seeds, "seeds", V.seed)
    members = math.prod(len(v) for v in grid.values())
    if members > MAX_MEMBERS:
        sizes = " x ".join(str(len(v)) for v in grid.values())
        raise SpecError(f"the grid holds {members} members ({sizes}), above the "
                        f"{MAX_MEMBERS} a sweep may hold")
    init = doc.get("init", {})
    kind = init.get("kind", "random")
    if kind not in ("random", "aligned"):
        raise SpecError(f"init.kind must be 'random' or 'aligned', got {kind!r}")
    if kind == "random" and "strength" in init:
        raise SpecError("init.strength is for kind = 'aligned'; a random init takes its scale "
                        "from grid.scale")
    init = {"kind": kind, "strength": _num(init.get("strength", 1e-3), "init.strength")}
    if kind == "aligned" and task["kind"] == "teacher_student" and task["samples"]:
        raise SpecError("init.kind = 'aligned' needs whitened inputs: a 'target' task or a "
                        "teacher_student task without samples")
    tm = doc.get("time", {})
    method = tm.get("method", "ode")
    if method not in ("ode", "discrete"):
        raise SpecError(f"time.method must be 'ode' or 'discrete', got {method!r}")
    solver = tm.get("solver", "dopri5")
    if solver not in ("dopri5", "rk4"):
        raise SpecError(f"time.solver must be 'dopri5' or 'rk4', got {solver!r}")
    try:
        time = {"t_end": float(V.positive(tm.get("t_end", 10.0), "time.t_end")),
                "points": int(V.positive_int(tm.get("points", 21), "time.points")),
                "method": method, "solver": solver,
                "rtol": float(V.positive(tm.get("rtol", 1e-8), "time.rtol")),
                "atol": float(V.positive(tm.get("atol", 1e-10), "time.atol")),
                "dt": None if tm.get("dt") is None else float(V.positive(tm["dt"], "time.dt")),
                "chunk_size": int(V.positive_int(tm.get("chunk_size", 16), "time.chunk_size"))}
    except (TypeError, ValueError) as exc:
        raise SpecError(str(exc)) from None
    if time["points"] < 2:
        raise SpecError(f"time.points must be >= 2, got {time['points']}")
    if solver == "rk4" and method == "ode" and time["dt"] is None:
        raise SpecError("time.solver = 'rk4' needs time.dt")
    if method == "discrete":
        steps = np.unique(np.linspace(0, time["t_end"], time["points"]).round())
        if steps.size < 2:
            raise SpecError(f"time.t_end = {time['t_end']:g} gives fewer than 2 save steps "
                            "with time.method = 'discrete' (steps are integers); raise "
                            "time.t_end to 1 or more")
    spec = Spec(name, task, grid, init, time, text)
    try:
        spec.make_task()  # a task that cannot be built fails here, naming its argument
    except (TypeError, ValueError) as exc:
        raise SpecError(_spec_keys(f"[task] {exc}")) from None
    _preflight(spec)
    return spec


# argument names in the library's messages -> the spec keys a sweep's author wrote
_KEYS = (("samples must", "task.samples must"), (">= n = ", ">= task.n = "),
         ("dt applies", "time.dt applies"), ("dt must", "time.dt must"),
         ("atol = ", "time.atol = "), ("pass atol", "set time.atol"),
         ("rtol = ", "time.rtol = "), ("t must", "the save times (time.t_end, time.points)"),
         ("lr must", "grid.lr must"), ("scale = ", "grid.scale = "))


def _spec_keys(message: str) -> str:
    for arg, key in _KEYS:
        message = message.replace(arg, key)
    return message


def _corners(spec: Spec) -> list[int]:
    """Members at the grid's extremes: the first point, and each axis's last value with the
    others at their first (one per axis, not 2^axes)."""
    shape = spec.shape
    picks = {0}
    for k, n in enumerate(shape):
        if n > 1:
            idx = [0] * len(shape)
            idx[k] = n - 1
            picks.add(int(np.ravel_multi_index(idx, shape)))
    return sorted(picks)


def _preflight(spec: Spec) -> None:
    """Check the grid's extreme members as a chunk would run them, without running them: what
    would fail in every chunk (a dt with dopri5, strengths below atol, a curvature that
    underflows, an overflowing loss) fails here, naming the member's grid values."""
    from dlnsim.integrate import prepare

    task = spec.make_task()
    tm = spec.time
    for m in _corners(spec):
        point = spec.point(m)
        values = ", ".join(f"{a} = {point[a]}" for a in AXES if len(spec.grid[a]) > 1)
        try:
            net = spec.make_network(point, task)
            prepare([net], task, spec.make_rule(point), spec.times, point["lr"],
                    tm["method"], None if tm["method"] == "discrete" else tm["solver"],
                    rtol=tm["rtol"], atol=tm["atol"], dt=tm["dt"])
        except (TypeError, ValueError) as exc:
            where = f" (the member with {values})" if values else " (its only member)"
            raise SpecError(_spec_keys(f"the sweep cannot run{where}: {exc}")) from None


def _num(x, name: str) -> float:
    try:
        return float(V.positive(x, name))
    except (TypeError, ValueError) as exc:
        raise SpecError(str(exc)) from None


def _check_task(tk: dict) -> dict:
    kind = tk.get("kind", "teacher_student")
    if kind == "teacher_student":
        try:
            out = {"kind": kind, "n": int(V.positive_int(tk.get("n", 8), "task.n")),
                   "rank": int(V.positive_int(tk.get("rank", 3), "task.rank")),
                   "noise": float(V.nonnegative(tk.get("noise", 0.1), "task.noise")),
                   "samples": tk.get("samples"),
                   "seed": V.seed(tk.get("seed", 0), "task.seed")}
            if out["samples"] is not None:  # 0 or false is a mistake, not "no samples"
                out["samples"] = int(V.positive_int(out["samples"], "task.samples"))
        except (TypeError, ValueError) as exc:
            raise SpecError(str(exc)) from None
        for k in ("singular_values", "target", "input_cov"):
            if k in tk:
                raise SpecError(f"task.{k} is for kind = 'target', not 'teacher_student'")
        return out
    if kind != "target":
        raise SpecError(f"task.kind must be 'teacher_student' or 'target', got {kind!r}")
    for k in ("rank", "noise", "samples", "seed"):
        if k in tk:
            raise SpecError(f"task.{k} is for kind = 'teacher_student', not 'target'")
    if ("singular_values" in tk) == ("target" in tk):
        raise SpecError("a 'target' task needs exactly one of task.singular_values and "
                        "task.target")
    try:
        if "singular_values" in tk:
            s = V.real_array(tk["singular_values"], "task.singular_values").ravel()
            n = int(V.positive_int(tk.get("n", s.size), "task.n"))
            if s.size > n:
                raise ValueError(f"task.n = {n} is smaller than the {s.size} singular values")
            target = np.zeros((n, n))
            target[np.arange(s.size), np.arange(s.size)] = s
        else:
            target = V.as_matrix(tk["target"], "task.target")
        cov = tk.get("input_cov")
        if cov is not None:
            cov = V.spd(cov, "task.input_cov", target.shape[1]).tolist()
    except (TypeError, ValueError) as exc:
        raise SpecError(str(exc)) from None
    return {"kind": kind, "target": target.tolist(), "input_cov": cov}


__all__ = ["AXES", "Spec", "SpecError", "read"]
