"""`python -m bench --scale small|full [--only NAME ...]`: run the benchmarks of BENCH.md."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = ["ingest_batch", "ingest_track", "evaluate", "timers", "segments", "send", "memory"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, default=BENCHMARKS)
    args = parser.parse_args()
    for name in args.only:
        importlib.import_module(f"bench.{name}").run(args.scale)


if __name__ == "__main__":
    main()
