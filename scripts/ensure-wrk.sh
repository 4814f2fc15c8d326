#!/usr/bin/env bash
# Debian's wrk for the benchmarks' HTTP load (bench/ingest_track.py drives it with a Lua script):
# installed with apt-get where missing.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "installing wrk with apt-get"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
