// tests/fuzz/midi_reader_fuzz.cpp: libFuzzer target for melodl's SMF reader (midi/reader.cpp).
// Built only with -DMELODL_BUILD_FUZZ=ON and clang (-fsanitize=fuzzer,address,undefined);
// run through scripts/fuzz.sh. Every input is read in both modes (strict and recover); each
// must end in a Song or a LoadError; the Song's and the repairs' invariants are checked and a
// violation traps, so libFuzzer records it as a crash.
#include <cstddef>
#include <cstdint>
#include <span>

#include "midi/reader.h"

namespace {

using namespace melodl::midi;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

// A LoadError names the input and an offset inside it.
void check_error(const LoadError& e, std::size_t size) {
  require(e.offset() >= -1 && e.offset() <= static_cast<std::int64_t>(size));
  require(!e.problem().empty() && e.file() == "fuzz-input");
}

void check_song(const Song& song) {
  require(!song.tempo_map.empty() && song.tempo_map.front().tick == 0);
  for (std::size_t i = 1; i < song.tempo_map.size(); ++i)
    require(song.tempo_map[i - 1].tick < song.tempo_map[i].tick);
  require(song.format >= 0 && song.format <= 2);
  std::int64_t end = 0;
  for (const Track& t : song.tracks) {
    for (const Note& n : t.notes) {
      require(n.start_tick < n.end_tick && n.end_tick <= t.end_tick);
      require(n.channel < 16 && n.pitch < 128 && n.velocity >= 1 && n.velocity < 128);
      require(n.start_s <= n.end_s);
    }
    end = t.end_tick > end ? t.end_tick : end;
  }
  require(end == song.end_tick);
  require(song.tick_to_seconds(song.end_tick) == song.duration_s);
}

void check_repairs(const Repairs& r, const ReadLimits& limits, std::size_t size,
                   std::size_t tracks) {
  std::size_t sum = 0;
  for (std::size_t k : r.by_kind) sum += k;
  require(sum == r.total && r.items.size() <= limits.max_repairs && r.items.size() <= r.total);
  for (const Repair& x : r.items) {
    require(x.offset >= 0 && x.offset <= static_cast<std::int64_t>(size));
    require(x.track >= -1 && x.track < static_cast<int>(tracks));
    require(x.bytes_dropped <= size && !x.detail.empty());
  }
}

}  // namespace

// Both modes on every input. Strict mode: a Song or a LoadError, as always. Recover mode: the
// same invariants; and where strict mode reads the file, recover mode reads it too, with the
// same notes in the tracks strict mode read (it may read MTrk chunks beyond the header's count).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ReadLimits limits;
  limits.max_file_bytes = 1u << 20;
  limits.max_repairs = 64;
  const std::span<const std::uint8_t> bytes(data, size);
  auto strict = read_bytes(bytes, "fuzz-input", ReadMode::strict, limits);
  auto rec = read_bytes(bytes, "fuzz-input", ReadMode::recover, limits);
  if (strict) {
    check_song(strict->song);
    check_repairs(strict->repairs, limits, size, strict->song.tracks.size());
  } else {
    check_error(strict.error(), size);
  }
  if (!rec) {
    check_error(rec.error(), size);
    require(!strict);
    return 0;
  }
  check_song(rec->song);
  check_repairs(rec->repairs, limits, size, rec->song.tracks.size());
  if (!strict) return 0;
  const auto& st = strict->song.tracks;
  const auto& rt = rec->song.tracks;
  require(rt.size() >= st.size());
  for (std::size_t t = 0; t < st.size(); ++t) {
    require(rt[t].notes.size() == st[t].notes.size() && rt[t].end_tick == st[t].end_tick);
    for (std::size_t i = 0; i < st[t].notes.size(); ++i) {
      const Note& a = st[t].notes[i];
      const Note& b = rt[t].notes[i];
      require(a.channel == b.channel && a.pitch == b.pitch && a.velocity == b.velocity &&
              a.start_tick == b.start_tick && a.end_tick == b.end_tick);
    }
  }
  return 0;
}
