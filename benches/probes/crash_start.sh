#!/usr/bin/env bash
# Start-up after a crash, A/B: builds one crashed store (IMPORT.ndjson imported, served, LOAD's
# events posted over HTTP by 16 clients, kill -9), then, ROUNDS times, for each binary in turn:
# copies the crashed store, drops the page cache (root), starts the server on the copy, and
# reports the time to listening, the index snapshot's catch-up (as logged) and the time the
# column lineage took to load. Every start sees the same store: nothing a start recovers or
# rewrites carries over to the next.
# usage: crash_start.sh IMPORT.ndjson LOAD.ndjson BIN [BIN ...]
# env: WORK (default /tmp/crash-start), PORT (5083), ROUNDS (3), REUSE=1 (start from the crashed
# store WORK holds from an earlier run, if any, instead of making one)
set -u
IMPORT=$1; LOAD=$2; shift 2
WORK=${WORK:-/tmp/crash-start}; PORT=${PORT:-5083}; ROUNDS=${ROUNDS:-3}
SRC=$WORK/crashed; RUN=$WORK/run; OUT=$WORK/out; LOG=$WORK/log
mkdir -p "$WORK"
strip() { sed 's/\x1b\[[0-9;]*m//g' "$LOG"; }
serve() {
  "$1" serve --listen 127.0.0.1:$PORT --data-dir "$2" > "$OUT" 2> "$LOG" &
  PID=$!
  until grep -q listening "$OUT" 2>/dev/null; do sleep 0.01; done
}
if [ -n "${REUSE:-}" ] && [ -d "$SRC" ]; then
  echo "reusing the crashed store in $SRC"
else
rm -rf "$SRC"
"$1" import --quiet --data-dir "$SRC" "$IMPORT" 2>/dev/null | tail -1
serve "$1" "$SRC"
python3 "$(dirname "$0")/post_http.py" "$LOAD" "$PORT"
kill -KILL $PID; wait $PID 2>/dev/null
fi
echo "crashed store $(du -sb "$SRC" | cut -f1) bytes"
for round in $(seq "$ROUNDS"); do
  for BIN in "$@"; do
    rm -rf "$RUN"; cp -a "$SRC" "$RUN"
    sync; echo 3 > /proc/sys/vm/drop_caches
    T0=$(date +%s.%N)
    serve "$BIN" "$RUN"
    T1=$(date +%s.%N)
    for _ in $(seq 1200); do grep -q "column lineage loaded" "$LOG" && break; sleep 0.1; done
    caught=$(strip | grep -o "caught up with the events stored after it.*" | grep -oE "(events|datasets|jobs|[a-z]+_ms)=[0-9]+" | tr '\n' ' ')
    read_ms=$(strip | grep "lineage index read from its snapshot" | grep -oE "elapsed_ms=[0-9]+")
    columns_ms=$(strip | grep "column lineage loaded" | grep -oE "elapsed_ms=[0-9]+")
    echo "round $round $(basename "$BIN"): listening $(echo "$T1 - $T0" | bc) s; index $read_ms; catch-up $caught; columns $columns_ms"
    kill -TERM $PID; wait $PID
  done
done
