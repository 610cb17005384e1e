"""``dlnsim verify``: the claims of the catalogue (and the user's own), ``--mutants`` and
``--coverage``."""

from __future__ import annotations

from dlnsim.cli.args import EXIT_FAILED, EXIT_OK, count, failures, interrupted, number, path


def add(sub, common) -> None:
    v = sub.add_parser("verify", parents=[common],
                       help="check every claim of the catalogue against numerics")
    v.add_argument("--only", default=None, metavar="GLOB",
                   help="run only claims whose ID matches GLOB (e.g. 'huh.map.*')")
    v.add_argument("--json", default=None, metavar="PATH", type=path,
                   help="also write the results as JSON")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.add_argument("--workers", type=count("a positive integer", 1), default=None,
                   metavar="N", help="worker processes, one BLAS thread each (default: the "
                                     "CPUs this process may use; 1: all in this process)")
    v.add_argument("--timeout", type=number("a number of seconds > 0", 0.0, strict=True),
                   default=None, metavar="SECONDS",
                   help="fail a claim that runs longer than this, saying so (default: none)")
    v.add_argument("--claims", action="append", default=[], type=path,
                   metavar="PATH_OR_MODULE",
                   help="also run the @claim functions of this file or module (repeatable)")
    v.add_argument("--no-builtin", action="store_true",
                   help="run only the claims of --claims and of installed packages")
    v.add_argument("--no-entry-points", action="store_true",
                   help="do not load the claims that installed packages register "
                        "(entry-point group dlnsim.claims)")
    v.add_argument("--mutants", action="store_true",
                   help="run every claim under every known bug (dlnsim/verify/mutants.py) and "
                        "print which claims catch which (a few minutes)")
    v.add_argument("--coverage", action="store_true",
                   help="list, for every path a rule can take (dlnsim/verify/coverage.py), "
                        "the claims that run it; exit 1 if one is run by none")
    v.set_defaults(run=run)


def _coverage(a) -> int:
    """The paths-by-claims table: which claims run each path of a rule."""
    from dlnsim import verify
    from dlnsim._io import write_json
    from dlnsim.verify import coverage

    claims = verify.select(a.only, builtin=not a.no_builtin)
    table = coverage.reach(claims, workers=a.workers, quiet=a.quiet)
    width = max(len(p.name) for p in coverage.PROBES)
    for p in coverage.PROBES:
        ids = table[p.name]
        shown = ", ".join(ids[:3]) + (f" (+{len(ids) - 3})" if len(ids) > 3 else "")
        print(f"{p.name:<{width}}  {len(ids):>2}  {shown or 'NONE: ' + p.what}")
    missing = coverage.unreached(table)
    print(f"{len(table) - len(missing)} of {len(table)} paths run by at least one claim"
          + (f"; run by none: {', '.join(missing)}" if missing else ""))
    if a.json:
        write_json({"paths": [{"name": p.name, "what": p.what, "where": p.where,
                               "claims": table[p.name]} for p in coverage.PROBES]}, a.json)
    return EXIT_FAILED if missing else EXIT_OK


def _mutants(a) -> int:
    """The claims-by-mutants matrix: x where a claim fails under a planted bug."""
    from dlnsim import verify
    from dlnsim._io import write_json
    from dlnsim.verify import mutants

    claims = verify.select(a.only, builtin=not a.no_builtin)
    caught = mutants.matrix(claims, quiet=a.quiet, workers=a.workers,
                            threads_per_worker=getattr(a, "threads", None), timeout=a.timeout)
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


def run(a) -> int:
    from dlnsim import verify
    from dlnsim._io import check_output_file

    if a.json:
        check_output_file(a.json, "--json")
    loaded = []
    try:
        if not a.no_entry_points:
            loaded += verify.load_entry_points()
        for source in a.claims:
            loaded += verify.load(source, label="--claims")
        if a.no_builtin and not loaded:
            raise ValueError("--no-builtin leaves no claims: give --claims PATH_OR_MODULE")
        if a.mutants and a.coverage:
            raise ValueError("--mutants and --coverage are separate runs: give one")
        return _mutants(a) if a.mutants else _coverage(a) if a.coverage else _verify(a)
    finally:  # the process may go on (main() called in-process): leave the registry as found
        verify.unload(loaded)


def _progress_line(r, finished: int, total: int) -> None:
    """Where no bar shows (output to a file or a pipe): one line per finished claim."""
    print(f"[{finished}/{total}] {r.id}: {'pass' if r.passed else 'FAIL'} "
          f"({r.seconds:.1f} s)", flush=True)


def _verify(a) -> int:
    import sys

    from dlnsim import verify

    lines = None if a.quiet or sys.stdout.isatty() else _progress_line
    results = verify.run(a.only, quiet=a.quiet, builtin=not a.no_builtin, workers=a.workers,
                         threads_per_worker=getattr(a, "threads", None), timeout=a.timeout,
                         on_result=lines)
    if results:
        width = max(len(r.id) for r in results)
        src = min(max(len(r.source) for r in results), 48)
        print(f"{'claim':<{width}}  {'source':<{src}}  {'result':<6}  {'error':>9}  "
              f"{'tolerance':>9}  {'seconds':>7}")
        for r in results:
            source = r.source if len(r.source) <= src else r.source[:src - 3] + "..."
            print(f"{r.id:<{width}}  {source:<{src}}  {'pass' if r.passed else 'FAIL':<6}  "
                  f"{r.error:9.2e}  {r.tolerance:9.1e}  {r.seconds:7.2f}")
    failed = failures(results, "id")
    total = sum(r.seconds for r in results)
    how = f" ({results.workers} workers, {total:.1f} s of checks)" if results.workers > 1 \
        else ""
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed in {results.wall:.1f} s"
          + how)
    if a.json:
        verify.write_json(results, a.json)
    if results.interrupted:
        return interrupted(results, "claims")
    return EXIT_FAILED if failed else EXIT_OK
