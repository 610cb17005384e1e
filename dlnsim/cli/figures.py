"""``dlnsim figures`` and ``dlnsim validate-backend``."""

from __future__ import annotations

import sys

from dlnsim.cli.args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    count,
    failures,
    interrupted,
    path,
)

# dlnsim.plots.FIGURES and FORMATS, named here so that building the parser does not import
# matplotlib (tests/test_cli.py checks that they are the registry's)
FIGURE_NAMES = ("fig1", "fig2", "fig3", "fig4", "fig5", "gn_norm", "other_rules", "depth2_wide",
                "phase_diagram", "lazy_rich")
FIGURE_FORMATS = ("png", "pdf", "svg")


def add(sub, common) -> None:
    f = sub.add_parser("figures", parents=[common], help="draw the papers' figures")
    f.add_argument("--out", default="figures", type=path,
                   help="output folder (default figures/)")
    f.add_argument("--only", default=None, metavar="NAME",
                   help="one figure: " + ", ".join(FIGURE_NAMES[:-1]) + " or "
                        + FIGURE_NAMES[-1])
    f.add_argument("--format", choices=FIGURE_FORMATS, default="png",
                   help="the files' format (default png)")
    f.add_argument("--workers", type=count("a positive integer", 1), default=None,
                   metavar="N", help="worker processes drawing figures side by side, one BLAS "
                                     "thread each (default: the CPUs this process may use)")
    f.set_defaults(run=run_figures)
    b = sub.add_parser("validate-backend", parents=[common],
                       help="run a fixed set of cases on numpy and on torch and compare them")
    b.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    b.add_argument("--json", default=None, metavar="PATH", type=path,
                   help="also write the results as JSON")
    b.add_argument("--quick", action="store_true",
                   help="one depth per rule instead of all four (about 4x faster)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(run=run_validate_backend)


def run_validate_backend(a) -> int:
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
    failed = failures(results, "case")
    worst = max((r.deviation for r in results), default=0.0)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed; max deviation "
          f"{worst:.2e} (tolerance {backend.TOLERANCE:.0e}) in "
          f"{sum(r.seconds for r in results):.1f} s")
    if a.json:
        backend.write_json(results, a.json, a.device)
    if results.interrupted:
        return interrupted(results, "cases")
    return EXIT_FAILED if failed else EXIT_OK


def run_figures(a) -> int:
    from dlnsim import plots
    from dlnsim._io import check_output_folder

    if a.only is not None and a.only not in plots.FIGURES:
        raise ValueError(f"--only must be one of {sorted(plots.FIGURES)}, got {a.only!r}")
    check_output_folder(a.out, "--out")
    written = []
    try:
        for path in plots.write_figures(a.out, a.only, a.format, written=written,
                                        workers=a.workers):
            print(f"wrote {path}")
    except KeyboardInterrupt:
        print(f"dlnsim: interrupted after writing {len(written)} figure(s) to {a.out}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
