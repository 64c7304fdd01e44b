"""Atomic writes: a file appears whole or not at all, a failed write leaves the old file and no temp file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hdmoe_ray.core.atomic_io import atomic_write, atomic_write_json, atomic_write_text


def test_write_creates_folders_and_replaces_content(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    assert atomic_write_text(path, "first") == path
    assert path.read_text() == "first"
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_previous_file_and_no_temp_file(tmp_path, error):
    path = tmp_path / "summary.json"
    path.write_text('{"old": true}')
    seen = []

    def half_then_fail(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_text('{"new": ')  # half written
        raise error

    with pytest.raises(type(error)):
        atomic_write(path, half_then_fail)
    assert path.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # the temporary file is gone
    assert seen[0].parent == tmp_path and seen[0] != path  # it was written next to the target


def test_a_failed_first_write_leaves_nothing(tmp_path):
    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"x" * 100)
        raise OSError("no space")

    with pytest.raises(OSError):
        atomic_write(tmp_path / "new.parquet", fail)
    assert list(tmp_path.iterdir()) == []


def test_the_temp_name_ends_with_the_suffix(tmp_path):
    names = []
    atomic_write(tmp_path / "m.npz", lambda tmp: (names.append(tmp.name), tmp.write_bytes(b"z")), suffix=".npz")
    assert names[0].endswith(".npz") and names[0].startswith(".m.npz.")
    assert (tmp_path / "m.npz").read_bytes() == b"z"


def test_json_converts_numpy_and_paths_and_rejects_the_rest(tmp_path):
    path = tmp_path / "s.json"
    atomic_write_json(path, {"n": np.int64(3), "x": np.float32(0.5), "a": np.arange(3), "p": Path("/x/y")})
    assert json.loads(path.read_text()) == {"n": 3, "x": 0.5, "a": [0, 1, 2], "p": "/x/y"}
    assert path.read_text().endswith("}\n")
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        atomic_write_json(path, {"bad": object()})
    assert json.loads(path.read_text())["n"] == 3  # the previous file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]
