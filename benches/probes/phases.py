#!/usr/bin/env python3
"""Single-event latencies (probe_events.sh lines) before, during and after a window.

usage: phases.py OUT.txt HH:MM:SS HH:MM:SS
"""
import sys

rows = []
for line in open(sys.argv[1]):
    parts = line.split()
    if parts and parts[0] == "ev" and len(parts) == 4:
        rows.append((parts[1][:8], int(parts[2]), float(parts[3]) * 1000))
start, end = sys.argv[2], sys.argv[3]


def stats(name, selected):
    values = sorted(row[2] for row in selected)
    if not values:
        return
    quantile = lambda f: values[min(len(values) - 1, int(f * len(values)))]
    failed = sum(1 for row in selected if row[1] != 201)
    print(f"{name}: n={len(values)} p50={quantile(.5):.1f} p99={quantile(.99):.1f} "
          f"max={values[-1]:.0f} ms, not 201: {failed}")


stats("before", [r for r in rows if r[0] < start])
stats("during", [r for r in rows if start <= r[0] < end])
stats("after", [r for r in rows if r[0] >= end])
