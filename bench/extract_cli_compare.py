#!/usr/bin/env python3
"""Side-by-side timing of `melodl extract` with two builds of melodl (docs/benchmarks.md).

Runs OLD and NEW alternately (old-new, then new-old, ...) RUNS times each on the same corpus
with one reading thread and no output but the melodies file, and prints the median wall time
and the median CPU time (user + sys of the child) of each, and their ratios.

Usage: bench/extract_cli_compare.py OLD_MELODL NEW_MELODL [--corpus DIR] [--runs N]
       [-- EXTRA EXTRACT FLAGS]
"""
import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                      "shared", "corpora"))
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("extra", nargs="*", help="more `melodl extract` flags (after --)")
    a = ap.parse_args()
    bins = {"old": a.old, "new": a.new}
    res = {k: {"wall": [], "cpu": []} for k in bins}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.runs):
            for k in (["old", "new"] if i % 2 == 0 else ["new", "old"]):
                cmd = [bins[k], "extract", a.corpus, "-o", os.path.join(tmp, k + ".txt"), "-j", "1",
                       "-q"] + a.extra
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True)
                t1 = time.perf_counter()
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                res[k]["wall"].append(t1 - t0)
                res[k]["cpu"].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    med = {k: {m: statistics.median(v) for m, v in r.items()} for k, r in res.items()}
    for k in bins:
        w, c = res[k]["wall"], res[k]["cpu"]
        print(f"{k}: median wall {med[k]['wall']:.3f} s (min {min(w):.3f}, max {max(w):.3f}); "
              f"median cpu {med[k]['cpu']:.3f} s (min {min(c):.3f}, max {max(c):.3f})")
    print(f"new/old: wall {med['new']['wall'] / med['old']['wall']:.3f}, "
          f"cpu {med['new']['cpu'] / med['old']['cpu']:.3f}")


if __name__ == "__main__":
    main()
