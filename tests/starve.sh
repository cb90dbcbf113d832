#!/usr/bin/env bash
# Runs ctest tests on a starved CPU, as a throttled CI machine runs them: the
# tests (and every process they start) are pinned to core 0 at the idle
# scheduling class, and two busy loops compete for that core. A test that
# waits with a sleep, or asserts how fast something ran, fails here; one that
# waits for what it needs passes, only slower.
#
#   tests/starve.sh BUILD_DIR [ctest arguments...]
#   tests/starve.sh build -R 'Dispatcher|Lifecycle' --repeat until-fail:3
#
# The busy loops are killed when the script exits, however it exits.
#
# STARVE_BUSY_NICE (default 19) is the busy loops' nice value: how hard the
# tests are starved. The idle class weighs 3 against 15 per loop at nice 19
# (the tests get about a tenth of the core, in slices between long waits),
# against 110 at nice 10 (about 1 %). Nice 19 keeps a run of the scheduling-
# sensitive tests near a minute on 2 cores; nice 10 is harsher (it made the
# old 20 ms-sleep dispatcher test fail) but too slow for every CI run, and
# below that the host's own 10 s membrane call deadline starts to expire.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR [ctest arguments...]" >&2
  exit 2
fi
build_dir=$1
shift

for tool in chrt taskset ctest; do
  if ! command -v "$tool" >/dev/null; then
    echo "$0: $tool not found (util-linux, cmake)" >&2
    exit 2
  fi
done

busy=()
stop_busy() {
  for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${busy[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_busy EXIT
trap 'exit 130' INT TERM

# Two loops on core 0, normal class at a nice value: the tests get only what the
# scheduler leaves to an idle-class task next to them.
for _ in 1 2; do
  nice -n "${STARVE_BUSY_NICE:-19}" taskset -c 0 bash -c 'while :; do :; done' &
  busy+=($!)
done

echo "starved run: ctest $* (core 0, idle class, ${#busy[@]} busy loops: ${busy[*]})"
# Deadlines in the tests bound hangs only, so a starved run needs more time
# per test than the default; --timeout overrides what the tests set.
chrt --idle 0 taskset -c 0 ctest --test-dir "$build_dir" --output-on-failure --timeout 600 "$@"
