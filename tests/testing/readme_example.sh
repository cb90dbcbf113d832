#!/usr/bin/env bash
# The README's "Testing your plugin" project, exactly as printed, against an
# installed SDK: installs the build's dev component into a temporary prefix,
# writes every README code block marked <!-- file: NAME --> to NAME (the
# plugin of "Writing a plugin", which must be plugins/broadcast/broadcast.cc
# byte for byte, CMakeLists.txt, the test), configures it with
# find_package(NitricPlugin 1.1 CONFIG) from that prefix alone, builds it and
# runs its ctest.
#   readme_example.sh SOURCE_DIR BUILD_DIR WORK_DIR CXX_COMPILER
set -euo pipefail
src=$1 build=$2 work=$3 cxx=$4

fail() {
  echo "readme_example: $*" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work/project"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" --component dev >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "cmake --install --component dev failed"; }

# Each marked block, verbatim.
awk -v dir="$work/project" '
  /^<!-- file: [^ ]+ -->$/ { name = $3; next }
  name != "" && /^```/ && !inside { inside = 1; out = dir "/" name; printf "" > out; next }
  inside && /^```$/ { inside = 0; close(out); name = ""; print out; next }
  inside { print >> out }
' "$src/README.md" >"$work/files.txt"
echo "from README.md:" $(xargs -n1 basename <"$work/files.txt")
for f in CMakeLists.txt broadcast.cc broadcast_test.cc; do
  [ -s "$work/project/$f" ] || fail "README.md has no block marked <!-- file: $f -->"
done
# "Writing a plugin" prints plugins/broadcast/broadcast.cc: it must be that file.
diff -u "$src/plugins/broadcast/broadcast.cc" "$work/project/broadcast.cc" ||
  fail "README.md's listing of plugins/broadcast/broadcast.cc differs from the file (above)"

cmake -S "$work/project" -B "$work/project/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configuring the README project failed"; }
grep -q "NitricPlugin_DIR:PATH=$prefix/lib/cmake/NitricPlugin$" "$work/project/build/CMakeCache.txt" ||
  fail "the project did not find NitricPlugin in $prefix: $(grep NitricPlugin_DIR "$work/project/build/CMakeCache.txt")"
cmake --build "$work/project/build" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log"; fail "building the README project failed"; }
# The test binary runs on the installed library, and loads no gRPC.
ldd "$work/project/build/broadcast_test" >"$work/ldd.txt"
grep -q "libnitric-plugin-testing.so.1 => $prefix/lib/nitric-host/" "$work/ldd.txt" ||
  { cat "$work/ldd.txt"; fail "broadcast_test does not use $prefix's libnitric-plugin-testing.so"; }
if grep -i grpc "$work/ldd.txt"; then fail "broadcast_test loads gRPC"; fi
ctest --test-dir "$work/project/build" --output-on-failure --no-tests=error ||
  fail "the README project's ctest failed"
echo "readme_example: ok"
