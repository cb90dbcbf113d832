#!/usr/bin/env bash
# The `start` command of a nitric-host service for `nitric start`
# (deploy/nitric/example/nitric.yaml, docs/deploy.md):
#
#   start: ./nitric-host/deploy/nitric/start.sh $SERVICE_PATH
#
# The Nitric CLI runs it without a shell, from the service's basedir, with
# NITRIC_ENVIRONMENT=run and SERVICE_ADDRESS=localhost:<port> set, and stops it
# with SIGTERM sent to this process only. So this script builds the service's
# plugins (build-steps.sh plugins) and then becomes nitric-host (exec): the
# SIGTERM reaches the host, which lets running handlers finish and exits 0.
# A SIGTERM while the plugins still build stops the build and exits 0 too.
#
#   start.sh HANDLER             build, then exec nitric-host --watch
#   start.sh --rebuild HANDLER   rebuild and install changed plugins into the
#                                running host's folder (it reloads: --watch)
#
# nitric-host comes from NITRIC_HOST_PREFIX, else from the `nitric-host` on
# PATH (/usr with the Debian package, or a `cmake --install` prefix). Plugins
# and state live in .nitric-host/start/<service>/ under the basedir.
# NITRIC_HOST_CONFIG names a config file for the host (optional).
set -euo pipefail

usage() {
  echo "usage: start.sh [--rebuild] HANDLER   (the nitric.yaml start command's \$SERVICE_PATH)" >&2
  exit 2
}
rebuild=false
if [ "${1:-}" = --rebuild ]; then
  rebuild=true
  shift
fi
[ $# -eq 1 ] || usage
handler=$1
[ -e "$handler" ] || { echo "start.sh: no such service file: $handler (run from the service's basedir)" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -n "${NITRIC_HOST_PREFIX:-}" ]; then
  prefix=$NITRIC_HOST_PREFIX
elif host_bin=$(command -v nitric-host); then
  prefix=$(cd "$(dirname "$host_bin")/.." && pwd)
else
  echo "start.sh: nitric-host is not installed: apt install ./nitric-host_*.deb, or" \
    "cmake --install build --prefix P and set NITRIC_HOST_PREFIX=P (or put P/bin on PATH)" >&2
  exit 1
fi

# The host refuses a plugins folder that group or others can write.
umask 022
service=$(tr -c 'A-Za-z0-9._-' '_' <<<"${handler%/CMakeLists.txt}" | sed 's/_$//')
dir=.nitric-host/start/$service
mkdir -p "$dir/plugins"

# Build into a staging folder, then move each changed plugin into the folder
# the host watches with a rename (never a half-written file there), and drop
# plugins the build no longer makes.
build_and_install() {
  rm -rf "$dir/stage"
  "$here/build-steps.sh" plugins "$handler" "$prefix" "$dir/stage" >"$dir/build.log" 2>&1 ||
    { cat "$dir/build.log" >&2; echo "start.sh: building $handler failed (log above)" >&2; return 1; }
  local so name
  for so in "$dir"/stage/*.so; do
    name=$(basename "$so")
    if ! cmp -s "$so" "$dir/plugins/$name"; then
      cp "$so" "$dir/plugins/.$name.tmp"
      mv -f "$dir/plugins/.$name.tmp" "$dir/plugins/$name"
      echo "start.sh: installed $name"
    fi
  done
  for so in "$dir"/plugins/*.so; do
    [ -e "$so" ] || continue
    [ -e "$dir/stage/$(basename "$so")" ] || { rm -f "$so"; echo "start.sh: removed $(basename "$so")"; }
  done
}

if $rebuild; then
  build_and_install
  exit 0
fi

# Stopped while building: end the build (its own process group) and exit 0,
# as the host would.
set -m
build_pid=
on_stop() {
  if [ -n "$build_pid" ]; then kill -TERM -- "-$build_pid" 2>/dev/null || true; fi
  exit 0
}
trap on_stop TERM INT
build_and_install &
build_pid=$!
wait "$build_pid" || exit 1
build_pid=
set +m

args=(--plugins "$dir/plugins" --watch --state-dir "$dir/state")
if [ -n "${NITRIC_HOST_CONFIG:-}" ]; then args+=(--config "$NITRIC_HOST_CONFIG"); fi
echo "start.sh: exec $prefix/bin/nitric-host ${args[*]} (SERVICE_ADDRESS=${SERVICE_ADDRESS:-unset}," \
  "NITRIC_ENVIRONMENT=${NITRIC_ENVIRONMENT:-unset})"
# exec resets the trap: from here on SIGTERM is the host's.
exec "$prefix/bin/nitric-host" "${args[@]}"
