"""``hdmoe-trace``: inspect and convert routing traces (no Hydra, no Ray: starts fast).

Subcommands:
    summary <name|path>     print one JSON object (docs/contract.md: format, num_layers, num_tokens,
                            top_k, num_experts, max_mean_load per layer; plus name, layer_ids, ...)
    convert <src> <dst>     write the trace as canonical Parquet (dst must end in .parquet)
    list                    print the bundled trace names, one per line
    compare                 print the synthetic-vs-ESFT calibration table (markdown, docs/traces.md)

Any hdmoe_ray error (bad file, unknown name) prints ``hdmoe-trace: error: ...`` on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hdmoe_ray.core.errors import ConfigError, HdmoeError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hdmoe-trace", description="Inspect and convert MoE routing traces.")
    sub = parser.add_subparsers(dest="command", required=True)

    def source_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--num-experts", type=int, default=None, help="E, for formats that do not record it")
        p.add_argument("--top-k", type=int, default=None, help="k, for formats that do not record it (ESFT)")
        p.add_argument("--no-cache", action="store_true", help="parse the source; neither read nor write the cache")

    summary = sub.add_parser("summary", help="print a trace's summary as one JSON object")
    summary.add_argument("trace", help="a bundled name (see `list`) or a file/folder in a supported format")
    summary.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")
    source_args(summary)
    convert = sub.add_parser("convert", help="convert a trace to canonical Parquet")
    convert.add_argument("src", help="a bundled name or a file/folder in a supported format")
    convert.add_argument("dst", help="output file, *.parquet (written atomically)")
    source_args(convert)
    sub.add_parser("list", help="print the bundled trace names")
    compare = sub.add_parser("compare", help="print the synthetic-vs-ESFT calibration table")
    compare.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="synthetic seeds to average")
    return parser


def _load(args: argparse.Namespace):
    from hdmoe_ray.workload.loader import load_trace

    source = args.trace if args.command == "summary" else args.src
    return load_trace(source, num_experts=args.num_experts, top_k=args.top_k, use_cache=not args.no_cache)


def _summary(args: argparse.Namespace) -> None:
    from hdmoe_ray.workload.formats.registry import detect_format
    from hdmoe_ray.workload.loader import locate
    from hdmoe_ray.workload.summary import trace_summary

    trace = _load(args)
    print(json.dumps(trace_summary(trace, format=detect_format(locate(args.trace)[0])), indent=args.indent))


def _convert(args: argparse.Namespace) -> None:
    from hdmoe_ray.workload.formats.parquet import write_parquet

    dst = Path(args.dst)
    if dst.suffix != ".parquet":
        raise ConfigError("dst", f"{dst} must end in .parquet (the canonical format)")
    trace = _load(args)
    write_parquet(trace, dst)
    print(json.dumps({"written": str(dst), "name": trace.name, "num_layers": trace.num_layers,
                      "num_tokens": trace.num_tokens}))


def _list(args: argparse.Namespace) -> None:
    from hdmoe_ray.workload.bundled import bundled_names

    print("\n".join(bundled_names()))


def _compare(args: argparse.Namespace) -> None:
    from hdmoe_ray.workload.calibration import compare_to_esft

    print(compare_to_esft(seeds=tuple(args.seeds)))


COMMANDS = {"summary": _summary, "convert": _convert, "list": _list, "compare": _compare}


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the exit status (0, or 2 on an hdmoe_ray error, 130 on Ctrl-C)."""
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except HdmoeError as exc:
        print(f"hdmoe-trace: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hdmoe-trace: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
