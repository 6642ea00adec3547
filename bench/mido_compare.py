#!/usr/bin/python3
"""bench/mido_compare.py: melodl's MIDI load (+ melody extraction) against python3-mido.

Times Debian's python3-mido parsing every MIDI file of each corpus
(mido.MidiFile(f) per file, best of --repeat passes), runs melodl's extract_bench on
the same corpora in the same run, and prints the speed ratio mido / melodl.
Both sides are single-threaded and measured in CPU time of the process (the machine
may be busy with other work; wall time is printed too). File selection is the same
on both sides: recursive, *.mid *.midi *.rmi *.kar (case-insensitive).

Usage (from the repository root, after building extract_bench):
  /usr/bin/python3 bench/mido_compare.py --bench build/bench/extract_bench
  /usr/bin/python3 bench/mido_compare.py --bench build/bench/extract_bench --corpus bach=data/bach
Target (issue 2): load + extract >= 50x faster than mido's parse alone.
"""
import argparse
import json
import os
import subprocess
import sys
import time

try:
    import mido
except ImportError:
    sys.exit("mido_compare: python3-mido is missing (sudo apt-get install python3-mido; "
             "run with /usr/bin/python3, the Debian interpreter)")

EXTS = (".mid", ".midi", ".rmi", ".kar")


def midi_files(root):
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            if n.lower().endswith(EXTS):
                out.append(os.path.join(d, n))
    return sorted(out, key=lambda p: p.replace(os.sep, "/").encode())


def time_mido(files, repeat):
    """Best CPU and wall seconds over `repeat` passes; files mido rejects strictly are
    retried with clip=True (as its users do), failures counted."""
    best_cpu = best_wall = float("inf")
    clipped = failed = 0
    for _ in range(repeat):
        clipped = failed = 0
        c0, w0 = time.process_time(), time.perf_counter()
        for f in files:
            try:
                mido.MidiFile(f)
            except Exception:
                try:
                    mido.MidiFile(f, clip=True)
                    clipped += 1
                except Exception:
                    failed += 1
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return best_cpu, best_wall, clipped, failed


def run_bench(bench, corpora, repeat):
    args = [bench, "--benchmark_format=json", "--benchmark_filter=^(load|load_extract)/",
            "--benchmark_repetitions=%d" % repeat, "--benchmark_min_time=0.3"]
    args += ["--corpus=%s:%s" % (name, path) for name, path in corpora]
    res = subprocess.run(args, check=True, capture_output=True, text=True)
    data = json.loads(res.stdout)
    best = {}
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        scale = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
        name = b["run_name"]
        cpu, wall = b["cpu_time"] * scale, b["real_time"] * scale
        if name not in best or cpu < best[name]["cpu"]:
            best[name] = {"cpu": cpu, "wall": wall, "files": int(b["files"]), "mb": b["MB"]}
    return data.get("context", {}), best


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bench", default=os.path.join(root, "build", "bench", "extract_bench"),
                   help="extract_bench binary (default: build/bench/extract_bench)")
    p.add_argument("--corpus", action="append", default=[],
                   help="NAME=DIR (repeatable); default: bach=data/bach and, when present, "
                        "corpora=../shared/corpora")
    p.add_argument("--repeat", type=int, default=3, help="passes; the best counts (default 3)")
    a = p.parse_args()
    corpora = []
    for spec in a.corpus:
        name, _, path = spec.partition("=")
        corpora.append((name, path))
    if not corpora:
        corpora.append(("bach", os.path.join(root, "data", "bach")))
        shared = os.path.normpath(os.path.join(root, "..", "shared", "corpora"))
        if os.path.isdir(shared):
            corpora.append(("corpora", shared))
    if not os.access(a.bench, os.X_OK):
        sys.exit("mido_compare: %s is not built (cmake --build build --target extract_bench)" % a.bench)

    context, ours = run_bench(a.bench, corpora, a.repeat)
    print("mido %s (python %s) vs melodl extract_bench; %s CPUs at %s MHz; best of %d, CPU time"
          % (mido.__version__, sys.version.split()[0], context.get("num_cpus", "?"),
             context.get("mhz_per_cpu", "?"), a.repeat))
    hdr = "%-10s %6s %7s | %12s %12s | %12s %12s | %9s %9s"
    print(hdr % ("corpus", "files", "MB", "mido parse", "(wall)", "melodl load", "load+extract",
                 "x (load)", "x (l+e)"))
    ok = True
    for name, path in corpora:
        files = midi_files(path)
        if not files:
            print("%-10s (no MIDI files in %s: skipped)" % (name, path))
            continue
        m_cpu, m_wall, clipped, failed = time_mido(files, a.repeat)
        load, le = ours.get("load/" + name), ours.get("load_extract/" + name)
        if not load or not le:
            print("%-10s extract_bench gave no result" % name)
            ok = False
            continue
        if load["files"] != len(files):
            print("warning: %s: extract_bench read %d files, mido %d" % (name, load["files"], len(files)))
        mb = sum(os.path.getsize(f) for f in files) / 1e6
        print("%-10s %6d %7.2f | %10.3f s %10.3f s | %10.4f s %10.4f s | %8.1fx %8.1fx"
              % (name, len(files), mb, m_cpu, m_wall, load["cpu"], le["cpu"],
                 m_cpu / load["cpu"], m_cpu / le["cpu"]))
        if clipped or failed:
            print("           (mido: %d files needed clip=True, %d failed)" % (clipped, failed))
        if m_cpu / le["cpu"] < 50:
            ok = False
    print("target load+extract >= 50x mido parse: %s" % ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
