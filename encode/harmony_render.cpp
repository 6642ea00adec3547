// encode/harmony_render.cpp: two-part harmonies back to sound: one voice as notes, a
// harmony as a two-track midi::Song, and one voice as a melody (encode/melody.h) for the
// melody tools (novelty, alignment, style).
// Spec: docs/formats.md "Two-part harmonies"; declarations in encode/harmony.h.
// Tests: tests/encode/harmony_test.cpp.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "encode/harmony.h"

namespace melodl::encode {

SymbolMelody voice_melody(const std::vector<HarmonySample>& voice) {
  SymbolHarmony h;
  h.upper = voice;
  h.lower.resize(voice.size());
  h = normalize(std::move(h));
  const auto dur = [](std::size_t steps) {
    return static_cast<int>(std::min<std::size_t>(steps, kDurationLevels)) - 1;
  };
  SymbolMelody m;
  int previous = -1;
  std::size_t k = 0;
  const std::size_t n = h.upper.size();
  while (k < n) {
    std::size_t e = k + 1;
    if (h.upper[k].rest()) {
      while (e < n && h.upper[e].rest()) ++e;
      if (previous >= 0 && e < n) m.steps.push_back({true, 0, dur(e - k)});
    } else {
      while (e < n && !h.upper[e].rest() && !h.upper[e].onset) ++e;
      int interval = 0;
      if (previous >= 0) {
        interval = h.upper[k].pitch - previous;
        while (interval > kMaxInterval) interval -= 12;
        while (interval < -kMaxInterval) interval += 12;
      }
      m.steps.push_back({false, interval, dur(e - k)});
      previous = h.upper[k].pitch;
    }
    k = e;
  }
  return m;
}

// ---------------------------------------------------------------------------
// Rendering

std::vector<midi::Note> harmony_voice_notes(const std::vector<HarmonySample>& voice, int channel,
                                            const HarmonyRenderOptions& options) {
  if (!(options.ticks_per_step > 0.0))
    throw InvalidArgument("harmony render: ticks_per_step must be positive");
  if (options.velocity < 1 || options.velocity > 127)
    throw InvalidArgument("harmony render: velocity must be in 1..127");
  if (channel < 0 || channel > 15)
    throw InvalidArgument("harmony render: channel must be in 0..15");
  std::vector<midi::Note> out;
  int pitch = -1;
  std::size_t start = 0;
  const auto tick = [&](std::size_t k) {
    return static_cast<std::int64_t>(std::llround(static_cast<double>(k) * options.ticks_per_step));
  };
  const auto close = [&](std::size_t k) {
    if (pitch < 0) return;
    midi::Note n;
    n.channel = static_cast<std::uint8_t>(channel);
    n.pitch = static_cast<std::uint8_t>(std::clamp(pitch, 0, 127));
    n.velocity = static_cast<std::uint8_t>(options.velocity);
    n.start_tick = tick(start);
    n.end_tick = std::max(tick(k), n.start_tick + 1);
    n.start_s = static_cast<double>(n.start_tick) * options.seconds_per_tick;
    n.end_s = static_cast<double>(n.end_tick) * options.seconds_per_tick;
    out.push_back(n);
    pitch = -1;
  };
  for (std::size_t k = 0; k < voice.size(); ++k) {
    const HarmonySample& s = voice[k];
    if (s.rest()) {
      close(k);
    } else if (s.onset || s.pitch != pitch) {
      close(k);
      pitch = s.pitch;
      start = k;
    }
  }
  close(voice.size());
  return out;
}

midi::Song harmony_to_song(const SymbolHarmony& harmony, const HarmonyRenderOptions& options) {
  if (harmony.lower.size() != harmony.upper.size())
    throw InvalidArgument("harmony_to_song: voices differ in length");
  if (!(options.seconds_per_tick > 0.0))
    throw InvalidArgument("harmony render: seconds_per_tick must be positive");
  for (int p : options.programs)
    if (p < 0 || p > 127) throw InvalidArgument("harmony render: program must be in 0..127");
  midi::Song song;
  song.source = "harmony";
  song.format = 1;
  song.division.ppq = 480;
  const auto us_per_quarter =
      static_cast<std::uint32_t>(std::llround(options.seconds_per_tick * 480.0 * 1e6));
  song.tempo_map.push_back(midi::TempoChange{0, 0.0, us_per_quarter});
  song.time_signatures.push_back(midi::TimeSignature{});
  const std::array<const std::vector<HarmonySample>*, 2> voices{&harmony.lower, &harmony.upper};
  const std::array<const char*, 2> names{"lower voice", "upper voice"};
  for (std::size_t v = 0; v < 2; ++v) {
    midi::Track t;
    t.name = names[v];
    const int channel = options.channels[v];
    t.notes = harmony_voice_notes(*voices[v], channel, options);
    t.programs.push_back(midi::ProgramChange{0, 0.0, static_cast<std::uint8_t>(channel),
                                             static_cast<std::uint8_t>(options.programs[v])});
    t.end_tick = static_cast<std::int64_t>(
        std::llround(static_cast<double>(voices[v]->size()) * options.ticks_per_step));
    song.end_tick = std::max(song.end_tick, t.end_tick);
    song.tracks.push_back(std::move(t));
  }
  song.duration_s = static_cast<double>(song.end_tick) * options.seconds_per_tick;
  return song;
}

}  // namespace melodl::encode
