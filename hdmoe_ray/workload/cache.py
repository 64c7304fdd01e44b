"""The Parquet trace cache: a trace is parsed once per source version, then read back in milliseconds.

Folder: ``$HDMOE_CACHE_DIR``, else ``~/.cache/hdmoe_ray/traces``. Key: SHA-256 of the source's absolute
path, the (name, size, mtime_ns) of the file or of every file directly in the folder, the format,
``CACHE_VERSION`` and the Parquet ``FORMAT_VERSION``, the caller's hints (num_experts, top_k) and the
trace's label (a bundled name, or None for the importer's default).
Editing, replacing or touching a source file therefore misses the cache. A cache file that fails to read
(corrupt, truncated, older layout) is deleted and rebuilt; a cache folder that cannot be written only
costs a warning. Files are written atomically (see :func:`write_parquet`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

from hdmoe_ray.core.errors import TraceError
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload.formats.parquet import FORMAT_VERSION, read_parquet, write_parquet
from hdmoe_ray.workload.formats.textio import stem

CACHE_ENV = "HDMOE_CACHE_DIR"
CACHE_VERSION = 1  # bump when an importer's output changes for the same input
STEM_BYTES = 100  # of the source's name in the cache file's name (a file name holds at most 255 bytes)


def cache_dir() -> Path:
    """The cache folder (not created here)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path.home() / ".cache" / "hdmoe_ray" / "traces"


def _fingerprint(source: Path) -> list[tuple[str, int, int]]:
    files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    out = []
    for file in files:
        st = file.stat()
        out.append((file.name, st.st_size, st.st_mtime_ns))
    return out


def cache_path(source: Path, fmt: str, *, num_experts: int | None, top_k: int | None,
               name: str | None = None) -> Path:
    """Where the cached copy of ``source`` (read as ``fmt`` with these hints and label) lives."""
    source = Path(source).resolve()
    material = json.dumps({"path": str(source), "files": _fingerprint(source), "format": fmt,
                           "cache_version": CACHE_VERSION, "parquet_version": FORMAT_VERSION,
                           "num_experts": num_experts, "top_k": top_k, "name": name})
    digest = hashlib.sha256(material.encode()).hexdigest()[:20]
    label = os.fsdecode(os.fsencode(stem(source))[:STEM_BYTES])  # may cut a character: the digest is the key
    return cache_dir() / f"{label}-{digest}.parquet"


def load_cached(path: Path) -> RoutingTrace | None:
    """The cached trace at ``path``, or None when absent; a corrupt file is deleted (and None returned)."""
    if not path.is_file():
        return None
    try:
        return read_parquet(path)
    except TraceError as exc:
        warnings.warn(f"discarding corrupt trace cache file ({exc}); rebuilding it", stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def store_cached(trace: RoutingTrace, path: Path) -> None:
    """Write ``trace`` to ``path`` (atomically); an unwritable cache folder only warns."""
    try:
        write_parquet(trace, path)
    except OSError as exc:
        warnings.warn(f"cannot write the trace cache {path}: {exc}", stacklevel=3)
