#!/usr/bin/env bash
# Quick start: install what is missing, build, run the default scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
ln -sf build/compile_commands.json compile_commands.json
if [ $# -eq 0 ]; then set -- scenarios/quickstart.yaml; fi
./build/simrun "$@"
