"""The notebooks run top to bottom, check their own claims and show their figures."""

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_notebook_is_titled_with_its_number():
    for path in NOTEBOOKS:
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "markdown" and first.source.startswith(
            f"# {path.stem[:2]} "), f"{path.name}: {first.source.splitlines()[0]!r}"


def test_the_readme_lists_every_notebook_and_each_checks_itself():
    """Every notebook is named in the README, and has asserts of its own (a notebook that only
    prints could not fail)."""
    readme = (ROOT / "README.md").read_text()
    assert len(NOTEBOOKS) >= 5
    for path in NOTEBOOKS:
        assert path.stem in readme, path.name
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                         if c.cell_type == "code")
        assert re.search(r"^\s*assert ", code, flags=re.M), f"{path.name} checks nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_shows_its_figures(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "outputs must be stripped in git"
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # no red warning from the progress bar (tqdm.auto without ipywidgets: "IProgress not
    # found"); dlnsim picks tqdm's text bar where the widget cannot show
    streams = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "IProgress" not in streams and "TqdmWarning" not in streams
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    keep = os.environ.get("DLNSIM_EXECUTED_NOTEBOOKS")
    if keep:  # .ci/run hands the executed notebooks to the docs build (each runs once)
        os.makedirs(keep, exist_ok=True)
        nbformat.write(nb, os.path.join(keep, path.name))
