#!/usr/bin/env bash
# How long a clean stop takes and how long the next start takes from a cold page cache (root:
# drops the caches): imports NDJSON, serves, posts LOAD's events over HTTP (16 clients), SIGTERM
# (timed), drops the page cache, starts again (timed to listening). SIGNAL=KILL stops it with
# kill -9 instead (a crash: the next start reads the log since the run's start and catches the
# index snapshot up).
# usage: stop_start.sh BIN DATADIR IMPORT.ndjson LOAD.ndjson
set -u
BIN=$1; DIR=$2; IMPORT=$3; LOAD=$4; PORT=${PORT:-5080}; SIGNAL=${SIGNAL:-TERM}
OUT=$(mktemp); LOG=$(mktemp)
rm -rf "$DIR"
"$BIN" import --quiet --data-dir "$DIR" "$IMPORT" 2>/dev/null | tail -1
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DIR" > "$OUT" 2> "$LOG" &
PID=$!
until grep -q listening "$OUT" 2>/dev/null; do sleep 0.01; done
python3 "$(dirname "$0")/post_http.py" "$LOAD" "$PORT"
echo "store $(du -sb "$DIR" | cut -f1) bytes"
T0=$(date +%s.%N); kill -$SIGNAL $PID; wait $PID; T1=$(date +%s.%N)
echo "SIG$SIGNAL to exit: $(echo "$T1 - $T0" | bc) s"
sed 's/\x1b\[[0-9;]*m//g' "$LOG" | grep -E "settled" || true
sync; echo 3 > /proc/sys/vm/drop_caches
T0=$(date +%s.%N)
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DIR" > "$OUT" 2> "$LOG" &
PID=$!
until grep -q listening "$OUT" 2>/dev/null; do sleep 0.01; done
T1=$(date +%s.%N)
echo "cold start to listening: $(echo "$T1 - $T0" | bc) s"
sed 's/\x1b\[[0-9;]*m//g' "$LOG" | grep -iE "snapshot|caught|rebuil" | cut -c1-300 || true
kill -TERM $PID; wait $PID
rm -f "$OUT" "$LOG"
