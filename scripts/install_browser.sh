#!/usr/bin/env bash
# Debian's chromium for the real-browser test (the test skips, loudly, when it cannot be had).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || true
fi
command -v chromium >/dev/null 2>&1
