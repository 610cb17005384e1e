"""Every fenced python, toml and bash block of the README runs as written, in a temporary
folder, in the order a reader meets them (shrunk only where SHRINK says, and each shrink must
still find its text); the numbers the README prints for its sweep are the ones it computes."""

import ast
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from dlnsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = [(m.group(1), m.group(2), README[:m.start()].count("\n") + 1)
          for m in re.finditer(r"```(\w*)\n(.*?)```", README, flags=re.S)]

# the README's ensemble example is sized for a GPU: 1024 networks on "cuda"
SHRINK = {"range(1024)": "range(4)"}
CI_COMMANDS = ('pip install . && dlnsim verify', 'pip install -e ".[test]" && python -m pytest -q',
               'python -m sphinx -W -b html docs docs/_build/html')


def _python(body: str) -> str:
    for old, new in SHRINK.items():
        body = body.replace(old, new)
    try:
        import torch
        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    return body if cuda else body.replace('device="cuda"', 'device="cpu"')


def test_the_readme_install_commands_are_the_ones_ci_runs():
    """The one-line bash blocks are the commands .ci/run checks and runs (installing a
    package inside the test suite would test the test environment, not the README)."""
    ci = (ROOT / ".ci" / "run").read_text()
    one_liners = [body.strip() for lang, body, _ in BLOCKS
                  if lang == "bash" and len(body.strip().splitlines()) == 1]
    assert one_liners == list(CI_COMMANDS)
    for cmd in CI_COMMANDS:
        assert cmd in ci


def test_every_readme_block_runs_as_written(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("xarray")
    monkeypatch.chdir(tmp_path)
    for old in SHRINK:
        assert old in README, f"SHRINK's {old!r} is no longer in the README"
    spec_written, ran = False, []
    for lang, body, line in BLOCKS:
        if lang == "toml":
            Path("spec.toml").write_text(body)
            spec_written = True
        elif lang == "bash" and len(body.strip().splitlines()) > 1:
            for command in body.strip().splitlines():
                argv = shlex.split(command, comments=True)
                assert argv[0] == "dlnsim", (line, command)
                assert spec_written, "the README runs a sweep before it gives its spec"
                assert main(argv[1:]) == 0, (line, command)
            ran.append(line)
        elif lang == "python":
            tree = ast.parse(_python(body), f"README.md:{line}")
            namespace: dict = {"__name__": f"readme_line_{line}"}
            last = tree.body.pop() if isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, f"README.md:{line}", "exec"), namespace)
            if last is not None:  # shown as a notebook would show it
                value = eval(compile(ast.Expression(last.value), f"README.md:{line}", "eval"),
                             namespace)
                if "to_pandas" in ast.unparse(last):
                    _same_as_printed(value, line)
            ran.append(line)
    assert len(ran) == len([b for b in BLOCKS if b[0] == "python"]) + 1


def _same_as_printed(frame, line: int) -> None:
    """The table the README prints after the block at ``line`` is the one it computes."""
    after = README[README.index("which prints", sum(len(x) + 1 for x in
                                                    README.splitlines()[:line])):]
    table = re.search(r"```\n(.*?)```", after, flags=re.S).group(1).splitlines()
    rows = {r.split()[0]: [float(x) for x in r.split()[1:]] for r in table[2:]}
    for q, values in rows.items():
        got = frame.loc[float(q)].to_numpy()
        np.testing.assert_allclose(got, values, rtol=2e-6, err_msg=f"q = {q}")
