#!/usr/bin/env bash
# Create (or reuse) the project venv outside the clone, keyed by a hash of the requirements files,
# and print its path. Sourced by .ci/run and scripts/test.sh so both use the same environment.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
key="$(cat "$root/requirements.txt" "$root/requirements-dev.txt" | sha256sum | cut -c1-16)"
venv="${EMOVAE_VENV:-$HOME/.cache/emovae/venv-$key}"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "[emovae] creating venv $venv (first run takes ~4 min, ~6 GB)" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  # tinysoundfont without its dependencies: its metadata pulls pyaudio, which needs PortAudio headers to
  # build and which emovae never imports (see requirements.txt).
  nodeps='^tinysoundfont'
  grep -v "$nodeps" "$root/requirements.txt" > "$venv/requirements-deps.txt"
  grep -v '^-r ' "$root/requirements-dev.txt" > "$venv/requirements-dev-only.txt"
  "$venv/bin/python" -m pip install -q -r "$venv/requirements-deps.txt" -r "$venv/requirements-dev-only.txt" >&2
  grep "$nodeps" "$root/requirements.txt" | "$venv/bin/python" -m pip install -q --no-deps -r /dev/stdin >&2
  touch "$venv/.complete"
fi
echo "$venv"
