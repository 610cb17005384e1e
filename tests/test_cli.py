"""The command line: a demo run, saved trajectories, one-line usage errors with exit 2."""

import subprocess
import sys

import pytest

from dlnsim import Trajectory
from dlnsim.cli import main


def test_simulate_demo_runs_and_saves(tmp_path, capsys):
    out = tmp_path / "demo.npz"
    rc = main(["simulate", "--widths", "4,4,4", "--t-end", "5", "--points", "3", "--quiet",
               "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "status 0" in text and "ngd(q=2)" in text
    traj = Trajectory.load(out)
    assert traj.t.tolist() == [0.0, 2.5, 5.0]
    assert traj.loss[-1] < traj.loss[0]


def test_simulate_gd_discrete(capsys):
    rc = main(["simulate", "--widths", "3,3", "--q", "inf", "--method", "discrete",
               "--lr", "0.1", "--t-end", "10", "--quiet"])
    assert rc == 0
    assert "rule: gd" in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["simulate", "--q", "0.5"], "q must be >= 1"),
    (["simulate", "--widths", "4,x"], "widths must be comma-separated"),
    (["simulate", "--widths", "4"], "at least two"),
    (["simulate", "--lr", "-1"], "lr must be"),
    (["simulate", "--bogus"], "unrecognized arguments"),
    ([], "missing command"),
])
def test_usage_errors_print_one_line_and_exit_2(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "dlnsim", "simulate", "--q", "0"],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("dlnsim: error:")


def test_diverging_run_exits_1(capsys):
    rc = main(["simulate", "--widths", "3,3", "--q", "inf", "--method", "discrete",
               "--lr", "100", "--t-end", "50", "--quiet", "--scale", "1"])
    assert rc == 1
    assert "diverged" in capsys.readouterr().out
