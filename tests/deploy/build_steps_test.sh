#!/usr/bin/env bash
# The build steps of deploy/nitric/nitric-host.dockerfile, run on this machine
# as the Dockerfile runs them (docker is not available here):
#   - the Dockerfile calls only steps that build-steps.sh has;
#   - build-packages names installed Debian packages (this machine built the host);
#   - host installs nitric-host and the SDK into a prefix (reusing BUILD_DIR's
#     build, as a second compile of the host would cost minutes);
#   - plugins builds the example service (a CMake plugin project) and a
#     single-file C service, each loaded by --check;
#   - the image's ENTRYPOINT, on the example's plugins, passes the collector
#     of `nitric up` (nitric-dev-membrane --collect) in build mode;
#   - runtime-packages lists the libraries' packages, no -dev, with gRPC.
#   build_steps_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
src=$1 build=$2 work=$3
steps=$src/deploy/nitric/build-steps.sh
dockerfile=$src/deploy/nitric/nitric-host.dockerfile

fail() {
  echo "build_steps_test: $*" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work"

# ---- the Dockerfile and the script agree ----
used=$(grep -o 'nitric-build-steps [a-z-]*' "$dockerfile" | awk '{print $2}' | sort -u | paste -sd' ')
[ "$used" = "build-packages host plugins runtime-packages" ] ||
  fail "the Dockerfile calls steps [$used]"
grep -q "^COPY \${NITRIC_HOST_SRC}/deploy/nitric/build-steps.sh /usr/local/bin/nitric-build-steps$" \
  "$dockerfile" || fail "the Dockerfile does not install build-steps.sh as nitric-build-steps"
grep -q '^FROM debian:12 AS build$' "$dockerfile" || fail "the build stage is not debian:12"
[ "$(grep -c '^FROM debian:12' "$dockerfile")" -eq 2 ] || fail "the runtime stage is not debian:12"

# ---- build-packages ----
mapfile -t pkgs < <(bash "$steps" build-packages)
[ "${#pkgs[@]}" -gt 5 ] || fail "build-packages listed ${#pkgs[@]} packages"
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    fail "build-packages names $p, which is not installed here (a typo, or not what the build uses)"
done

# ---- host ----
prefix=$work/opt/nitric-host
BUILD_DIR=$build bash "$steps" host "$src" "$prefix" >"$work/host.log" 2>&1 ||
  { cat "$work/host.log"; fail "the host step failed"; }
[ -x "$prefix/bin/nitric-host" ] || fail "no $prefix/bin/nitric-host"
[ -f "$prefix/lib/pkgconfig/nitric-plugin.pc" ] || fail "no SDK in $prefix"
# --strip: no debug sections left in the image's binary.
if readelf -S "$prefix/bin/nitric-host" | grep -q '\.debug_info'; then fail "nitric-host is not stripped"; fi

# ---- plugins: the example service, from its folder as the build context ----
cp -r "$src/deploy/nitric/example" "$work/app"
(cd "$work/app" && bash "$steps" plugins services/chat/CMakeLists.txt "$prefix" "$work/out/chat") \
  >"$work/chat.log" 2>&1 || { cat "$work/chat.log"; fail "the plugins step failed for the example service"; }
grep -q '^ok .*chat.so: chat (chat.so): websockets \[chat\], stores \[chat-members:get,set,delete\]' \
  "$work/chat.log" || { cat "$work/chat.log"; fail "chat.so was not checked as expected"; }
# ... and a service that is a single C file.
mkdir -p "$work/app/services"
cp "$src/tests/install/cplugin.c" "$work/app/services/c-echo.c"
(cd "$work/app" && bash "$steps" plugins services/c-echo.c "$prefix" "$work/out/c") \
  >"$work/c.log" 2>&1 || { cat "$work/c.log"; fail "the plugins step failed for a .c service"; }
[ -f "$work/out/c/c-echo.so" ] || fail "no c-echo.so"
grep -q '^ok .*c-echo.so: installed_c' "$work/c.log" || { cat "$work/c.log"; fail "c-echo.so not checked"; }
# A handler it cannot build is refused with a message.
if (cd "$work/app" && bash "$steps" plugins nitric.yaml "$prefix" "$work/out/bad") 2>"$work/bad.log"; then
  fail "the plugins step accepted nitric.yaml as a handler"
fi
grep -q 'expected a CMakeLists.txt, .c, .cc or .cpp file' "$work/bad.log" || fail "$(cat "$work/bad.log")"

# ---- the image's ENTRYPOINT in build mode against the collector, as `nitric up` runs it ----
mapfile -t entry < <(python3 - "$dockerfile" "$prefix" "$work/out/chat" "$work/state" <<'PY'
import json, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
line = next(l for l in text.splitlines() if l.startswith("ENTRYPOINT "))
paths = {"/usr/bin/nitric-host": sys.argv[2] + "/bin/nitric-host",
         "/usr/lib/nitric-host/plugins": sys.argv[3], "/tmp/nitric-host": sys.argv[4]}
for arg in json.loads(line[len("ENTRYPOINT "):]):
    print(paths.get(arg, arg))
PY
)
[ "${entry[0]:-}" = "$prefix/bin/nitric-host" ] || fail "the ENTRYPOINT does not run /usr/bin/nitric-host: ${entry[*]}"
"$build/bin/nitric-dev-membrane" --collect "$work/spec.json" --listen 127.0.0.1:0 -- "${entry[@]}" \
  >"$work/collect.log" 2>&1 || { cat "$work/collect.log"; fail "the ENTRYPOINT in build mode did not pass the collector"; }
python3 - "$work/spec.json" <<'PY' || fail "the collected spec lacks the example's socket, handlers or store: $(cat "$work/spec.json")"
import json, sys
spec = json.load(open(sys.argv[1]))
sockets = {w["name"]: w for w in spec["websockets"]}
assert set(sockets["chat"]["handlers"]) >= {"connect", "disconnect", "message"}, sockets
assert "chat-members" in [s["name"] for s in spec["stores"]], spec["stores"]
PY

# ---- runtime-packages ----
mapfile -t runtime < <(bash "$steps" runtime-packages "$prefix/bin/nitric-host" "$work"/out/chat/*.so)
echo "runtime packages: ${runtime[*]}"
printf '%s\n' "${runtime[@]}" | grep -qx 'libgrpc++1.51' || fail "runtime packages lack libgrpc++1.51"
printf '%s\n' "${runtime[@]}" | grep -qx 'libc6' || fail "runtime packages lack libc6"
printf '%s\n' "${runtime[@]}" | grep -qx 'libstdc++6' || fail "runtime packages lack libstdc++6 (the C++ plugin)"
if printf '%s\n' "${runtime[@]}" | grep -E -- '-dev$|[ (]'; then fail "runtime packages: -dev or versions (above)"; fi
# Each is installed here, or provided by an installed package (libspdlog1.10
# provides libspdlog1.10-fmt9; apt-get installs the provider of such a name).
provided=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' | awk '$1 == "ii" {print}' |
  sed 's/([^)]*)//g; s/,/ /g' | awk '{for (i = 2; i <= NF; i++) print $i}' | sed 's/:.*//' | sort -u)
for p in "${runtime[@]}"; do
  grep -qxF "$p" <<<"$provided" || fail "runtime-packages names $p, which nothing installed here provides"
done
echo "build_steps_test: ok"
