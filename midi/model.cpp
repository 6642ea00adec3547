// midi/model.cpp: Song's time helpers (tempo map / SMPTE tick-to-seconds, note count).
// Part of melodl::midi; the reader and writer sit beside it (reader.cpp, writer.cpp).
#include "midi/model.h"

#include <algorithm>

namespace melodl::midi {

namespace {

// Seconds per tick under SMPTE division; 29 stands for 29.97 (drop-frame) fps.
double smpte_seconds_per_tick(const Division& d) {
  const double fps = d.frames_per_second == 29 ? 29.97 : static_cast<double>(d.frames_per_second);
  const double ticks_per_second = fps * static_cast<double>(d.ticks_per_frame);
  return ticks_per_second > 0.0 ? 1.0 / ticks_per_second : 0.0;
}

}  // namespace

double Song::tick_to_seconds(std::int64_t tick) const {
  if (division.smpte) return static_cast<double>(tick) * smpte_seconds_per_tick(division);
  const double ppq = division.ppq > 0 ? static_cast<double>(division.ppq) : 480.0;
  if (tempo_map.empty()) return static_cast<double>(tick) * 500000.0 / (1e6 * ppq);
  // Last tempo change at or before `tick` (the first one for ticks before it).
  auto it = std::upper_bound(tempo_map.begin(), tempo_map.end(), tick,
                             [](std::int64_t t, const TempoChange& c) { return t < c.tick; });
  const TempoChange& c = it == tempo_map.begin() ? tempo_map.front() : *(it - 1);
  return c.seconds +
         static_cast<double>(tick - c.tick) * static_cast<double>(c.us_per_quarter) / (1e6 * ppq);
}

std::size_t Song::note_count() const {
  std::size_t n = 0;
  for (const Track& t : tracks) n += t.notes.size();
  return n;
}

}  // namespace melodl::midi
