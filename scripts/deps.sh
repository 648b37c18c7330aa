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

# Python packages for the exchange-format runner (examples/python, tests/cli/exchange.sh):
# NumPy, and ml_dtypes for bf16/fp8 (pip only); PyYAML for tests/cli/ci_recipe.sh (it parses
# the CI workflow). Uses the python3 on PATH (pyenv, venv or the system's), only when an import
# fails; a pip that refuses the system environment (PEP 668) is retried with --user, then
# --break-system-packages.
python_deps() {
  command -v python3 > /dev/null 2>&1 || return 0   # installed with the Debian packages below
  python3 -c 'import numpy, ml_dtypes, yaml' > /dev/null 2>&1 && return 0
  echo "deps: pip-installing numpy ml_dtypes PyYAML for $(command -v python3)" >&2
  python3 -m pip install --quiet numpy ml_dtypes PyYAML 2> /dev/null \
    || python3 -m pip install --quiet --user numpy ml_dtypes PyYAML 2> /dev/null \
    || python3 -m pip install --quiet --break-system-packages numpy ml_dtypes PyYAML
  python3 -c 'import numpy, ml_dtypes, yaml' || { echo "deps: numpy/ml_dtypes/PyYAML still not importable by python3" >&2; return 1; }
}

if [ ${#missing[@]} -eq 0 ]; then
  python_deps
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
python_deps
