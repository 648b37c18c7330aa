#!/usr/bin/env bash
# gpu-env.sh [BUNDLE] — source it on the GPU machine: unpacks the .deb files that
# scripts/bundle-deps.sh downloaded (default .bundle/debs) into .bundle/root (never into /,
# which they could break) and points pkg-config, CMake and the loader at them.
#   source scripts/gpu-env.sh && cmake -S . -B build-gpu ...
#
# The .pc files say prefix=/usr; PKG_CONFIG_SYSROOT_DIR rewrites their -I/-L paths into the
# bundle, and PKG_CONFIG_LIBDIR makes the bundle the only place pkg-config looks, so the build
# cannot half-use a system copy. gmp.h sits in the multiarch include folder, which only
# Debian's own compilers search: CPATH adds the bundle's. libgfortran5/libquadmath0 go to
# .bundle/fallback and onto LD_LIBRARY_PATH only where the machine has no libgfortran.so.5.
# pkg-config from the bundle is put on PATH only where the machine has none.
# Safe under `set -u`; never exits the shell that sources it.
ud_bundle=${1:-.bundle/debs}
ud_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ud_root=$ud_top/.bundle/root
ud_fallback=$ud_top/.bundle/fallback
if [ -d "$ud_bundle" ]; then
  mkdir -p "$ud_root" "$ud_fallback"
  for ud_f in "$ud_bundle"/*.deb; do
    [ -e "$ud_f" ] || continue
    ud_name=$(basename "$ud_f")
    case "${ud_name%%_*}" in
      libgfortran5 | libquadmath0) ud_dest=$ud_fallback ;;
      *) ud_dest=$ud_root ;;
    esac
    ud_stamp="$ud_dest/.$ud_name.done"
    [ -e "$ud_stamp" ] || { dpkg -x "$ud_f" "$ud_dest" && touch "$ud_stamp"; } \
      || echo "gpu-env: cannot unpack $ud_f" >&2
  done
else
  echo "gpu-env: no bundle at $ud_bundle (run scripts/bundle-deps.sh where a package registry is reachable, then carry .bundle)" >&2
fi
ud_lib=$ud_root/usr/lib/x86_64-linux-gnu
ud_ld="$ud_lib:$ud_lib/openblas-pthread"
ud_ldcache=$({ /sbin/ldconfig -p 2> /dev/null || ldconfig -p 2> /dev/null; })
case $ud_ldcache in   # a pattern, not `| grep -q`: that can SIGPIPE the writer under pipefail
  *'libgfortran.so.5 '*) ;;
  *) ud_ld="$ud_ld:$ud_fallback/usr/lib/x86_64-linux-gnu" ;;
esac
export LD_LIBRARY_PATH="$ud_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG_LIBDIR="$ud_lib/pkgconfig:$ud_lib/openblas-pthread/pkgconfig:$ud_root/usr/share/pkgconfig"
export PKG_CONFIG_PATH=""
export PKG_CONFIG_SYSROOT_DIR="$ud_root"
export CMAKE_PREFIX_PATH="$ud_root/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export CPATH="$ud_root/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
if ! command -v pkg-config > /dev/null 2>&1 && [ -x "$ud_root/usr/bin/pkgconf" ]; then
  export PATH="$ud_root/usr/bin:$PATH"
fi
export UD_BUNDLE_ROOT="$ud_root"
unset ud_bundle ud_top ud_root ud_fallback ud_f ud_name ud_dest ud_stamp ud_lib ud_ld
