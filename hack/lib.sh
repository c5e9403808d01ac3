# Common settings for hack/ scripts. Source it; do not run it.
# Tool binaries live outside the repository, keyed by version, so a fresh clone
# rebuilds only what is missing.
KENNEL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KENNEL_CACHE=${KENNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kennel}
KENNEL_TOOLS_BIN=$KENNEL_CACHE/tools/bin
mkdir -p "$KENNEL_TOOLS_BIN"
export KENNEL_ROOT KENNEL_CACHE KENNEL_TOOLS_BIN

log() { printf '==> %s\n' "$*" >&2; }

# build_tool MODULE_DIR PACKAGE NAME: builds PACKAGE from the tools module in
# MODULE_DIR into $KENNEL_TOOLS_BIN/NAME-<hash of go.sum>, unless already there,
# and prints the path of the binary.
build_tool() {
  local dir=$1 pkg=$2 name=$3 key out
  key=$(cat "$KENNEL_ROOT/$dir/go.mod" "$KENNEL_ROOT/$dir/go.sum" | sha256sum | cut -c1-12)
  out=$KENNEL_TOOLS_BIN/$name-$key
  if [ ! -x "$out" ]; then
    log "building $name (once; cached in $KENNEL_TOOLS_BIN)"
    (cd "$KENNEL_ROOT/$dir" && go build -o "$out.tmp" "$pkg") && mv "$out.tmp" "$out"
  fi
  printf '%s\n' "$out"
}
