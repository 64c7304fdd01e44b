"""Bundled trace names."""

from __future__ import annotations

import pytest

from hdmoe_ray.core.errors import UnknownNameError
from hdmoe_ray.workload import bundled


def test_nine_bundled_names_resolve_to_existing_files():
    names = bundled.bundled_names()
    assert len(names) == 9
    assert "mixtral_mtbench_reasoning" in names and "deepseek_v2_lite_esft_law" in names
    for name in names:
        assert bundled.bundled_trace(name).path.exists(), name


def test_family_alone_means_its_default_category():
    assert bundled.bundled_trace("mixtral_mtbench").name == "mixtral_mtbench_reasoning"
    assert bundled.bundled_trace("deepseek_v2_lite_esft").name == "deepseek_v2_lite_esft_law"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as info:
        bundled.bundled_trace("mixtral_mtbench_poetry")
    assert "mixtral_mtbench_writing" in str(info.value) and "deepseek_v2_lite_esft_law" in str(info.value)


def test_with_category():
    assert bundled.with_category("mixtral_mtbench", "math") == "mixtral_mtbench_math"
    assert bundled.with_category("mixtral_mtbench_reasoning", "math") == "mixtral_mtbench_math"
    assert bundled.with_category("deepseek_v2_lite_esft_law", "summary") == "deepseek_v2_lite_esft_summary"
    with pytest.raises(UnknownNameError, match="'law'.*known: coding, extraction"):
        bundled.with_category("mixtral_mtbench", "law")


def test_root_env_var_moves_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv(bundled.ROOT_ENV, str(tmp_path))
    assert bundled.bundled_trace("deepseek_v2_lite_esft_law").path == tmp_path / "esft_deepseek_v2_lite" / "law"
