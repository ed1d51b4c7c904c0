#!/usr/bin/env bash
# Tributary against the peer baselines on the same gen_mesh data, in one command.
#
#   benches/run.sh [SCALE]        # SCALE: 10k (default), 100k, 1m
#
# 1. generates /tmp/lineage-bench/data/{mesh,targets}-SCALE.* with gen_mesh.py if missing;
# 2. runs the peers with /work/shared/bench/run_peers.sh on those files (REGEN=0, this scale,
#    no one-transaction-per-event or Marquez extras unless asked);
# 3. runs `cargo bench --bench mesh -- --scale SCALE`, then crosscheck.py over every result;
# 4. prints the ratio tables (benches/report.py) and every JSON line.
#
# Knobs (env): ROOT (/tmp/lineage-bench), BENCH (/work/shared/bench), RUN_PEERS (1; 0 = reuse
#   the peers' lines from PEERS_JSONL), PEERS_JSONL (a previous run's peer lines), PEERS, REPS,
#   TXN_PER_EVENT (0), MARQUEZ (0), PER_PEER_TIMEOUT, INGEST_BUDGET_S (passed to run_peers.sh),
#   MESH_ARGS (extra arguments for the mesh bench, e.g. "--ingest-cap-s 30 --keep").
# Impact summary on the SQL peers (benches/summary_peers.py, after the mesh bench's `summary`
#   step wrote its mesh and answers): SUMMARY_SQL (= RUN_PEERS; 0 skips it, 1 runs it even with
#   RUN_PEERS=0), SUMMARY_PEERS ("duckdb sqlite postgres"; at 1m "duckdb sqlite"), SUMMARY_REPS (5),
#   SUMMARY_ARGS (more options). Loads its own copy of each database (the peers' code), deletes
#   it after; a difference from Tributary's totals or groups fails the run (exit 1).
#
# A/B of builds in one run (same data, same machine state, one report):
#   AB="tributary-6014ca5=/work/old/target/release/tributary" benches/run.sh 100k
# runs the mesh bench for this build (peer `tributary`) and for every NAME=PATH binary of AB
# (peer NAME), AB_ROUNDS times (2), the order reversed every other round (A B, then B A) so a
# drift of the machine falls on both; AB_SELF=0 leaves this build out (compare only AB's
# binaries). report.py then prints the A/B table: each figure per round, the median and the
# ratio to the first binary. For ingest alone: MESH_ARGS="--steps import,grpc,http".
set -euo pipefail
SCALE=${1:-10k}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BENCH=${BENCH:-/work/shared/bench}
export ROOT=${ROOT:-/tmp/lineage-bench}
RUN_PEERS=${RUN_PEERS:-1}
export REGEN=0 SCALES=$SCALE
export TXN_PER_EVENT=${TXN_PER_EVENT:-0} MARQUEZ=${MARQUEZ:-0}
if [ "$SCALE" = 1m ]; then
  # As RESULTS.md's 1M run: one repetition, ingest budgets, no query variants, databases deleted.
  # The SQL peers that finish at 1M in reasonable time and disk (PostgreSQL takes 5.6 GB and
  # ~3 s per hub query, Kuzu does not finish its ingest, networkx needs 12 GB of RAM): set
  # PEERS to run others.
  export PEERS=${PEERS:-"duckdb sqlite"}
  export REPS=${REPS:-1} INGEST_BUDGET_S=${INGEST_BUDGET_S:-600} \
    DUCKDB_VARIANTS=${DUCKDB_VARIANTS-} SQLITE_VARIANTS=${SQLITE_VARIANTS-} CLEANUP=${CLEANUP:-1}
  MESH_ARGS="--reps 1 --import-budget-s 3600 ${MESH_ARGS:-}"
fi
mkdir -p "$ROOT/data" "$ROOT/results"
OUT="$ROOT/results/bench-$SCALE-$(date +%Y%m%dT%H%M%S).jsonl"
log() { echo "[run.sh $(date +%H:%M:%S)] $*" >&2; }
T0=$(date +%s)

loadavg_line() { # the machine's load before a step, in the results (2 cores shared with other work)
  printf '{"peer": "all", "scale": "%s", "metric": "loadavg", "value": "%s", "unit": "info", "before": "%s"}\n' \
    "$SCALE" "$(cut -d' ' -f1-3 /proc/loadavg)" "$1" | tee -a "$OUT"
}

scale_n() {
  case "$1" in
    *[kK]) echo $(( ${1%[kK]} * 1000 )) ;;
    *[mM]) echo $(( ${1%[mM]} * 1000000 )) ;;
    *) echo "$1" ;;
  esac
}

# --- data (the same command line as run_peers.sh, so the files are byte-identical) -------
data="$ROOT/data/mesh-$SCALE.ndjson"
targets="$ROOT/data/targets-$SCALE.json"
if [ ! -s "$data" ] || [ ! -s "$targets" ]; then
  log "generating $SCALE with gen_mesh.py"
  t0=$(date +%s.%N)
  python3 "$BENCH/gen_mesh.py" --datasets "$(scale_n "$SCALE")" --seed "${SEED:-42}" --out "$data" --targets "$targets"
  t1=$(date +%s.%N)
  printf '{"peer": "generator", "scale": "%s", "metric": "generate_s", "value": %.2f, "unit": "s", "ndjson_bytes": %d, "sha256_16": "%s"}\n' \
    "$SCALE" "$(awk "BEGIN{print $t1 - $t0}")" "$(stat -c %s "$data")" "$(sha256sum "$data" | cut -c1-16)" | tee -a "$OUT"
fi

# --- peers -----------------------------------------------------------------------------
# run_peers.sh keeps its virtualenv beside itself; the shared folder is read-only, so it
# runs from a writable copy (the venv there is reused by later runs).
src="$ROOT/peers-src"
peers_src() {
  mkdir -p "$src"
  (cd "$BENCH" && tar --exclude=.venv --exclude=results -cf - .) | (cd "$src" && tar -xf -)
  chmod -R u+w "$src"
  # kuzu 0.11.3 calls importlib.util without importing it; in this Python nothing else has
  # imported it by then ("module 'importlib' has no attribute 'util'"), so preload it.
  mkdir -p "$src/pyfix" && echo "import importlib.util" > "$src/pyfix/sitecustomize.py"
  if [ ! -x "$src/.venv/bin/python" ]; then
    python3 -m venv "$src/.venv" && "$src/.venv/bin/python" -m pip install -q -r "$src/requirements.txt" >&2
  fi
}
if [ "$RUN_PEERS" = 1 ]; then
  peers_src
  log "peers at $SCALE (run_peers.sh from $src)"
  (cd "$src" && PYTHONPATH="$src/pyfix${PYTHONPATH:+:$PYTHONPATH}" ./run_peers.sh) | tee -a "$OUT"
elif [ -n "${PEERS_JSONL:-}" ]; then
  log "reusing the peers' lines from $PEERS_JSONL"
  # shellcheck disable=SC2086
  grep -h '^{' $PEERS_JSONL | grep "\"scale\": \"$SCALE\"" \
    | grep -v -e '"peer": "tributary' -e '"peer": "bfs-floor"' -e '"peer": "all"' -e '"metric": "summary_' >>"$OUT"
fi

# --- tributary ----------------------------------------------------------------------------
mesh() { # [--bin PATH --label NAME]: one run of the mesh bench, lines appended to $OUT
  log "cargo bench --bench mesh -- --scale $SCALE $*"
  loadavg_line "mesh bench $*"
  # shellcheck disable=SC2086
  (cd "$REPO" && cargo bench --bench mesh -- --scale "$SCALE" --root "$ROOT" --data "$data" --targets "$targets" \
    ${MESH_ARGS:-} "$@") | tee -a "$OUT"
}
if [ -z "${AB:-}" ]; then
  mesh
else
  # Every binary of the comparison as "NAME PATH" lines; this build first unless AB_SELF=0.
  builds=()
  [ "${AB_SELF:-1}" = 1 ] && builds+=("tributary -")
  for pair in $AB; do
    name=${pair%%=*} path=${pair#*=}
    [ -x "$path" ] || { echo "AB: $path is not an executable" >&2; exit 1; }
    builds+=("$name $path")
  done
  rounds=${AB_ROUNDS:-2}
  for round in $(seq 1 "$rounds"); do
    order=("${builds[@]}")
    if [ $((round % 2)) = 0 ]; then # reversed: A B, B A, A B, ...
      order=()
      for ((i = ${#builds[@]} - 1; i >= 0; i--)); do order+=("${builds[$i]}"); done
    fi
    for build in "${order[@]}"; do
      name=${build%% *} path=${build#* }
      log "A/B round $round of $rounds: $name"
      if [ "$path" = - ]; then
        mesh
      else
        # The commit of the other binary's work tree (the bench would name this one's).
        commit=$(git -C "$(dirname "$path")" rev-parse --short HEAD 2>/dev/null || echo "$name")
        BENCH_COMMIT=$commit mesh --bin "$path" --label "$name"
      fi
    done
  done
fi

# --- cross-check every result file of this scale (peers, tributary, floor) ------------------
set +e
python3 "$BENCH/crosscheck.py" --scale "$SCALE" --results "$ROOT/results" | tee -a "$OUT"
set -e

# --- the impact summary on the SQL peers, against this run's Tributary answers -----------------
summary_rc=0
if [ "${SUMMARY_SQL:-$RUN_PEERS}" = 1 ]; then
  answers=""
  for label in tributary ${AB:+$(for pair in $AB; do echo "${pair%%=*}"; done)}; do
    f="$ROOT/results/summary/$label-$SCALE.json"
    if [ -s "$f" ] && [ "$(stat -c %Y "$f")" -ge "$T0" ]; then answers=$f; break; fi
  done
  if [ -z "$answers" ]; then
    log "summary on the SQL peers skipped: no impact summary answers from this run (mesh step \`summary\`)"
  else
    [ -x "$src/.venv/bin/python" ] || peers_src
    speers=${SUMMARY_PEERS:-"duckdb sqlite postgres"}
    [ "$SCALE" = 1m ] && speers=${SUMMARY_PEERS:-"duckdb sqlite"}
    log "impact summary on the SQL peers ($speers) against $answers (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    loadavg_line "summary_peers.py"
    set +e
    # shellcheck disable=SC2086
    (cd "$src" && PGROOT="$ROOT/pg" PYTHONHASHSEED=0 .venv/bin/python "$HERE/summary_peers.py" --src "$src" \
      --answers "$answers" --peers "${speers// /,}" --summary-reps "${SUMMARY_REPS:-5}" \
      --data "$data" --targets "$targets" --scale "$SCALE" --workdir "$ROOT/db" --results "$ROOT/results" \
      --batch-events "${BATCH_EVENTS:-5000}" --ingest-budget-s "${INGEST_BUDGET_S:-0}" ${SUMMARY_ARGS:-}) | tee -a "$OUT"
    summary_rc=${PIPESTATUS[0]}
    set -e
  fi
fi
printf '{"peer": "all", "scale": "%s", "metric": "bench_run_wall_s", "value": %d, "unit": "s"}\n' \
  "$SCALE" "$(( $(date +%s) - T0 ))" | tee -a "$OUT"

# --- report ---------------------------------------------------------------------------------
echo
python3 "$HERE/report.py" "$OUT"
echo
echo "## JSON lines ($OUT)"
echo
cat "$OUT"
if [ "$summary_rc" != 0 ]; then
  echo "impact summary on the SQL peers: exit $summary_rc (a mismatch with Tributary's answers, or a failure; see above)" >&2
  exit 1
fi
