#!/usr/bin/env bash
# Interleaved A/B of the dispatch benchmark (N=100, noop.so, one gRPC write per
# event): two or more nitric-host binaries and the ceiling, in rounds. Each
# round runs the ceiling, then every host, in an order rotated by one per
# round; each host's CPU per event is divided by the same round's ceiling's,
# and the report gives each round, the median ratio of each host, and each
# host's ratio against the first one (the "before"). Measured by this to
# show the cost of the metrics (bench/METRICS-OVERHEAD.md).
#
#   bench/ab_dispatch.sh [-r ROUNDS] [-o OUT.jsonl] NAME=HOST [NAME=HOST ...] [-- HOST ARGS]
#
# BUILD_DIR (default build) must have nitric-bench-dispatch, nitric-bench-ceiling
# and bench/noop.so (cmake -DNITRIC_BUILD_BENCH=ON; --target noop
# nitric-bench-dispatch nitric-bench-ceiling). Arguments after -- go to every
# host but the first (e.g. -- --admin 127.0.0.1:0 to run the "after" with its
# admin listener on). Run it at normal priority; builds alongside under nice.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${BUILD_DIR:-build}
rounds=7 out=
while getopts r:o: opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n 2,17p "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
hosts=() extra=()
while (($#)); do
  if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
  [[ $1 == *=* ]] || { echo "ab_dispatch.sh: expected NAME=HOST, got $1" >&2; exit 2; }
  hosts+=("$1"); shift
done
((${#hosts[@]} >= 2)) || { echo "ab_dispatch.sh: give at least two NAME=HOST" >&2; exit 2; }
bin=$BUILD_DIR/bin
for f in "$bin/nitric-bench-dispatch" "$bin/nitric-bench-ceiling" "$BUILD_DIR/bench/noop.so"; do
  [[ -e $f ]] || { echo "ab_dispatch.sh: $f missing (see the comment at the top)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/plugins" && cp "$BUILD_DIR/bench/noop.so" "$work/plugins/"
out=${out:-$work/ab.jsonl}
: >"$out"
first=${hosts[0]%%=*}
for r in $(seq 1 "$rounds"); do
  k=$(((r - 1) % ${#hosts[@]}))
  order=(ceiling=ceiling "${hosts[@]:k}" "${hosts[@]:0:k}")
  echo "round $r, load $(cut -d' ' -f1-3 /proc/loadavg): ${order[*]%%=*}" >&2
  for spec in "${order[@]}"; do
    name=${spec%%=*} host=${spec#*=}
    if [[ $name == ceiling ]]; then
      cmd=("$bin/nitric-bench-ceiling")
    elif [[ $name == "$first" ]]; then
      cmd=("$host" --plugins "$work/plugins")
    else
      cmd=("$host" --plugins "$work/plugins" "${extra[@]}")
    fi
    (cd "$work" && "$bin/nitric-bench-dispatch" --name "$name" --connections 100 --warmup 2 \
      --duration 5 --startup-timeout 120 --json "$out" --log "$work/$name-$r.log" \
      -- "${cmd[@]}" >/dev/null 2>&1) || echo "ab_dispatch.sh: $name failed in round $r" >&2
    sed -i "\$s/}\$/,\"round\":$r,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\"}/" "$out"
  done
done
python3 "$here/ab_table.py" "$out" "$first"
