#!/usr/bin/env bash
# Builds the suite with sanitizers (each in a build folder of its own) and
# runs tests there; any sanitizer finding fails the run:
#
#   address,undefined  (ASan + UBSan, halting on the first UBSan finding;
#                      clang at -O0, which also checks the lock annotations,
#                      -Wthread-safety, as scripts/thread-safety.sh does)
#                      the unit and integration tests (not the end-to-end
#                      tests with Node clients, label e2e, nor the package
#                      and out-of-tree build checks: not_asan below)
#   thread             (TSan, GCC at -O1) the dispatcher, reload and session
#                      tests, built into executables of their own
#                      (tests/sanitizers/)
#
#   scripts/sanitize.sh [asan|tsan|all] [BUILD_PREFIX]   (default: all, build)
#
# Build folders: BUILD_PREFIX-asan, BUILD_PREFIX-tsan. Benchmarks are not
# built. JOBS sets the parallelism (default 2). Uses ccache when installed.
# Suppressions (third-party code only) are in tests/sanitizers/*.supp.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
prefix=${2:-build}
jobs=${JOBS:-2}
supp="$PWD/tests/sanitizers"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# Line tables only: sanitizer reports name files and lines. ASan+UBSan is
# built by clang at -O0: its cold build of everything then takes about half
# the CPU of the Release build (GCC at -O1 with the same sanitizers: about
# twice), and the unit and integration tests, which spend their time in
# gRPC (not instrumented) and waiting, still run in about 4 minutes on 2
# cores. TSan needs -O1 to run at a usable speed.
configure() {  # DIR SANITIZERS C-COMPILER C++-COMPILER FLAGS [CMAKE-ARGS...]
  local dir=$1 sanitizers=$2 cc=$3 cxx=$4 opt=$5
  shift 5
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$opt -DNDEBUG" \
    -DNITRIC_SANITIZE="$sanitizers" -DNITRIC_BUILD_BENCH=OFF "${launcher[@]}" "$@" >/dev/null
}

stage() { echo "sanitize: $* ($(date -u +%H:%M:%S))"; }

# halt_on_error / abort_on_error: a finding ends the process with an error,
# so the test that triggered it fails. Child processes (nitric-host started by
# the integration tests, and its pre-flight children) inherit these. Every
# report also goes to a file in $reports (log_path): a finding in a process
# that no test watches to the end (a host killed at the end of its test, a
# pre-flight child) still fails the stage, and is printed after the tests.
reports="$(realpath -m "$prefix")-sanitizer-reports"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0:strict_string_checks=1:log_path=$reports/asan"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp:log_path=$reports/ubsan"
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:log_path=$reports/tsan"

# Runs ctest in DIR with the remaining arguments; fails when a test failed or
# any process wrote a sanitizer report (printed here).
run_tests() {  # DIR CTEST-ARGS...
  local dir=$1 rc=0
  shift
  rm -rf "$reports" && mkdir -p "$reports"
  (cd "$dir" && ctest --output-on-failure --timeout 300 -j"$jobs" "$@") || rc=$?
  if [ -n "$(ls -A "$reports")" ]; then
    for f in "$reports"/*; do
      echo "==== sanitizer report $f"
      cat "$f"
    done
    rc=1
  fi
  return "$rc"
}

# Tests that crash a host on purpose with SIGSEGV (a plugin's init or handler
# writes through a null pointer) and assert that it died of SIGSEGV, or that
# the pre-flight child did. Under ASan a SEGV goes to ASan's handler, which
# reports it and aborts (SIGABRT), so these run in a pass of their own with
# handle_segv=0: the signal then kills the process as it would in production.
# Everything else runs with ASan's handler, so a real wild access anywhere
# else is reported with its stack. A deliberate-crash test missing here fails
# loudly (SIGABRT instead of SIGSEGV), it is never skipped silently.
deliberate_segv='^(PreflightTest|QuarantineTest)\.'

# Not run under ASan: the end-to-end tests (label e2e, Node clients) and the
# tests that check packages, installed files and out-of-tree projects (cmake
# --install, cpack, the deploy steps, the plugin author's CMake projects, the
# testing library's link dependencies): what they compile is built without the
# sanitizer flags, an instrumented library's dependencies are not the shipped
# ones, and they cost minutes of CPU without running more of the host than the
# integration tests do. The normal build runs them all.
not_asan='^(install_layout_and_sdk|deb_package|deploy_[a-z_]+|plugin_out_of_tree_build|testing_readme_example|testing_dependencies)$'

# The dispatcher, reload and session tests (TSan), parameterised instances
# ("EachBrokenKind/ReloadRollback.X/0") included.
tsan_tests='^([A-Za-z]+/)?(Dispatcher[A-Za-z]*|Session[A-Za-z]*|Reload[A-Za-z]*|StateHandOver[A-Za-z]*)\.'

started=$(date +%s)
status=0
if [ "$which" = all ] || [ "$which" = asan ]; then
  dir="$prefix-asan"
  stage "address,undefined build in $dir"
  for tool in clang clang++; do
    command -v "$tool" >/dev/null || { echo "sanitize: $tool not found (apt-get install clang)" >&2; exit 2; }
  done
  configure "$dir" address,undefined clang clang++ "-O0 -gline-tables-only" -DNITRIC_THREAD_SAFETY=ON
  cmake --build "$dir" -j"$jobs"
  stage "address,undefined tests"
  run_tests "$dir" -LE e2e -E "$deliberate_segv|$not_asan" || status=1
  # Runs even when the pass above failed, so one run reports both.
  stage "address,undefined tests that die of SIGSEGV on purpose (handle_segv=0)"
  ASAN_OPTIONS="$ASAN_OPTIONS:handle_segv=0" run_tests "$dir" -LE e2e -R "$deliberate_segv" ||
    status=1
fi

if [ "$which" = all ] || [ "$which" = tsan ]; then
  dir="$prefix-tsan"
  stage "thread build in $dir"
  configure "$dir" thread gcc g++ "-O1 -g1"
  # Only what the dispatcher, reload and session tests need: executables with
  # just their test files (tests/sanitizers/CMakeLists.txt), the host and the
  # test plugins.
  cmake --build "$dir" -j"$jobs" --target tsan_host_unit_test tsan_host_reload_test \
    tsan_plugin_reload_test nitric-host nitric_test_plugins
  stage "thread tests"
  run_tests "$dir" -R "$tsan_tests" || status=1
fi
stage "done in $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s "\
  "($([ "$status" -eq 0 ] && echo passed || echo FAILED))"
exit "$status"
