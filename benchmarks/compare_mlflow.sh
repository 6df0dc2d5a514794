#!/usr/bin/env bash
# Side-by-side comparison with the MLflow tracking server (registry REST API): W1, W2, W4 (3 runs)
# and W3 up to 100,000 versions (1 run), both servers on the same private Postgres 15 with 2 workers.
# Needs an otherwise idle machine (about 40 minutes) and the harness of ../shared/bench (BENCH=...).
#
#   benchmarks/compare_mlflow.sh                 # from the project root; results in benchmarks/results/
#   SKIP_INSTALL=1 benchmarks/compare_mlflow.sh  # reuse the venvs of a previous run
#   WORKLOADS=w1,w2,w4 W3=0 benchmarks/compare_mlflow.sh   # the short part only (about 15 minutes)
#
# Writes benchmarks/results/<UTC date>-<commit>-{mlregistry,mlflow}-{short,w3}.json, the `compare` tables
# next to them (*.txt), the figures that go into the README's Performance section, and the peak memory of
# mlregistry's worker processes during each part (*-mlregistry-{short,w3}-rss.json).
set -euo pipefail

BENCH=${BENCH:-../shared/bench}
WORKLOADS=${WORKLOADS:-w1,w2,w4}
W3=${W3:-1}
RUNS=${RUNS:-3}
W3_CHECKPOINTS=${W3_CHECKPOINTS:-1000,10000,100000}
OUT_DIR=${OUT_DIR:-benchmarks/results}
PY=${PY:-/tmp/regbench-venv/bin/python}
RUN_DIR=${RUN_DIR:-/tmp/regbench}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
if [[ -z ${SKIP_INSTALL:-} ]]; then
  "$BENCH/setup_mlflow.sh" install
  MLR_SRC=$(pwd) "$BENCH/setup_mlregistry.sh" install
fi
mkdir -p "$OUT_DIR"
stamp="$(date -u +%Y-%m-%d)-$(git rev-parse --short HEAD)"
prefix="$OUT_DIR/$stamp"

run_pair() {  # $1 = label, remaining = registry_bench.py run arguments
  local label=$1 watcher; shift
  # the memory of mlregistry's processes over the whole run (benchmarks/rss_watch.py)
  "$PY" benchmarks/rss_watch.py --pid-file "$RUN_DIR/mlregistry.pid" --out "$prefix-mlregistry-$label-rss.json" &
  watcher=$!
  "$PY" "$BENCH/registry_bench.py" run --adapter mlregistry --url http://127.0.0.1:15100 \
    --token-file "$RUN_DIR/mlregistry.token" --ctl "$BENCH/setup_mlregistry.sh" \
    --db-prefix "mlr_$label" "$@" --out "$prefix-mlregistry-$label.json"
  kill -TERM "$watcher"; wait "$watcher" || true
  "$BENCH/setup_mlregistry.sh" stop
  "$PY" "$BENCH/registry_bench.py" run --adapter mlflow --url http://127.0.0.1:15000 \
    --ctl "$BENCH/setup_mlflow.sh" \
    --db-prefix "mlf_$label" "$@" --out "$prefix-mlflow-$label.json"
  "$BENCH/setup_mlflow.sh" stop
  "$PY" "$BENCH/registry_bench.py" compare "$prefix-mlregistry-$label.json" "$prefix-mlflow-$label.json" \
    | tee "$prefix-compare-$label.txt"
}

run_pair short --workloads "$WORKLOADS" --runs "$RUNS"
if [[ $W3 == 1 ]]; then
  run_pair w3 --workloads w3 --runs 1 --w3-checkpoints "$W3_CHECKPOINTS" --w3-load-budget-s 1500
fi
echo "results: $prefix-*"
