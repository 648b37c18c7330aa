#!/usr/bin/env bash
# Installs the Debian packages ulpdiff needs to build and test, idempotently:
# packages already present are skipped, and apt-get runs only when something is missing.
# Usage: scripts/deps.sh            (build + test dependencies)
#        ULPDIFF_DEPS_EXTRA="chromium" scripts/deps.sh   (add optional packages)
set -euo pipefail

pkgs=(build-essential cmake pkg-config python3 python3-pip
      libmpfr-dev libgmp-dev libcriterion-dev libopenblas-dev
      libinih-dev libjansson-dev)
# shellcheck disable=SC2206
pkgs+=(${ULPDIFF_DEPS_EXTRA:-})

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; update once when the first install attempt cannot
# find a package.
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  $sudo apt-get update -qq
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
