#!/usr/bin/env bash
# One small HTTP event every 50 ms against a running server, one line per event:
#   ev <time> <status> <seconds>
# usage: probe_events.sh BASE_URL SECONDS [RUN_PREFIX]
# (session 20-21 figures: single events while a store loads, compacts or settles)
set -u
BASE=$1; SECS=$2; PREFIX=${3:-a000}
END=$(( $(date +%s) + SECS ))
i=0
while [ "$(date +%s)" -lt "$END" ]; do
  i=$((i+1))
  run="00000000-0000-4000-${PREFIX}-$(printf %012d $i)"
  r=$(curl -s -o /dev/null -w "%{http_code} %{time_total}" -H 'content-type: application/json' \
    -d "{\"eventType\":\"COMPLETE\",\"eventTime\":\"2026-01-01T00:00:00Z\",\"run\":{\"runId\":\"$run\"},\"job\":{\"namespace\":\"bench-probe\",\"name\":\"probe\"},\"inputs\":[{\"namespace\":\"bench-probe\",\"name\":\"probe_in\"}],\"outputs\":[{\"namespace\":\"bench-probe\",\"name\":\"probe_out\"}],\"producer\":\"https://example.com/probe\",\"schemaURL\":\"https://openlineage.io/spec/2-0-2/OpenLineage.json#/\$defs/RunEvent\"}" \
    "$BASE/api/v1/lineage")
  echo "ev $(date +%T.%N) $r"
  sleep 0.05
done
