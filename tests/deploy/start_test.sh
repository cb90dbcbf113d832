#!/usr/bin/env bash
# deploy/nitric/start.sh as `nitric start` runs it: the example nitric.yaml's
# start command with $SERVICE_PATH replaced, split on spaces and executed
# without a shell from the service's basedir, NITRIC_ENVIRONMENT=run and
# SERVICE_ADDRESS=localhost:<port> set (here: the dev membrane's port), then
# SIGTERM to that one process. nitric-host comes from an installed prefix on
# PATH, as after `apt install` or `cmake --install`.
#   - the script becomes the installed nitric-host (exec), which registers
#     its streams, reloads a rebuilt plugin (start.sh --rebuild) and exits 0
#     on SIGTERM;
#   - a SIGTERM while the plugins still build ends the build and exits 0.
#   start_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
src=$1 build=$2 work=$3

pids=()
gate=
prefix=$work/prefix
# gate_reader_running FIFO: true while some process has FIFO on its command
# line (the build's `cat FIFO`, blocked opening it; /proc/*/cmdline).
gate_reader_running() {
  python3 -c 'import os, sys
target = os.path.realpath(sys.argv[1])
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():
        continue
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        continue
    if any(a and os.path.realpath(a.decode(errors="replace")) == target for a in args[1:]):
        sys.exit(0)
sys.exit(1)' "$1"
}
# release_gate FIFO: a reader blocked on FIFO sees end-of-file.
release_gate() {
  python3 -c 'import os, sys
try:
    os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK))
except OSError:
    pass' "$1"
}
cleanup() {
  local p
  if [ -n "$gate" ] && [ -p "$gate" ]; then
    release_gate "$gate" # a build still reading it (a failed test) goes on and ends
  fi
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # A host that start.sh left behind (it ran it without exec: a failed test)
  # is this test's own: its binary is in this test's prefix.
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/exe" 2>/dev/null)" = "$prefix/bin/nitric-host" ]; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT
fail() {
  echo "start_test: $*" >&2
  for f in "$work"/*.log "$work"/*.err; do
    [ -f "$f" ] && { echo "---- $f"; tail -n 40 "$f"; } >&2
  done
  exit 1
}
# wait_for FILE PATTERN WHAT: polls until FILE has a line matching PATTERN
# (generous deadline: the suite runs on a starved CPU).
wait_for() {
  local deadline=$((SECONDS + 120))
  until grep -qE "$2" "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for $3"
    sleep 0.1
  done
}

rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || fail "cmake --install failed"

# The project: nitric-host beside the services, as the example's layout says.
app=$work/app
mkdir -p "$app/services/slow"
ln -s "$src" "$app/nitric-host"
cp "$src/tests/install/cplugin.c" "$app/services/echo.c"

# The start command, exactly as nitric.yaml says it.
start=$(sed -n 's/^ *start: *//p' "$src/deploy/nitric/example/nitric.yaml")
[ -n "$start" ] || fail "no start: in deploy/nitric/example/nitric.yaml"
argv_for() { # the CLI: replace $SERVICE_PATH, split on single spaces
  local cmd=${start//\$SERVICE_PATH/$1}
  IFS=' ' read -r -a argv <<<"$cmd"
}

"$build/bin/nitric-dev-membrane" --listen 127.0.0.1:0 --gateway-port 0 --data "$work/data" \
  >"$work/membrane.log" 2>&1 &
pids+=($!)
wait_for "$work/membrane.log" 'dev membrane ready: SERVICE_ADDRESS=127\.0\.0\.1:[0-9]+' "the dev membrane"
port=$(sed -n 's/.*dev membrane ready: SERVICE_ADDRESS=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/membrane.log")

run_service() { # run_service HANDLER LOG: starts the command in the background; sets $pid
  argv_for "$1"
  (cd "$app" && exec env PATH="$prefix/bin:$PATH" NITRIC_ENVIRONMENT=run \
    SERVICE_ADDRESS="localhost:$port" PYTHONUNBUFFERED=TRUE "${argv[@]}") >"$2.out" 2>"$2.err" &
  pid=$!
  pids+=("$pid")
}

# ---- a service that runs: build, exec, serve, reload, SIGTERM -> 0 ----
run_service services/echo.c "$work/echo"
wait_for "$work/echo.err" 'ready: 1 socket\(s\) registered' "the host to register its streams"
exe=$(readlink "/proc/$pid/exe" || true)
[ "$exe" = "$prefix/bin/nitric-host" ] ||
  fail "the process the CLI started is $exe, not the installed nitric-host (no exec?)"
grep -q "exec $prefix/bin/nitric-host" "$work/echo.out" || fail "start.sh did not say what it runs"

# Hot reload under nitric start: a rebuilt plugin lands in the watched folder.
sed -i 's/"1.0",/"2.0",/' "$app/services/echo.c"
(cd "$app" && PATH="$prefix/bin:$PATH" ./nitric-host/deploy/nitric/start.sh --rebuild services/echo.c) \
  >"$work/rebuild.log" 2>&1 || fail "start.sh --rebuild failed"
grep -q 'installed echo.so' "$work/rebuild.log" || fail "--rebuild did not install echo.so"
wait_for "$work/echo.err" 'plugin echo\.so: loaded new version installed_c 2\.0' "the host to reload echo.so"
wait_for "$work/echo.err" 'generation 2: 1 plugins serving \(0 loaded, 1 replaced' "generation 2"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "nitric-host under start.sh exited $rc on SIGTERM, want 0"

# ---- stopped while its plugins build: SIGTERM -> 0, the build ended ----
gate=$app/services/slow/gate
mkfifo "$gate"
cat >"$app/services/slow/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(slow LANGUAGES NONE)
message(NOTICE "slow configure started")
# Blocks until the test writes to the gate (or the build is killed).
execute_process(COMMAND cat ${CMAKE_CURRENT_SOURCE_DIR}/gate)
EOF
run_service services/slow/CMakeLists.txt "$work/slow"
wait_for "$app/.nitric-host/start/services_slow/build.log" 'slow configure started' "the slow build"
deadline=$((SECONDS + 120))
until gate_reader_running "$gate"; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the slow build never opened its gate"
  sleep 0.1
done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "start.sh stopped while building exited $rc, want 0"
# The build (its reader of the gate) ends too.
deadline=$((SECONDS + 120))
while gate_reader_running "$gate"; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the build still ran after start.sh was stopped"
  sleep 0.1
done
gate=
echo "start_test: ok"
