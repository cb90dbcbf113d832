#!/usr/bin/env bash
# Installs the dependencies, builds, and runs nitric-host with the dev membrane
# (its child process) and the example plugins. Prints where to connect.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}

bash scripts/install-deps.sh
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNITRIC_BUILD_TESTS=OFF
cmake --build "$build_dir" -j "$(nproc)"

exec "$build_dir/bin/nitric-host" --dev --plugins "$build_dir/plugins" "$@"
