#!/usr/bin/env bash
# Install everything the tests need (venv outside the clone, reused by requirements hash) and run them.
# This is the README's test command and exactly what .ci/run calls.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$(bash .ci/venv.sh)"
bash scripts/install_browser.sh || echo "[emovae] no chromium: the browser test will be skipped" >&2
set +e
"$venv/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "[emovae] FAILED: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
