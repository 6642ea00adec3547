#!/usr/bin/env python3
"""scripts/make_long_line.py: a native melodies file holding ONE melody line of about N
symbols (random steps: intervals -5..+5, durations 2/4/8, 5% rests; seeded), a stress input
of scripts/hardening_repro.sh. Usage: make_long_line.py N out.txt [seed]"""
import random
import sys

n, out = int(float(sys.argv[1])), sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
dur = "248"
# Random steps for up to 1 MB, then that block repeated (fast for 50 MB lines).
block, size = [], 0
while size + 4 < min(n - 3, 1 << 20):
    step = ("_" + rng.choice(dur) if rng.randrange(20) == 0 else "")
    step += chr(ord("M") + rng.randint(-5, 5)) + rng.choice(dur)
    block.append(step)
    size += len(step)
parts, total = ["<8"], 2
while total + size + 1 <= n:
    parts += block
    total += size
for step in block:
    if total + len(step) + 1 > n:
        break
    parts.append(step)
    total += len(step)
parts.append(">")
with open(out, "w", encoding="ascii") as f:
    f.write("// melodl melodies format=native version=1\n// source=long-line\n")
    f.write("".join(parts) + "\n")
