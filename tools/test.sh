#!/usr/bin/env bash
# The whole test suite on a fresh machine: install dependencies, build, run every CPU test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" -L cpu "$@"
