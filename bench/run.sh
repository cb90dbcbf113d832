#!/usr/bin/env bash
# Runs every benchmark (bench/README.md), prints a table and rewrites bench/RESULTS.md.
#
#   bench/run.sh            full run (about 15 minutes on 2 cores after the build), rewrites RESULTS.md
#   bench/run.sh --smoke    each benchmark for a second or two, nothing written;
#                           exits non-zero only if a benchmark failed to run
#   --no-build              use what BUILD_DIR (default: build) already holds
#
# Contenders run one after the other in the same run: nitric-host with a plugin,
# the Node SDK (@nitric/sdk 1.2.2, bench/node), and for dispatch a bare C++
# gRPC client (the ceiling). A full run measures each dispatch, end-to-end and
# broadcast configuration ROUNDS times (default 3), the contenders taking turns,
# and reports each figure's median: on a shared machine one run of a contender
# can land in a slow moment and move a ratio by a third. Raw results and every
# process's log go to $BUILD_DIR/bench/run-<mode>/.
#
# BASELINE=<commit> (default 511977b, main when issue 15 was filed): a full
# run also builds that commit's nitric-host and broadcast plugin (from
# `git archive`, into $BUILD_DIR/bench/baseline-<commit>/, once) and runs the
# broadcast with it beside today's host, so that "halved since then" is a
# ratio within one run rather than against a figure taken on another day.
# BASELINE= (empty) leaves it out.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMAND="${BUILD_DIR:+BUILD_DIR=$BUILD_DIR }bench/run.sh${*:+ $*}"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR = /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
MODE=full
BUILD=1
for arg in "$@"; do
  case $arg in
    --smoke) MODE=smoke ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

BIN=$BUILD_DIR/bin
OUT=$BUILD_DIR/bench/run-$MODE
RESULTS=$OUT/results.jsonl
STATUS=$OUT/status.tsv
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$OUT" && mkdir -p "$OUT"
: >"$RESULTS"
: >"$STATUS"

if [[ $MODE = smoke ]]; then
  WARMUP=0.5 DURATION=1 STORM=2 BROADCAST_DURATION=2
  DISPATCH_N="1 100" E2E_N="1 50" BROADCAST_N="50"
  ROUNDS=1
else
  # Node's JIT needs a couple of seconds before its figures settle.
  WARMUP=2 DURATION=5 STORM=10 BROADCAST_DURATION=8
  DISPATCH_N="1 100" E2E_N="1 50" BROADCAST_N="50 500"
  ROUNDS=${ROUNDS:-3}
fi
BASELINE=${BASELINE-511977b}
[[ $MODE = smoke ]] && BASELINE=
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: ROUNDS must be a positive integer" >&2; exit 2; }

# ---- the driver running now is killed with us ----------------------------
CURRENT=
cleanup() {
  [[ -n $CURRENT ]] && kill -TERM "$CURRENT" 2>/dev/null
  wait 2>/dev/null
  exit 130
}
trap cleanup INT TERM HUP

note() { printf '%s\n' "$*" >&2; }

# record <benchmark> <contender> <N> <ok|failed|skipped> <reason>
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$STATUS"; }

# run_driver <benchmark> <contender> <N> <driver command...>: in the background
# so a signal to this script reaches it through cleanup().
run_driver() {
  local bench=$1 contender=$2 n=$3
  shift 3
  "$@" &
  CURRENT=$!
  wait "$CURRENT"
  local rc=$?
  CURRENT=
  if [[ $rc -eq 0 ]]; then
    record "$bench" "$contender" "$n" ok ""
  else
    record "$bench" "$contender" "$n" failed "driver exit $rc (logs in $OUT)"
  fi
}

# ---- build ---------------------------------------------------------------
BENCH_TARGETS="noop noop_v2 nitric-bench-dispatch nitric-bench-ceiling nitric-bench-tcp-floor nitric-bench-e2e"
OTHER_TARGETS="nitric-host nitric-dev-membrane echo broadcast"
if [[ $BUILD = 1 ]]; then
  [[ -f $BUILD_DIR/CMakeCache.txt ]] ||
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$OUT/configure.log" 2>&1 ||
    { note "run.sh: cmake configure failed, see $OUT/configure.log"; exit 1; }
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" -j2 --target $BENCH_TARGETS >"$OUT/build.log" 2>&1 ||
    { note "run.sh: building the benchmark drivers failed, see $OUT/build.log"; exit 1; }
  for target in $OTHER_TARGETS; do  # one by one: a broken one must not stop the rest
    cmake --build "$BUILD_DIR" -j2 --target "$target" >>"$OUT/build.log" 2>&1 ||
      note "run.sh: target $target did not build (see $OUT/build.log); its benchmarks are not run"
  done
fi

# ---- the baseline host (BASELINE) ---------------------------------------
# build_baseline: sets BASE_HOST, BASE_PLUGIN and BASE_LABEL, or BASE_MISSING
# to why not.
BASE_HOST='' BASE_PLUGIN='' BASE_LABEL='' BASE_MISSING=''
build_baseline() {
  local sha dir
  sha=$(git -C "$ROOT" rev-parse --short=7 --verify -q "$BASELINE^{commit}") ||
    { BASE_MISSING="commit $BASELINE not in $ROOT's git history"; return; }
  dir=$BUILD_DIR/bench/baseline-$sha
  BASE_LABEL="host at $sha"
  if [[ ! -x $dir/build/bin/nitric-host || ! -f $dir/build/plugins/broadcast.so ]]; then
    [[ $BUILD = 1 ]] || { BASE_MISSING="not built yet (--no-build)"; return; }
    note "== baseline: building nitric-host and broadcast.so at $sha (once; a few minutes)"
    rm -rf "$dir" && mkdir -p "$dir/src" &&
      git -C "$ROOT" archive "$sha" | tar -x -C "$dir/src" &&
      cmake -S "$dir/src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DNITRIC_BUILD_TESTS=OFF -DNITRIC_BUILD_RUST_EXAMPLE=OFF >"$OUT/baseline-build.log" 2>&1 &&
      cmake --build "$dir/build" -j2 --target nitric-host broadcast >>"$OUT/baseline-build.log" 2>&1 ||
      { BASE_MISSING="the build at $sha failed (see $OUT/baseline-build.log)"; return; }
  fi
  BASE_HOST=$dir/build/bin/nitric-host
  BASE_PLUGIN=$dir/build/plugins/broadcast.so
}
if [[ -n $BASELINE ]]; then
  build_baseline
  [[ -n $BASE_MISSING ]] && note "run.sh: no baseline host: $BASE_MISSING"
fi

NODE_DIR=$ROOT/bench/node
if [[ ! -d $NODE_DIR/node_modules/@nitric/sdk ]]; then
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund >"$OUT/npm.log" 2>&1) ||
    note "run.sh: npm ci in bench/node failed (see $OUT/npm.log); the Node SDK contenders are not run"
fi

# ---- prerequisites -------------------------------------------------------
# need <file>...: empty output when all exist, else the first missing one.
need() {
  local f
  for f in "$@"; do [[ -e $f ]] || { echo "missing $f"; return; }; done
}
HOST=$BIN/nitric-host
MEMBRANE=$BIN/nitric-dev-membrane
NODE_SDK=$NODE_DIR/node_modules/@nitric/sdk
DISPATCH=$BIN/nitric-bench-dispatch
E2E=$BIN/nitric-bench-e2e
for f in "$DISPATCH" "$E2E" "$BIN/nitric-bench-ceiling" "$BIN/nitric-bench-tcp-floor" \
  "$BUILD_DIR/bench/noop.so"; do
  [[ -x $f || -f $f ]] || { note "run.sh: $f is missing (build the bench targets)"; exit 1; }
done

# A plugins folder per benchmark holding only the plugin under test.
plugins_dir() {
  local dir=$OUT/plugins-$1
  mkdir -p "$dir" && cp "$2" "$dir/" && echo "$dir"
}

# ---- 1a. the floor: loopback TCP without gRPC ----------------------------
note "== floor: loopback TCP, one send per answer vs one send per read"
for mode in per-message per-read; do
  run_driver floor "$mode" 100 "$BIN/nitric-bench-tcp-floor" --mode "$mode" --in-flight 100 \
    --warmup "$WARMUP" --duration "$DURATION" --json "$RESULTS"
done

# ---- 1. dispatch (and 6. memory and start-up) ----------------------------
note "== dispatch: the driver plays the membrane; N connections, 64-byte messages"
# Two membranes: one gRPC write (and sendmsg) per event, and writes batched as
# grpc-go's writer batches them under load (Nitric's membrane is in Go).
for writes in each batched; do
bench=dispatch
[[ $writes = batched ]] && bench=dispatch-batched
for n in $DISPATCH_N; do
  for round in $(seq "$ROUNDS"); do
  for contender in ceiling node host; do
    case $contender in
      ceiling) missing=$(need "$BIN/nitric-bench-ceiling"); cmd=("$BIN/nitric-bench-ceiling") ;;
      node) missing=$(need "$NODE_SDK"); cmd=(node "$NODE_DIR/noop-app.mjs") ;;
      host) missing=$(need "$HOST")
        cmd=("$HOST" --plugins "$(plugins_dir dispatch "$BUILD_DIR/bench/noop.so")") ;;
    esac
    if [[ -n $missing ]]; then
      record "$bench" "$contender" "$n" skipped "$missing"
      note "   $contender N=$n: not run ($missing)"
      continue
    fi
    run_driver "$bench" "$contender" "$n" "$DISPATCH" --name "$contender" --connections "$n" \
      --writes "$writes" --warmup "$WARMUP" --duration "$DURATION" --json "$RESULTS" \
      --log "$OUT/$bench-$contender-$n-r$round.log" -- "${cmd[@]}"
  done
  done
done
done

# ---- 5. reload storm -----------------------------------------------------
note "== reload: steady state vs one SIGHUP per second (new plugin build each time)"
missing=$(need "$HOST" "$BUILD_DIR/bench/noop_v2.so")
if [[ -n $missing ]]; then
  record reload host 50 skipped "$missing"
  note "   host: not run ($missing)"
else
  dir=$OUT/plugins-reload
  mkdir -p "$dir" && cp "$BUILD_DIR/bench/noop.so" "$dir/noop.so"
  run_driver reload host 50 "$DISPATCH" --name host --connections 50 \
    --warmup "$WARMUP" --duration "$DURATION" --reload-storm "$STORM" \
    --reload-target "$dir/noop.so" --reload-build "$BUILD_DIR/bench/noop.so" \
    --reload-build "$BUILD_DIR/bench/noop_v2.so" --json "$RESULTS" \
    --log "$OUT/reload-host.log" -- "$HOST" --plugins "$dir"
fi

# ---- 2. end to end and 3. broadcast: through the dev gateway --------------
e2e_round() {  # e2e_round <bench> <mode> <plugin.so> <node app> <N list> <seconds> <drain> [contenders]
  local bench=$1 mode=$2 plugin=$3 app=$4 seconds=$6 drain=$7 n round contender missing
  for n in $5; do
    for round in $(seq "$ROUNDS"); do
    for contender in ${8:-node host}; do
      if [[ $contender = host ]]; then
        missing=$(need "$MEMBRANE" "$HOST" "$plugin")
        [[ -z $missing ]] && cmd=("$HOST" --plugins "$(plugins_dir "$bench" "$plugin")")
      elif [[ $contender = baseline ]]; then
        missing=$BASE_MISSING
        [[ -z $missing ]] && missing=$(need "$MEMBRANE" "$BASE_HOST" "$BASE_PLUGIN")
        [[ -z $missing ]] && cmd=("$BASE_HOST" --plugins "$(plugins_dir "$bench-baseline" "$BASE_PLUGIN")")
      elif [[ $contender = ceiling ]]; then
        missing=$(need "$MEMBRANE" "$BIN/nitric-bench-ceiling")
        cmd=("$BIN/nitric-bench-ceiling" --broadcast)
      else
        missing=$(need "$MEMBRANE" "$NODE_SDK")
        cmd=(node "$NODE_DIR/$app")
      fi
      if [[ -n $missing ]]; then
        record "$bench" "$contender" "$n" skipped "$missing"
        note "   $contender N=$n: not run ($missing)"
        continue
      fi
      run_driver "$bench" "$contender" "$n" "$E2E" --mode "$mode" --name "$contender" \
        --clients "$n" --membrane "$MEMBRANE" --warmup "$WARMUP" --duration "$seconds" \
        --drain "$drain" --startup-timeout 60 --json "$RESULTS" \
        --log-prefix "$OUT/$bench-$contender-$n-r$round-" \
        -- "${cmd[@]}"
    done
    done
  done
}
note "== end to end: websocket clients -> dev gateway -> echo (one message in flight per client)"
e2e_round e2e echo "$BUILD_DIR/plugins/echo.so" echo-app.mjs "$E2E_N" "$DURATION" 3
note "== broadcast: the seed's chat; 10 clients send, every client receives"
# The ceiling (nitric-bench-ceiling --broadcast): the chat with nothing but
# gRPC, connection ids in memory, every send on one completion queue. The
# baseline: the host and plugin at BASELINE, on today's membrane and driver.
e2e_round broadcast broadcast "$BUILD_DIR/plugins/broadcast.so" broadcast-app.mjs \
  "$BROADCAST_N" "$BROADCAST_DURATION" 15 "node host ${BASELINE:+baseline }ceiling"

# ---- report ---------------------------------------------------------------
{
  echo "nproc: $(nproc)"
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|CPU max MHz|Hypervisor vendor|L3 cache):' || true
  echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "kernel: $(uname -r)"
  echo "node: $(node --version 2>/dev/null || echo none)"
  echo "load average (1, 5, 15 min) before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt" 2>/dev/null
REPORT_ARGS=(--results "$RESULTS" --status "$STATUS" --machine "$OUT/machine.txt" --mode "$MODE"
  --command "$COMMAND" --rounds "$ROUNDS")
[[ -n $BASE_LABEL ]] && REPORT_ARGS+=(--baseline "$BASE_LABEL")
[[ $MODE = full ]] && REPORT_ARGS+=(--write "$ROOT/bench/RESULTS.md")
node "$ROOT/bench/report.mjs" "${REPORT_ARGS[@]}"
report_rc=$?

failed=$(awk -F'\t' '$4 != "ok"' "$STATUS" | wc -l)
if [[ $failed -gt 0 || $report_rc -ne 0 ]]; then
  note "run.sh: $failed benchmark run(s) did not run or failed (see the table and $OUT)"
  exit 1
fi
exit 0
