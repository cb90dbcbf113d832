#!/usr/bin/env bash
# Installs the e2e tests' Node dependencies exactly as package-lock.json pins
# them (npm ci). Idempotent: does nothing when node_modules already matches the
# lock. CI and developers run this once before ctest; chat_e2e_test.sh
# refuses to run (and says so) when it has not been run.
#   bash tests/e2e/setup.sh [--force]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null || { echo "setup.sh: node not found (Node >= 18 required)" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm not found" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
if (( major < 18 )); then
  echo "setup.sh: Node $(node -v) is too old, Node >= 18 required" >&2
  exit 1
fi

stamp=node_modules/.e2e-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ "${1:-}" != --force && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup.sh: node_modules matches package-lock.json, nothing to do"
  exit 0
fi

# --ignore-scripts: no dependency needs an install script (protobufjs's
# postinstall only prints version hints; ws's native add-ons are optional).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
echo "setup.sh: installed $(node -p 'Object.entries(require("./package.json").dependencies).map(([k,v])=>k+"@"+v).join(", ")')"
