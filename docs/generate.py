"""Pages generated at build time (docs/_generated/, never committed): the claims catalogue
with measured errors, the CLI reference, the figure gallery and the notebooks."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap


def build(root: str, here: str) -> bool:
    """Write every generated page; return whether the notebooks come executed already."""
    out = os.path.join(here, "_generated")
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    claims(root, out)
    api(out)
    cli(out)
    gallery(root, out)
    return notebooks(root, out)


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


# -- claims ---------------------------------------------------------------------------------
def verify_results(out: str) -> dict:
    """``{id: result}`` from ``$DLNSIM_VERIFY_JSON`` or a ``dlnsim verify --json`` run now."""
    path = os.environ.get("DLNSIM_VERIFY_JSON")
    if not path:
        path = os.path.join(out, "verify.json")
        proc = subprocess.run([sys.executable, "-m", "dlnsim", "verify", "--quiet", "--json",
                               path], capture_output=True, text=True)
        if proc.returncode not in (0, 1) or not os.path.exists(path):
            raise RuntimeError(f"dlnsim verify failed while building the docs:\n{proc.stderr}")
    with open(path, encoding="utf-8") as fh:
        return {r["id"]: r for r in json.load(fh)}


def claims(root: str, out: str) -> None:
    from dlnsim.verify import REGISTRY

    results = verify_results(out)
    theory = os.path.join(root, "theory")
    pages = []
    for name in sorted(os.listdir(theory)):
        if not name.endswith(".md"):
            continue
        with open(os.path.join(theory, name), encoding="utf-8") as fh:
            text = fh.read()
        stem = name[:-3]

        def section(m, stem=stem):
            cid = m.group(1)
            if cid not in REGISTRY:
                raise RuntimeError(f"theory/{stem}.md states {cid!r}, which no check has")
            r = results.get(cid)
            if r is None:
                raise RuntimeError(f"the verify results hold no {cid!r}: rerun dlnsim verify")
            check = REGISTRY[cid].check
            code_page = f"code/{cid}"
            _write(os.path.join(out, "claims", code_page + ".md"), _code_page(cid, check))
            verdict = "pass" if r["passed"] else "**FAIL**"
            return (f"## `{cid}`\n\n"
                    f"- **Measured** by this build's `dlnsim verify`: {verdict}, error "
                    f"{r['error']:.3g} against tolerance {r['tolerance']:.3g} "
                    f"({r['seconds']:.2f} s). The check: [{check.__module__}."
                    f"{check.__qualname__}]({code_page}.md).\n")

        body = re.sub(r"^### `([a-z0-9_.]+)`\n", section, text, flags=re.M)
        _write(os.path.join(out, "claims", f"{stem}.md"), body)
        pages.append(stem)
    failed = [cid for cid, r in results.items() if not r["passed"]]
    failing = "; failing: " + ", ".join(failed) if failed else ""
    index = textwrap.dedent(f"""\
        # Claims catalogue

        Each claim of the five papers (and of this project, and the field's canon beyond
        them) with its statement, source, check and tolerance, as `theory/*.md` states
        them, and the error that `dlnsim verify` measured while these pages were built:
        {len(results) - len(failed)} of {len(results)} pass{failing}.
        Run them yourself: `dlnsim verify` (`--only 'huh.*'`, `--json PATH`).

        ```{{toctree}}
        :maxdepth: 1

        """) + "\n".join(pages) + "\ncode/index\n```\n"
    _write(os.path.join(out, "claims", "index.md"), index)
    _write(os.path.join(out, "claims", "code", "index.md"),
           "# The checks' code\n\n```{toctree}\n:glob:\n:maxdepth: 1\n\n*\n```\n")


def _code_page(cid: str, check) -> str:
    source = textwrap.dedent(inspect.getsource(check))
    file = inspect.getsourcefile(check)
    rel = file[file.index("dlnsim" + os.sep):] if "dlnsim" + os.sep in file else file
    line = inspect.getsourcelines(check)[1]
    return (f"# `{cid}`\n\n`{check.__module__}.{check.__qualname__}` ({rel}, line {line}):"
            f"\n\n```python\n{source}```\n")


# -- the command line -------------------------------------------------------------------------
def cli(out: str) -> None:
    from dlnsim.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    parts = ["# Command line\n",
             "`dlnsim COMMAND` (or `python -m dlnsim COMMAND`). Exit codes: 0 success; 1 a run "
             "diverged or a claim failed; 2 usage or bad input, checked before any work "
             "(output paths included); 3 an internal error (one line; `--debug` shows the "
             "traceback); 130 interrupted (what was computed is kept).\n",
             "```text\n" + parser.format_help() + "```\n"]
    for name, p in sub.choices.items():
        parts.append(f"## `dlnsim {name}`\n\n```text\n{p.format_help()}```\n")
    _write(os.path.join(out, "cli.md"), "\n".join(parts))


# -- the gallery ----------------------------------------------------------------------------
def gallery(root: str, out: str) -> None:
    from dlnsim import plots

    parts = ["# Gallery\n",
             "Every figure of `dlnsim figures` (all of them: `dlnsim figures --out DIR`), as "
             "committed in `figures/`.\n"]
    for name, make in plots.FIGURES.items():
        src = os.path.join(root, "figures", f"{name}.png")
        if not os.path.exists(src):
            raise RuntimeError(f"figures/{name}.png is missing: run dlnsim figures")
        shutil.copy(src, os.path.join(out, f"{name}.png"))
        doc = inspect.getdoc(make) or name
        caption = " ".join(doc.split("\n\n")[0].split())
        parts.append(f"## {name}\n\n```{{figure}} {name}.png\n:alt: {name}\n:width: 100%\n\n"
                     f"{caption}\n```\n\nDrawn by `dlnsim figures --only {name}` "
                     f"(`plots.{make.__name__}`).\n")
    _write(os.path.join(out, "gallery.md"), "\n".join(parts))


# -- the notebooks --------------------------------------------------------------------------
def notebooks(root: str, out: str) -> bool:
    """Copy the notebooks to be executed by myst-nb; or, where ``$DLNSIM_EXECUTED_NOTEBOOKS``
    holds every one of them executed by the test suite of the same checkout (``.ci/run``),
    those copies, so that each notebook runs once. Returns whether they were executed."""
    folder = os.path.join(root, "notebooks")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".ipynb"))
    dest = os.path.join(out, "notebooks")
    os.makedirs(dest)
    done = os.environ.get("DLNSIM_EXECUTED_NOTEBOOKS")
    executed = bool(done) and all(os.path.exists(os.path.join(done, f)) for f in names)
    for f in names:
        shutil.copy(os.path.join(done if executed else folder, f), dest)
    _write(os.path.join(dest, "index.md"),
           "# Notebooks\n\nWorked examples, executed while these pages were built (they are "
           "also run top to bottom by the test suite).\n\n```{toctree}\n:maxdepth: 1\n\n"
           + "\n".join(n[:-6] for n in names) + "\n```\n")
    return executed


def check_notebook_figures(app, exc) -> None:
    """After the build: every notebook's page shows at least one figure."""
    if exc is not None or app.builder.name != "html":
        return
    folder = os.path.join(app.outdir, "_generated", "notebooks")
    for f in sorted(os.listdir(folder)):
        if f.endswith(".html") and f != "index.html":
            with open(os.path.join(folder, f), encoding="utf-8") as fh:
                if "<img" not in fh.read():
                    raise RuntimeError(f"notebook page {f} shows no figure")


def check_offline_math(app, exc) -> None:
    """After the build: every page loads MathJax from the site itself (a reader without a
    network sees rendered math, not raw TeX), and the file it names is there."""
    if exc is not None or app.builder.name != "html":
        return
    problems, pages = offline_math_problems(app.outdir)
    if problems or not pages:
        raise RuntimeError("math would need the network: " + "; ".join(problems[:5])
                           if problems else "no page loads MathJax at all")
    rendered_math(app.outdir)


BROWSERS = ("chromium", "chromium-browser", "google-chrome")
MATH_PAGES = ("concepts.html", "_generated/claims/canon.html")


def rendered_math(outdir: str, pages=MATH_PAGES) -> dict[str, int]:
    """Open ``pages`` of the built site in a headless browser from ``file://`` (no server, no
    network) and check that MathJax typeset every formula: each ``<span class="math">`` holds
    an ``<mjx-container>`` and no ``<mjx-merror>``. A screenshot of the first page goes to
    ``_static/offline-math.png``. Without a browser it says so and checks nothing, except
    under CI (``CI=true``), which must have one.

    Returns
    -------
    dict
        ``{page: formulas typeset}``.
    """
    import re
    import shutil
    import subprocess

    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("the offline-math check needs a headless browser (chromium)")
        print("offline math: no headless browser found, rendering not checked")
        return {}
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000"]
    typeset = {}
    for k, page in enumerate(pages):
        url = "file://" + os.path.abspath(os.path.join(outdir, page))
        dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True,
                             text=True, timeout=120).stdout
        spans = len(re.findall(r'<span class="math notranslate nohighlight">', dom)) + len(
            re.findall(r'<div class="math notranslate nohighlight">', dom))
        done = len(re.findall(r"<mjx-container", dom))
        errors = len(re.findall(r"<mjx-merror", dom))
        if spans == 0 or done < spans or errors:
            raise RuntimeError(f"{page}: MathJax typeset {done} of {spans} formulas offline "
                               f"({errors} errors)")
        typeset[page] = done
        if k == 0:
            subprocess.run([browser, *flags, "--window-size=1000,1400",
                            "--screenshot=" + os.path.join(outdir, "_static",
                                                           "offline-math.png"), url],
                           capture_output=True, timeout=120)
    print("offline math: typeset " + ", ".join(f"{n} formulas in {p}"
                                                 for p, n in typeset.items()))
    return typeset


def offline_math_problems(outdir: str) -> tuple[list[str], int]:
    """``(problems, pages that load MathJax)`` of a built HTML site."""
    import re

    problems, pages = [], 0
    for root, _, files in os.walk(outdir):
        for f in files:
            if not f.endswith(".html"):
                continue
            with open(os.path.join(root, f), encoding="utf-8") as fh:
                text = fh.read()
            srcs = re.findall(r'<script[^>]*\ssrc="([^"]*mathjax[^"]*)"', text, flags=re.I)
            pages += bool(srcs)
            for src in srcs:
                where = os.path.relpath(os.path.join(root, f), outdir)
                if "://" in src or src.startswith("//"):
                    problems.append(f"{where} loads {src}")
                elif not os.path.exists(os.path.join(root, src.split("?")[0])):
                    problems.append(f"{where} loads {src}, which the site lacks")
    return problems, pages


# -- the API reference ----------------------------------------------------------------------
API_MODULES = ("dlnsim", "dlnsim.rules", "dlnsim.modes", "dlnsim.curvature", "dlnsim.symbolic",
               "dlnsim.symbolic.canon",
               "dlnsim.threads",
               "dlnsim.plots", "dlnsim.verify", "dlnsim.testing", "dlnsim.sweep",
               "dlnsim.interop")


def public_names(module: str) -> list[str]:
    """The functions and classes a module exports (``__all__``)."""
    import importlib

    mod = importlib.import_module(module)
    out = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj) and \
                not isinstance(obj, (int, float, str, tuple, dict)):
            out.append(name)
    return sorted(out, key=str.lower)


def constants(module: str) -> list[tuple[str, str]]:
    """The values a module exports that are neither functions, classes nor modules, with their
    ``repr`` (shortened), for the API page."""
    import importlib

    mod = importlib.import_module(module)
    out = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if name in public_names(module) or inspect.ismodule(obj):
            continue
        text = repr(obj) if not isinstance(obj, dict) else \
            "{" + ", ".join(repr(k) for k in obj) + "}"
        if name == "REGISTRY":
            text = f"{len(obj)} claims, by ID"
        out.append((name, text if len(text) <= 90 else text[:87] + "..."))
    return out


def api(out: str) -> None:
    import importlib

    parts = ["API reference", "=============", "",
             "Every function and class that dlnsim's public modules export (their ``__all__``), "
             "with its docstring: parameters, returns, raises and the equation it implements.",
             ""]
    for module in API_MODULES:
        mod = importlib.import_module(module)
        summary = (inspect.getdoc(mod) or "").split("\n\n")[0]
        parts += [f"``{module}``", "-" * (len(module) + 4), "", summary, "",
                  f".. currentmodule:: {module}", "", ".. autosummary::",
                  "   :toctree: generated", "   :nosignatures:", ""]
        parts += [f"   {name}" for name in public_names(module)]
        parts.append("")
        data = constants(module)
        if data:
            parts += [".. list-table:: Constants", "   :header-rows: 1", "",
                      "   * - name", "     - value"]
            for name, value in data:
                parts += [f"   * - ``{module}.{name}``", f"     - ``{value}``"]
            parts.append("")
    _write(os.path.join(out, "api", "index.rst"), "\n".join(parts))


# -- the docstring standard -----------------------------------------------------------------
STRICT = ("PR01", "PR02", "RT01")  # parameters documented, none unknown, a Returns section
# Every public module is held to STRICT. The hypothesis strategies of dlnsim.testing are
# skipped: @composite hides their source from the validator (their docstrings say what each
# argument draws).
STRICT_MODULES = API_MODULES


def validate_docstrings(modules=STRICT_MODULES) -> list[str]:
    """numpydoc's checks :data:`STRICT` on the public functions and classes of ``modules`` and
    their public methods (enums' constructors and int methods excepted)."""
    import enum
    import importlib

    from numpydoc.validate import validate

    problems = []
    for module in modules:
        mod = importlib.import_module(module)
        for name in public_names(module):
            obj = getattr(mod, name)
            if inspect.isclass(obj) and issubclass(obj, enum.Enum):
                continue  # an enum's "parameters" are Enum's own
            if module == "dlnsim.testing" and name in mod.STRATEGIES:
                continue
            targets = [f"{module}.{name}"]
            if inspect.isclass(obj):
                targets += [f"{module}.{name}.{k}" for k, v in vars(obj).items()
                            if not k.startswith("_") and (inspect.isfunction(v)
                                                          or isinstance(v, classmethod))]
            for target in targets:
                for code, message in validate(target)["errors"]:
                    if code in STRICT:
                        problems.append(f"{target}: {code} {message}")
    return problems


def check_docstrings(app) -> None:
    problems = validate_docstrings()
    if problems:
        raise RuntimeError("docstrings below the standard:\n" + "\n".join(problems))
