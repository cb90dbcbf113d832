#!/usr/bin/env bash
# Checks the includes of host/ against the layering table of
# host/CMakeLists.txt (run by the build and by ctest as host_layering).
#
#   check-host-layering.sh HOST_DIR RULE...
#   RULE is "folder:dep,dep,...": files in HOST_DIR/folder/ may include
#   "host/<folder>/..." and "host/<dep>/..." only; "devserver/..." only if
#   devserver is a dep. Files directly in HOST_DIR (main.cc) belong to app.
#
# Prints one line per violation (file:line, the include, the rule) and exits
# 1; exits 0 when every include is allowed.
set -euo pipefail

host_dir=${1:?usage: check-host-layering.sh HOST_DIR RULE...}
shift
host_dir=${host_dir%/}

declare -A allowed
for rule in "$@"; do
  folder=${rule%%:*}
  deps=${rule#*:}
  allowed[$folder]=$deps
done

violations=0
while IFS= read -r -d '' file; do
  rel=${file#"$host_dir"/}
  if [[ $rel == */* ]]; then folder=${rel%%/*}; else folder=app; fi
  if [[ -z ${allowed[$folder]+set} ]]; then
    echo "host/$rel: folder '$folder' is not in the layering table (host/CMakeLists.txt): add it" >&2
    violations=$((violations + 1))
    continue
  fi
  deps=${allowed[$folder]}
  while IFS=: read -r line text; do
    [[ $text =~ \#[[:space:]]*include[[:space:]]*\"(host/([A-Za-z0-9_]+)/|devserver/)([^\"]*)\" ]] || continue
    target=${BASH_REMATCH[2]:-devserver}
    header=${BASH_REMATCH[1]}${BASH_REMATCH[3]}
    [[ $target == "$folder" ]] && continue
    [[ ",$deps," == *",$target,"* ]] && continue
    echo "host/$rel:$line: includes \"$header\", but $folder may use only {${deps:-nothing}}" \
         "(rule \"$folder:$deps\" in host/CMakeLists.txt)" >&2
    violations=$((violations + 1))
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$file" || true)
done < <(find "$host_dir" -type f \( -name '*.h' -o -name '*.cc' -o -name '*.hpp' -o -name '*.cpp' \) -print0 | sort -z)

if ((violations > 0)); then
  echo "host layering: $violations include(s) against the layering table" >&2
  exit 1
fi
echo "host layering: every include of $host_dir follows the table"
