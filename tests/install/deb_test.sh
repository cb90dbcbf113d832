#!/usr/bin/env bash
# `cpack -G DEB` in the build folder, then check the package the way dpkg and
# Debian's tools see it (issue 13 item 2): file name, contents and owners,
# Depends (dpkg-shlibdeps), conffiles, the packaged config and unit, the
# sysusers.d entry, the maintainer scripts, and lintian without errors.
#   deb_test.sh SOURCE_DIR BUILD_DIR WORK_DIR VERSION
set -euo pipefail
src=$1 build=$2 work=$3 version=$4

fail() {
  echo "deb_test: $*" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work"
# -B only redirects the output (and CPack's staging) away from the build folder.
(cd "$build" && cpack -G DEB -B "$work/out") >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack -G DEB failed"; }
arch=$(dpkg --print-architecture)
deb=$work/out/nitric-host_${version}_${arch}.deb
[ -f "$deb" ] || { ls "$work/out"; fail "no $(basename "$deb")"; }

# ---- control fields ----
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = nitric-host ] || fail "Package is $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version is $(field Version)"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture is $(field Architecture)"
depends=$(field Depends)
echo "Depends: $depends"
# From dpkg-shlibdeps: the libraries the binaries link, with versions.
for lib in 'libc6 (>= ' 'libstdc++6 (>= ' 'libgrpc++1.51 (>= ' 'libprotobuf32 (>= ' \
  'libspdlog1.10' 'libsqlite3-0 (>= ' 'libsystemd0'; do
  [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib"
done
[[ "$depends" == *"systemd | systemd-standalone-sysusers | systemd-sysusers"* ]] ||
  fail "Depends lacks what runs systemd-sysusers"
[[ "$depends" != *"-dev"* ]] || fail "Depends names a -dev package"

# ---- contents: path, mode, owner ----
dpkg-deb -c "$deb" >"$work/contents.txt"
has() { # has MODE PATH: an entry PATH (./PATH in the archive) with that mode, owned root/root
  grep -Eq "^$1 root/root +[0-9]+ [0-9-]+ [0-9:]+ \./$2\$" "$work/contents.txt" ||
    { grep -F "./$2" "$work/contents.txt" || true; fail "no $1 root/root ./$2 in the package"; }
}
has -rwxr-xr-x usr/bin/nitric-host
has -rwxr-xr-x usr/bin/nitric-dev-membrane
has -rw-r--r-- etc/nitric-host/nitric-host.toml
has drwxr-xr-x usr/lib/nitric-host/plugins/
has -rw-r--r-- usr/lib/sysusers.d/nitric-host.conf
has -rw-r--r-- lib/systemd/system/nitric-host.service
has -rw-r--r-- usr/include/nitric/plugin.h
has -rw-r--r-- usr/include/nitric/plugin.hpp
has -rw-r--r-- usr/lib/cmake/NitricPlugin/NitricPluginConfig.cmake
has -rw-r--r-- usr/lib/cmake/NitricPlugin/NitricPluginConfigVersion.cmake
has -rw-r--r-- usr/lib/pkgconfig/nitric-plugin.pc
has -rw-r--r-- usr/share/nitric-host/nitric-host.toml
has -rw-r--r-- usr/share/nitric-host/plugins/broadcast/broadcast.cc
has -rw-r--r-- usr/share/doc/nitric-host/copyright
has -rw-r--r-- usr/share/doc/nitric-host/changelog.gz
if grep -E '\./usr/local/|\./usr/lib/systemd/system/|\./opt/' "$work/contents.txt"; then
  fail "files outside the Debian layout (above)"
fi
if grep -vE ' root/root ' "$work/contents.txt"; then fail "entries not owned by root (above)"; fi

# ---- conffiles and maintainer scripts ----
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/nitric-host/nitric-host.toml ] ||
  fail "conffiles is [$(dpkg-deb -I "$deb" conffiles)]"
mkdir -p "$work/control"
dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "$script missing or not executable"
  sh -n "$work/control/$script" || fail "$script: syntax error"
done
grep -q 'systemd-sysusers nitric-host.conf' "$work/control/postinst" || fail "postinst does not create the user"
grep -q 'deb-systemd-helper enable' "$work/control/postinst" || fail "postinst does not enable the unit"
grep -q '\[ -d /run/systemd/system \]' "$work/control/postinst" ||
  fail "postinst does not guard systemctl for systems without systemd running"

# postinst on a fresh install, with the helpers it calls replaced by stubs
# that log their arguments: the user, then the unit enabled, nothing started.
mkdir -p "$work/stubs"
for tool in systemd-sysusers deb-systemd-helper deb-systemd-invoke systemctl; do
  printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$tool" "$work/calls.log" >"$work/stubs/$tool"
  chmod +x "$work/stubs/$tool"
done
PATH="$work/stubs:$PATH" "$work/control/postinst" configure "" || fail "postinst configure failed"
cat "$work/calls.log"
grep -qx 'systemd-sysusers nitric-host.conf' "$work/calls.log" || fail "postinst did not run systemd-sysusers"
grep -qx 'deb-systemd-helper enable nitric-host.service' "$work/calls.log" ||
  fail "postinst did not enable the unit (deb-systemd-helper was-enabled answers yes here)"
if grep -E '(invoke|systemctl) .*(start|restart)' "$work/calls.log"; then
  fail "postinst started the host on a fresh install"
fi

# ---- what the files say ----
root=$work/root
dpkg-deb -x "$deb" "$root"
unit=$root/lib/systemd/system/nitric-host.service
grep -qx 'ExecStart=/usr/bin/nitric-host --config /etc/nitric-host/nitric-host.toml' "$unit" ||
  fail "packaged unit's ExecStart: $(grep ExecStart= "$unit")"
grep -qx 'User=nitric-host' "$unit" || fail "packaged unit does not run as nitric-host"
grep -qx 'StateDirectory=nitric-host' "$unit" || fail "packaged unit has no StateDirectory"
if grep -q 'DynamicUser' "$unit"; then fail "packaged unit uses DynamicUser"; fi
conf=$root/etc/nitric-host/nitric-host.toml
grep -qx 'plugins_dir = "/usr/lib/nitric-host/plugins"' "$conf" || fail "packaged config's plugins_dir"
grep -qx 'state_dir = "/var/lib/nitric-host"' "$conf" || fail "packaged config's state_dir"
grep -qx 'prefix=/usr' "$root/usr/lib/pkgconfig/nitric-plugin.pc" || fail ".pc prefix is not /usr"
if grep -rl "$build\|$src" "$root/etc" "$root/lib" "$root/usr/lib" "$root/usr/share"; then
  fail "build or source paths leaked into the package (above)"
fi
# The packaged host reads the packaged config (a value of the wrong type or a
# syntax error would exit 2).
mkdir -p "$work/no-plugins"
chmod 0755 "$work/no-plugins"
"$root/usr/bin/nitric-host" --check --config "$conf" --plugins "$work/no-plugins" \
  --state-dir "$work/state" >"$work/check.log" 2>&1 ||
  { cat "$work/check.log"; fail "nitric-host --check with the packaged config failed"; }
# The sysusers.d entry makes the user, in a scratch root.
mkdir -p "$work/sysroot/etc"
systemd-sysusers --root="$work/sysroot" "$root/usr/lib/sysusers.d/nitric-host.conf" ||
  fail "systemd-sysusers refused the sysusers.d entry"
grep -q '^nitric-host:x:[0-9]*:[0-9]*:nitric-host plugin host:/var/lib/nitric-host:' \
  "$work/sysroot/etc/passwd" || fail "no nitric-host user: $(cat "$work/sysroot/etc/passwd")"

# ---- lintian: no errors (warnings are listed in cmake/NitricPackage.cmake) ----
lintian_rc=0
lintian --fail-on error --tag-display-limit 0 "$deb" >"$work/lintian.txt" 2>&1 || lintian_rc=$?
cat "$work/lintian.txt"
[ "$lintian_rc" -eq 0 ] || fail "lintian exit status $lintian_rc"
if grep -q '^E: ' "$work/lintian.txt"; then fail "lintian errors (above)"; fi
echo "deb_test: ok ($(basename "$deb"), $(grep -c . "$work/lintian.txt" || true) lintian lines)"
