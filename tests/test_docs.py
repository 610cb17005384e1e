"""The documentation's inputs: every public name has a docstring, every figure is in the
gallery, and the generated CLI page covers every command (the site itself is built by
`.ci/run` with warnings as errors)."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
generate = importlib.import_module("generate")


def _members(module: str):
    mod = importlib.import_module(module)
    for name in generate.public_names(module):
        obj = getattr(mod, name)
        yield f"{module}.{name}", obj
        if inspect.isclass(obj):
            for key, value in vars(obj).items():
                if key.startswith("_") or not (inspect.isfunction(value) or isinstance(
                        value, (property, staticmethod, classmethod))
                        or hasattr(value, "func")):
                    continue
                yield f"{module}.{name}.{key}", getattr(obj, key, value)


@pytest.mark.parametrize("module", generate.API_MODULES)
def test_every_public_name_and_method_has_a_docstring(module):
    missing = [n for n, obj in _members(module)
               if not (inspect.getdoc(obj) or "").strip()]
    assert not missing, f"no docstring: {missing}"


def test_the_api_pages_list_every_public_name(tmp_path):
    generate.api(str(tmp_path))
    text = (tmp_path / "api" / "index.rst").read_text()
    for module in generate.API_MODULES:
        assert f".. currentmodule:: {module}" in text
        for name in generate.public_names(module):
            assert f"   {name}\n" in text, (module, name)
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", []):  # the rest: constants in a table
            if not inspect.ismodule(getattr(mod, name)) and \
                    name not in generate.public_names(module):
                assert f"``{module}.{name}``" in text, (module, name)


def test_the_gallery_shows_every_figure_of_dlnsim_figures(tmp_path):
    from dlnsim import plots

    generate.gallery(str(ROOT), str(tmp_path))
    text = (tmp_path / "gallery.md").read_text()
    for name in plots.FIGURES:
        assert (ROOT / "figures" / f"{name}.png").exists(), f"figures/{name}.png"
        assert f"dlnsim figures --only {name}" in text and (tmp_path / f"{name}.png").exists()


def test_the_cli_page_holds_every_command(tmp_path):
    generate.cli(str(tmp_path))
    text = (tmp_path / "cli.md").read_text()
    for command in ("verify", "figures", "simulate", "portrait", "sweep", "validate-backend"):
        assert f"## `dlnsim {command}`" in text and f"usage: dlnsim {command}" in text


def test_notebook_copies_come_executed_only_when_all_are_there(tmp_path, monkeypatch):
    done = tmp_path / "done"
    done.mkdir()
    monkeypatch.setenv("DLNSIM_EXECUTED_NOTEBOOKS", str(done))
    assert generate.notebooks(str(ROOT), str(tmp_path / "a")) is False  # none executed yet
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        (done / nb.name).write_text(nb.read_text())
    assert generate.notebooks(str(ROOT), str(tmp_path / "b")) is True


def test_the_public_api_meets_the_numpydoc_standard():
    """Every public function, class and method documents its parameters and returns (the
    docs build enforces it; this says which name fails without building)."""
    pytest.importorskip("numpydoc")
    assert generate.validate_docstrings() == []


# names that are public without being in __all__ (documented where they are used)
PUBLIC_EXTRAS = {
    "dlnsim.rules": {"Clip", "L2", "LayerRates", "NGD", "WeightDecay"},
    "dlnsim.curvature": {"NotBalanced"},
    "dlnsim.symbolic": {"t", "s", "s0", "s_star", "eta", "d_sym", "q_sym"},
    "dlnsim.plots": {"FORMATS", "SECONDS"},
    "dlnsim.testing": {"STRATEGIES"},
}


@pytest.mark.parametrize("module", generate.API_MODULES)
def test_public_namespaces_show_only_public_names(module):
    """dir() (tab completion) of a public module lists its API and its submodules, not what
    it imports (os, Callable, np, annotations, ...)."""
    import importlib
    import pkgutil

    mod = importlib.import_module(module)
    subs = {m.name for m in pkgutil.iter_modules(getattr(mod, "__path__", []))}
    shown = {n for n in dir(mod) if not n.startswith("_")}
    leaked = shown - set(mod.__all__) - subs - PUBLIC_EXTRAS.get(module, set())
    assert not leaked, sorted(leaked)


def test_the_offline_math_check_finds_a_cdn_and_a_missing_file(tmp_path):
    """docs/generate.offline_math_problems (run after every docs build) flags a page that
    loads MathJax from the network or names a file the site lacks, and passes a local one."""
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").write_text("//")
    (tmp_path / "ok.html").write_text('<script defer src="_static/mathjax/tex-chtml.js">'
                                      '</script>')
    assert generate.offline_math_problems(str(tmp_path)) == ([], 1)
    (tmp_path / "cdn.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js"></script>')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "gone.html").write_text('<script src="_static/mathjax/x.js"></script>')
    problems, pages = generate.offline_math_problems(str(tmp_path))
    assert pages == 3 and len(problems) == 2
    assert any("cdn.jsdelivr" in p for p in problems) and any("lacks" in p for p in problems)


def test_the_rendered_math_check_fails_a_page_whose_math_is_not_typeset(tmp_path):
    """With a headless browser: a page with a formula and no MathJax is refused (the check
    the docs build runs on the real site, offline)."""
    import shutil

    if not any(shutil.which(b) for b in generate.BROWSERS):
        pytest.skip("no headless browser (chromium) on this machine")
    (tmp_path / "_static").mkdir()
    (tmp_path / "raw.html").write_text(
        '<html><body><span class="math notranslate nohighlight">\\(x^2\\)</span></body></html>')
    with pytest.raises(RuntimeError, match="typeset 0 of 1 formulas"):
        generate.rendered_math(str(tmp_path), pages=("raw.html",))
