#!/usr/bin/env bash
# Installs what the suite needs, builds everything and runs the whole test
# suite (unit, integration, end-to-end with real Node clients, benchmark smoke
# runs), then the fuzz targets (scripts/fuzz.sh, 60 s each; FUZZ_SECONDS
# overrides), the unit and integration tests under ASan+UBSan (clang, whose
# build also checks the lock annotations with -Wthread-safety) and the
# dispatcher, reload and session tests under ThreadSanitizer
# (scripts/sanitize.sh). This is the command CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

bash scripts/install-deps.sh
if [ -f tests/e2e/setup.sh ]; then
  bash tests/e2e/setup.sh
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" -j "$jobs"

(cd "$build_dir" && ctest --output-on-failure --timeout 300 -j "$jobs" "$@")

# The tests most sensitive to scheduling (dispatcher, gateway, reload,
# lifecycle), three times in a row on a starved CPU: pinned to one core at the
# idle scheduling class beside two busy loops (tests/starve.sh). A test that
# waits with a sleep, or asserts how fast something ran, fails here. About a
# minute a run on 2 cores. STARVED_RUNS=0 skips it.
starved='DispatcherTest|devserver\.GatewayTest|LifecycleTest\.(Sigterm|Reconnects|AReload|WatchTurns|SighupLoads|AnEventFailed)|ReloadTest\.Fifty'
for run in $(seq 1 "${STARVED_RUNS:-3}"); do
  echo "== starved run $run of ${STARVED_RUNS:-3}"
  bash tests/starve.sh "$build_dir" -R "$starved"
done

# The libFuzzer targets (clang), FUZZ_SECONDS each (default 60).
JOBS=$jobs bash scripts/fuzz.sh "${build_dir}-fuzz"

# The unit and integration tests under ASan+UBSan (clang at -O0, in
# BUILD_DIR-asan; about 7 minutes cold on 2 cores to build, 4 to run), whose
# build also checks the lock annotations (-Wthread-safety -Werror, as
# scripts/thread-safety.sh does); then the dispatcher, reload and session
# tests under TSan (GCC, BUILD_DIR-tsan; about 5 minutes cold). Any sanitizer
# report fails the run. Both run even when one fails.
JOBS=$jobs bash scripts/sanitize.sh all "${build_dir}"
