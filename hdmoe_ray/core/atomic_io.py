"""Atomic file writes: a file appears whole or not at all (no half-written outputs, nothing lost).

Every writer of the project goes through :func:`atomic_write`: the content is written to a temporary
file in the destination's folder (same file system), then ``os.replace`` puts it in place in one step.
On any error or interrupt the temporary file is removed and an existing file at ``path`` is untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], None], *, suffix: str = ".tmp") -> Path:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then move it onto ``path`` atomically.

    ``suffix`` ends the temporary name (``.npz`` for numpy, which would otherwise append one).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a written file gets the usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (numpy values and paths converted) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")
