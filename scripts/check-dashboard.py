#!/usr/bin/env python3
"""Checks a Grafana dashboard against the host's metric contract.

    check-dashboard.py DASHBOARD.json SOURCE...

DASHBOARD.json must be valid JSON with unique panel ids; every metric name
its queries use (nitric_host_*, process_*; a histogram's _bucket, _sum and
_count series count as the histogram) must be registered in one of the
SOURCE files (host/base/host_metrics.cc, metrics/process.cc: the names in
string literals), and every name registered there must be shown by at
least one panel. Prints what is wrong and exits 1; exits 0 when all holds.
"""
import json
import re
import sys

NAME = re.compile(r"\b((?:nitric_host|process)_[a-z_]+)\b")
LITERAL = re.compile(r'"((?:nitric_host|process)_[a-z_]+)"')


def walk_panels(panels):
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    problems = []
    try:
        with open(argv[1], encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{argv[1]}: not valid JSON: {e}", file=sys.stderr)
        return 1
    contract = set()
    for source in argv[2:]:
        with open(source, encoding="utf-8") as f:
            contract.update(LITERAL.findall(f.read()))
    if not contract:
        problems.append("no metric names found in " + " ".join(argv[2:]))

    ids = set()
    used = {}
    for panel in walk_panels(dashboard.get("panels", [])):
        if panel.get("id") in ids:
            problems.append(f"panel id {panel.get('id')} used twice")
        ids.add(panel.get("id"))
        if panel.get("type") != "row" and "gridPos" not in panel:
            problems.append(f"panel {panel.get('title')!r} has no gridPos")
        for target in panel.get("targets", []):
            for name in NAME.findall(target.get("expr", "")):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if base not in contract and name not in contract:
                    problems.append(f"panel {panel.get('title')!r} uses {name}, which is not in the contract")
                used.setdefault(base if base in contract else name, []).append(panel.get("title"))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        for name in NAME.findall(text):
            if name not in contract:
                problems.append(f"variable {variable.get('name')!r} uses {name}, which is not in the contract")
    for name in sorted(contract - set(used)):
        problems.append(f"no panel shows {name}")

    for problem in problems:
        print(f"{argv[1]}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{argv[1]}: {len(ids)} panels, every one of the {len(contract)} contract names shown")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
