#!/usr/bin/env bash
# Turns between tokens (fair_turns.py) on a copy of STORE (a stopped store): two read tokens
# are created in the copy (one floods, one is the analyst's), the server serves it, and the
# probe runs FLOOD clients of the first token beside the analyst for DURATION seconds (40).
# The hub and the small question default to the 100k mesh's (gen_mesh.py --seed 42).
# The copy is removed at the end unless KEEP=1. SERVE_ARGS adds flags to `serve`.
# usage: STORE=... fair_turns.sh BIN LABEL FLOOD
set -eu
BIN=$1; L=$2; FLOOD=$3; WORK=${WORK:-/tmp/fair-turns}; D=$WORK/$L; PORT=${PORT:-5094}
HUB_NS=${HUB_NS:-snowflake://acme-prod.eu-west-1}; HUB=${HUB:-inventory_staging.dim_experiments_14997}
SMALL_NS=${SMALL_NS:-snowflake://acme-prod.eu-west-1}; SMALL=${SMALL:-ops_intermediate.int_experiments_54849}
mkdir -p "$WORK"; rm -rf "$D"; cp -r "$STORE" "$D"
FLOOD_TOKEN=$("$BIN" token create --data-dir "$D" --name flooding-bot --scope read 2>/dev/null)
ANALYST_TOKEN=$("$BIN" token create --data-dir "$D" --name analyst --scope read 2>/dev/null)
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$D" --compact-growth 0 ${SERVE_ARGS:-} > "$WORK/$L.out" 2> "$WORK/$L.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$D"' EXIT
until grep -q "column lineage loaded" "$WORK/$L.log" && grep -q "listening" "$WORK/$L.out"; do sleep 1; done
python3 "$(dirname "$0")/fair_turns.py" $PORT "$FLOOD_TOKEN" "$ANALYST_TOKEN" "$FLOOD" "$HUB_NS" "$HUB" \
  "$SMALL_NS" "$SMALL" "${DURATION:-40}"
