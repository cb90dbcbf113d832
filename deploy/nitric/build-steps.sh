#!/usr/bin/env bash
# The build steps of deploy/nitric/nitric-host.dockerfile, as one script that
# the Dockerfile RUNs and CI runs on the host (tests/deploy/build_steps_test.sh):
#
#   build-steps.sh build-packages
#       the Debian packages that building the host and plugins needs, one a line
#   build-steps.sh host SOURCE_DIR PREFIX
#       configures (unless BUILD_DIR already holds a build), builds and installs
#       nitric-host and the plugin SDK into PREFIX (stripped)
#   build-steps.sh plugins HANDLER PREFIX OUT_DIR
#       builds the service's plugins against the SDK in PREFIX into OUT_DIR and
#       loads them with PREFIX/bin/nitric-host --check. HANDLER is the file the
#       Nitric CLI passes as --build-arg HANDLER (the service's match):
#         a CMakeLists.txt   -> that folder is a plugin project
#                               (find_package(NitricPlugin) + nitric_add_plugin);
#                               every plugin it builds lands in OUT_DIR
#         a .c file          -> one plugin, built with pkg-config alone
#         a .cc/.cpp file    -> one plugin, C++20, built with pkg-config alone
#   build-steps.sh runtime-packages FILE...
#       the Debian packages holding the shared libraries FILE... need
#       (dpkg-shlibdeps, as for the Debian package), one a line, without
#       versions: what the Dockerfile's runtime stage installs
#
# Environment: BUILD_DIR (host: the build folder, default /tmp/nitric-host-build),
# JOBS (default: nproc).
set -euo pipefail

die() {
  echo "build-steps.sh: $*" >&2
  exit 1
}

jobs=${JOBS:-$(nproc)}

build_packages() {
  # Compiler, CMake, and the -dev packages of what the host links
  # (scripts/install-deps.sh lists the same, plus test and benchmark tools).
  printf '%s\n' build-essential cmake ninja-build pkg-config \
    libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
    libboost-dev libboost-filesystem-dev libboost-system-dev \
    libtomlplusplus-dev libspdlog-dev libfmt-dev libsqlite3-dev libsystemd-dev
}

host() {
  [ $# -eq 2 ] || die "usage: build-steps.sh host SOURCE_DIR PREFIX"
  local src=$1 prefix=$2 build=${BUILD_DIR:-/tmp/nitric-host-build}
  [ -f "$src/CMakeLists.txt" ] || die "$src is not a nitric-host source folder"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DNITRIC_BUILD_TESTS=OFF -DNITRIC_BUILD_BENCH=OFF -DNITRIC_BUILD_RUST_EXAMPLE=OFF
  fi
  # Everything the install rules copy (the binaries, the SDK's testing library):
  # the default target, tests and benchmarks being off.
  cmake --build "$build" -j "$jobs"
  cmake --install "$build" --prefix "$prefix" --strip
}

plugins() {
  [ $# -eq 3 ] || die "usage: build-steps.sh plugins HANDLER PREFIX OUT_DIR"
  local handler=$1 prefix=$2 out=$3
  [ -e "$handler" ] || die "HANDLER $handler does not exist (is it relative to the build context?)"
  [ -x "$prefix/bin/nitric-host" ] || die "no nitric-host in $prefix/bin (run the host step first)"
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  local name
  name=$(basename "$handler")
  case "$handler" in
    *CMakeLists.txt)
      local dir work
      dir=$(cd "$(dirname "$handler")" && pwd)
      work=$(mktemp -d "${TMPDIR:-/tmp}/nitric-plugins.XXXXXX")
      cmake -S "$dir" -B "$work" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" -DNITRIC_PLUGIN_OUTPUT_DIRECTORY="$out"
      cmake --build "$work" -j "$jobs"
      rm -rf "$work"
      ;;
    *.c | *.cc | *.cpp | *.cxx)
      local pc=(env PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" pkg-config)
      local cflags ldflags pcflags compiler=(cc -std=c99)
      cflags=$("${pc[@]}" --cflags nitric-plugin)
      pcflags=$("${pc[@]}" --variable=plugin_cflags nitric-plugin)
      ldflags=$("${pc[@]}" --variable=plugin_ldflags nitric-plugin)
      case "$handler" in *.c) ;; *) compiler=(c++ -std=c++20) ;; esac
      # shellcheck disable=SC2086 # the flags are words
      "${compiler[@]}" -O2 -Wall -Wextra $cflags $pcflags $ldflags -shared -fPIC \
        -o "$out/${name%.*}.so" "$handler"
      ;;
    *) die "HANDLER $handler: expected a CMakeLists.txt, .c, .cc or .cpp file" ;;
  esac
  compgen -G "$out/*.so" >/dev/null || die "building $handler produced no plugin in $out"
  # Refuse the image now if a plugin does not load, not when it first runs.
  "$prefix/bin/nitric-host" --check --plugins "$out" --state-dir "${TMPDIR:-/tmp}/nitric-host-check"
}

runtime_packages() {
  [ $# -ge 1 ] || die "usage: build-steps.sh runtime-packages FILE..."
  local files=() f work deps
  for f in "$@"; do files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done
  # dpkg-shlibdeps wants a debian/control beside it; an empty one will do.
  work=$(mktemp -d "${TMPDIR:-/tmp}/nitric-shlibdeps.XXXXXX")
  mkdir "$work/debian"
  : >"$work/debian/control"
  deps=$(cd "$work" && dpkg-shlibdeps -O "${files[@]}" 2>"$work/log") ||
    { cat "$work/log" >&2; rm -rf "$work"; die "dpkg-shlibdeps failed"; }
  rm -rf "$work"
  # "shlibs:Depends=a (>= 1), b | c" -> a, b (the first of alternatives), one a line.
  deps=${deps#shlibs:Depends=}
  tr ',' '\n' <<<"$deps" | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u
}

[ $# -ge 1 ] || die "usage: build-steps.sh build-packages | host | plugins | runtime-packages ..."
step=$1
shift
case "$step" in
  build-packages) build_packages "$@" ;;
  host) host "$@" ;;
  plugins) plugins "$@" ;;
  runtime-packages) runtime_packages "$@" ;;
  *) die "unknown step $step" ;;
esac
