#!/usr/bin/env bash
# Serves DATADIR with the defaults, probes single events (probe_events.sh) and the store's
# size every 10 s; with MANUAL=1 starts `compactStore` after 20 s. Stops after SECONDS.
# usage: [MANUAL=1] compaction.sh BIN DATADIR SECONDS > out.txt ; then phases.py out.txt START END
set -u
BIN=$1; DIR=$2; SECS=$3; PORT=${PORT:-5078}; HERE=$(cd "$(dirname "$0")" && pwd)
LOG=$(mktemp); OUT=$(mktemp)
echo "spawn $(date +%T.%N) size $(du -sb "$DIR" | cut -f1)"
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DIR" > "$OUT" 2> "$LOG" &
PID=$!
until grep -q listening "$OUT" 2>/dev/null; do sleep 0.01; done
echo "listening $(date +%T.%N)"
( while kill -0 $PID 2>/dev/null; do echo "du $(date +%T) $(du -sb "$DIR" | cut -f1)"; sleep 10; done ) &
DU=$!
if [ "${MANUAL:-0}" = 1 ]; then
  ( sleep 20; echo "trigger $(date +%T) $(curl -s -H 'content-type: application/json' \
      -d '{"query":"mutation { compactStore { stage } }"}' http://127.0.0.1:$PORT/graphql)" ) &
fi
"$HERE/probe_events.sh" http://127.0.0.1:$PORT "$SECS"
T0=$(date +%s.%N); kill -TERM $PID; wait $PID; T1=$(date +%s.%N)
kill $DU 2>/dev/null
echo "stopped in $(echo "$T1 - $T0" | bc) s, size $(du -sb "$DIR" | cut -f1)"
sed 's/\x1b\[[0-9;]*m//g' "$LOG" | grep -E "compaction|grown|settled|accounted|column lineage loaded"
rm -f "$LOG" "$OUT"
