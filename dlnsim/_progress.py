"""The progress bar class: tqdm's notebook widget where ipywidgets is installed, its plain-text
bar otherwise (``tqdm.auto`` in a notebook without ipywidgets prints a red "IProgress not
found" warning and falls back to text anyway)."""

from __future__ import annotations

import importlib.util


def _choose():
    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


tqdm = _choose()

__all__ = ["tqdm"]
