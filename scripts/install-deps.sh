#!/usr/bin/env bash
# Installs the Debian packages that nitric-host needs to build, test and benchmark.
# Idempotent: packages already present are skipped, and apt is only touched when
# something is missing. Uses sudo when not run as root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build clang-format
  clang  # fuzz, ASan+UBSan and -Wthread-safety builds (scripts/fuzz.sh, sanitize.sh)
  libclang-rt-14-dev  # libFuzzer, ASan and UBSan runtimes of clang 14 (scripts/fuzz.sh)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev libboost-filesystem-dev libboost-system-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev
  libsqlite3-dev libsystemd-dev
  libgtest-dev libgmock-dev
  nodejs npm
  python3-websockets  # the interactive client of the README's chat demo
  # the Debian package (cpack -G DEB, tests/install/deb_test.sh): file for
  # CPack's dpkg-shlibdeps step, lintian, systemd-sysusers (package systemd)
  file lintian systemd
  prometheus  # the metrics tests: a real Prometheus scrapes the host; promtool checks /metrics
  cargo rustc  # the Rust example plugin examples/rust-echo (/usr/bin/cargo, offline, no crates)
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# nodejs from some repositories ships npm itself; accept any working npm.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [ "$p" = npm ] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if command -v node >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all Debian packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
