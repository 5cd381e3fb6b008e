#!/usr/bin/env bash
# Create .venv with nascore, its plugins and the test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONWARNINGS=ignore  # setuptools' notices about editable installs
pip_install=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
"${pip_install[@]}" --upgrade pip
# CPU-capable torch from the local wheel cache first, so nothing else pulls a different build.
"${pip_install[@]}" "torch==2.14.1" "torchvision==0.29.1"
"${pip_install[@]}" -e ".[test,ray]" \
    -e plugins/eoinas -e plugins/adarts -e plugins/mipbpe -e plugins/bnas -e plugins/rcdarts \
    -e plugins/zerocost
# Mirrors the README's test command: `./install.sh && .venv/bin/python -m pytest`.
