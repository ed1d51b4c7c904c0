#!/bin/bash
# A hub's change check asked as soon as a restarted server's column lineage is loaded, while
# the nodes' owners still load: how long it takes, and when the owners' load ended.
# COLD=1 empties the page cache before the start (needs root).
# usage: check_during_load.sh BIN STORE NAMESPACE NAME SCHEMA.json
set -euo pipefail
bin=$1 store=$2 namespace=$3 name=$4 schema=$5
log=$(mktemp); out=$(mktemp)
if [ "${COLD:-0}" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
started=$(date +%s.%N)
"$bin" serve --listen 127.0.0.1:0 --data-dir "$store" --compact-growth 0 > "$out" 2> "$log" &
server=$!
until grep -q "column lineage loaded" "$log"; do sleep 0.1; done
port=$(grep -o "listening on [a-z]*://127.0.0.1:[0-9]*" "$out" | grep -o "[0-9]*$")
asked=$(date +%s.%N)
"$bin" check --server "http://127.0.0.1:$port" --namespace "$namespace" --name "$name" --schema "$schema" \
  --output json --fail-on never > "$out.report"
answered=$(date +%s.%N)
until grep -q "owners loaded\|loading the owners failed" "$log"; do sleep 0.1; done
python3 - "$started" "$asked" "$answered" "$out.report" <<'PY'
import json, sys
started, asked, answered = map(float, sys.argv[1:4])
report = json.load(open(sys.argv[4]))
print(f"check asked {asked - started:.1f} s after the start, answered in {answered - asked:.2f} s: "
      f"verdict {report['verdict']}, {len(report.get('affectedDatasets', []))} affected datasets")
PY
grep -o "owners loaded.*\|a report waited.*" "$log" | sed 's/\x1b\[[0-9;]*m//g'
kill $server; wait $server || true
rm -f "$log" "$out" "$out.report"
