#!/usr/bin/env bash
# Create .venv with nascore, its plugins and the test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# CPU-capable torch from the local wheel cache first, so nothing else pulls a different build.
.venv/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install --quiet -e ".[test,ray]" \
    -e plugins/eoinas -e plugins/adarts -e plugins/mipbpe -e plugins/bnas
