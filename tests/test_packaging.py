"""The wheel and the sdist ship every module, and an installed wheel works outside the checkout.

An editable install once hid a wheel that could not even be imported (``packages = ["dlnsim"]``
left out ``dlnsim/verify/`` and ``dlnsim/backends/``). These tests build from a copy of the
tracked sources, so nothing in the checkout (build/, *.egg-info) can stand in for the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules_in_tree() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "dlnsim").rglob("*.py")}


def _copy_sources(dest: Path) -> Path:
    """The files a build reads, copied without caches or build leftovers."""
    src = dest / "src"
    shutil.copytree(ROOT / "dlnsim", src / "dlnsim",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    return src


def _run(cmd: list[str], cwd: Path) -> None:
    """Run ``cmd``; on failure, fail the test with its stdout and stderr (pip's reason)."""
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode:
        pytest.fail(f"{' '.join(cmd)} exited {res.returncode}\n--- stdout\n{res.stdout}"
                    f"\n--- stderr\n{res.stderr}")


def _pip(*args: str, cwd: Path) -> None:
    # no build isolation: CI must not need the network here; the test extra brings a
    # setuptools that meets [build-system] (a new venv's own 65.5 has no bdist_wheel)
    _run([sys.executable, "-m", "pip", *args, "--no-deps", "--no-build-isolation", "--quiet"],
         cwd)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """A wheel built from the sources and a second wheel built from the sdist."""
    tmp = tmp_path_factory.mktemp("build")
    src = _copy_sources(tmp)
    _pip("wheel", str(src), "-w", str(tmp / "wheel"), cwd=tmp)
    _run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
          "b.build_sdist(sys.argv[1])", str(tmp / "sdist")], src)
    sdist = next((tmp / "sdist").glob("dlnsim-*.tar.gz"))
    _pip("wheel", str(sdist), "-w", str(tmp / "from_sdist"), cwd=tmp)
    return {"wheel": next((tmp / "wheel").glob("*.whl")), "sdist": sdist,
            "from_sdist": next((tmp / "from_sdist").glob("*.whl"))}


@pytest.mark.parametrize("kind", ["wheel", "from_sdist"])
def test_wheel_holds_every_module_of_the_package(built, kind):
    with zipfile.ZipFile(built[kind]) as z:
        names = {n for n in z.namelist() if n.startswith("dlnsim/")}
    missing = _modules_in_tree() - names
    assert not missing, f"{built[kind].name} lacks {sorted(missing)}"


def test_sdist_holds_every_module_and_the_readme(built):
    with tarfile.open(built["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert _modules_in_tree() <= names
    assert {"README.md", "pyproject.toml"} <= names


def test_installed_wheel_imports_and_verifies_outside_the_checkout(built, tmp_path):
    target = tmp_path / "site"
    _pip("install", str(built["wheel"]), "--target", str(target), cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import dlnsim, sys; from dlnsim.cli import main; "
            "print(dlnsim.__file__); print(dlnsim.__version__); "
            "sys.exit(main(['verify', '--only', 'wd.lemma1', '--quiet']))")
    run = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    first, version = run.stdout.splitlines()[:2]
    assert Path(first).resolve().is_relative_to(target.resolve())  # the wheel, not the checkout
    from dlnsim._version import __version__
    assert version == __version__
    assert "1 passed, 0 failed" in run.stdout


def test_version_is_defined_once_and_printed_by_both_entry_points():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and "\nversion =" not in text.split("[tool")[0]
    from dlnsim._version import __version__
    script = Path(sys.executable).parent / "dlnsim"  # the console script of this environment
    cmds = [[sys.executable, "-m", "dlnsim", "--version"]]
    if script.exists():
        cmds.append([str(script), "--version"])
    for cmd in cmds:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        assert out.strip() == f"dlnsim {__version__}"


def test_the_citation_and_the_license_match_the_package():
    """CITATION.cff names this version and pyproject's license; LICENSE is that license."""
    import re

    from dlnsim import __version__

    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf'^version: "{re.escape(__version__)}"$', cff, flags=re.M), \
        "CITATION.cff's version is not dlnsim.__version__"
    license_ = re.search(r'^license = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(),
                         flags=re.M).group(1)
    assert re.search(rf"^license: {license_}$", cff, flags=re.M)
    assert (ROOT / "LICENSE").read_text().startswith(f"{license_} License")
