#!/usr/bin/env bash
# bundle-deps.sh [DIR] — run where Debian's package registry is reachable. Downloads into DIR
# (default .bundle/debs) the .deb files that a GPU machine without a package registry lacks (docs/nightly.md: such
# a machine has CUDA, cuBLAS and some runtime libraries, but no libinih, no headers and no .pc files),
# so that scripts/gpu-env.sh can unpack them there and scripts/gpu-nightly.sh can build with no
# package registry. Carry the folder along (.bundle is git-ignored; docs/nightly.md). Idempotent:
# files already present are kept.
#
# What the build needs, and why each package is here:
#   headers, .pc files and the unversioned .so of mpfr, gmp, jansson, inih, openblas  (-dev)
#   the versioned runtime libraries those .so links point to                          (runtime)
#   pkg-config itself (CMake's FindPkgConfig needs it; the GPU machine may not have it) (tools)
#   libgfortran5/libquadmath0: OpenBLAS's own dependencies; unpacked apart and used only when
#   the machine has no libgfortran.so.5 (gpu-env.sh), so a newer system copy is never shadowed.
set -euo pipefail
dir=${1:-.bundle/debs}
mkdir -p "$dir"
dev=(libmpfr-dev libgmp-dev libjansson-dev libinih-dev libopenblas-dev libopenblas-pthread-dev)
runtime=(libmpfr6 libgmp10 libgmpxx4ldbl libjansson4 libinih1 libinireader0 libopenblas0-pthread)
tools=(pkgconf pkgconf-bin libpkgconf3)
fallback=(libgfortran5 libquadmath0)
cd "$dir"
have() { compgen -G "$1_*.deb" > /dev/null; }
need=()
for p in "${dev[@]}" "${runtime[@]}" "${tools[@]}" "${fallback[@]}"; do have "$p" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  # A fresh machine has no package lists: update once when the first attempt cannot find one.
  if ! apt-get download "${need[@]}" > /dev/null 2>&1; then
    apt-get update -qq
    apt-get download "${need[@]}"
  fi
fi
n=$(find . -maxdepth 1 -name '*.deb' | wc -l)
echo "bundle-deps: $n .deb files, $(du -sh . | cut -f1) in $dir (carry .bundle; docs/nightly.md)"
