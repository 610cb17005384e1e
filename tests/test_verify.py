"""The claim registry, the theory/ catalogue and `dlnsim verify`."""

import json
import math
import re
from pathlib import Path

import pytest

from dlnsim import verify
from dlnsim.cli import main
from dlnsim.verify.registry import Claim, Outcome

ROOT = Path(__file__).resolve().parents[1]

# The huh.* and wd.* IDs of the claims catalogue in DESIGN.md (the contract).
DESIGN_IDS = {
    "huh.modes.reduction", "huh.paths.hyperbolic", "huh.speed", "huh.ngd.minnorm",
    "huh.conservation", "huh.map.exponent", "huh.map.closed_forms", "huh.table1",
    "huh.timescale", "huh.escape", "huh.deff", "huh.ngdd.mapdyn", "huh.ngdd.ratio",
    "huh.ngdd.speed", "huh.sqrtngdd.difference", "huh.qngdd.general", "huh.blockdiag.breaks",
    "huh.teacher.signal_first", "huh.teacher.balance",
    "wd.lemma1", "wd.lemma2", "wd.thm1", "wd.gradient", "wd.l2_vs_decay",
    "wd.imbalance_decay", "wd.kfac_jacobian",
}


def theory_ids() -> set[str]:
    ids = set()
    for md in (ROOT / "theory").glob("*.md"):
        ids |= set(re.findall(r"^### `([a-z0-9_.]+)`", md.read_text(), flags=re.M))
    return ids


def test_theory_catalogue_and_registry_hold_the_same_ids():
    assert theory_ids() == set(verify.REGISTRY)


def test_every_huh_and_wd_claim_of_the_design_is_registered():
    assert DESIGN_IDS <= set(verify.REGISTRY)


def test_design_md_ids_when_available():
    design = ROOT.parent / "shared" / "DESIGN.md"
    if not design.exists():
        pytest.skip("../shared/DESIGN.md is not beside this checkout")
    text = design.read_text()
    found = set(re.findall(r"`((?:huh|wd)\.[a-z0-9_.]+)`", text))
    assert found == DESIGN_IDS


def test_every_claim_passes_and_reports_its_numbers():
    results = verify.run()
    assert not results.interrupted and len(results) == results.total == len(verify.REGISTRY)
    failed = [(r.id, r.details) for r in results if not r.passed]
    assert not failed
    for r in results:
        # each passing claim reports a measured, finite error at or under its tolerance
        assert math.isfinite(r.error) and 0 <= r.error <= r.tolerance, (r.id, r.error)
        assert r.seconds >= 0 and r.source and r.statement and r.details


def test_a_claim_that_misses_its_tolerance_or_raises_fails():
    bad = Claim("x.bad", "nowhere", "s", 1e-9, lambda: Outcome(1e-3, "off"))
    assert not bad.run().passed
    boom = Claim("x.boom", "nowhere", "s", 1e-9, lambda: 1 / 0)
    r = boom.run()
    assert not r.passed and "ZeroDivisionError" in r.details and math.isinf(r.error)
    nan = Claim("x.nan", "nowhere", "s", 1.0, lambda: Outcome(float("nan"), ""))
    assert not nan.run().passed


def test_cli_verify_table_json_and_exit_codes(tmp_path, capsys):
    out = tmp_path / "v.json"
    assert main(["verify", "--only", "wd.lemma*", "--json", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "wd.lemma1" in text and "wd.lemma2" in text and "2 passed, 0 failed" in text
    rows = json.loads(out.read_text())
    assert [r["id"] for r in rows] == ["wd.lemma1", "wd.lemma2"]
    for r in rows:
        assert {"id", "source", "statement", "passed", "error", "tolerance", "seconds"} <= set(r)
    assert main(["verify", "--only", "nothing.*"]) == 2
    assert "matches no claim" in capsys.readouterr().err


def test_cli_verify_exits_1_when_a_claim_fails(monkeypatch, capsys):
    failing = Claim("x.fail", "nowhere", "s", 0.0, lambda: Outcome(1.0, "measured 1"))
    monkeypatch.setitem(verify.REGISTRY, "x.fail", failing)
    assert main(["verify", "--only", "x.fail", "--quiet"]) == 1
    assert "FAIL x.fail: measured 1" in capsys.readouterr().out
