#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then use only that prefix the way
# someone without this source tree would (issue 13 item 1):
#   - the layout is exactly the documented one (nothing of third parties);
#   - a C plugin builds with pkg-config alone, exporting only the entry symbol;
#   - the installed example plugins build as a CMake project of their own with
#     find_package(NitricPlugin 1.0 CONFIG REQUIRED);
#   - the INSTALLED nitric-host --check loads both;
#   - the package version and COMPONENTS answer as documented;
#   - the systemd unit runs the installed binary.
#   install_test.sh SOURCE_DIR BUILD_DIR WORK_DIR C_COMPILER CXX_COMPILER
set -euo pipefail
src=$1 build=$2 work=$3 cc=$4 cxx=$5

fail() {
  echo "install_test: $*" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "cmake --install failed"; }

# ---- the layout, file by file ----
expected=(
  bin/nitric-dev-membrane
  bin/nitric-host
  lib/cmake/NitricPlugin/NitricPlugin.cmake
  lib/cmake/NitricPlugin/NitricPluginConfig.cmake
  lib/cmake/NitricPlugin/NitricPluginConfigVersion.cmake
  lib/cmake/NitricPlugin/NitricPluginTargets.cmake
  lib/pkgconfig/nitric-plugin.pc
  lib/systemd/system/nitric-host.service
  share/nitric-host/nitric-host.toml
  share/nitric-host/nitric-plugin.map
  include/nitric/testing.hpp
  lib/nitric-host/libnitric-plugin-testing.so
  lib/nitric-host/libnitric-plugin-testing.so.1
  lib/nitric-host/libnitric-plugin-testing.so.1.1.0
)
# The imported locations of NitricPlugin::testing, per build configuration.
config=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" | tr '[:upper:]' '[:lower:]')
expected+=("lib/cmake/NitricPlugin/NitricPluginTargets-${config:-noconfig}.cmake")
# Every header of plugin-api/include/nitric, and every example plugin source.
while IFS= read -r f; do expected+=("include/nitric/${f#"$src"/plugin-api/include/nitric/}"); done \
  < <(find "$src/plugin-api/include/nitric" -type f \( -name '*.h' -o -name '*.hpp' \))
while IFS= read -r f; do expected+=("share/nitric-host/plugins/${f#"$src"/plugins/}"); done \
  < <(find "$src/plugins" -type f \( -name '*.c' -o -name '*.cc' -o -name '*.h' -o -name '*.hpp' \
    -o -name CMakeLists.txt \))
printf '%s\n' "${expected[@]}" | sort >"$work/expected.txt"
(cd "$prefix" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort) >"$work/installed.txt"
if ! diff -u "$work/expected.txt" "$work/installed.txt"; then
  fail "installed files differ from the documented layout (- expected, + installed)"
fi
[ -x "$prefix/bin/nitric-host" ] || fail "bin/nitric-host is not executable"
"$prefix/bin/nitric-host" --version >/dev/null || fail "installed nitric-host --version failed"

# ---- pkg-config: a C plugin with nothing but the .pc file ----
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
unset PKG_CONFIG_LIBDIR
abi=$(sed -n 's/^#define NITRIC_ABI_\(MAJOR\|MINOR\) \([0-9]*\)$/\2/p' \
  "$src/plugin-api/include/nitric/plugin.h" | paste -sd.)
[ "$(pkg-config --modversion nitric-plugin)" = "$abi" ] ||
  fail "pkg-config --modversion is $(pkg-config --modversion nitric-plugin), want the ABI $abi"
cflags=$(pkg-config --cflags nitric-plugin)
ldflags=$(pkg-config --variable=plugin_ldflags nitric-plugin)
echo "cflags: $cflags"
echo "plugin_ldflags: $ldflags"
[[ " $cflags " == *" -I$prefix/include "* ]] || fail "--cflags lacks -I$prefix/include"
for flag in -fno-gnu-unique -Wl,--no-undefined "-Wl,--version-script=$prefix/share/nitric-host/nitric-plugin.map"; do
  [[ " $ldflags " == *" $flag "* ]] || fail "plugin_ldflags lacks $flag"
done
mkdir -p "$work/plugins"
# shellcheck disable=SC2086 # the flags are words
"$cc" $cflags $ldflags -shared -fPIC -o "$work/plugins/installed_c.so" "$src/tests/install/cplugin.c"
# The version script applied: the entry is the only symbol exported.
exports=$(nm -D --defined-only "$work/plugins/installed_c.so" | awk '{print $3}' | sort | paste -sd' ')
[ "$exports" = nitric_plugin_entry ] || fail "installed_c.so exports [$exports], want only nitric_plugin_entry"

# ---- find_package: the installed example plugins as a project of their own ----
cmake -S "$prefix/share/nitric-host/plugins" -B "$work/cxx" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  >"$work/cxx.configure.log" 2>&1 || { cat "$work/cxx.configure.log"; fail "configuring the examples failed"; }
grep -q "NitricPlugin_DIR:PATH=$prefix/lib/cmake/NitricPlugin$" "$work/cxx/CMakeCache.txt" ||
  fail "the examples did not find NitricPlugin in $prefix: $(grep NitricPlugin_DIR "$work/cxx/CMakeCache.txt")"
# One of the three is enough to prove the SDK; broadcast uses KV and websockets.
cmake --build "$work/cxx" --target broadcast >"$work/cxx.build.log" 2>&1 ||
  { cat "$work/cxx.build.log"; fail "building the broadcast example failed"; }
cp "$work/cxx/broadcast.so" "$work/plugins/"

# ---- the installed binary loads both ----
out=$("$prefix/bin/nitric-host" --check --plugins "$work/plugins" 2>"$work/check.log") ||
  { echo "$out"; cat "$work/check.log"; fail "installed nitric-host --check failed"; }
echo "$out"
grep -q '^ok .*installed_c.so: installed_c 1.0 (installed_c.so): websockets \[installed_c\].*handles \[installed_c:message\]' <<<"$out" ||
  fail "installed_c.so did not load as expected"
grep -q '^ok .*broadcast.so: broadcast (broadcast.so): websockets \[public\]' <<<"$out" ||
  fail "broadcast.so did not load as expected"

# ---- the package version and components ----
mkdir -p "$work/find"
cat >"$work/find/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(find_nitric_plugin LANGUAGES NONE)
find_package(NitricPlugin ${WANT_VERSION} CONFIG REQUIRED ${WANT_COMPONENTS})
if(NOT TARGET NitricPlugin::api OR NOT COMMAND nitric_add_plugin)
  message(FATAL_ERROR "NitricPlugin::api or nitric_add_plugin missing")
endif()
message(STATUS "NitricPlugin ${NitricPlugin_VERSION}")
EOF
try_find() { # try_find VERSION COMPONENTS...
  local v=$1
  shift
  rm -rf "$work/find/b"
  cmake -S "$work/find" -B "$work/find/b" -DCMAKE_PREFIX_PATH="$prefix" -DWANT_VERSION="$v" \
    -DWANT_COMPONENTS="${*:+COMPONENTS;$*}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/find.log" 2>&1
}
try_find "$abi" api || { cat "$work/find.log"; fail "find_package(NitricPlugin $abi COMPONENTS api) failed"; }
grep -q "NitricPlugin $abi" "$work/find.log" || fail "NitricPlugin_VERSION is not $abi"
try_find 1.0 || { cat "$work/find.log"; fail "find_package(NitricPlugin 1.0) failed"; }
try_find 1.1 testing || { cat "$work/find.log"; fail "find_package(NitricPlugin 1.1 COMPONENTS testing) failed"; }
major=${abi%%.*}
# Another major, newer or older, is refused.
try_find "$((major + 1)).0" && fail "find_package(NitricPlugin $((major + 1)).0) accepted ABI $abi"
try_find "$((major - 1)).0" && fail "find_package(NitricPlugin $((major - 1)).0) accepted ABI $abi"
try_find 1.0 no_such_component && fail "find_package(... COMPONENTS no_such_component) succeeded"

# ---- the unit runs the installed binary ----
unit=$prefix/lib/systemd/system/nitric-host.service
grep -qx "ExecStart=$prefix/bin/nitric-host --config /etc/nitric-host/nitric-host.toml" "$unit" ||
  fail "the unit's ExecStart is not the installed binary: $(grep ExecStart= "$unit")"
if grep -n '@' "$unit"; then fail "unexpanded @VARIABLE@ in the unit"; fi
echo "install_test: ok"
