"""Command line: ``dlnsim verify | figures | simulate | validate-backend`` (also
``python -m dlnsim``).

Exit codes: 0 success; 1 a run diverged or failed, or a claim failed; 2 usage or bad input,
checked before any work (output paths included); 3 an internal error (one line; ``--debug``
shows the traceback); 130 interrupted (what was computed is printed and saved). Errors are one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import traceback
import warnings

import numpy as np

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_NUMBER_LIST = re.compile(r"^-[0-9.,eE+-]+$")  # values such as "-4,4" or "-1e-3"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _widths(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, got {text!r}") \
            from None
    if len(out) < 2 or min(out) < 1:
        raise argparse.ArgumentTypeError(f"must be at least two integers >= 1 (n_0,...,n_d), "
                                         f"got {text!r}")
    return out


def _number(kind: str, low: float | None = None, strict: bool = False, allow_inf=False):
    """An argparse type: a finite float (or inf where allowed) above ``low``."""
    def parse(text: str) -> float:
        try:
            v = math.inf if allow_inf and text.lower() in ("inf", "infinity", "gd") \
                else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        if math.isnan(v) or (math.isinf(v) and not allow_inf) or (
                low is not None and (v <= low if strict else v < low)):
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
        return v
    return parse


def _count(kind: str, low: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}")
        return v
    return parse


def _path(text: str) -> str:
    if text.strip() == "":
        raise argparse.ArgumentTypeError("must be a file path, got an empty string")
    return text


def build_parser() -> argparse.ArgumentParser:
    from dlnsim._version import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an internal error")
    p = _Parser(prog="dlnsim", description="Analytical deep-linear-network simulator.",
                parents=[common])
    p.add_argument("--version", action="version", version=f"dlnsim {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    v = sub.add_parser("verify", parents=[common],
                       help="check every claim of the catalogue against numerics")
    v.add_argument("--only", default=None, metavar="GLOB",
                   help="run only claims whose ID matches GLOB (e.g. 'huh.map.*')")
    v.add_argument("--json", default=None, metavar="PATH", type=_path,
                   help="also write the results as JSON")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.add_argument("--mutants", action="store_true",
                   help="run every claim under every known bug (dlnsim/verify/mutants.py) and "
                        "print which claims catch which (a few minutes)")
    f = sub.add_parser("figures", parents=[common], help="draw the papers' figures")
    f.add_argument("--out", default="figures", type=_path,
                   help="output folder (default figures/)")
    f.add_argument("--only", default=None, metavar="NAME",
                   help="one figure: fig1, fig2, fig3, fig4, fig5, gn_norm or other_rules")
    f.add_argument("--format", choices=("png", "pdf"), default="png")
    b = sub.add_parser("validate-backend", parents=[common],
                       help="run a fixed set of cases on numpy and on torch and compare them")
    b.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    b.add_argument("--json", default=None, metavar="PATH", type=_path,
                   help="also write the results as JSON")
    b.add_argument("--quick", action="store_true",
                   help="one depth per rule instead of all four (about 4x faster)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("simulate", parents=[common],
                       help="train a deep linear network on a teacher-student task")
    s.add_argument("--widths", type=_widths, default=(8, 8, 8, 8),
                   help="layer widths n_0,...,n_d, input first (default 8,8,8,8)")
    s.add_argument("--q", type=_number("a number >= 1 or inf", 1.0, allow_inf=True),
                   default=2.0,
                   help="curvature correction order: 1 NGD, 2 sqrt-NGD (default), inf GD")
    s.add_argument("--block-diagonal", action="store_true", help="use NGD-d blocks")
    s.add_argument("--damping", type=_number("a number >= 0", 0.0), default=0.0,
                   help="Levenberg-Marquardt eps")
    s.add_argument("--weight-decay", type=_number("a number >= 0", 0.0), default=0.0,
                   help="decoupled weight decay")
    s.add_argument("--clip", type=_number("a number > 0", 0.0, strict=True), default=None,
                   help="update-speed clipping")
    s.add_argument("--lr", type=_number("a number > 0", 0.0, strict=True), default=1.0,
                   help="learning rate (default 1)")
    s.add_argument("--t-end", type=_number("a number > 0", 0.0, strict=True), default=20.0,
                   help="final time (default 20)")
    s.add_argument("--points", type=_count("an integer >= 2", 2), default=7,
                   help="number of save times (default 7)")
    s.add_argument("--scale", type=_number("a number > 0", 0.0, strict=True), default=0.1,
                   help="init weight scale (default 0.1)")
    s.add_argument("--rank", type=_count("an integer >= 1", 1), default=3,
                   help="teacher rank (default 3)")
    s.add_argument("--noise", type=_number("a number >= 0", 0.0), default=0.1,
                   help="label noise (default 0.1)")
    s.add_argument("--seed", type=_count("an integer >= 0", 0), default=0,
                   help="random seed (default 0)")
    s.add_argument("--method", choices=("ode", "discrete"), default="ode")
    s.add_argument("--solver", default=None,
                   help="ODE solver: DOP853 (numpy default), RK45, Radau, LSODA, dopri5, ...")
    s.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                   help="numpy (scipy DOP853, default) or torch (batched dopri5)")
    s.add_argument("--device", default=None, help="torch device: cpu (default) or cuda")
    s.add_argument("--max-memory", type=_number("a number of GiB > 0", 0.0, strict=True),
                   default=2.0, help="refuse runs whose results exceed this (GiB, default 2)")
    s.add_argument("--out", default=None, type=_path, help="save the trajectory as .npz")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _join_negative_values(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``--widths -4,4`` becomes ``--widths=-4,4`` so that argparse does not read the value
    as an option and the value's own check can say what is wrong with it."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and "=" not in a and i + 1 < len(argv) \
                and _NUMBER_LIST.match(argv[i + 1]):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


# -- simulate -----------------------------------------------------------------------------------
def _rule(a):
    from dlnsim import rules

    rule = rules.ngd(a.q, damping=a.damping, block_diagonal=a.block_diagonal)
    if a.clip is not None:
        rule = rules.chain(rule, rules.clip(a.clip))
    if a.weight_decay:
        rule = rules.chain(rule, rules.weight_decay(a.weight_decay))
    return rule


def _cmd_simulate(a) -> int:
    from dlnsim import Limits, Status, simulate
    from dlnsim._io import check_output_file
    from dlnsim.network import Network
    from dlnsim.solve import check_memory, memory_estimate
    from dlnsim.task import Task

    w = a.widths
    limits = Limits(max_memory=a.max_memory * 2**30)
    params = sum(w[i] * w[i + 1] for i in range(len(w) - 1))
    advice = "use smaller --widths or fewer --points, or raise --max-memory"
    check_memory(memory_estimate(1, 1, params), limits, "--widths", advice)
    check_memory(memory_estimate(a.points, 1, params, w[0] * w[-1]
                                 + sum(n * n for n in w[1:-1])), limits, "--points", advice)
    if a.out:
        check_output_file(a.out, "--out")
    task = Task.teacher_student(n=w[0], n_out=w[-1], rank=a.rank, noise=a.noise, seed=a.seed)
    net = Network.random(w, scale=a.scale, seed=a.seed + 1)
    if a.method == "discrete":
        t = np.unique(np.linspace(0, a.t_end, a.points).round().astype(int))
    else:
        t = np.linspace(0.0, a.t_end, a.points)
    traj = simulate(net, task, _rule(a), t, lr=a.lr, method=a.method, solver=a.solver,
                    quiet=a.quiet, backend=a.backend, device=a.device, limits=limits)
    print(f"rule: {traj.rule}   widths: {w}   lr: {a.lr:g}   method: {traj.method}")
    print(f"{'t':>10} {'train loss':>12} {'test loss':>12} {'max|c_i - c_i(0)|':>18}")
    for k, tk in enumerate(traj.t):
        drift = max((float(np.abs(c[k] - c[0]).max()) for c in traj.imbalance), default=0.0)
        print(f"{tk:10.4g} {traj.loss[k]:12.6g} {traj.test_loss[k]:12.6g} {drift:18.3e}")
    print(f"status {int(traj.status)}: {traj.message}")
    if a.out:
        traj.save(a.out)
        print(f"saved {a.out}" + (f" ({len(traj.t)} of {len(t)} save points)"
                                  if len(traj.t) < len(t) else ""))
    if traj.status == Status.INTERRUPTED:
        print(f"dlnsim: interrupted; {len(traj.t)} of {len(t)} save points kept"
              + (f" in {a.out}" if a.out else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if traj.success else EXIT_FAILED


# -- verify, validate-backend, figures ------------------------------------------------------------
def _failures(results, name: str) -> list:
    """Print ``FAIL <name>: <details>`` for each failed result; return the failed ones."""
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"FAIL {getattr(r, name)}: {r.details}")
    return failed


def _interrupted(results, what: str) -> int:
    print(f"dlnsim: interrupted after {len(results)} of {results.total} {what}; the table "
          "above shows those", file=sys.stderr)
    return EXIT_INTERRUPTED


def _cmd_mutants(a) -> int:
    """The claims-by-mutants matrix: x where a claim fails under a planted bug."""
    from dlnsim import verify
    from dlnsim._io import write_json
    from dlnsim.verify import mutants

    claims = verify.select(a.only)
    caught = mutants.matrix(claims, quiet=a.quiet)
    names = [m.name for m in mutants.MUTANTS]
    width = max(len(c.id) for c in claims)
    print("mutants (columns): " + "; ".join(f"{k + 1} {n}" for k, n in enumerate(names)))
    print(f"{'claim':<{width}}  " + " ".join(f"{k + 1:>2}" for k in range(len(names))))
    for c in claims:
        print(f"{c.id:<{width}}  " + " ".join(f"{'x' if caught[n][c.id] else '.':>2}"
                                              for n in names))
    missed, escaped = [], []
    for m in mutants.MUTANTS:
        if not any(caught[m.name].values()):
            missed.append(m.name)
        named = [cid for cid in m.catches if cid in caught[m.name]]
        if not all(caught[m.name][cid] for cid in named):
            escaped.append(m.name)
    print(f"{len(names) - len(missed)} of {len(names)} mutants caught by at least one claim; "
          f"{len(names) - len(escaped)} by the claims that name their mechanism"
          + (f"; not caught: {', '.join(missed)}" if missed else "")
          + (f"; escaping their claims: {', '.join(escaped)}" if escaped else ""))
    if a.json:
        write_json({"mutants": [{"name": m.name, "mechanism": m.mechanism,
                                 "catches": list(m.catches), "caught_by": [
                                     cid for cid, x in caught[m.name].items() if x]}
                                for m in mutants.MUTANTS]}, a.json)
    return EXIT_FAILED if missed or escaped else EXIT_OK


def _cmd_verify(a) -> int:
    from dlnsim import verify
    from dlnsim._io import check_output_file

    if a.json:
        check_output_file(a.json, "--json")
    if a.mutants:
        return _cmd_mutants(a)
    results = verify.run(a.only, quiet=a.quiet)
    if results:
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
    if results.interrupted:
        return _interrupted(results, "claims")
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_validate_backend(a) -> int:
    from dlnsim import validate_backend as backend
    from dlnsim._io import check_output_file

    if a.json:
        check_output_file(a.json, "--json")
    results = backend.validate(a.device, quick=a.quick, quiet=a.quiet)
    print(f"numpy against torch on {a.device}, float64; deviation = max relative distance of "
          "trajectories")
    if results:
        width = max(len(r.case) for r in results)
        print(f"{'case':<{width}}  {'widths':<16}  {'S':<5}  {'result':<6}  {'deviation':>9}  "
              f"{'seconds':>7}")
        for r in results:
            widths = ",".join(str(n) for n in r.widths) or "5 modes"
            print(f"{r.case:<{width}}  {widths:<16}  {'I' if r.whitened else 'non-I':<5}  "
                  f"{'pass' if r.passed else 'FAIL':<6}  {r.deviation:9.2e}  {r.seconds:7.2f}")
    failed = _failures(results, "case")
    worst = max((r.deviation for r in results), default=0.0)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed; max deviation "
          f"{worst:.2e} (tolerance {backend.TOLERANCE:.0e}) in "
          f"{sum(r.seconds for r in results):.1f} s")
    if a.json:
        backend.write_json(results, a.json, a.device)
    if results.interrupted:
        return _interrupted(results, "cases")
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_figures(a) -> int:
    from dlnsim import plots
    from dlnsim._io import check_output_folder

    if a.only is not None and a.only not in plots.FIGURES:
        raise ValueError(f"--only must be one of {sorted(plots.FIGURES)}, got {a.only!r}")
    check_output_folder(a.out, "--out")
    written = []
    try:
        for path in plots.write_figures(a.out, a.only, a.format, written=written):
            print(f"wrote {path}")
    except KeyboardInterrupt:
        print(f"dlnsim: interrupted after writing {len(written)} figure(s) to {a.out}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


COMMANDS = {"verify": _cmd_verify, "figures": _cmd_figures, "simulate": _cmd_simulate,
            "validate-backend": _cmd_validate_backend}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docs)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    debug = "--debug" in argv
    try:
        args = parser.parse_args(_join_negative_values(argv, parser))
        if args.command is None:
            raise _UsageError("missing command (try: dlnsim verify, or dlnsim simulate)")
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # runs report overflow as a status; numpy's warnings would only add noise
            warnings.simplefilter("ignore", RuntimeWarning)
            return COMMANDS[args.command](args)
    except _UsageError as exc:
        print(f"dlnsim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, OSError) as exc:
        if debug:
            traceback.print_exc()
        print(f"dlnsim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dlnsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        if debug:
            traceback.print_exc()
        print("dlnsim: internal error: out of memory (use smaller --widths or --points; "
              "--debug shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # a bug: one line and a hint, the traceback on request
        if debug:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"dlnsim: internal error: {type(exc).__name__}: {first} (please report it; "
              "--debug shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
