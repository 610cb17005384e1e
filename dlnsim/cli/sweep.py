"""``dlnsim sweep SPEC --out DIR`` (run a grid), ``dlnsim sweep status DIR`` (count its
chunks), ``dlnsim sweep plot DIR`` (the half-max-time phase diagram of a (depth, q) grid)."""

from __future__ import annotations

import sys

from dlnsim.cli.args import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, count, number, path

DESCRIPTION = """Run a grid of full-matrix runs named by a TOML spec (see the README's sweep
section), resumable and on several processes or a dask cluster; or `dlnsim sweep status DIR`;
or `dlnsim sweep plot DIR [--figure FILE]`."""


def add(sub, common) -> None:
    p = sub.add_parser("sweep", parents=[common], help="run a grid of runs (TOML spec)",
                       description=DESCRIPTION)
    p.add_argument("spec", type=path, metavar="SPEC|status|plot",
                   help="the spec file, or 'status' / 'plot' followed by the sweep's folder")
    p.add_argument("folder", nargs="?", default=None, type=path, metavar="DIR",
                   help="the sweep's folder (after 'status' or 'plot')")
    p.add_argument("--out", default=None, type=path, metavar="DIR",
                   help="the sweep's folder (created if missing, with its parents; must be "
                        "empty, or hold this spec's sweep with --resume)")
    p.add_argument("--resume", action="store_true",
                   help="run only the chunks not yet finished (failed ones again)")
    p.add_argument("--dry-run", action="store_true",
                   help="print members, chunks, memory and a time estimate from a pilot run")
    p.add_argument("--workers", type=count("an integer >= 1", 1), default=None,
                   help="local worker processes (default: every CPU this process may use)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="run on this dask.distributed scheduler's workers")
    p.add_argument("--scheduler-file", default=None, type=path, metavar="PATH",
                   help="run on the dask.distributed scheduler this file names")
    p.add_argument("--device", default=None, metavar="cuda|cpu",
                   help="run every chunk in this process on torch tensors on this device")
    p.add_argument("--figure", default=None, type=path, metavar="FILE",
                   help="with 'plot': the image to write (default DIR/phase_diagram.png)")
    p.add_argument("--max-memory", type=number("a number of GiB > 0", 0.0, strict=True),
                   default=2.0, help="refuse a sweep whose largest chunk or Dataset would "
                   "take more (GiB, default 2)")
    p.add_argument("--max-hours", type=number("a number of hours > 0", 0.0, strict=True),
                   default=24.0, help="with --dry-run: exit 1 when the estimate is longer "
                   "(default 24)")
    p.add_argument("--yes", action="store_true",
                   help="run (or pass the dry run) above --max-memory / --max-hours")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(a) -> int:
    if a.spec in ("status", "plot"):
        if a.folder is None:
            raise ValueError(f"dlnsim sweep {a.spec} needs the sweep's folder: dlnsim sweep "
                             f"{a.spec} DIR")
        return _status(a) if a.spec == "status" else _plot(a)
    if a.folder is not None:
        raise ValueError(f"unexpected argument {a.folder!r}: give the folder with --out")
    if a.figure is not None:
        raise ValueError("--figure goes with 'dlnsim sweep plot DIR'")
    from dlnsim import sweep

    spec = sweep.read(a.spec)
    max_memory = a.max_memory * 2**30
    if a.dry_run:
        d = sweep.dry_run(spec, a.workers)
        print(f"{d['members']} members in {d['chunks']} chunks on {d['workers']} workers; the "
              f"largest chunk holds about {d['chunk_memory_bytes'] / 2**20:.1f} MiB of "
              f"results, the Dataset about {d['dataset_bytes'] / 2**20:.1f} MiB; estimated "
              f"{d['estimated_seconds']:.1f} s (from one member of each shape run here"
              + (", extrapolated from its progress in its first seconds)" if d["extrapolated"]
                 else ")"))
        over = [what for what, big in (
            (f"memory above --max-memory {a.max_memory:g} GiB",
             max(d["chunk_memory_bytes"], d["dataset_bytes"]) > max_memory),
            (f"time above --max-hours {a.max_hours:g}",
             d["estimated_seconds"] > a.max_hours * 3600)) if big]
        if over and not a.yes:
            print(f"dlnsim: this sweep would be refused: {' and '.join(over)}; shrink it, "
                  "or pass --yes", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    if a.out is None:
        raise ValueError("--out DIR is required (the sweep's folder)")
    try:
        ds = sweep.run(spec, a.out, workers=a.workers, resume=a.resume, device=a.device,
                       quiet=a.quiet, scheduler=a.scheduler, scheduler_file=a.scheduler_file,
                       max_memory=max_memory, yes=a.yes)
    except sweep.SweepInterrupted as exc:
        print(f"dlnsim: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    st = sweep.status(a.out)
    bad = int((ds.status.values != 0).sum())
    print(f"wrote {a.out}/sweep.nc: {st['members']} members, {st['done']} of {st['chunks']} "
          f"chunks done, {st['failed']} failed; {bad} member(s) did not reach the end")
    for c, err in sorted(sweep.store.failures(a.out).items()):
        print(f"FAIL chunk {c}: {err.splitlines()[-1] if err else ''}")
    return EXIT_FAILED if st["failed"] or bad else EXIT_OK


def _status(a) -> int:
    from dlnsim import sweep

    st = sweep.status(a.folder)
    print(f"{a.folder}: {st['members']} members in {st['chunks']} chunks: {st['done']} done, "
          f"{st['failed']} failed, {st['corrupt']} corrupt, {st['missing']} missing"
          + (" (--resume re-runs the corrupt ones)" if st["corrupt"] else ""))
    return EXIT_OK if st["done"] == st["chunks"] else EXIT_FAILED


def _plot(a) -> int:
    import os

    from dlnsim import plots, sweep
    from dlnsim._io import check_output_file

    out = a.figure or os.path.join(a.folder, "phase_diagram.png")
    check_output_file(out, "--figure")
    plots.check_format(out, "--figure")  # before anything is computed
    if sweep.store.read_meta(a.folder) is None:
        raise ValueError(f"{a.folder!r} holds no sweep (no sweep.json): give the folder a "
                         "sweep wrote (dlnsim sweep SPEC --out DIR)")
    fig = plots.phase_diagram(sweep.load(a.folder))
    plots.save(fig, out)
    print(f"wrote {out}")
    return EXIT_OK
