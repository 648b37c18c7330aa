#!/usr/bin/env bash
# gpu-env.sh [BUNDLE] — source it on the GPU machine: unpacks the .deb files that
# scripts/bundle-deps.sh downloaded (default .bundle/debs) into .bundle/root (never into /,
# which they could break) and points the loader, compiler and CMake at them.
#   source scripts/gpu-env.sh
bundle=${1:-.bundle/debs}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.bundle/root
if [ -d "$bundle" ]; then
  mkdir -p "$root"
  for f in "$bundle"/*.deb; do
    [ -e "$f" ] || continue
    stamp="$root/.$(basename "$f").done"
    [ -e "$stamp" ] || { dpkg -x "$f" "$root" && touch "$stamp"; }
  done
fi
lib="$root/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CMAKE_PREFIX_PATH="$root/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PKG_CONFIG_PATH="$lib/pkgconfig:$root/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export CPATH="$root/usr/include:$root/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
export LIBRARY_PATH="$lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
