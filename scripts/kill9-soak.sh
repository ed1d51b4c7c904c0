#!/usr/bin/env bash
# kill -9 soak: start the real server, post from K concurrent clients, kill -9 it after a
# random 0.2-2 s, restart it on the same data directory and check that every event it ever
# acknowledged (HTTP 201) is stored under the sequence it was acknowledged with. Repeats.
#
# Not run in CI (CI runs the few-cycle tests/regression.rs::every_acknowledged_event_survives_kill_9).
# Needs: a built binary (target/release/tributary, else target/debug/tributary) and python3
# (standard library only).
#
# Environment:
#   CYCLES=200          kill/restart cycles
#   CLIENTS=4           concurrent posting clients
#   TRIBUTARY_BIN=path  binary to run (default: release build, else debug build)
#   DIR=path            data directory (default: a fresh temporary one, removed on success)
#   START_TIMEOUT=60    seconds a (re)start may take before the store counts as not reopening
#
# Exit status: 0 when nothing acknowledged was lost; 1 on a lost (or altered) acknowledged
# event; 2 when the store does not reopen; 3 on a usage or environment problem.

set -euo pipefail

CYCLES=${CYCLES:-200}
CLIENTS=${CLIENTS:-4}
START_TIMEOUT=${START_TIMEOUT:-60}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ -n "${TRIBUTARY_BIN:-}" ]]; then
    BIN=$TRIBUTARY_BIN
elif [[ -x "$ROOT/target/release/tributary" ]]; then
    BIN=$ROOT/target/release/tributary
else
    BIN=$ROOT/target/debug/tributary
fi
if [[ ! -x "$BIN" ]]; then
    echo "kill9-soak: no binary at $BIN (cargo build --release, or set TRIBUTARY_BIN)" >&2
    exit 3
fi
command -v python3 >/dev/null || { echo "kill9-soak: python3 is required" >&2; exit 3; }

OWN_DIR=0
if [[ -z "${DIR:-}" ]]; then
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/tributary-soak.XXXXXX")
    OWN_DIR=1
fi
DATA=$DIR/data
ACKS=$DIR/acks          # one line per acknowledged event: `sequence run-id`
LOG=$DIR/server.log     # the server's stderr, all cycles
WORK=$DIR/work          # scripts and per-start stdout
mkdir -p "$DATA" "$WORK"
: >>"$ACKS"

SERVER_PID=""
CLIENTS_PID=""
URL=""

cleanup() {
    # Only what this script started, by pid.
    [[ -n "$CLIENTS_PID" ]] && kill "$CLIENTS_PID" 2>/dev/null || true
    [[ -n "$SERVER_PID" ]] && kill -9 "$SERVER_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The posting clients: K threads, one keep-alive connection each, unique run ids; every 201
# is appended to the ack file (flushed at once) before the next post. A thread stops at the
# first connection error (the server was killed).
cat >"$WORK/clients.py" <<'PY'
import http.client, json, sys, threading, urllib.parse

url, cycle, clients, acks_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
target = urllib.parse.urlsplit(url)
lock = threading.Lock()
acks = open(acks_path, "a")
counts = {"acked": 0, "refused": 0}

def event(client, n):
    run = f"00000000-0000-4000-8000-{cycle:05d}{client:02d}{n:05d}"
    return run, json.dumps({
        "eventType": "COMPLETE",
        "eventTime": "2024-01-01T00:00:00Z",
        "producer": "https://example.com/tributary-soak",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run},
        "job": {"namespace": "soak", "name": f"job{cycle}_{client}_{n}"},
        "inputs": [{"namespace": "db", "name": f"in{n % 13}"}],
        "outputs": [{"namespace": "db", "name": f"out{cycle}_{client}_{n}"}],
    })

def post(client):
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    for n in range(100000):
        run, body = event(client, n)
        try:
            connection.request("POST", "/api/v1/lineage", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException):
            return  # killed
        if response.status == 201:
            sequence = json.loads(text)["sequence"]
            with lock:
                acks.write(f"{sequence} {run}\n")
                acks.flush()
                counts["acked"] += 1
        else:
            with lock:
                counts["refused"] += 1
                if counts["refused"] <= 3:
                    print(f"client {client}: HTTP {response.status}: {text[:300]!r}", file=sys.stderr)

threads = [threading.Thread(target=post, args=(c,)) for c in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(f"{counts['acked']} {counts['refused']}")
PY

# The check: every acknowledged (sequence, run id) is stored, read back over GraphQL.
cat >"$WORK/verify.py" <<'PY'
import json, sys, urllib.request

url, acks_path = sys.argv[1], sys.argv[2]
expected = {}
conflicts = []
with open(acks_path) as acks:
    for line in acks:
        parts = line.split()
        if len(parts) != 2:
            continue
        sequence, run = int(parts[0]), parts[1]
        if expected.get(sequence, run) != run:
            conflicts.append(f"sequence {sequence} acknowledged for {expected[sequence]} and {run}")
        expected[sequence] = run

def graphql(query, variables):
    request = urllib.request.Request(
        url + "/graphql",
        json.dumps({"query": query, "variables": variables}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    if body.get("errors"):
        raise SystemExit(f"graphql errors: {body['errors']}")
    return body["data"]

stored = {}
after = 0
while True:
    page = graphql(
        "query($after: Int) { events(after: $after, first: 1000) { events { sequence event } nextAfter } }",
        {"after": after},
    )["events"]
    for item in page["events"]:
        stored[item["sequence"]] = item["event"].get("run", {}).get("runId")
    if page["nextAfter"] is None:
        break
    after = page["nextAfter"]

lost = [(s, r, stored.get(s)) for s, r in sorted(expected.items()) if stored.get(s) != r]
for sequence, run, found in lost[:10]:
    print(f"LOST sequence {sequence} (run {run}): stored {found!r}", file=sys.stderr)
for conflict in conflicts[:10]:
    print(f"CONFLICT {conflict}", file=sys.stderr)
print(f"{len(expected)} {len(lost) + len(conflicts)} {len(stored)}")
PY

# Starts the server on $DATA; sets SERVER_PID and URL. Returns 1 if it does not listen in time.
start_server() {
    local out=$WORK/stdout
    : >"$out"
    TRIBUTARY_LOG=${TRIBUTARY_LOG:-warn} "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" >"$out" 2>>"$LOG" &
    SERVER_PID=$!
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if URL=$(sed -n 's/^tributary listening on //p' "$out") && [[ -n "$URL" ]]; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            return 1
        fi
        sleep 0.05
    done
    return 1
}

fail_reopen() {
    echo "kill9-soak: the store in $DATA did not reopen (cycle $1); server log tail:" >&2
    tail -n 20 "$LOG" >&2 || true
    echo "kill9-soak: data kept in $DIR" >&2
    exit 2
}

echo "kill9-soak: $CYCLES cycles, $CLIENTS clients, binary $BIN, data $DATA"
start_server || fail_reopen 0

total_acked=0
total_refused=0
began=$SECONDS
for ((cycle = 1; cycle <= CYCLES; cycle++)); do
    python3 "$WORK/clients.py" "$URL" "$cycle" "$CLIENTS" "$ACKS" >"$WORK/clients.out" &
    CLIENTS_PID=$!
    delay_ms=$((200 + RANDOM % 1801))
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    kill -9 "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    wait "$CLIENTS_PID" || { echo "kill9-soak: the clients failed (cycle $cycle)" >&2; exit 3; }
    CLIENTS_PID=""
    read -r acked refused <"$WORK/clients.out"
    total_acked=$((total_acked + acked))
    total_refused=$((total_refused + refused))

    reopen_started=$(date +%s.%N)
    start_server || fail_reopen "$cycle"
    reopen_s=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$reopen_started" "$(date +%s.%N)")
    if ! checked=$(python3 "$WORK/verify.py" "$URL" "$ACKS"); then
        echo "kill9-soak: the check could not read the store back (cycle $cycle); data kept in $DIR" >&2
        exit 1
    fi
    read -r verified lost stored <<<"$checked"
    printf 'cycle %d/%d: killed after %d ms, acked %d (refused %d), reopened in %s s, verified %d acknowledged of %d stored, lost %d\n' \
        "$cycle" "$CYCLES" "$delay_ms" "$acked" "$refused" "$reopen_s" "$verified" "$stored" "$lost"
    if ((lost != 0)); then
        echo "kill9-soak: LOST $lost acknowledged events (cycle $cycle); data kept in $DIR" >&2
        exit 1
    fi
done

# A clean stop at the end (SIGTERM: the server closes the store).
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
echo "kill9-soak: total: $CYCLES cycles, $total_acked acknowledged events ($verified checked after the last restart), refused $total_refused, lost 0, $((SECONDS - began)) s"
if ((OWN_DIR)); then
    rm -rf "$DIR"
fi
