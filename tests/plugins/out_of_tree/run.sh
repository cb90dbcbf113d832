#!/usr/bin/env bash
# Configures and builds the out-of-tree plugin project beside this script the
# way a plugin author would, then loads the result with `nitric-host --check`.
#   run.sh NITRIC_HOST_SOURCE_DIR BUILD_DIR CXX_COMPILER NITRIC_HOST_BINARY
set -euo pipefail
src=$1 build=$2 cxx=$3 host=$4
rm -rf "$build"
cmake -S "$(dirname "$0")" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DNITRIC_HOST_SOURCE_DIR="$src" \
  -DCMAKE_BUILD_TYPE=Release >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
cmake --build "$build"
# --check loads and initialises every plugin of the folder with no membrane
# and exits non-zero if any fails; the plugin must also say what it handles.
out=$("$host" --check --plugins "$build")
echo "$out"
grep -q '^ok .*hello.so: hello (hello.so): websockets \[hello\].*handles \[hello:message\]' <<<"$out" ||
  { echo "run.sh: hello.so did not load as expected" >&2; exit 1; }
