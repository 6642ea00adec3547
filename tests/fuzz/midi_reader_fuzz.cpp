// tests/fuzz/midi_reader_fuzz.cpp: libFuzzer target for melodl's SMF reader (midi/reader.cpp).
// Built only with -DMELODL_BUILD_FUZZ=ON and clang (-fsanitize=fuzzer,address,undefined);
// run through scripts/fuzz.sh. Any input must end in a Song or a LoadError; the Song's
// invariants are checked and a violation traps, so libFuzzer records it as a crash.
#include <cstddef>
#include <cstdint>
#include <span>

#include "midi/reader.h"

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace melodl::midi;
  ReadLimits limits;
  limits.max_file_bytes = 1u << 20;
  auto r = read_bytes(std::span<const std::uint8_t>(data, size), "fuzz-input", limits);
  if (!r) {
    const LoadError& e = r.error();
    require(e.offset() >= -1 && e.offset() <= static_cast<std::int64_t>(size));
    require(!e.problem().empty() && e.file() == "fuzz-input");
    return 0;
  }
  const Song& song = *r;
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
  return 0;
}
