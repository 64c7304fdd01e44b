"""The trace-format registry and path detection."""

from __future__ import annotations

import pytest

from hdmoe_ray.core.errors import HdmoeError, TraceError, UnknownNameError
from hdmoe_ray.workload.formats import detect_format, format_names, get_format, register_format, registry


def test_builtin_formats_are_registered():
    assert format_names() == ("esft_tsv", "hdmoe_json", "parquet")
    assert get_format("hdmoe_json").name == "hdmoe_json"


def test_duplicate_name_raises():
    with pytest.raises(HdmoeError, match="'parquet' is already registered"):
        register_format("parquet", detect=lambda path: False)(lambda path, **kw: None)


def test_a_new_format_registers_in_one_line(monkeypatch, tmp_path):
    registry.format_names()  # the built-ins are loaded before the registry is copied
    monkeypatch.setattr(registry.FORMATS, "_members", dict(registry.FORMATS._members))
    register_format("my_fmt", detect=lambda path: path.suffix == ".mine")(lambda path, **kw: "read")
    (tmp_path / "t.mine").write_text("x")
    assert detect_format(tmp_path / "t.mine") == "my_fmt"
    assert registry.read_trace(tmp_path / "t.mine") == "read"


def test_unknown_format_name_lists_known():
    with pytest.raises(UnknownNameError, match="unknown trace format 'csv'; known: esft_tsv, hdmoe_json, parquet"):
        get_format("csv")


def test_detect_missing_and_unrecognised_paths(tmp_path):
    with pytest.raises(TraceError, match="no such file or folder"):
        detect_format(tmp_path / "missing.json")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(TraceError, match="notes.txt: cannot tell the trace format"):
        detect_format(tmp_path / "notes.txt")
