#!/usr/bin/env bash
# Builds the host libraries (host/*, the layering table's nitric_host_*
# targets) with clang and -Wthread-safety -Werror, in a build folder of its
# own: every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED in host/ is then
# checked, and a read or write of guarded state without its lock fails the
# build. GCC ignores the annotations, so the normal build cannot catch that.
#
#   scripts/thread-safety.sh [BUILD_DIR]     (default: build-thread-safety)
#
# Needs clang/clang++ (Debian: apt-get install clang). Uses ccache when it is
# installed. JOBS sets the parallelism (default 2). Exits non-zero on any
# warning.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-thread-safety}
for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "thread-safety: $tool not found (apt-get install clang)" >&2; exit 2; }
done
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DNITRIC_THREAD_SAFETY=ON -DNITRIC_BUILD_TESTS=OFF -DNITRIC_BUILD_BENCH=OFF \
  "${launcher[@]}" >/dev/null

targets=(nitric_host_base nitric_host_config nitric_host_logging nitric_host_plugins
         nitric_host_dispatch nitric_host_membrane nitric_host_reload nitric_host_app)
cmake --build "$build" -j"${JOBS:-2}" --target "${targets[@]}"
echo "thread-safety: host libraries build clean with clang -Wthread-safety -Werror"
