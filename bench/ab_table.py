#!/usr/bin/env python3
"""The table of bench/ab_dispatch.sh: ab_table.py OUT.jsonl BEFORE_NAME."""
import json
import statistics as st
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
base = sys.argv[2]
by = {(r["round"], r["contender"]): r for r in rows}
rounds = sorted({r["round"] for r in rows if (r["round"], "ceiling") in by})
names = [n for n in dict.fromkeys(r["contender"] for r in rows) if n != "ceiling"]
names.sort(key=lambda n: n != base)
others = [n for n in names if n != base]
head = (["round", "load", "ceiling µs/ev"] + [f"{n} µs/ev" for n in names] +
        [f"{n}/ceiling" for n in names] + [f"{n}/{base} (ratios)" for n in others])
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
ratio = {n: [] for n in names}
rel = {n: [] for n in others}
for rd in rounds:
    if any((rd, n) not in by for n in names):
        continue
    ceiling = by[(rd, "ceiling")]["cpu_us_per_event"]
    cpu = {n: by[(rd, n)]["cpu_us_per_event"] for n in names}
    for n in names:
        ratio[n].append(cpu[n] / ceiling)
    for n in others:
        rel[n].append(ratio[n][-1] / ratio[base][-1])
    cells = [str(rd), by[(rd, "ceiling")]["load"], f"{ceiling:.2f}"]
    cells += [f"{cpu[n]:.2f}" for n in names]
    cells += [f"{ratio[n][-1]:.3f}" for n in names]
    cells += [f"{rel[n][-1]:.3f}" for n in others]
    print("| " + " | ".join(cells) + " |")
print()
for n in names:
    print(f"- {n}/ceiling: median {st.median(ratio[n]):.3f} "
          f"(min {min(ratio[n]):.3f}, max {max(ratio[n]):.3f})")
for n in others:
    m = st.median(ratio[n]) / st.median(ratio[base])
    print(f"- {n} vs {base}: median ratios {100 * (m - 1):+.1f} %; per round "
          f"median {100 * (st.median(rel[n]) - 1):+.1f} %, "
          f"from {100 * (min(rel[n]) - 1):+.1f} to {100 * (max(rel[n]) - 1):+.1f} %")
