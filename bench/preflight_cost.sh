#!/usr/bin/env bash
# What the pre-flight check (host.preflight) adds to a reload: runs the host
# on the dev membrane with one small plugin (crashy.so from the test
# plugins), installs RUNS new builds of it one SIGHUP each, and prints the
# loader's own time per reload ("generation N: ... in X ms") with the check
# on and off. Usage: bench/preflight_cost.sh BUILD_DIR [RUNS]
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [RUNS]}
runs=${2:-20}
host=$build/bin/nitric-host
plugin=$build/test-plugins/crashy.so
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

install() {  # install build $1 as plugins/crashy.so
  python3 - "$plugin" "$work/crashy.so.new" "$1" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
n = 100 + int(sys.argv[3]) % 900
open(sys.argv[2], 'wb').write(b.replace(b'NITRIC_CRASHY=o000', b'NITRIC_CRASHY=o%03d' % n))
PY
  mv "$work/crashy.so.new" "$work/plugins/crashy.so"
}

for preflight in true false; do
  rm -rf "$work/plugins" && mkdir -p "$work/plugins"
  printf '[host]\npreflight = %s\n' "$preflight" > "$work/host.toml"
  install 0
  "$host" --dev --dev-port 0 --dev-data "$work/data" --state-dir "$work/state" \
    --plugins "$work/plugins" --config "$work/host.toml" 2> "$work/log" > /dev/null &
  pid=$!
  until grep -q '] ready: ' "$work/log"; do sleep 0.05; done
  for i in $(seq 1 "$runs"); do
    install "$i"
    kill -HUP $pid
    until grep -q "] generation $((i + 1)): " "$work/log"; do sleep 0.01; done
  done
  kill $pid; wait $pid || true
  grep -o '] generation [0-9]*: .* in [0-9.]* ms' "$work/log" | tail -n +2 |
    sed 's/.* in \([0-9.]*\) ms/\1/' | sort -n |
    awk -v p="$preflight" '{v[NR]=$1; s+=$1} END {
      printf "preflight=%-5s reloads=%d  median %.1f ms  mean %.1f ms  min %.1f  max %.1f\n",
             p, NR, v[int((NR+1)/2)], s/NR, v[1], v[NR]}'
done
