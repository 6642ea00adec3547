# scripts/lib/heldout.sh (sourced): the held-out split shared by scripts/style_experiment.sh
# and scripts/train_models.sh. Of a corpus folder's MIDI files (sorted by path; a corpus of
# more than MAX files is first thinned to every k-th file so it has at most MAX), every 10th
# is held out (data/NAME/test) and never trained on; the rest train (data/NAME/train). Both
# sets are linked, not copied, and extracted to data/NAME-train.txt and data/NAME-test.txt
# (melodies; harmonies with EXTRACT_FLAGS=--harmonies).
# Usage: split_heldout MELODL SHARED_DIR NAME MAX   (in the work folder; skipped when done)
split_heldout() {
  local melodl=$1 src=$2 name=$3 max=$4 files stride i k f dest
  [ -f "data/$name-test.txt" ] && return 0
  rm -rf "data/$name"
  mkdir -p "data/$name/train" "data/$name/test"
  mapfile -t files < <(find "$src" -type f \( -iname '*.mid' -o -iname '*.midi' \) | LC_ALL=C sort)
  [ "${#files[@]}" -gt 0 ] || { echo "no MIDI files under $src" >&2; return 2; }
  stride=$(( (${#files[@]} + max - 1) / max ))
  i=0
  for ((k = 0; k < ${#files[@]}; k += stride)); do
    f=${files[$k]}
    dest=data/$name/train; [ $((i % 10)) -eq 0 ] && dest=data/$name/test
    ln -s "$f" "$dest/$(printf '%05d' "$i")-$(basename "$f")"
    i=$((i + 1))
  done
  "$melodl" extract ${EXTRACT_FLAGS:-} "data/$name/train" -o "data/$name-train.txt" -q
  "$melodl" extract ${EXTRACT_FLAGS:-} "data/$name/test" -o "data/$name-test.txt" -q
  echo "$name: $(ls "data/$name/train" | wc -l) training files, $(ls "data/$name/test" | wc -l) held out"
}
