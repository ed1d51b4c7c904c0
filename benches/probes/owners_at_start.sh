#!/bin/bash
# A hub's change check asked as soon as a restarted server's column lineage is loaded, with
# the nodes' owners read from the index snapshot ("kept") and without them ("loaded": the
# snapshot's owners section damaged on purpose, so the same build loads them from the store
# as builds before the owners were kept did), alternating, each from a cold page cache.
# Needs root (drop_caches) and a store whose snapshot a clean close wrote (format 5).
# usage: owners_at_start.sh BIN STORE NAMESPACE NAME SCHEMA.json [ROUNDS]
set -euo pipefail
bin=$1 store=$2 namespace=$3 name=$4 schema=$5 rounds=${6:-2}
here=$(cd "$(dirname "$0")" && pwd)
snapshot="$store/lineage-index.snapshot"
clean=$(mktemp)
cp "$snapshot" "$clean"
trap 'cp "$clean" "$snapshot"; rm -f "$clean"' EXIT
damage_owners() { # flips one byte in the middle of the owners section's frame
  python3 - "$1" <<'PY'
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
identity = struct.unpack_from("<I", data, 20)[0]
graph_at = 24 + identity
graph_len = struct.unpack_from("<Q", data, graph_at)[0]
owners_at = graph_at + 8 + graph_len + 8
owners_len = struct.unpack_from("<Q", data, owners_at)[0]
data[owners_at + 8 + owners_len // 2] ^= 1
open(path, "wb").write(data)
PY
}
for round in $(seq "$rounds"); do
  for variant in kept loaded; do
    cp "$clean" "$snapshot"
    if [ "$variant" = loaded ]; then damage_owners "$snapshot"; fi
    echo "== round $round, owners $variant"
    COLD=1 "$here/check_during_load.sh" "$bin" "$store" "$namespace" "$name" "$schema"
  done
done
