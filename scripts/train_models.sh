#!/usr/bin/env bash
# scripts/train_models.sh: trains the pretrained models shipped in models/ (issue 15 point 5)
# from ../shared/corpora with melodl's own commands, exactly as their model cards say.
# Of each corpus every 10th MIDI file (sorted by path) is held out (scripts/lib/heldout.sh)
# and never trained on; each run splits its own validation files off the rest, keeps its best
# checkpoint and stops early (--patience 5). Then every model is exported without its
# training state (`melodl export`: F16 when that keeps held-out bits/note within 0.01 of the
# float32 model, else F32), scored on its held-out files against the n-gram baselines
# (`melodl eval`), and its cards are written (models/NAME.json for programs and the tests,
# models/NAME.md for people); the held-out symbol files go to models/heldout/.
#   bach        melodies, ../shared/corpora/bach
#   folk        melodies, ../shared/corpora/nottingham/MIDI/melody (1,034 tunes)
#   composers   melodies in six styles: bach beethoven carulli mendelssohn mozart nottingham
#               (Nottingham's melody files thinned to 345)
#   bach-duets  two-part harmonies, ../shared/corpora/bach
# Training is deterministic for a given build (same --threads and instruction set): runs
# stop by epochs and patience, never by a time budget.
# Usage: scripts/train_models.sh [--melodl PATH] [--work DIR] [--only NAME] [--phase train|export|all]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MELODL=$ROOT/build/examples/melodl
WORK=${TMPDIR:-/tmp}/melodl-models
SHARED=${SHARED:-$ROOT/../shared/corpora}
ONLY=""
PHASE=all
while [ $# -gt 0 ]; do
  case $1 in
    --melodl) MELODL=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --phase) PHASE=$2; shift 2 ;;
    *) echo "usage: $0 [--melodl PATH] [--work DIR] [--only NAME] [--phase train|export|all]" >&2; exit 2 ;;
  esac
done
[ -x "$MELODL" ] || { echo "no melodl at $MELODL" >&2; exit 2; }
MELODL=$(cd "$(dirname "$MELODL")" && pwd)/$(basename "$MELODL")
# shellcheck source=lib/heldout.sh
. "$ROOT/scripts/lib/heldout.sh"
mkdir -p "$WORK"; cd "$WORK"
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
STYLES="bach beethoven carulli mendelssohn mozart nottingham"
REG="--dropout 0.25 --weight-decay 0.01"
COMMON="--seed 1 --threads 2 --patience 5 --samples-per-epoch 0 -q"

# The training command of each model, as its card gives it (relative to the work folder).
command_of() {
  case $1 in
    bach) echo "melodl train data/bach-train.txt $REG --epochs 60 --run-dir runs/bach $COMMON" ;;
    folk) echo "melodl train data/folk-train.txt $REG --epochs 60 --run-dir runs/folk $COMMON" ;;
    composers)
      local s="" c
      for c in $STYLES; do s+="--style $c=data/style-$c-train.txt "; done
      echo "melodl train $s$REG --epochs 60 --run-dir runs/composers $COMMON" ;;
    bach-duets)
      echo "melodl train --harmonies data/duets-train.txt --clip 5 --epochs 40 --run-dir runs/bach-duets $COMMON" ;;
  esac
}

train_one() {
  local name=$1 cmd
  [ -f "runs/$name.done" ] && return 0
  rm -rf "runs/$name"
  cmd=$(command_of "$name")
  log "training $name: $cmd"
  # shellcheck disable=SC2086
  "$MELODL" ${cmd#melodl }
  touch "runs/$name.done"
  log "trained $name"
}

if [ "$PHASE" != export ]; then
  want bach && split_heldout "$MELODL" "$SHARED/bach" bach 100000
  want folk && split_heldout "$MELODL" "$SHARED/nottingham/MIDI/melody" folk 100000
  if want composers; then
    for c in $STYLES; do
      src=$SHARED/$c; [ "$c" = nottingham ] && src=$SHARED/nottingham/MIDI/melody
      split_heldout "$MELODL" "$src" "style-$c" 500
    done
  fi
  want bach-duets && EXTRACT_FLAGS=--harmonies split_heldout "$MELODL" "$SHARED/bach" duets 100000
  for m in bach folk composers bach-duets; do want "$m" && train_one "$m"; done
fi
[ "$PHASE" = train ] && exit 0

# ---- export, score, cards -------------------------------------------------------------------
OUT=$ROOT/models
mkdir -p "$OUT/heldout"
export MELODL_MODELS=$OUT   # `--model NAME` finds the files just written
# "bits/note of the model, of the best n-gram and its order" from `melodl eval --json`.
score() {
  python3 -c 'import json,sys
d = json.load(sys.stdin); b = d["best_ngram"]
print(d["model"]["bits_per_note"], d["ngram"][b-1]["bits_per_note"], b)'
}
export_one() {
  local name=$1 desc=$2 corpus=$3 style=${4:-} test=$5 dt=f16 line delta
  local sflag=(); [ -n "$style" ] && sflag=(--style "$style")
  line=$("$MELODL" export "runs/$name" -o "$OUT/$name.safetensors" --dtype f16 \
           --description "$desc" --corpus "$corpus" --data "$test" "${sflag[@]}" | tail -1)
  delta=$(echo "$line" | sed -n 's/.*(\([-+0-9.]*\))$/\1/p')
  if python3 -c "import sys; sys.exit(0 if abs(float('$delta')) <= 0.01 else 1)"; then :; else
    dt=f32
    "$MELODL" export "runs/$name" -o "$OUT/$name.safetensors" --dtype f32 \
      --description "$desc" --corpus "$corpus" -q
  fi
  log "$name: $line -> stored as $dt"
  echo "$dt $delta"
}
# Held-out entries of a card: one per style ("" = unstyled), with eval's numbers.
heldout_json() {  # name kind style test train
  local name=$1 style=$3 test=$4 train=$5 file sflag=() m n o
  file=heldout/$name${style:+-$style}.txt
  cp "$test" "$OUT/$file"
  [ -n "$style" ] && sflag=(--style "$style")
  read -r m n o < <("$MELODL" eval --model "$name" "${sflag[@]}" --data "$OUT/$file" \
                      --train "$train" --samples 1 --json | score)
  # Copies: 32 pieces composed (seed 1), each aligned against every training line.
  local dir=samples/$name${style:+-$style} copy
  rm -rf "$dir"
  "$MELODL" compose --model "$name" "${sflag[@]}" --count 32 --seed 1 -o "$dir" -q
  "$MELODL" match "$dir/compositions.txt" --corpus "$train" --json "$dir/match.json" -q
  copy=$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
# melodies: notes of the longest verbatim run; harmonies: note onsets (both voices) inside one
# verbatim run of steps (held notes make step copies cheap, eval/harmony_match.h)
copy = lambda r: r["onset_copy"]["onsets"] if "onset_copy" in r else r["longest_copy"]["notes"]
print(max(copy(r) for r in d["results"]))' "$dir/match.json")
  printf '{"style": "%s", "data": "%s", "bits_per_note": %s, "best_ngram_order": %s, "best_ngram_bits_per_note": %s, "longest_copy_notes_of_32": %s}' \
    "$style" "$file" "$m" "$o" "$n" "$copy"
}
card() {  # name kind description corpus licence dtype delta heldout-json-list
  local name=$1
  local runinfo
  runinfo=$(python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
b = m.get("best", {})
print(json.dumps({"best_epoch": b.get("epoch"), "epochs_run": len(m["epochs"]),
  "valid_bits_per_note": b.get("valid_bits_per_note"), "parameters": m["parameters"],
  "training_seconds": round(m["timings"]["training_seconds"], 1)}))' "runs/$name/manifest.json")
  python3 - "$OUT" "$name" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$(command_of "$name")" "$runinfo" <<'PY'
import json, sys, datetime, os
out, name, kind, desc, corpus, licence, dt, delta, held, cmd, runinfo = sys.argv[1:]
card = {"name": name, "file": name + ".safetensors", "kind": kind, "description": desc,
        "corpus": corpus, "licence": licence, "weights_dtype": dt,
        "export_bits_per_note_change": float(delta),
        "heldout": json.loads("[" + held + "]"), "command": cmd, "run": json.loads(runinfo),
        "trained": datetime.date.today().isoformat(),
        "reproduce": "scripts/train_models.sh --only " + name}
card["mib"] = round(os.path.getsize(os.path.join(out, card["file"])) / 2**20, 2)
json.dump(card, open(os.path.join(out, name + ".json"), "w"), indent=2)
open(os.path.join(out, name + ".json"), "a").write("\n")
r = card["run"]
rows = "\n".join("| %s | `%s` | %.3f | %.3f (%d-gram) | %+.0f %% | %d |" % (
    h["style"] or name, h["data"], h["bits_per_note"], h["best_ngram_bits_per_note"],
    h["best_ngram_order"], 100 * (h["bits_per_note"] / h["best_ngram_bits_per_note"] - 1),
    h["longest_copy_notes_of_32"])
    for h in card["heldout"])
kinds = "melodies" if kind == "melody" else "two-part harmonies"
md = f"""# Model card: `{name}`

{desc}.

- **Use**: `melodl compose --model {name} -o out/ --wav`{' --style STYLE' if kind == 'melody' and len(card['heldout']) > 1 else ''};
  `melodl serve` (every shipped model); fine-tune on your own files:
  `melodl train{' --harmonies' if kind == 'harmony' else ''} --init-from {name} my-files/ --lr 5e-4`.
- **Kind**: {kinds}; network {r['parameters']:,} parameters (GravesLSTM with peepholes),
  weights stored as {dt} ({card['mib']} MiB; exporting changed held-out bits/note by
  {float(delta):+.4f}).
- **Data**: {corpus}.
- **Licence of the data, and so of these weights**: {licence}
- **Trained** {card['trained']} on a 2-core AMD EPYC VM (CPU backend, x86-64-v4 build):
  {r['epochs_run']} epochs, best validation epoch {r['best_epoch']}
  ({r['valid_bits_per_note']:.3f} bits/note on the run's own validation files), early stopping
  (patience 5); {r['training_seconds'] / 60:.1f} minutes of training.

## Held-out bits/note

Every 10th MIDI file of the corpus (sorted by path) was held out before training and never
seen by the run (`models/heldout/`, extracted with `melodl extract`). Lower is better; the
n-gram is the best interpolated Kneser-Ney order (1-6) trained on the same training files.

| held out | data | bits/note | best n-gram | vs n-gram | longest copy (notes) |
|---|---|---|---|---|---|
{rows}

*Longest copy*: of 32 pieces composed with `--seed 1`{' in that style' if len(card['heldout']) > 1 else ''}, {'the longest run of notes found verbatim in a training line' if kind == 'melody' else 'the most note onsets (both voices) inside one run of steps found verbatim in a training harmony'}
(`melodl match`, docs/evaluation.md).

`tests/pipeline/models_test.cpp` checks that the shipped file reproduces these numbers
within 0.02 and composes 8 pieces{' per style' if len(card['heldout']) > 1 else ''} that all decode.

## Reproduce

`{card['reproduce']}` (from the repository root; ../shared/corpora beside it). It holds out
every 10th file (scripts/lib/heldout.sh), extracts both sets with `melodl extract`
(`--harmonies` for harmonies) and runs, in its work folder:

```sh
{cmd}
melodl export runs/{name} -o models/{name}.safetensors --dtype {dt}
```

Same build and thread count: the same weights (training stops by epochs and patience, never by
time).
"""
open(os.path.join(out, name + ".md"), "w").write(md)
PY
  log "card: models/$name.md"
}

BACH_LIC="Bach's music is in the public domain. The encodings: music21's chorales (distributed with the permission of the encoders; some may not be used commercially), Mutopia (public domain, CC BY-SA 2.5/3.0/4.0 per piece: credit its maintainer and share alike), piano-midi.de (CC BY-SA 3.0 DE, Bernd Krueger). Use for research, teaching and demos, share alike, do not resell; per-file details in ../shared/corpora/PROVENANCE.md and MUTOPIA-ATTRIBUTION.tsv."
FOLK_LIC="GNU GPL v3 (the Nottingham Music Database and jukedeck/nottingham-dataset): the weights are derived from GPL data and are offered under the GPL v3."
COMP_LIC="The union of the six corpora's terms: Bach as for the bach model; Mozart, Beethoven, Mendelssohn and Carulli from Mutopia (public domain, CC BY 3.0/4.0 and CC BY-SA 3.0/4.0 per piece: credit the maintainers, share alike); Nottingham under the GPL v3, so the weights are offered under the GPL v3. Details in ../shared/corpora/PROVENANCE.md."

# ship NAME KIND DESCRIPTION CORPUS LICENCE HELDOUT...: export, score and write the cards of one
# model; each HELDOUT is "STYLE|TEST|TRAIN" (STYLE "" for an unstyled model; the first one's
# test set checks the export).
ship() {
  local name=$1 kind=$2 desc=$3 corpus=$4 lic=$5; shift 5
  want "$name" || return 0
  local first=$1 dt delta h="" spec style test train
  IFS='|' read -r style test train <<< "$first"
  read -r dt delta < <(export_one "$name" "$desc" "$corpus" "$style" "$test" | tail -1)
  for spec in "$@"; do
    IFS='|' read -r style test train <<< "$spec"
    h+=${h:+,}$(heldout_json "$name" "$kind" "$style" "$test" "$train")
  done
  card "$name" "$kind" "$desc" "$corpus" "$lic" "$dt" "$delta" "$h"
}

BACH_DESC="Melodies in the style of J. S. Bach (chorales, inventions, Well-Tempered Clavier, Orgelbüchlein)"
BACH_DATA="../shared/corpora/bach: 407 of 453 MIDI files (music21 chorales, Mutopia keyboard works and Orgelbüchlein, piano-midi.de)"
ship bach melody "$BACH_DESC" "$BACH_DATA, top voice" "$BACH_LIC" "|data/bach-test.txt|data/bach-train.txt"
ship folk melody "Folk tunes: jigs, reels, hornpipes, waltzes (the Nottingham Music Database)" \
  "../shared/corpora/nottingham/MIDI/melody: 930 of 1,034 tunes (melody tracks)" "$FOLK_LIC" \
  "|data/folk-test.txt|data/folk-train.txt"
COMP=()
for c in $STYLES; do COMP+=("$c|data/style-$c-test.txt|data/style-$c-train.txt"); done
ship composers melody "Melodies in six styles from one model: bach, beethoven, carulli, mendelssohn, mozart, nottingham (folk)" \
  "six corpora of ../shared/corpora, one style each (Nottingham's melody files thinned to every 3rd)" \
  "$COMP_LIC" "${COMP[@]}"
ship bach-duets harmony "Two-part harmonies (a lower and an upper voice) in the style of Bach" \
  "$BACH_DATA: pairs of voices on a 1/16 s grid (melodl extract --harmonies)" "$BACH_LIC" \
  "|data/duets-test.txt|data/duets-train.txt"

# models/README.md: the index of every card in models/.
python3 - "$OUT" <<'PY'
import json, glob, os, sys
out = sys.argv[1]
rows = []
for p in sorted(glob.glob(os.path.join(out, "*.json"))):
    c = json.load(open(p))
    held = c["heldout"]
    bits = ", ".join(("%s %.2f" % (h["style"], h["bits_per_note"])) if h["style"] else "%.3f" % h["bits_per_note"] for h in held)
    ngram = ", ".join(("%.2f" % h["best_ngram_bits_per_note"]) for h in held)
    rows.append("| [`%s`](%s.md) | %s | %s | %.2f MiB %s | %s | %s |" % (
        c["name"], c["name"], c["description"], "melodies" if c["kind"] == "melody" else "two-part harmonies",
        c["mib"], c["weights_dtype"].upper(), bits, ngram))
text = """# Shipped models

Pretrained models that `melodl compose --model NAME`, `melodl serve`, `melodl eval --model NAME`
and `melodl train --init-from NAME` find by name (docs/models.md). Made by
`scripts/train_models.sh` from ../shared/corpora; each has a card for people (`NAME.md`: data
and its licence, command, held-out bits/note, date) and one for programs (`NAME.json`).

| model | composes | kind | file | held-out bits/note | best n-gram |
|---|---|---|---|---|---|
""" + "\n".join(rows) + """

`heldout/`: the symbols of the files held out of each model's training (every 10th MIDI file
of its corpus, extracted with `melodl extract`), so the cards' numbers can be checked
(`tests/pipeline/models_test.cpp`). They are derived from ../shared/corpora and carry the
licences of their sources, given in each card (Bach: public domain music in music21, Mutopia
and piano-midi.de encodings; Nottingham: GPL v3; the Mutopia composers: public domain and
CC BY / CC BY-SA per piece; provenance in ../shared/corpora/PROVENANCE.md).
"""
open(os.path.join(out, "README.md"), "w").write(text)
PY
ls -la "$OUT"
