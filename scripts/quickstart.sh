#!/usr/bin/env bash
# Quick start: install what is missing, build, run the default scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# as scripts/test.sh configures it (ccache, see there): the test command
# after this one then rebuilds nothing
export CCACHE_BASEDIR=$(pwd) CCACHE_NOHASHDIR=true
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
ninja -C build
ln -sf build/compile_commands.json compile_commands.json
if [ $# -eq 0 ]; then set -- scenarios/quickstart.yaml; fi
./build/simrun "$@"
