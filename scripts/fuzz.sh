#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan and UBSan) in a build
# folder of their own and runs each for FUZZ_SECONDS (default 60) from its
# seed corpus in fuzz/corpus/<target>/, FUZZ_PARALLEL (default 2) at a time. Fails on a crash, a leak, a sanitizer
# finding or a hang (an input that runs longer than FUZZ_TIMEOUT, default 30 s).
#
#   scripts/fuzz.sh [BUILD_DIR] [TARGET...]   (default: build-fuzz, every target)
#
# New inputs found during a run go to BUILD_DIR/fuzz/corpus/<target>/ (not
# the repository's seeds); a crashing input is written to
# BUILD_DIR/fuzz/artifacts/<target>/ and its path printed. To reproduce it:
#   BUILD_DIR/fuzz/<target> BUILD_DIR/fuzz/artifacts/<target>/crash-...
# JOBS sets the build's parallelism (default 2). Uses ccache when installed.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-fuzz}
shift || true
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-30}
all=(gateway_http_fuzzer text_frame_fuzzer config_fuzzer server_message_fuzzer json_fuzzer
     kv_service_fuzzer)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "fuzz: $tool not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
done
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

echo "fuzz: building ${targets[*]} in $build ($(date -u +%H:%M:%S))"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNITRIC_FUZZ=ON -DNITRIC_BUILD_TESTS=OFF -DNITRIC_BUILD_BENCH=OFF \
  "${launcher[@]}" >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target "${targets[@]}"

# A finding aborts at once (UBSan too); leaks are checked (libFuzzer's
# -detect_leaks, on by default with ASan).
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"

# FUZZ_PARALLEL targets run at once (default 2, one per core of the CI
# machine); each fuzzes with one process (libFuzzer's -jobs/-workers stay 1).
parallel=${FUZZ_PARALLEL:-2}

fuzz_one() {  # TARGET; exit status 0 when the run ended without a finding
  local t=$1
  local work="$build/fuzz/corpus/$t" artifacts="$build/fuzz/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  echo "fuzz: $t for ${seconds}s ($(date -u +%H:%M:%S))"
  "$build/fuzz/$t" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "fuzz/corpus/$t" \
    >"$build/fuzz/$t.log" 2>&1
}

declare -A running=()  # pid -> target
failed=()
reap() {  # waits for one running target and reports it
  local pid rc=0
  wait -n -p pid "${!running[@]}" || rc=$?
  local t=${running[$pid]}
  unset "running[$pid]"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $rc); last lines of $build/fuzz/$t.log:" >&2
    tail -40 "$build/fuzz/$t.log" >&2
    failed+=("$t")
  else
    echo "fuzz: $t: $(grep -E "^stat::number_of_executed_units|^stat::new_units_added" \
      "$build/fuzz/$t.log" | tr '\n' ' ')"
  fi
}
for t in "${targets[@]}"; do
  while [ "${#running[@]}" -ge "$parallel" ]; do reap; done
  fuzz_one "$t" &
  running[$!]=$t
done
while [ "${#running[@]}" -gt 0 ]; do reap; done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s without a finding"
