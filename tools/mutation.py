"""Mutation testing of the numerical core: do the tests notice a plausible bug?

    python tools/mutation.py [--per-module 20] [--workers 2] [--seed 0]
                                  [--only curvature,solve] [--json mutants.json] [--list]

Each mutant changes one operator or constant of one module (``+`` and ``-``, ``*`` and ``/``,
``**`` into ``*``, a comparison flipped or made strict, ``and`` and ``or``, a dropped unary
minus or ``not``, a number changed), chosen at random (``--seed``) among the module's mutation
sites. The kinds of bug a referee found the tests blind to have operators of their own
(``--kinds guard,skip,call,finite,atomic,default``): a validation guard ``if ...: raise``
removed; a ``continue`` or ``break`` dropped (a resume that re-runs finished work, a loop that
runs on); a statement call dropped (a flush, a check, a state update); ``isfinite(x)`` turned
into ``~isinf(x)`` (NaN let through); ``atomic_write(path, write)`` turned into
``write(path)`` (a writer that writes in place); a boolean default flipped or a numeric default
changed. The tests that mirror the module then run against it (``pytest -x``, in a copy of the
tree, one copy per worker); a mutant is *killed* when they fail or time out, and *survives*
when they pass. Survivors are listed with file, line and the change, to be killed by a new test
or argued equivalent. Not run in CI (it takes minutes); the README's testing section reports
the last score.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module group -> (source files, the tests that mirror them)
GROUPS = {
    "curvature": (["dlnsim/curvature/batched.py", "dlnsim/curvature/spectral.py",
                   "dlnsim/curvature/api.py", "dlnsim/curvature/krylov.py",
                   "dlnsim/curvature/kernel.py", "dlnsim/curvature/dense.py"],
                  ["tests/test_curvature.py", "tests/test_rules.py", "tests/test_krylov.py"]),
    "rules": (["dlnsim/rules/core.py", "dlnsim/rules/fields.py"],
              ["tests/test_rules.py", "tests/test_modes.py", "tests/test_kfac.py"]),
    "modes": (["dlnsim/modes.py"], ["tests/test_modes.py", "tests/test_symbolic.py"]),
    "solve": (["dlnsim/solve/loop.py", "dlnsim/solve/dopri5.py", "dlnsim/solve/rk4.py",
               "dlnsim/solve/discrete.py", "dlnsim/solve/scipy.py", "dlnsim/solve/base.py",
               "dlnsim/solve/controllers.py",
               "dlnsim/solve/options.py"],
              ["tests/test_solve.py", "tests/test_integrate.py"]),
    "integrate": (["dlnsim/integrate.py"], ["tests/test_integrate.py", "tests/test_kfac.py",
                                            "tests/test_noise.py"]),
    "trajectory": (["dlnsim/trajectory.py", "dlnsim/_io.py"],
                   ["tests/test_trajectory.py", "tests/test_integrate.py"]),
    "optim": (["dlnsim/optim/kfac.py", "dlnsim/optim/hcgd.py", "dlnsim/optim/noise.py"],
              ["tests/test_kfac.py", "tests/test_hcgd.py", "tests/test_noise.py"]),
    "cli": ([f"dlnsim/cli/{m}.py" for m in ("__init__", "args", "verify", "figures", "simulate",
                                            "portrait", "sweep")], ["tests/test_cli.py"]),
    "sweep": ([f"dlnsim/sweep/{m}.py" for m in ("chunk", "engine", "spec", "store")],
              ["tests/test_sweep.py"]),
    "io": (["dlnsim/_io.py"], ["tests/test_trajectory.py", "tests/test_sweep.py",
                               "tests/test_verify.py"]),
    "symbolic": (["dlnsim/symbolic/__init__.py", "dlnsim/symbolic/laws.py"],
                 ["tests/test_symbolic.py", "tests/test_modes.py"]),
}
KINDS = ("binop", "compare", "boolop", "unary", "number",
         "guard", "skip", "call", "finite", "atomic", "default")

SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
        ast.Pow: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv,
        ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
        ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
        ast.In: ast.NotIn, ast.NotIn: ast.In, ast.And: ast.Or, ast.Or: ast.And}


@dataclass
class Mutant:
    group: str
    file: str
    line: int
    change: str
    index: int
    outcome: str = ""
    seconds: float = 0.0


def _docstring_nodes(tree) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value,
                                                                     ast.Constant):
                out.add(id(body[0].value))
    return out


def _guard(node) -> bool:
    """``if ...: raise ...`` with no else: a validation guard."""
    return isinstance(node, ast.If) and not node.orelse and len(node.body) == 1 and \
        isinstance(node.body[0], ast.Raise)


def _finite_call(node) -> bool:
    f = getattr(node, "func", None)
    return isinstance(node, ast.Call) and len(node.args) == 1 and (
        isinstance(f, ast.Attribute) and f.attr == "isfinite" or
        isinstance(f, ast.Name) and f.id == "isfinite")


def _atomic_call(node) -> bool:
    f = getattr(node, "func", None)
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
    return isinstance(node, ast.Call) and name == "atomic_write" and len(node.args) == 2


def _defaults(tree) -> set[int]:
    """ids of the Constant defaults of every function's parameters."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                if isinstance(d, ast.Constant) and isinstance(d.value, (bool, int, float)):
                    out.add(id(d))
    return out


def sites(tree) -> list[tuple[ast.AST, str, str]]:
    """Every mutation site: (node, kind, description)."""
    skip = _docstring_nodes(tree)
    defaults = _defaults(tree)
    out = []
    for node in ast.walk(tree):
        if _guard(node):
            out.append((node, "guard", "drop guard 'if ...: raise'"))
        elif isinstance(node, (ast.Continue, ast.Break)):
            out.append((node, "skip", f"drop {type(node).__name__.lower()}"))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            out.append((node, "call", f"drop call {ast.unparse(node.value.func)}()"))
        elif _finite_call(node):
            out.append((node, "finite", "isfinite(x) -> ~isinf(x)"))
        elif _atomic_call(node):
            out.append((node, "atomic", "atomic_write(path, write) -> write(path)"))
        if id(node) in defaults:
            new = (not node.value) if isinstance(node.value, bool) else _renumber(node.value)
            out.append((node, "default", f"default {node.value!r} -> {new!r}"))
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in SWAP:
            out.append((node, "binop", f"{type(node.op).__name__} -> "
                                       f"{SWAP[type(node.op)].__name__}"))
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in SWAP:
            out.append((node, "compare", f"{type(node.ops[0]).__name__} -> "
                                         f"{SWAP[type(node.ops[0])].__name__}"))
        elif isinstance(node, ast.BoolOp):
            out.append((node, "boolop", f"{type(node.op).__name__} -> "
                                        f"{SWAP[type(node.op)].__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            out.append((node, "unary", f"drop {type(node.op).__name__}"))
        if isinstance(node, ast.Constant) and id(node) not in skip and \
                type(node.value) in (int, float) and not isinstance(node.value, bool):
            out.append((node, "number", f"{node.value!r} -> {_renumber(node.value)!r}"))
    return out


def _renumber(v):
    if isinstance(v, int):
        return v + 1
    return 0.0 if v != 0 and abs(v) < 1e-6 else (v * 2 if v != 0 else 1.0)


class _Apply(ast.NodeTransformer):
    def __init__(self, target, kind):
        self.target, self.kind = target, kind

    def generic_visit(self, node):
        node = super().generic_visit(node)
        if node is self.target:
            if self.kind in ("guard", "skip", "call"):
                return ast.Pass()
            if self.kind == "finite":
                f, arg = node.func, node.args[0]
                if isinstance(f, ast.Attribute) and not (
                        isinstance(f.value, ast.Name) and f.value.id == "math"):
                    return ast.UnaryOp(ast.Invert(), ast.Call(
                        ast.Attribute(f.value, "isinf", ast.Load()), [arg], []))
                isinf = ast.Attribute(f.value, "isinf", ast.Load()) \
                    if isinstance(f, ast.Attribute) else ast.Name("isinf", ast.Load())
                return ast.UnaryOp(ast.Not(), ast.Call(isinf, [arg], []))
            if self.kind == "atomic":
                return ast.Call(node.args[1], [node.args[0]], [])
            if self.kind == "default":
                node.value = (not node.value) if isinstance(node.value, bool) \
                    else _renumber(node.value)
                return node
            if isinstance(node, ast.BinOp):
                node.op = SWAP[type(node.op)]()
            elif isinstance(node, ast.Compare):
                node.ops = [SWAP[type(node.ops[0])]()] + node.ops[1:]
            elif isinstance(node, ast.BoolOp):
                node.op = SWAP[type(node.op)]()
            elif isinstance(node, ast.UnaryOp):
                return node.operand
            elif isinstance(node, ast.Constant):
                node.value = _renumber(node.value)
        return node


def mutated_source(path: Path, index: int) -> str:
    tree = ast.parse(path.read_text())
    node, kind, _ = sites(tree)[index]
    return ast.unparse(ast.fix_missing_locations(_Apply(node, kind).visit(tree)))


def locate(path: Path, line: int, change: str) -> int:
    """The site index of a mutant recorded by file, line and change (indices move when the
    file changes; the line and the change identify it)."""
    found = [i for i, (node, _, desc) in enumerate(sites(ast.parse(path.read_text())))
             if node.lineno == line and desc == change]
    if not found:
        raise LookupError(f"{path}:{line} {change}: no such mutation site any more")
    return found[0]


def plan(groups: dict, per_module: int, seed: int, kinds=KINDS) -> list[Mutant]:
    rng = random.Random(seed)
    out = []
    for group, (files, _) in groups.items():
        pool = []
        for f in files:
            tree = ast.parse((ROOT / f).read_text())
            pool += [(f, i, node.lineno, desc) for i, (node, kind, desc)
                     in enumerate(sites(tree)) if kind in kinds]
        for f, i, line, desc in rng.sample(pool, min(per_module, len(pool))):
            out.append(Mutant(group, f, line, desc, i))
    return out


def _copy_tree(dest: Path) -> Path:
    for name in ("dlnsim", "tests"):
        shutil.copytree(ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "notebooks", dest / "notebooks")
    return dest


def run_one(m: Mutant, tree: Path, tests: list[str], timeout: float) -> Mutant:
    target = tree / m.file
    original = target.read_text()  # the copy's source, as planned (the checkout may change)
    target.write_text(mutated_source(target, m.index))
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci", "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.perf_counter()
    try:
        res = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "--no-cov",
                              "-p", "no:cacheprovider", *tests], cwd=tree, env=env,
                             capture_output=True, text=True, timeout=timeout)
        m.outcome = "survived" if res.returncode == 0 else "killed"
    except subprocess.TimeoutExpired:
        m.outcome = "killed (timeout)"
    finally:
        target.write_text(original)
    m.seconds = time.perf_counter() - t0
    return m


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-module", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--only", default=None, help="comma-separated module groups")
    p.add_argument("--kinds", default=None,
                   help=f"comma-separated operator kinds (default all: {','.join(KINDS)})")
    p.add_argument("--json", default=None)
    p.add_argument("--list", action="store_true", help="print the plan and stop")
    p.add_argument("--rerun", default=None, metavar="JSON",
                   help="re-run the survivors recorded in an earlier --json file")
    a = p.parse_args()
    groups = {k: v for k, v in GROUPS.items()
              if a.only is None or k in a.only.split(",")}
    if a.rerun:
        old = [Mutant(**{k: m[k] for k in ("group", "file", "line", "change", "index")})
               for m in json.loads(Path(a.rerun).read_text()) if m["outcome"] == "survived"]
        mutants = [Mutant(m.group, m.file, m.line, m.change,
                          locate(ROOT / m.file, m.line, m.change))
                   for m in old if m.group in groups]
    else:
        kinds = KINDS if a.kinds is None else tuple(a.kinds.split(","))
        unknown = set(kinds) - set(KINDS)
        if unknown:
            p.error(f"unknown kinds {sorted(unknown)}; choose from {','.join(KINDS)}")
        mutants = plan(groups, a.per_module, a.seed, kinds)
    if a.list:
        for m in mutants:
            print(f"{m.group:<11} {m.file}:{m.line}  {m.change}")
        return
    work = Path(tempfile.mkdtemp(prefix="dlnsim-mutants-"))
    trees = [_copy_tree(work / f"w{k}") for k in range(a.workers)]
    free = list(trees)

    def task(m: Mutant) -> Mutant:
        tree = free.pop()
        try:
            return run_one(m, tree, groups[m.group][1], a.timeout)
        finally:
            free.append(tree)

    t0 = time.perf_counter()
    done = []
    with ThreadPoolExecutor(a.workers) as pool:
        for k, m in enumerate(pool.map(task, mutants), start=1):
            done.append(m)
            print(f"[{k}/{len(mutants)}] {m.outcome:<16} {m.file}:{m.line}  {m.change} "
                  f"({m.seconds:.0f} s)", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'module':<11} {'mutants':>7} {'killed':>7} {'score':>6}")
    for g in groups:
        ms = [m for m in done if m.group == g]
        killed = sum(m.outcome.startswith("killed") for m in ms)
        print(f"{g:<11} {len(ms):>7} {killed:>7} {killed / max(len(ms), 1):6.0%}")
    total = sum(m.outcome.startswith("killed") for m in done)
    print(f"{'all':<11} {len(done):>7} {total:>7} {total / max(len(done), 1):6.0%}  "
          f"in {time.perf_counter() - t0:.0f} s")
    survivors = [m for m in done if m.outcome == "survived"]
    if survivors:
        print("\nsurvivors:")
        for m in survivors:
            print(f"  {m.file}:{m.line}  {m.change}")
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(m) for m in done], indent=2))


if __name__ == "__main__":
    main()
