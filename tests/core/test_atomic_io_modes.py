"""Files written atomically get the usual mode (0666 minus the umask), not mkstemp's 0600 (reliability issue:
report.md and summary.json were unreadable to other users)."""

from __future__ import annotations

import os
import stat

from hdmoe_ray.core.atomic_io import atomic_write, atomic_write_json


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        json_path = atomic_write_json(tmp_path / "summary.json", {"a": 1})
        npz_path = atomic_write(tmp_path / "m.npz", lambda tmp: tmp.write_bytes(b"x"), suffix=".npz")
    finally:
        os.umask(old)
    for path in (json_path, npz_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    os.umask(0o077)
    try:
        private = atomic_write_json(tmp_path / "private.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
