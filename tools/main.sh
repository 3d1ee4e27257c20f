#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, then run zebra on its built-in
# default: print the build and machine facts, and train the tiny byte-level Llama on real text.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
./build/zebra info
./build/zebra tiny-train "$@"
