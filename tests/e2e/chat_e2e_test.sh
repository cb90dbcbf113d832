#!/usr/bin/env bash
# End-to-end chat test with real Node `ws` clients, run against either app:
#
#   nitric-dev-membrane  <-gRPC->  sdk:  @nitric/sdk 1.2.2 broadcast app (sdk-app/)
#         ^ ws gateway             host: nitric-host + auth.so + broadcast.so
#   20 real `ws` clients x 20 messages (chat-driver.mjs)
#
# The scenario is the same for both, so their client-visible results can be
# compared: every client connects with ?token=letmein; SocketDetails answers
# the gateway URL; a ?token=bad client is refused with HTTP 403 (the SDK app's
# connect handler, or auth.so guarding broadcast.so's socket from earlier in
# the chain); every client receives every message exactly once and in each
# sender's order; after all clients are gone the 'connections' KV store is
# empty; the app and the membrane survive the run; both stop on SIGTERM.
#
#   bash tests/e2e/chat_e2e_test.sh sdk  MEMBRANE_BIN
#   bash tests/e2e/chat_e2e_test.sh host MEMBRANE_BIN HOST_BIN PLUGIN_DIR
#     PLUGIN_DIR holds auth.so and broadcast.so (build/plugins)
#   env: E2E_CLIENTS (20), E2E_MESSAGES (20), E2E_KEEP_TMP=1 keeps logs and data
#
# Everything listens on 127.0.0.1, on free ports picked at start. Every process
# started here is stopped on every exit path; the whole run is bounded (58 s).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
APP_KIND=${1:-}
MEMBRANE_BIN=${2:-$REPO/build/bin/nitric-dev-membrane}
HOST_BIN=${3:-$REPO/build/bin/nitric-host}
PLUGIN_DIR=${4:-$REPO/build/plugins}
TOKEN=letmein
CLIENTS=${E2E_CLIENTS:-20}
MESSAGES=${E2E_MESSAGES:-20}
BUDGET_S=58

say() { printf '[e2e %5.1fs] %s\n' "$(( $(date +%s%N) / 1000000 - T0_MS ))e-3" "$*"; }
T0_MS=$(( $(date +%s%N) / 1000000 ))
die() { say "FAIL: $*"; exit 1; }
case $APP_KIND in
  sdk) APP_NAME="the SDK app" ;;
  host) APP_NAME="nitric-host" ;;
  *) echo "usage: chat_e2e_test.sh sdk|host MEMBRANE_BIN [HOST_BIN PLUGIN_DIR]" >&2; exit 2 ;;
esac
TEST_NAME=e2e_chat_$APP_KIND

# --- preconditions -------------------------------------------------------------
command -v node >/dev/null || die "node not found (Node >= 18 required)"
stamp=$HERE/node_modules/.e2e-lock.sha256
if [[ ! -f $stamp || "$(cat "$stamp")" != "$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)" ]]; then
  die "tests/e2e/node_modules is missing or does not match package-lock.json: run  bash tests/e2e/setup.sh"
fi
[[ -x $MEMBRANE_BIN ]] || die "membrane binary not found or not executable: $MEMBRANE_BIN"
if [[ $APP_KIND == host ]]; then
  [[ -x $HOST_BIN ]] || die "nitric-host binary not found or not executable: $HOST_BIN"
  for p in auth broadcast; do
    [[ -f $PLUGIN_DIR/$p.so ]] || die "plugin $PLUGIN_DIR/$p.so not found (build the examples)"
  done
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nitric-e2e.XXXXXX")
MEMBRANE_LOG=$TMP/membrane.log
APP_LOG=$TMP/app.log
MEMBRANE_PID=
APP_PID=
WATCHDOG_PID=
RESULT=1

# Stops one process started here: SIGTERM, then SIGKILL after $2 seconds.
# Sets STOP_RC to its exit status, or "killed" when SIGTERM was not enough.
stop_pid() {
  local pid=$1 grace_ds=$(( $2 * 10 )) i
  STOP_RC=
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < grace_ds; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    STOP_RC=killed
    return 0
  fi
  STOP_RC=0
  wait "$pid" 2>/dev/null || STOP_RC=$?
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $WATCHDOG_PID ]] && { kill "$WATCHDOG_PID" 2>/dev/null || true; wait "$WATCHDOG_PID" 2>/dev/null || true; }
  stop_pid "$APP_PID" 3
  stop_pid "$MEMBRANE_PID" 5
  if (( rc != 0 || RESULT != 0 )); then
    for f in "$MEMBRANE_LOG" "$APP_LOG"; do
      [[ -s $f ]] || continue
      echo "----- last lines of $(basename "$f") -----"
      tail -n 40 "$f"
    done
    (( rc != 0 )) || rc=1
  fi
  if [[ -n ${E2E_KEEP_TMP:-} ]]; then
    echo "logs and data kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  if (( rc == 0 )); then say "PASS $TEST_NAME"; else say "FAIL $TEST_NAME (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated by SIGTERM (from outside, or the ${BUDGET_S} s time budget ran out)"; exit 124' TERM

# Bound the whole run even if a step hangs in a way its own timeout misses.
( trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$BUDGET_S" & sp=$!
  wait "$sp" && kill -TERM $$ 2>/dev/null ) &
WATCHDOG_PID=$!

# --- helpers -------------------------------------------------------------------
# Two distinct free loopback ports: bind both to port 0 at once, then close.
read -r GRPC_PORT GW_PORT < <(node -e '
  const net = require("net");
  const a = net.createServer(), b = net.createServer();
  a.listen(0, "127.0.0.1", () => b.listen(0, "127.0.0.1", () => {
    console.log(a.address().port, b.address().port); a.close(); b.close(); }));')
[[ -n $GRPC_PORT && -n $GW_PORT ]] || die "could not pick free ports"

# wait_tcp PORT SECONDS PID WHAT: until 127.0.0.1:PORT accepts, while PID lives.
wait_tcp() {
  local port=$1 limit_ds=$(( $2 * 10 )) pid=$3 what=$4 i
  for (( i = 0; i < limit_ds; i++ )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0; wait "$pid" 2>/dev/null || rc=$?
      die "$what exited (status $rc) before 127.0.0.1:$port accepted connections"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$what: 127.0.0.1:$port did not accept connections within $2 s"
}

alive() { # alive PID WHAT
  kill -0 "$1" 2>/dev/null && return 0
  local rc=0; wait "$1" 2>/dev/null || rc=$?
  die "$2 is no longer running (exit status $rc)"
}

probe() { timeout 10 node "$HERE/membrane-probe.mjs" "$@" --address "127.0.0.1:$GRPC_PORT"; }

# --- 1. the membrane -----------------------------------------------------------
say "membrane: $MEMBRANE_BIN --listen 127.0.0.1:$GRPC_PORT --gateway-port $GW_PORT --data $TMP/data"
"$MEMBRANE_BIN" --listen "127.0.0.1:$GRPC_PORT" --gateway-port "$GW_PORT" --data "$TMP/data" \
  >"$MEMBRANE_LOG" 2>&1 &
MEMBRANE_PID=$!
wait_tcp "$GRPC_PORT" 10 "$MEMBRANE_PID" "nitric-dev-membrane"
say "membrane gRPC accepts on 127.0.0.1:$GRPC_PORT"

# --- 2. the app ------------------------------------------------------------------
if [[ $APP_KIND == sdk ]]; then
  (cd "$HERE" && SERVICE_ADDRESS=127.0.0.1:$GRPC_PORT exec node sdk-app/broadcast.mjs) >"$APP_LOG" 2>&1 &
else
  # auth.so sorts before broadcast.so, so it runs first in the connect chain
  # and a rejected client never reaches broadcast's KV store.
  mkdir -p "$TMP/plugins"
  cp "$PLUGIN_DIR/auth.so" "$PLUGIN_DIR/broadcast.so" "$TMP/plugins/"
  cat >"$TMP/nitric-host.toml" <<TOML
[plugins.auth]
sockets = ["public"]
token = "$TOKEN"
TOML
  SERVICE_ADDRESS=127.0.0.1:$GRPC_PORT "$HOST_BIN" --config "$TMP/nitric-host.toml" \
    --plugins "$TMP/plugins" >"$APP_LOG" 2>&1 &
fi
APP_PID=$!
wait_tcp "$GW_PORT" 10 "$APP_PID" "$APP_NAME (or the membrane's gateway for socket 'public')"
say "gateway for socket 'public' accepts on 127.0.0.1:$GW_PORT"

URL=$(probe socket-url --socket public) || die "Websocket.SocketDetails(public) failed"
[[ $URL == "ws://127.0.0.1:$GW_PORT" || $URL == "ws://127.0.0.1:$GW_PORT/" ]] ||
  die "SocketDetails(public) answered '$URL', expected ws://127.0.0.1:$GW_PORT"
say "SocketDetails(public) = $URL"

# The app opens its three HandleEvents streams asynchronously: wait until the
# gateway's status page shows connect, disconnect and message registered.
timeout 10 node "$HERE/membrane-probe.mjs" wait-socket-ready --url "$URL" --timeout-ms 8000 ||
  die "$APP_NAME's handlers did not all register on socket 'public'"
alive "$APP_PID" "$APP_NAME"

# --- 3. chat: refused client, then N clients x M messages -----------------------
say "chat: $CLIENTS clients x $MESSAGES messages, plus a ?token=bad client"
# --check-order: the gateway delivers a connection's messages one at a time and
# the app awaits every send before answering, so each receiver must see each
# sender's messages in the order they were sent.
timeout 45 node "$HERE/chat-driver.mjs" --url "${URL%/}/?token=$TOKEN" --clients "$CLIENTS" --messages "$MESSAGES" \
  --timeout-ms 38000 --check-order --reject-query token=bad --reject-status 403 ||
  die "chat driver reported failures (above)"
alive "$APP_PID" "$APP_NAME"
alive "$MEMBRANE_PID" "nitric-dev-membrane"

# --- 4. every connection gone from KV -----------------------------------------
probe kv-wait-empty --store connections --timeout-ms 5000 ||
  die "the 'connections' store is not empty after every client disconnected"
timeout 10 node "$HERE/membrane-probe.mjs" wait-socket-ready --url "$URL" --connections 0 --timeout-ms 3000 ||
  die "the gateway still counts live connections after every client disconnected"

# --- 5. orderly stop -----------------------------------------------------------
stop_pid "$APP_PID" 3; APP_PID=
say "$APP_NAME stopped (status $STOP_RC)"
# nitric-host promises a graceful exit 0 on SIGTERM; the SDK app makes no such promise.
if [[ $APP_KIND == host && $STOP_RC != 0 ]]; then
  die "nitric-host exited with status $STOP_RC on SIGTERM, expected 0"
fi
stop_pid "$MEMBRANE_PID" 5; MEMBRANE_PID=
[[ $STOP_RC != killed ]] || die "nitric-dev-membrane did not exit within 5 s of SIGTERM"
[[ $STOP_RC == 0 ]] || say "note: nitric-dev-membrane exited with status $STOP_RC on SIGTERM"
say "membrane stopped on SIGTERM (status $STOP_RC)"
RESULT=0
