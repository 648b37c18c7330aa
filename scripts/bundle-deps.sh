#!/usr/bin/env bash
# bundle-deps.sh [DIR] — run where Debian's package registry is reachable. Downloads into DIR
# (default .bundle/debs) the .deb files that the GPU machine lacks (see ../shared/GPU-MACHINE.md:
# it has libmpfr6, libgmp10, libjansson4, libopenblas0, CUDA and cuBLAS, but no libinih and no
# headers), both the runtime libraries that binaries built here need and the -dev packages
# needed to build there. scripts/gpu-env.sh unpacks them on the GPU machine. Idempotent: files
# already present are kept.
set -euo pipefail
dir=${1:-.bundle/debs}
mkdir -p "$dir"
runtime=(libinih1 libinireader0)
dev=(libinih-dev libmpfr-dev libgmp-dev libjansson-dev libopenblas-dev libopenblas-pthread-dev
     libopenblas0-pthread libmpfr6 libgmpxx4ldbl libjansson4)
cd "$dir"
have() { compgen -G "$1_*.deb" >/dev/null; }
need=()
for p in "${runtime[@]}" "${dev[@]}"; do have "$p" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  if ! apt-get download "${need[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get download "${need[@]}"
  fi
fi
ls -1 *.deb | wc -l | xargs echo "bundle-deps: .debs in $dir:"
