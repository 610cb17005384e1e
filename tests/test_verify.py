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
    # in this process, so that coverage sees the code the claims run (workers are tested in
    # test_verify_runner.py, and give the same numbers)
    results = verify.run(workers=1)
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


# -- the catalogue has teeth: every known bug is caught by the claim that names it -------------
from dlnsim.verify import mutants as M  # noqa: E402


@pytest.mark.parametrize("mutant", M.MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught_by_the_claims_that_name_its_mechanism(mutant):
    assert mutant.catches and all(c in verify.REGISTRY for c in mutant.catches)
    with M.applied(mutant):
        results = {c: verify.REGISTRY[c].run() for c in mutant.catches}
    escaped = [c for c, r in results.items() if r.passed]
    assert not escaped, f"{mutant.name} escapes {escaped}"
    # and the patch is undone: the claims pass again (the teacher-student claims take
    # 5-17 s each; test_every_claim_passes_and_reports_its_numbers runs them unpatched)
    again = [c for c in mutant.catches if not c.startswith("huh.teacher")]
    assert all(verify.REGISTRY[c].run().passed for c in again)


def test_cli_mutants_prints_the_matrix(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["verify", "--mutants", "--only", "huh.ngd*", "--quiet", "--json", str(out)]) \
        in (0, 1)
    text = capsys.readouterr().out
    assert "mutants (columns)" in text and "huh.ngd.dense" in text
    rows = json.loads(out.read_text())["mutants"]
    by = {r["name"]: r["caught_by"] for r in rows}
    assert "huh.ngd.dense" in by["kernel.drop_R"] and "huh.ngdd.dense" in by[
        "block_factors.drop_S"]


def test_theory_names_for_every_claim_the_mutants_it_catches():
    """Every claim's section has a Catches line, and it names each mutant for which the
    catalogue lists that claim as a catcher."""
    sections = {}
    for md in (ROOT / "theory").glob("*.md"):
        text = md.read_text()
        for m in re.finditer(r"^### `([a-z0-9_.]+)`(.*?)(?=^### `|\Z)", text, flags=re.M | re.S):
            sections[m.group(1)] = m.group(2)
    assert set(sections) == set(verify.REGISTRY)
    for cid, body in sections.items():
        assert "- **Catches.**" in body, cid
    for mutant in M.MUTANTS:
        for cid in mutant.catches:
            line = sections[cid][sections[cid].index("- **Catches.**"):]
            assert f"`{mutant.name}`" in line.split("\n- ")[0], (cid, mutant.name)


def test_every_path_a_rule_can_take_is_run_by_a_claim():
    """dlnsim verify --coverage: each probe (an NGD path, a K-FAC setting, a noise kind, a
    solver, ...) is met by at least one claim of the catalogue."""
    from dlnsim.verify import coverage

    table = coverage.reach(workers=2)
    assert list(table) == [p.name for p in coverage.PROBES]
    assert coverage.unreached(table) == []
    # probes that decide by an argument tell the cases apart: damped and undamped K-FAC
    assert "wd.kfac_jacobian" in table["kfac.undamped"]
    assert "wd.kfac_jacobian" not in table["kfac.damped"]


def test_coverage_names_the_paths_no_claim_runs(capsys):
    """With one claim selected, the report names what it leaves unrun and exits 1."""
    from dlnsim.verify import coverage

    table = coverage.reach(verify.select("wd.lemma1"), workers=1)
    assert table["ngd.krylov"] == [] and "ngd.krylov" in coverage.unreached(table)
    assert main(["verify", "--coverage", "--only", "huh.ngd.dense", "--quiet",
                 "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert "ngd.balanced.damped" in out and "run by none: " in out and "ngd.krylov" in out
    assert main(["verify", "--coverage", "--mutants", "--quiet"]) == 2


def test_a_recording_inside_a_recording_reaches_both():
    """A claim that records its own path (huh.ngd.krylov) still shows in the outer report."""
    import numpy as np

    from dlnsim import Network, Task, rules
    from dlnsim.verify import coverage

    net, task = Network.random((3, 4, 3), seed=0), Task(target=np.eye(3))
    inner = []
    outer = coverage.record(lambda: inner.append(coverage.record(
        lambda: rules.ngd(2.0).velocity(net, task))))
    assert inner[0] == outer == {"ngd.depth2.whitened"}


def test_verify_to_a_file_reports_each_claim_as_it_finishes(capsys):
    """stdout is not a terminal (a file, a pipe, this test): one line per finished claim, so
    a long run shows progress; --quiet leaves only the table."""
    assert main(["verify", "--only", "hcgd.*", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    n = len(verify.select("hcgd.*"))
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == n and lines[-1].startswith(f"[{n}/{n}] ") and ": pass (" in lines[0]
    assert main(["verify", "--only", "hcgd.*", "--workers", "1", "--quiet"]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]


def test_the_readme_shows_every_claim_in_the_order_verify_prints_them():
    """The README's verify output lists the catalogue's claims, in catalogue order, each with
    its tolerance: regenerate it (dlnsim verify --quiet) when the catalogue changes."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```\n(claim +source .*?)```", text, flags=re.S).group(1).splitlines()
    rows = [line.split() for line in block[1:] if line and not line[0].isdigit()]
    assert [r[0] for r in rows] == [c.id for c in verify.select(None)]
    for r in rows:
        assert float(r[-2]) == pytest.approx(verify.REGISTRY[r[0]].tolerance, rel=0.06)
