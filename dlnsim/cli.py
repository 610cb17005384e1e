"""Command line: ``dlnsim verify | figures | simulate | validate-backend``
(also ``python -m dlnsim``).

Usage errors print one line and exit 2; a failed claim or a diverged run exits 1.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from dlnsim import rules
from dlnsim.integrate import simulate
from dlnsim.network import Network
from dlnsim.task import Task


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _widths(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be comma-separated integers, got {text!r}")\
            from None
    return out


def _q(text: str) -> float:
    return math.inf if text.lower() in ("inf", "infinity", "gd") else float(text)


def build_parser() -> argparse.ArgumentParser:
    from dlnsim._version import __version__

    p = _Parser(prog="dlnsim", description="Analytical deep-linear-network simulator.")
    p.add_argument("--version", action="version", version=f"dlnsim {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    v = sub.add_parser("verify", help="check every claim of the catalogue against numerics")
    v.add_argument("--only", default=None, metavar="GLOB",
                   help="run only claims whose ID matches GLOB (e.g. 'huh.map.*')")
    v.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    f = sub.add_parser("figures", help="draw the papers' figures")
    f.add_argument("--out", default="figures", help="output folder (default figures/)")
    f.add_argument("--only", default=None, metavar="NAME",
                   help="one figure: fig1, fig2, fig3, fig4, fig5 or gn_norm")
    f.add_argument("--format", choices=("png", "pdf"), default="png")
    b = sub.add_parser("validate-backend",
                       help="run a fixed set of cases on numpy and on torch and compare them")
    b.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    b.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    b.add_argument("--quick", action="store_true",
                   help="one depth per rule instead of all four (about 4x faster)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("simulate", help="train a deep linear network on a teacher-student task")
    s.add_argument("--widths", type=_widths, default=(8, 8, 8, 8),
                   help="layer widths n_0,...,n_d, input first (default 8,8,8,8)")
    s.add_argument("--q", type=_q, default=2.0,
                   help="curvature correction order: 1 NGD, 2 sqrt-NGD (default), inf GD")
    s.add_argument("--block-diagonal", action="store_true", help="use NGD-d blocks")
    s.add_argument("--damping", type=float, default=0.0, help="Levenberg-Marquardt eps")
    s.add_argument("--weight-decay", type=float, default=0.0, help="decoupled weight decay")
    s.add_argument("--clip", type=float, default=None, help="update-speed clipping")
    s.add_argument("--lr", type=float, default=1.0, help="learning rate (default 1)")
    s.add_argument("--t-end", type=float, default=20.0, help="final time (default 20)")
    s.add_argument("--points", type=int, default=7, help="number of save times (default 7)")
    s.add_argument("--scale", type=float, default=0.1, help="init weight scale (default 0.1)")
    s.add_argument("--rank", type=int, default=3, help="teacher rank (default 3)")
    s.add_argument("--noise", type=float, default=0.1, help="label noise (default 0.1)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--method", choices=("ode", "discrete"), default="ode")
    s.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                   help="numpy (scipy DOP853, default) or torch (batched dopri5)")
    s.add_argument("--device", default=None, help="torch device: cpu (default) or cuda")
    s.add_argument("--out", default=None, help="save the trajectory as .npz")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _cmd_simulate(a) -> int:
    w = a.widths
    if len(w) < 2:
        raise ValueError("--widths needs at least two entries (depth >= 1)")
    if a.points < 2:
        raise ValueError(f"--points must be >= 2, got {a.points}")
    task = Task.teacher_student(n=w[0], n_out=w[-1], rank=a.rank, noise=a.noise, seed=a.seed)
    net = Network.random(w, scale=a.scale, seed=a.seed + 1)
    rule = rules.ngd(a.q, damping=a.damping, block_diagonal=a.block_diagonal)
    if a.clip is not None:
        rule = rules.chain(rule, rules.clip(a.clip))
    if a.weight_decay:
        rule = rules.chain(rule, rules.weight_decay(a.weight_decay))
    if a.method == "discrete":
        t = np.unique(np.linspace(0, a.t_end, a.points).round().astype(int))
    else:
        t = np.linspace(0.0, a.t_end, a.points)
    traj = simulate(net, task, rule, t, lr=a.lr, method=a.method, quiet=a.quiet,
                    backend=a.backend, device=a.device)
    print(f"rule: {traj.rule}   widths: {w}   lr: {a.lr:g}   method: {traj.method}")
    print(f"{'t':>10} {'train loss':>12} {'test loss':>12} {'max|c_i - c_i(0)|':>18}")
    for k, tk in enumerate(traj.t):
        drift = max((float(np.abs(c[k] - c[0]).max()) for c in traj.imbalance), default=0.0)
        print(f"{tk:10.4g} {traj.loss[k]:12.6g} {traj.test_loss[k]:12.6g} {drift:18.3e}")
    print(f"status {traj.status}: {traj.message}")
    if a.out:
        traj.save(a.out)
        print(f"saved {a.out}")
    return 0 if traj.success else 1


def _failures(results, name: str) -> list:
    """Print ``FAIL <name>: <details>`` for each failed result; return the failed ones."""
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"FAIL {getattr(r, name)}: {r.details}")
    return failed


def _cmd_verify(a) -> int:
    from dlnsim import verify

    results = verify.run(a.only, quiet=a.quiet)
    width = max(len(r.id) for r in results)
    src = min(max(len(r.source) for r in results), 48)
    print(f"{'claim':<{width}}  {'source':<{src}}  {'result':<6}  {'error':>9}  "
          f"{'tolerance':>9}  {'seconds':>7}")
    for r in results:
        source = r.source if len(r.source) <= src else r.source[:src - 3] + "..."
        print(f"{r.id:<{width}}  {source:<{src}}  {'pass' if r.passed else 'FAIL':<6}  "
              f"{r.error:9.2e}  {r.tolerance:9.1e}  {r.seconds:7.2f}")
    failed = _failures(results, "id")
    total = sum(r.seconds for r in results)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed in {total:.1f} s")
    if a.json:
        verify.write_json(results, a.json)
    return 1 if failed else 0


def _cmd_validate_backend(a) -> int:
    from dlnsim import validate_backend as backend

    results = backend.validate(a.device, quick=a.quick, quiet=a.quiet)
    width = max(len(r.case) for r in results)
    print(f"numpy against torch on {a.device}, float64; deviation = max relative distance of "
          "trajectories")
    print(f"{'case':<{width}}  {'widths':<16}  {'S':<5}  {'result':<6}  {'deviation':>9}  "
          f"{'seconds':>7}")
    for r in results:
        widths = ",".join(str(n) for n in r.widths) or "5 modes"
        print(f"{r.case:<{width}}  {widths:<16}  {'I' if r.whitened else 'non-I':<5}  "
              f"{'pass' if r.passed else 'FAIL':<6}  {r.deviation:9.2e}  {r.seconds:7.2f}")
    failed = _failures(results, "case")
    worst = max(r.deviation for r in results)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed; max deviation "
          f"{worst:.2e} (tolerance {backend.TOLERANCE:.0e}) in "
          f"{sum(r.seconds for r in results):.1f} s")
    if a.json:
        backend.write_json(results, a.json, a.device)
    return 1 if failed else 0


def _cmd_figures(a) -> int:
    from dlnsim import plots

    for path in plots.write_figures(a.out, a.only, a.format):
        print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise _UsageError("missing command (try: dlnsim verify, or dlnsim simulate)")
        if args.command == "verify":
            return _cmd_verify(args)
        if args.command == "figures":
            return _cmd_figures(args)
        if args.command == "validate-backend":
            return _cmd_validate_backend(args)
        return _cmd_simulate(args)
    except _UsageError as exc:
        print(f"dlnsim: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as exc:
        print(f"dlnsim: error: {exc}", file=sys.stderr)
        return 2
