#!/usr/bin/env bash
# A crash while ingest never pauses: copies STORE (a stopped store) to WORK/LABEL, serves it,
# waits for the column lineage, posts LOAD over HTTP (16 clients; RSS sampled), kill -9, drops
# the page cache, starts again: times to listening and to the column lineage, and the logs of
# the snapshots written and read. Root (drops the caches).
# The copy is removed at the end unless KEEP=1. With CHECK_NS and CHECK_NAME, a review bot
# checks a change of that dataset in a loop meanwhile (check_loop.py); BOTS=N runs N such bots
# at once (1); with LINEAGE=closure|datasets|summary|columns|products|search|listing the bots ask for that dataset's
# downstream lineage in a loop instead (lineage_loop.py). CRASH=0 stops the server with SIGTERM after the load instead (no restart).
# SERVE_ARGS adds flags to both starts (`--max-traversals 4`).
# usage: STORE=... LOAD=... crash_under_load.sh BIN LABEL
set -u
BIN=$1; L=$2; WORK=${WORK:-/tmp/crash-under-load}; D=$WORK/$L; PORT=${PORT:-5093}
mkdir -p "$WORK"; rm -rf "$D"; cp -r "$STORE" "$D"
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir $D --compact-growth 0 ${SERVE_ARGS:-} > $WORK/$L.out 2> $WORK/$L.log &
PID=$!
# The column lineage may be loaded before the listener is bound: wait for both.
until grep -q "column lineage loaded" $WORK/$L.log && grep -q "listening" $WORK/$L.out; do sleep 1; done
grep -E "^VmRSS|^VmHWM" /proc/$PID/status | tr '\n' ' '; echo
( while kill -0 $PID 2>/dev/null; do grep -E "^VmRSS" /proc/$PID/status | awk '{print $2}'; sleep 0.5; done > $WORK/$L.rss ) &
# CHECK_NS and CHECK_NAME: a review bot checks a change of that dataset again and again while
# the events are posted (check_loop.py).
CHECKERS=()
if [ -n "${CHECK_NAME:-}" ]; then
  rm -f $WORK/$L.stop $WORK/$L.checks
  for _ in $(seq "${BOTS:-1}"); do
    if [ -n "${LINEAGE:-}" ]; then
      python3 "$(dirname "$0")/lineage_loop.py" $PORT "$CHECK_NS" "$CHECK_NAME" 100000 "$LINEAGE" $WORK/$L.stop >> $WORK/$L.checks &
    else
      python3 "$(dirname "$0")/check_loop.py" $PORT "$CHECK_NS" "$CHECK_NAME" 100000 $WORK/$L.stop >> $WORK/$L.checks &
    fi
    CHECKERS+=($!)
  done
fi
python3 "$(dirname "$0")/post_http.py" $LOAD $PORT
if [ ${#CHECKERS[@]} -gt 0 ]; then touch $WORK/$L.stop; wait "${CHECKERS[@]}"; cat $WORK/$L.checks; fi
if [ "${CRASH:-1}" = 0 ]; then
  kill -TERM $PID; wait $PID
  [ "${KEEP:-0}" = 1 ] || rm -rf "$D"
  exit 0
fi
sleep 2
echo "peak RSS while posting: $(sort -n $WORK/$L.rss | tail -1) kB"
kill -9 $PID; wait $PID 2>/dev/null
sed 's/\x1b\[[0-9;]*m//g' $WORK/$L.log | grep -E "snapshot (written|not)" | cut -c1-260
sync; echo 3 > /proc/sys/vm/drop_caches
T0=$(date +%s.%N)
"$BIN" serve --listen 127.0.0.1:$PORT --data-dir $D --compact-growth 0 ${SERVE_ARGS:-} > $WORK/$L.out2 2> $WORK/$L.log2 &
PID=$!
until grep -q listening $WORK/$L.out2 2>/dev/null; do sleep 0.01; done
T1=$(date +%s.%N)
echo "cold start to listening: $(echo "$T1 - $T0" | bc) s"
until grep -q "column lineage loaded" $WORK/$L.log2; do sleep 0.2; done
T2=$(date +%s.%N)
echo "cold start to columns loaded: $(echo "$T2 - $T0" | bc) s"
sed 's/\x1b\[[0-9;]*m//g' $WORK/$L.log2 | grep -iE "snapshot|caught|rebuil|column lineage loaded" | cut -c1-300
# Schema changes recorded after the restart (a change still queued at the kill is recorded now;
# the query waits for it).
curl -s -H 'content-type: application/json' -d '{"query":"{ schemaChanges(first: 1000) { sequence } }"}' \
  http://127.0.0.1:$PORT/graphql | python3 -c 'import json,sys; d=json.load(sys.stdin); print("schema changes recorded after the restart:", len((d.get("data") or {}).get("schemaChanges") or []), d.get("errors", ""))'
kill -TERM $PID; wait $PID
sed 's/\x1b\[[0-9;]*m//g' $WORK/$L.log2 | grep -E "snapshot written" | cut -c1-260
[ "${KEEP:-0}" = 1 ] || rm -rf "$D"
