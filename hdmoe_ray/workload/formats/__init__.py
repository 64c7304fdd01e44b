"""Trace importers, one module per format, behind a registry (see :mod:`.registry`)."""

from hdmoe_ray.workload.formats.registry import (
    TraceFormat,
    detect_format,
    format_names,
    get_format,
    read_trace,
    register_format,
)

__all__ = ["TraceFormat", "detect_format", "format_names", "get_format", "read_trace", "register_format"]
