#!/usr/bin/env bash
# Install (venv outside the clone, reused) and start the app on the embedded default demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$(bash .ci/venv.sh)"
exec "$venv/bin/python" app.py "$@"
