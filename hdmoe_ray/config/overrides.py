"""Values as Hydra override text (``null``, ``true``, ``[a,b]``, ``{k:v}``, quoted strings when needed).

Used wherever the project writes overrides for Hydra to read back: sweep grids and search points
(:mod:`hdmoe_ray.tuning`) and the test helpers (:mod:`hdmoe_ray.testing`).
"""

from __future__ import annotations

import re
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_./:+-]+$")
_KEYWORDS = {"null", "true", "false", "nan", "inf", "-inf"}


def format_value(value: Any) -> str:
    """A value in Hydra override syntax (``null``, ``true``, ``[a,b]``, quoted strings when needed)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _BARE.match(text) and text.lower() not in _KEYWORDS and not _looks_numeric(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
