#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and fuzzes the safetensors parser.
#   tests/fuzz/run.sh SECONDS [BUILD_DIR]     (BUILD_DIR defaults to build-fuzz in the repository)
# Seeds are written fresh on each run; the corpus libFuzzer grows is kept in BUILD_DIR/corpus and
# crash reproducers land in BUILD_DIR/artifacts. Exits non-zero when the fuzzer finds a problem.
set -euo pipefail

seconds=${1:?usage: run.sh SECONDS [BUILD_DIR]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${2:-$root/build-fuzz}

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DZEBRA_FUZZ=ON -DZEBRA_TESTS=OFF -DZEBRA_BENCH=OFF >/dev/null
ninja -C "$build" fuzz_safetensors

# le64 N: the 8-byte little-endian length field as a printf format.
le64() {
  local n=$1 s="" i
  for i in 0 1 2 3 4 5 6 7; do s+=$(printf '\\x%02x' $(((n >> (8 * i)) & 255))); done
  printf '%s' "$s"
}
# seed NAME JSON DATA: a file with JSON space-padded to a multiple of 8 and DATA (printf format).
seed() {
  local json=$2
  while ((${#json} % 8)); do json+=" "; done
  { printf "$(le64 ${#json})"; printf '%s' "$json"; printf "$3"; } >"$seeds/$1"
}

seeds=$build/seeds
mkdir -p "$seeds" "$build/corpus" "$build/artifacts"
seed empty '{}' ''
seed meta '{"__metadata__":{"format":"pt","k":"v"}}' ''
seed f32 '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' \
  '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40'
seed mixed '{"__metadata__":{"format":"pt"},"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]},"h":{"dtype":"F16","shape":[1],"data_offsets":[14,16]},"s":{"dtype":"I32","shape":[],"data_offsets":[16,20]}}' \
  '\xff\xff\xff\xff\xff\xff\xff\xff\x80\x3f\x00\xc0\x80\x7f\x00\x3c\xfe\xff\xff\xff'
seed small '{"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"m":{"dtype":"BOOL","shape":[2,1],"data_offsets":[8,10]},"u":{"dtype":"U8","shape":[0,3],"data_offsets":[10,10]}}' \
  '\x00\x00\x00\x00\x00\x00\xf0\x3f\x01\x00'
# An unpadded header leaves the data misaligned, exercising the copying path.
json='{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
{ printf "$(le64 ${#json})"; printf '%s' "$json"; printf '\x00\x00\xc0\x7f'; } >"$seeds/misaligned"

"$build/tests/fuzz/fuzz_safetensors" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 \
  -dict="$here/safetensors.dict" -artifact_prefix="$build/artifacts/" -print_final_stats=1 \
  "$build/corpus" "$seeds"
