#!/usr/bin/env bash
# Installs zebra's build dependencies from Debian's packages (Debian 12 / Ubuntu 24.04), as root.
# Packages already present are left alone, so a second run is instant and needs no root.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config libopenblas-dev liblapacke-dev libhwloc-dev
      nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev)
pkgs+=("$@")  # extra packages a caller needs (CI adds clang and the sanitizer runtimes)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
