"""Users' own claims through dlnsim verify: a file, a module, an installed package's entry
point; and a bad file, a duplicate ID, a check that raises, each reported in one line."""

import json
import textwrap

import pytest

from dlnsim import verify
from dlnsim.cli import main

GOOD = '''
import numpy as np
from dlnsim import modes
from dlnsim.verify import Outcome, claim


@claim("{prefix}.ratio", "my notes, eq 3", "NGD-d conserves sigma_1 / sigma_2 at depth 3", 1e-9)
def ratio():
    run = modes.simulate([[0.3, 0.5, 0.7]], [1.0], np.linspace(0, 5, 11), q=1,
                         block_diagonal=True)
    r = run.sigma[:, 0, 0] / run.sigma[:, 0, 1]
    return Outcome(float(np.abs(r - r[0]).max() / abs(r[0])), "relative drift")


@claim("{prefix}.difference", "my notes, eq 4", "NGD-d conserves |s1| - |s2| (false)", 1e-9)
def difference():
    run = modes.simulate([[0.3, 0.5, 0.7]], [1.0], np.linspace(0, 5, 11), q=1,
                         block_diagonal=True)
    r = run.sigma[:, 0, 0] - run.sigma[:, 0, 1]
    return Outcome(float(np.abs(r - r[0]).max()), "drift of |s1| - |s2|")
'''


def _write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(autouse=True)
def _registry_is_left_as_found():
    before = dict(verify.REGISTRY)
    yield
    assert verify.REGISTRY == before


def test_a_claims_file_runs_beside_the_catalogue_and_a_failing_claim_exits_1(tmp_path, capsys):
    path = _write(tmp_path, "mine.py", GOOD.format(prefix="mine"))
    out_json = tmp_path / "r.json"
    rc, out, _ = _run(["verify", "--claims", str(path), "--only", "mine.*", "--quiet",
                       "--json", str(out_json)], capsys)
    assert rc == 1
    assert "mine.ratio" in out and "mine.difference" in out
    assert f"FAIL mine.difference: drift of |s1| - |s2| [claim at {path}:" in out
    rows = {r["id"]: r for r in json.loads(out_json.read_text())}
    assert rows["mine.ratio"]["passed"] and rows["mine.ratio"]["error"] < 1e-12
    assert not rows["mine.difference"]["passed"] and rows["mine.difference"]["error"] > 0.1
    assert rows["mine.ratio"]["origin"] == f"{path}:7"


def test_no_builtin_runs_only_the_users_claims(tmp_path, capsys):
    one = GOOD.split('\n\n@claim("{prefix}.difference"')[0]  # the true claim alone
    path = _write(tmp_path, "mine.py", one.format(prefix="mine"))
    rc, out, _ = _run(["verify", "--claims", str(path), "--no-builtin", "--quiet"], capsys)
    assert rc == 0 and "1 passed, 0 failed" in out and "huh." not in out


def test_a_claims_module_on_the_path(tmp_path, monkeypatch, capsys):
    _write(tmp_path, "my_dln_claims.py", GOOD.format(prefix="mod"))
    monkeypatch.syspath_prepend(str(tmp_path))
    rc, out, _ = _run(["verify", "--claims", "my_dln_claims", "--no-builtin", "--quiet"],
                      capsys)
    assert rc == 1 and "1 passed, 1 failed" in out
    # loading it again (a second call in the same process) registers it again
    rc, out, _ = _run(["verify", "--claims", "my_dln_claims", "--no-builtin", "--quiet"],
                      capsys)
    assert rc == 1 and "1 passed, 1 failed" in out


def test_an_installed_packages_entry_point_is_loaded(tmp_path, monkeypatch, capsys):
    """A real distribution on sys.path (dist-info with entry_points.txt), found by
    importlib.metadata as pip-installed packages are."""
    _write(tmp_path, "dln_plugin_claims.py", GOOD.format(prefix="plugin"))
    info = tmp_path / "dln_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dln-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[dlnsim.claims]\nmine = dln_plugin_claims\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ("mine", "dln_plugin_claims") in verify.entry_point_sources()
    rc, out, _ = _run(["verify", "--no-builtin", "--quiet"], capsys)
    assert rc == 1 and "plugin.ratio" in out and "plugin.difference" in out
    rc, out, _ = _run(["verify", "--no-entry-points", "--only", "plugin.*", "--quiet"], capsys)
    assert rc == 2  # without the entry point, nothing matches


@pytest.mark.parametrize("text, line, what", [
    ("x = (\n", 1, "SyntaxError"),
    ("import numpy\n\n1 / 0\n", 3, "ZeroDivisionError: division by zero"),
    ("from dlnsim.verify import claim\n\n\n@claim('wd.lemma1', 's', 'st', 1.0)\n"
     "def f():\n    pass\n", 4, "claim 'wd.lemma1' at"),
])
def test_a_bad_claims_file_is_one_line_naming_file_and_line(tmp_path, capsys, text, line,
                                                              what):
    path = _write(tmp_path, "bad.py", text)
    rc, out, err = _run(["verify", "--claims", str(path), "--quiet"], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"dlnsim: error: --claims {path}: {path}:{line}: ") and what in err


def test_a_duplicate_id_between_two_user_files_names_both(tmp_path, capsys):
    a = _write(tmp_path, "a.py", GOOD.format(prefix="dup"))
    b = _write(tmp_path, "b.py", GOOD.format(prefix="dup"))
    rc, _, err = _run(["verify", "--claims", str(a), "--claims", str(b), "--quiet"], capsys)
    assert rc == 2 and f"claim 'dup.ratio' at {b}:7 is already registered at {a}:7" in err


def test_a_check_that_raises_is_a_failed_claim_with_its_line(tmp_path, capsys):
    path = _write(tmp_path, "boom.py", """
        from dlnsim.verify import claim


        @claim("boom.key", "nowhere", "raises", 1.0)
        def boom():
            table = {}
            return table["missing"]
    """)
    rc, out, _ = _run(["verify", "--claims", str(path), "--no-builtin", "--quiet"], capsys)
    assert rc == 1
    assert f"FAIL boom.key: check raised KeyError: 'missing' (at {path}:8)" in out


def test_missing_sources_and_empty_selections_are_usage_errors(tmp_path, capsys):
    rc, _, err = _run(["verify", "--claims", str(tmp_path / "nope.py")], capsys)
    assert rc == 2 and "no such file" in err
    rc, _, err = _run(["verify", "--claims", "no_such_module_xyz"], capsys)
    assert rc == 2 and "no such file or module" in err
    rc, _, err = _run(["verify", "--no-builtin", "--no-entry-points"], capsys)
    assert rc == 2 and "--no-builtin leaves no claims" in err


def test_load_and_unload_from_python(tmp_path):
    path = _write(tmp_path, "mine.py", GOOD.format(prefix="py"))
    loaded = verify.load(str(path))
    try:
        assert [c.id for c in loaded] == ["py.ratio", "py.difference"]
        assert not loaded[0].builtin and verify.REGISTRY["py.ratio"] is loaded[0]
        results = verify.run("py.*", builtin=False)
        assert [r.passed for r in results] == [True, False]
    finally:
        verify.unload(loaded)
    assert "py.ratio" not in verify.REGISTRY


def test_a_check_must_return_an_outcome(tmp_path):
    from dlnsim.verify.registry import Claim

    r = Claim("x.float", "s", "s", 1.0, lambda: 0.5).run()
    assert not r.passed and "must return dlnsim.verify.Outcome, got float" in r.details


HOSTILE = '''
import sys

import numpy as np
from dlnsim.verify import Outcome, claim


@claim("hostile.numpy_details", "s", "details hold numpy values", 1.0)
def numpy_details():
    return Outcome(np.float64(0.0), {"steps": np.int64(3), "errors": np.array([1e-3, 2e-3]),
                                     "ok": np.bool_(True)})


@claim("hostile.negative", "s", "a signed error below zero", 1.0)
def negative():
    return Outcome(-1.0, "signed")


@claim("hostile.nan", "s", "a NaN error", 1.0)
def nan():
    return Outcome(float("nan"), "measured nothing")


@claim("hostile.exits", "s", "calls sys.exit(0)", 1.0)
def exits():
    sys.exit(0)


@claim("hostile.text_error", "s", "a string error", 1.0)
def text_error():
    return Outcome("abc")


@claim("hostile.array_error", "s", "an array error", 1.0)
def array_error():
    return Outcome(np.array([0.1, 0.2]))


@claim("hostile.array_holds", "s", "an array holds", 1.0)
def array_holds():
    return Outcome(0.0, "", np.array([True, False]))


@claim("hostile.fine", "s", "an honest claim after the others", 1.0)
def fine():
    return Outcome(0.5, "fine")
'''


def test_hostile_checks_fail_alone_and_the_json_is_still_written(tmp_path, capsys):
    """numpy details are written as numbers and lists; a negative, NaN, string or array error,
    an array ``holds`` and a check that calls ``sys.exit(0)`` each fail that claim only, with a
    reason; the honest claim after them passes and ``--json`` holds all eight."""
    path = _write(tmp_path, "hostile.py", HOSTILE)
    out_json = tmp_path / "r.json"
    rc, out, err = _run(["verify", "--claims", str(path), "--no-builtin", "--quiet",
                         "--workers", "1", "--json", str(out_json)], capsys)
    assert rc == 1, err
    rows = {r["id"]: r for r in json.loads(out_json.read_text())}
    assert len(rows) == 8
    assert rows["hostile.numpy_details"]["passed"]
    assert rows["hostile.numpy_details"]["details"] == {"steps": 3, "errors": [1e-3, 2e-3],
                                                        "ok": True}
    assert rows["hostile.fine"]["passed"]
    reasons = {
        "hostile.negative": "Outcome.error must be >= 0",
        "hostile.nan": "the measured error is NaN; measured nothing",
        "hostile.exits": "check raised SystemExit: 0",
        "hostile.text_error": "Outcome.error must be a real number, got str",
        "hostile.array_error": "Outcome.error must be a real number, got ndarray",
        "hostile.array_holds": "Outcome.holds must be True or False, got ndarray",
    }
    for cid, why in reasons.items():
        assert not rows[cid]["passed"], cid
        assert why in str(rows[cid]["details"]), (cid, rows[cid]["details"])
        assert f"FAIL {cid}: " in out and why in out


def test_sys_exit_while_loading_a_claims_file_is_one_line(tmp_path, capsys):
    path = _write(tmp_path, "exits.py", "import sys\n\nsys.exit(0)\n")
    rc, out, err = _run(["verify", "--claims", str(path), "--quiet"], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert f"{path}:3: SystemExit: 0" in err


def test_two_checks_with_one_id_in_one_file_are_refused(tmp_path, capsys):
    path = _write(tmp_path, "twice.py", """
        from dlnsim.verify import Outcome, claim


        @claim("twice.same", "s", "first", 1.0)
        def check():
            return Outcome(0.0)


        @claim("twice.same", "s", "second", 1.0)
        def check():
            return Outcome(2.0)
    """)
    rc, _, err = _run(["verify", "--claims", str(path), "--quiet"], capsys)
    assert rc == 2 and f"claim 'twice.same' at {path}:10 is already registered at {path}:5" \
        in err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_claim_past_its_timeout_fails_alone_and_says_so(tmp_path, capsys, workers):
    """--timeout 0.5: a check that sleeps 30 s fails after about 0.5 s with the reason, in
    this process and in a worker alike; the quick claim beside it passes."""
    import time

    path = _write(tmp_path, "slow.py", """
        import time

        from dlnsim.verify import Outcome, claim


        @claim("slow.sleeps", "s", "sleeps", 1.0)
        def sleeps():
            time.sleep(30)
            return Outcome(0.0)


        @claim("slow.quick", "s", "quick", 1.0)
        def quick():
            return Outcome(0.0)
    """)
    out_json = tmp_path / "r.json"
    t0 = time.perf_counter()
    rc, out, _ = _run(["verify", "--claims", str(path), "--no-builtin", "--quiet", "--timeout",
                       "0.5", "--workers", workers, "--json", str(out_json)], capsys)
    assert time.perf_counter() - t0 < 20
    rows = {r["id"]: r for r in json.loads(out_json.read_text())}
    assert rc == 1 and rows["slow.quick"]["passed"] and not rows["slow.sleeps"]["passed"]
    assert "timed out after 0.5 s" in rows["slow.sleeps"]["details"]
    assert "FAIL slow.sleeps: timed out after 0.5 s" in out
