"""The main job on a shared machine: ``dlnsim verify`` and ``dlnsim figures``, idle and with
one competing busy process.

    python benchmarks/bench_verify.py [--workers N] [--no-figures] [--record]

Runs the installed command line (``python -m dlnsim``, from a temporary folder, as a user
would): ``dlnsim verify`` idle, then while one plain Python busy loop runs in another process
(an editor's indexer, a second terminal), then ``dlnsim figures`` the same two ways. It prints
each wall time, the loaded/idle ratio, the times in units of one ``numpy.linalg.eigh`` of a
1024 x 1024 matrix measured in the same run (so machines compare), and the five slowest claims
of each verify run. Targets on a 2-core machine: verify idle <= 15 s (about 125 eigh units),
loaded <= 2x idle; figures idle <= 20 s.

``--record`` writes the idle run's per-claim seconds to ``dlnsim/verify/costs.py``, the order
in which ``dlnsim verify`` hands claims to its workers (longest first).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _load import busy  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eigh_unit() -> float:
    """Best-of-3 seconds of one eigh of a 1024 x 1024 symmetric matrix (numpy's defaults)."""
    a = np.random.default_rng(0).standard_normal((1024, 1024))
    a = a @ a.T
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        np.linalg.eigh(a)
        best = min(best, time.perf_counter() - t0)
    return best


def timed(args: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dlnsim", *args], cwd=cwd,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"dlnsim {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}"
                 f"\n{proc.stderr[-2000:]}")
    return seconds


def verify(cwd: str, workers: list[str], name: str) -> tuple[float, list[dict]]:
    out = os.path.join(cwd, f"{name}.json")
    seconds = timed(["verify", "--quiet", "--json", out, *workers], cwd)
    with open(out) as f:
        return seconds, json.load(f)


def top(results: list[dict], k: int = 5) -> str:
    ranked = sorted(results, key=lambda r: -r["seconds"])[:k]
    return ", ".join(f"{r['id']} {r['seconds']:.2f}" for r in ranked)


def record(results: list[dict]) -> None:
    path = os.path.join(ROOT, "dlnsim", "verify", "costs.py")
    with open(path) as f:
        head = f.read().split("SECONDS: dict[str, float] = {")[0]
    rows = "".join(f'    "{r["id"]}": {r["seconds"]:.2f},\n' for r in results)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(head + "SECONDS: dict[str, float] = {\n" + rows + "}\n")
    os.replace(tmp, path)
    print(f"recorded {len(results)} claim costs in {os.path.relpath(path, ROOT)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=None,
                   help="dlnsim verify --workers N (default: its own default)")
    p.add_argument("--no-figures", action="store_true", help="time dlnsim verify only")
    p.add_argument("--record", action="store_true",
                   help="write the idle run's claim seconds to dlnsim/verify/costs.py")
    a = p.parse_args()
    workers = [] if a.workers is None else ["--workers", str(a.workers)]
    unit = eigh_unit()
    rows = []
    with tempfile.TemporaryDirectory() as cwd:
        idle, idle_res = verify(cwd, workers, "idle")
        with busy(1):
            loaded, loaded_res = verify(cwd, workers, "loaded")
        rows.append(("dlnsim verify", idle, loaded, 15.0))
        if not a.no_figures:
            f_idle = timed(["figures", "--out", os.path.join(cwd, "f1")], cwd)
            with busy(1):
                f_loaded = timed(["figures", "--out", os.path.join(cwd, "f2")], cwd)
            rows.append(("dlnsim figures", f_idle, f_loaded, 20.0))
    print(f"CPUs: {os.cpu_count()}; one eigh of 1024 x 1024: {unit * 1e3:.0f} ms (the unit)")
    print(f"{'command':<15} {'idle s':>7} {'units':>6} {'loaded s':>9} {'units':>6} "
          f"{'loaded/idle':>11} {'target idle':>11}")
    for name, i, lo, target in rows:
        print(f"{name:<15} {i:7.1f} {i / unit:6.0f} {lo:9.1f} {lo / unit:6.0f} "
              f"{lo / i:11.2f} {target:9.0f} s")
    print(f"slowest claims idle:   {top(idle_res)}")
    print(f"slowest claims loaded: {top(loaded_res)}")
    print(f"claims: {sum(r['passed'] for r in idle_res)} of {len(idle_res)} passed idle, "
          f"{sum(r['passed'] for r in loaded_res)} loaded")
    if a.record:
        record(idle_res)


if __name__ == "__main__":
    main()
