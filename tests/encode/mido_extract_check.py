#!/usr/bin/env python3
# tests/encode/mido_extract_check.py: an independent re-implementation of melodl's melody
# extraction (docs/formats.md) over python3-mido, written from the spec and not from
# encode/melody.cpp, used to verify the counts and strings that tests/encode/corpus_test.cpp
# checks. It reads MIDI with mido (note pairing as melodl's reader: FIFO per channel and
# key, unended notes closed at the end of their track, zero-length notes dropped), then
# applies the v1 voice rule, the filters in order, and the native encoding with float
# arithmetic (Java-style round half up).
#
# Usage: python3 tests/encode/mido_extract_check.py data/bach [--no-drop] [--bottom] [--lines]
# Prints the summary line quoted in corpus_test.cpp; --lines prints
# "<file> t<track> c<channel> <native line>" per kept melody, sorted by file.
import math
import os
import sys

import mido

REASONS = ["too_few_notes", "bad_pitch_range", "interval_too_large", "rest_too_long",
           "too_few_pitches", "too_repetitive", "repeat_run_too_long", "too_much_rest"]
DUR = "0123456789abcdefghijklmnopqrstuv"


def read(path):
    mf = mido.MidiFile(path)
    tracks = []
    for tr in mf.tracks:
        t, notes, pending, programs = 0, [], {}, []
        for msg in tr:
            t += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                pending.setdefault((msg.channel, msg.note), []).append(len(notes))
                notes.append([msg.channel, msg.note, t, None])
            elif msg.type == "note_off" or msg.type == "note_on":
                q = pending.get((msg.channel, msg.note))
                if q:
                    notes[q.pop(0)][3] = t
            elif msg.type == "program_change":
                programs.append((t, msg.channel, msg.program))
        for n in notes:
            if n[3] is None:
                n[3] = t
        notes = [n for n in notes if n[3] > n[2]]
        notes.sort(key=lambda n: (n[2], n[1], n[0]))
        tracks.append((notes, programs))
    return tracks


def voice(seq, top):
    """v1: in start order, drop a note overlapped by a higher (lower) note not yet dropped."""
    dropped = [False] * len(seq)
    for i, a in enumerate(seq):
        for j, b in enumerate(seq):
            if b[2] >= a[3]:
                break
            if j == i or dropped[j]:
                continue
            beats = b[1] > a[1] if top else b[1] < a[1]
            if beats and not (a[3] <= b[2] or b[3] <= a[2]):
                dropped[i] = True
                break
    return [n for n, d in zip(seq, dropped) if not d], sum(dropped)


def verdict(v, start):
    if len(v) < 11:
        return 0
    pitches = [n[1] for n in v]
    if min(pitches) >= max(pitches):
        return 1
    if max(abs(b - a) for a, b in zip(pitches, pitches[1:])) > 16:
        return 2
    gaps = [max(0, b[2] - a[3]) for a, b in zip(v, v[1:])]
    total = v[-1][3] - start
    if max(gaps) / total > 0.20:
        return 3
    if len(set(pitches)) < 4:
        return 4
    repeats = sum(1 for a, b in zip(pitches, pitches[1:]) if a == b)
    if repeats / len(v) >= 0.70:
        return 5
    run = best = 0
    for a, b in zip(pitches, pitches[1:]):
        run = run + 1 if a == b else 0
        best = max(best, run)
    if best > 10:
        return 6
    if sum(gaps) / total >= 0.66:
        return 7
    return -1


def encode(v, drop):
    d = sum(n[3] - n[2] for n in v) / len(v) / 8.0
    q = lambda x: min(math.floor(x / d + 0.5), 31)
    out, rests = "<", []
    for i, n in enumerate(v):
        dur = n[3] - n[2]
        gap = v[i + 1][2] - n[3] if i + 1 < len(v) else 0
        rest = None
        if gap > 0:
            if drop and gap < d / 2:
                dur += gap
            else:
                rest = q(gap)
        if i > 0:
            iv = n[1] - v[i - 1][1]
            while iv > 12:
                iv -= 12
            while iv < -12:
                iv += 12
            out += chr(ord("A") + iv + 12)
        out += DUR[q(dur)]
        if rest is not None:
            out += "_" + DUR[rest]
            rests.append(rest)
    return out + ">", rests


def main():
    root = sys.argv[1]
    drop = "--no-drop" not in sys.argv
    bottom = "--bottom" in sys.argv
    files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs
                   if f.lower().endswith(".mid"))
    tracks = seqs = kept = perc = rests = rest0 = symbols = 0
    fnv = 0xCBF29CE484222325  # FNV-1a 64 over every kept line + "\n", in extraction order
    rejected = [0] * 8
    lines = []
    for path in files:
        song = read(path)
        tracks += len(song)
        for ti, (notes, programs) in enumerate(song):
            for ch in range(16):
                seq = [n for n in notes if n[0] == ch]
                if not seq:
                    continue
                if ch == 9:
                    perc += 1
                    continue
                start = min([seq[0][2]] + [p[0] for p in programs if p[1] == ch][:1])
                top_voice, removed = voice(seq, True)
                voices = [top_voice]
                if bottom and removed > 0:
                    voices.append(voice(seq, False)[0])
                for v in voices:
                    seqs += 1
                    r = verdict(v, start)
                    if r >= 0:
                        rejected[r] += 1
                        continue
                    kept += 1
                    line, rs = encode(v, drop)
                    rests += len(rs)
                    rest0 += rs.count(0)
                    lines.append(f"{os.path.basename(path)} t{ti} c{ch} {line}")
                    symbols += len(line)
                    for byte in (line + "\n").encode():
                        fnv = ((fnv ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    if "--lines" in sys.argv:
        print("\n".join(lines))
    print(f"files {len(files)} tracks {tracks} sequences {seqs} percussion {perc} kept {kept} "
          + " ".join(f"{n}={c}" for n, c in zip(REASONS, rejected))
          + f" rests {rests} rest0 {rest0} symbols {symbols} fnv1a {fnv:016x}")


if __name__ == "__main__":
    main()
