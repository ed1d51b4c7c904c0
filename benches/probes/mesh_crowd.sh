#!/bin/bash
# A/B of a product-lineage crowd beside HTTP ingest: for each binary, a copy of STORE is
# served, the bench's mesh applied (apply_mesh.py), then LOAD is posted by post_http.py (16
# clients) while mesh_crowd.py runs CLIENTS clients for DURATION s.
# usage: mesh_crowd.sh STORE MESH.ndjson LOAD.ndjson CLIENTS DURATION BIN...
set -euo pipefail
store=$1 mesh=$2 load=$3 clients=$4 duration=$5; shift 5
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-/tmp/mesh-crowd}
for bin in "$@"; do
  rm -rf "$work"; mkdir -p "$work"; cp -r "$store" "$work/store"
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/store" --compact-growth 0 > "$work/out.log" 2> "$work/server.log" &
  server=$!
  until grep -q "owners loaded" "$work/server.log"; do sleep 0.5; done
  port=$(grep -o "listening on [a-z]*://127.0.0.1:[0-9]*" "$work/out.log" | grep -o "[0-9]*$")
  python3 "$here/apply_mesh.py" "$port" "$mesh" > /dev/null
  echo "== $bin"
  python3 "$here/post_http.py" "$load" "$port" > "$work/post.txt" &
  poster=$!
  sleep 2
  python3 "$here/mesh_crowd.py" "$port" "$clients" "$duration" "$server"
  wait $poster; head -1 "$work/post.txt"
  kill $server; wait $server || true
done
rm -rf "$work"
