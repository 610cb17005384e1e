"""``dlnsim portrait``: the phase portrait of any rule at any depth, as an image file."""

from __future__ import annotations

import sys

from dlnsim.cli.args import (
    EXIT_FAILED,
    EXIT_OK,
    add_rule_flags,
    count,
    indices,
    number,
    numbers,
    path,
    rule_from_flags,
)


def add(sub, common) -> None:
    p = sub.add_parser(
        "portrait", parents=[common],
        help="draw the phase portrait of a rule's singular-mode dynamics",
        description="Phase portrait of the singular-mode dynamics of the rule the flags name "
                    "(ngd(q, damping, block) -> clip -> weight decay, with L2 before): one "
                    "mode's two layers (default), or two modes' map strengths (--modes). "
                    "Example: dlnsim portrait --q 3 --depth 3 --weight-decay 1e-3 --out p.png")
    add_rule_flags(p)
    p.add_argument("--depth", type=count("an integer >= 1", 1), default=2,
                   help="network depth d (default 2)")
    p.add_argument("--layers", type=indices("two different layer indices i,j >= 0"),
                   default=(0, 1), help="the two layers on the axes (default 0,1)")
    p.add_argument("--modes", type=indices("two different mode indices i,j >= 0"),
                   default=None, help="plot two modes' map strengths instead (e.g. 0,1)")
    p.add_argument("--target", type=numbers("comma-separated finite numbers"),
                   default=(1.0,), help="s* of the mode, or of each mode (default 1)")
    p.add_argument("--start", type=numbers("comma-separated finite numbers"),
                   action="append", default=None,
                   help="a trajectory's start (repeatable): a plane point, or d strengths")
    p.add_argument("--t-end", type=number("a number > 0", 0.0, strict=True), default=12.0,
                   help="duration of each trajectory (default 12)")
    p.add_argument("--lr", type=number("a number > 0", 0.0, strict=True), default=1.0,
                   help="learning rate (default 1)")
    p.add_argument("--lim", type=number("a number > 0", 0.0, strict=True), default=2.0,
                   help="half-width of the plotted box (default 2)")
    p.add_argument("--streamlines", action="store_true", help="streamlines instead of arrows")
    p.add_argument("--out", default="portrait.png", type=path,
                   help="image file: .png (default portrait.png), .pdf or .svg")
    p.add_argument("--dpi", type=count("an integer from 10 to 2400", 10, 2400), default=150,
                   help="resolution of a .png (default 150; 2400 is beyond any printer)")
    p.add_argument("--data", default=None, type=path, metavar="PATH",
                   help="also write the plotted numbers (field samples, fixed points, "
                        "trajectories) as JSON")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(run=run)


def run(a) -> int:
    from dlnsim import plots
    from dlnsim._io import check_output_file, write_json

    plots.check_format(a.out, "--out")
    check_output_file(a.out, "--out")
    if a.data:
        check_output_file(a.data, "--data")
    target = a.target[0] if a.modes is None and len(a.target) == 1 else a.target
    if a.modes is None and len(a.target) != 1:
        raise ValueError("--target must be one number on a plane of layers (give --modes for "
                         "one target per mode)")
    try:
        pp = plots.phase_portrait(rule_from_flags(a), depth=a.depth, modes=a.modes,
                                  target=target, layers=a.layers, starts=a.start,
                                  t_end=a.t_end, lim=a.lim, lr=a.lr, streamlines=a.streamlines)
    except (ValueError, TypeError) as exc:  # name the flag, not the argument
        raise ValueError(_flag_names(str(exc))) from None
    plots.save(pp.ax.figure, a.out, dpi=a.dpi)
    if a.data:
        write_json({
            "rule": pp.rule.name, "depth": a.depth, "plane": pp.plane.kind,
            "axes": list(pp.plane.axes), "target": pp.plane.target.tolist(),
            "held": pp.plane.held.tolist(), "lr": a.lr,
            "points": pp.points.tolist(), "velocity": pp.velocity.tolist(),
            "fixed_points": pp.fixed_points.tolist(),
            "conserved": pp.law.label or None, "note": pp.law.note,
            "trajectories": [{"t": r.t.tolist(), "sigma": r.sigma.tolist(),
                              "status": int(r.status), "message": r.message}
                             for r in pp.trajectories],
        }, a.data)
    if not a.quiet:
        law = pp.law.label.strip("$") if pp.law.fn is not None else pp.law.note
        print(f"wrote {a.out}: {pp.rule.name}, d = {a.depth}, {pp.plane.kind} "
              f"{tuple(pp.plane.axes)}; {law}; {len(pp.fixed_points)} fixed point(s)"
              + (f"; data in {a.data}" if a.data else ""))
    stopped = [(k, r) for k, r in enumerate(pp.trajectories) if int(r.status) != 0]
    for k, r in stopped:  # a trajectory cut short is drawn short: say so, and why
        start = ", ".join(f"{x:g}" for x in r.sigma[0].ravel())
        print(f"dlnsim: trajectory {k + 1} (from {start}) stopped at t = {r.t[-1]:g} of "
              f"{a.t_end:g}: {r.message}", file=sys.stderr)
    return EXIT_FAILED if stopped and len(stopped) == len(pp.trajectories) else EXIT_OK


def _flag_names(message: str) -> str:
    for arg, flag in (("start[", "--start["), ("starts", "--start"), ("t_end", "--t-end"),
                      ("layers", "--layers"), ("modes", "--modes"), ("target", "--target"),
                      ("depth", "--depth")):
        if message.startswith(arg):
            return flag + message[len(arg):]
    return message
