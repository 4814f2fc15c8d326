#!/usr/bin/env bash
# Debian's chromium for the panel's browser tests (Playwright drives it with executable_path; a
# browser Playwright downloads itself is never used): installed with apt-get where missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "installing chromium with apt-get"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
