#!/usr/bin/env bash
# layering.sh ULPDIFF — the layers point one way (docs/design.md "Layers"):
#   numerics/  includes only numerics/          (the foundation)
#   spec/      includes only numerics/, spec/   (definitions both sides agree on, no arithmetic)
#   reference/ includes only numerics/, spec/, reference/  (the oracle shares nothing with the
#              kernels it judges)
#   gpu/       includes only numerics/, spec/, gpu/        (kernels know nothing of the harness)
# spec/ holds no function bodies, and no file cites a path outside the repository. Project includes are written from the repository root, so
# the first path component of every `#include "..."` names its layer.
set -euo pipefail
cd "$(dirname "$0")/../.."
bad=0
check() {   # check DIR ALLOWED...: every project include of DIR's files starts with an allowed folder
  local dir=$1
  shift
  local allowed=" $* " f line inc top
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    while IFS= read -r line; do
      inc=${line#*\"}; inc=${inc%%\"*}
      top=${inc%%/*}
      case "$allowed" in *" $top "*) ;; *)
        echo "layering: $f includes \"$inc\": $dir/ may include only $*"; bad=1 ;;
      esac
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$f" || true)
  done
}
check numerics numerics
check spec numerics spec
check reference numerics spec reference
check gpu numerics spec gpu
# spec/ headers define, they do not compute: no function with a body.
if grep -nE '^[A-Za-z_].*\)[[:space:]]*(\{.*)?$' spec/*.h | grep -vE '(;|\\)[[:space:]]*$' | grep -E '\{|\)$' > /tmp/layering.$$ 2>/dev/null && [ -s /tmp/layering.$$ ]; then
  while IFS= read -r l; do
    # a declaration ends in ';' on a later line is fine; a body opens with '{' on the next line
    f=${l%%:*}; n=$(echo "$l" | cut -d: -f2)
    next=$(sed -n "$((n + 1))p" "$f")
    case "$next" in '{'*) echo "layering: $f:$n: a function body in a spec header (definitions only)"; bad=1 ;; esac
  done < /tmp/layering.$$
fi
rm -f /tmp/layering.$$
# The project stands alone: nothing points outside the repository for its design or facts.
if git ls-files -z 2> /dev/null | xargs -0 grep -ln '\.\./shared/' -- 2> /dev/null | grep -v '^tests/cli/layering.sh$'; then
  echo "layering: the files above cite ../shared/, which a clone does not have (docs/design.md is the design)"
  bad=1
fi
[ "$bad" = 0 ] || exit 1
echo "layering: ok"
