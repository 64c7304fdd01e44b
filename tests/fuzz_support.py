"""Helpers shared by the fuzz tests (tests/workload/fuzz_traces.py, tests/strategies/test_fuzz_mapping_reader.py)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def scratch(root: Path, name: str = "in"):
    """``root/name``, emptied after the example (reused: creating and removing folders costs ~3 ms here)."""
    folder = root / name
    folder.mkdir(exist_ok=True)
    try:
        yield folder
    finally:
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def files_under(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, relative, sorted ([] when it does not exist)."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def pick(rng: np.random.Generator, options):
    """One of ``options``, drawn from ``rng``."""
    return options[int(rng.integers(len(options)))]
