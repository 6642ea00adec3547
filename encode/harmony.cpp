// encode/harmony.cpp: two-part harmonies from a song: voice split, pair filters,
// sampling on the grid, normalize and remove_silences. The codecs and grammars are in
// harmony_codec.cpp, rendering in harmony_render.cpp.
// Spec: docs/formats.md "Two-part harmonies"; declarations in encode/harmony.h.
#include "encode/harmony.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>

#include "base/error.h"

namespace melodl::encode {

namespace {

constexpr double kEps = 1e-9;

void check_fraction(double v, const char* name) {
  if (std::isnan(v) || v < 0.0)
    throw InvalidArgument(std::string("harmony options: ") + name +
                          " must be a non-negative number");
}

// Latest program change on `channel` at or before `tick` in the track (default 0).
int program_at(const midi::Track& track, int channel, std::int64_t tick) {
  int program = 0;
  std::int64_t best = -1;
  for (const midi::ProgramChange& pc : track.programs) {
    if (pc.channel == channel && pc.tick <= tick && pc.tick >= best) {
      best = pc.tick;
      program = pc.program;
    }
  }
  return program;
}

struct ProgNote {
  midi::Note note;
  int program = 0;
};

// Grid positions (in steps) of ticks, for one song and one set of options.
class Grid {
 public:
  Grid(const midi::Song& song, const HarmonyOptions& o) : song_(song) {
    if (o.steps_per_beat > 0 && !song.division.smpte) {
      step_ticks_ =
          static_cast<double>(song.division.ppq > 0 ? song.division.ppq : 480) / o.steps_per_beat;
    } else if (o.average_tempo && song.end_tick > 0) {
      // MELODL4J: microsecondLength / tickLength (integer division).
      const auto us = static_cast<std::int64_t>(song.tick_to_seconds(song.end_tick) * 1e6);
      const std::int64_t us_per_tick = std::max<std::int64_t>(1, us / song.end_tick);
      step_ticks_ = o.step_seconds * 1e6 / static_cast<double>(us_per_tick);
    }
    step_seconds_ = o.step_seconds;
  }
  double at(std::int64_t tick) const {
    if (step_ticks_ > 0.0) return static_cast<double>(tick) / step_ticks_;
    return song_.tick_to_seconds(tick) / step_seconds_;
  }
  double step_ticks() const { return step_ticks_; }
  double seconds_per_step() const {
    if (step_ticks_ <= 0.0) return step_seconds_;
    if (song_.end_tick <= 0) return 0.0;
    return step_ticks_ * song_.tick_to_seconds(song_.end_tick) /
           static_cast<double>(song_.end_tick);
  }

 private:
  const midi::Song& song_;
  double step_ticks_ = 0.0;
  double step_seconds_ = 0.0625;
};

std::size_t steps_until_end(const Grid& grid, const std::vector<midi::Note>& notes) {
  if (notes.empty()) return 0;
  std::int64_t end = 0;
  for (const auto& n : notes) end = std::max(end, n.end_tick);
  const double e = grid.at(end);
  return e <= kEps ? 0 : static_cast<std::size_t>(std::ceil(e - kEps));
}

std::vector<HarmonySample> sample_on(const Grid& grid, const std::vector<midi::Note>& notes,
                                     std::size_t steps) {
  std::vector<HarmonySample> out;
  out.reserve(steps);
  std::size_t i = 0;
  std::size_t prev = notes.size();  // index of the note sounding at the previous step
  for (std::size_t k = 0; k < steps; ++k) {
    const double t = static_cast<double>(k) + kEps;
    while (i < notes.size() && grid.at(notes[i].end_tick) <= t) ++i;
    HarmonySample s;
    if (i < notes.size() && grid.at(notes[i].start_tick) <= t) {
      s.pitch = fold_pitch(notes[i].pitch);
      s.onset = i != prev;
      prev = i;
    } else {
      prev = notes.size();
    }
    out.push_back(s);
  }
  return out;
}

void validate(const HarmonyOptions& o) {
  if (o.min_notes < 0) throw InvalidArgument("harmony options: min_notes must be >= 0");
  if (o.min_steps < 0) throw InvalidArgument("harmony options: min_steps must be >= 0");
  if (o.steps_per_beat < 0) throw InvalidArgument("harmony options: steps_per_beat must be >= 0");
  if (!(o.step_seconds > 0.0) || std::isinf(o.step_seconds))
    throw InvalidArgument("harmony options: step_seconds must be positive");
  check_fraction(o.min_activity, "min_activity");
  check_fraction(o.max_gap, "max_gap");
  check_fraction(o.legato_max_overlap, "legato_max_overlap");
}

bool program_allowed(const std::vector<int>& set, int program) {
  return set.empty() || std::find(set.begin(), set.end(), program) != set.end();
}

}  // namespace

int fold_pitch(int pitch, int lowest, int highest) {
  if (highest - lowest < 11)
    throw InvalidArgument("fold_pitch: range [" + std::to_string(lowest) + ", " +
                          std::to_string(highest) + "] is narrower than an octave");
  while (pitch < lowest) pitch += 12;
  while (pitch > highest) pitch -= 12;
  return pitch;
}

SymbolHarmony normalize(SymbolHarmony h) {
  if (h.lower.size() != h.upper.size())
    throw InvalidArgument("harmony: voices differ in length (" + std::to_string(h.lower.size()) +
                          " vs " + std::to_string(h.upper.size()) + " steps)");
  for (auto* voice : {&h.lower, &h.upper}) {
    int prev = -1;
    for (HarmonySample& s : *voice) {
      if (s.pitch < 0) {
        s = HarmonySample{};
        prev = -1;
        continue;
      }
      s.pitch = fold_pitch(s.pitch);
      if (!s.onset && s.pitch != prev) s.onset = true;
      prev = s.pitch;
    }
  }
  return h;
}

SymbolHarmony remove_silences(const SymbolHarmony& h, int window_steps, int skip_steps) {
  if (h.lower.size() != h.upper.size())
    throw InvalidArgument("remove_silences: voices differ in length");
  if (window_steps < 1 || skip_steps < 1)
    throw InvalidArgument("remove_silences: window and skip must be positive");
  SymbolHarmony out;
  const std::size_t n = h.lower.size();
  const auto w = static_cast<std::size_t>(window_steps);
  std::size_t i = 0;
  while (i < n) {
    bool silent = i + w <= n;
    for (std::size_t k = i; silent && k < i + w; ++k)
      silent = h.lower[k].rest() && h.upper[k].rest();
    if (silent) {
      i += static_cast<std::size_t>(skip_steps);
      continue;
    }
    out.lower.push_back(h.lower[i]);
    out.upper.push_back(h.upper[i]);
    ++i;
  }
  return out;
}

const char* to_string(HarmonyRejection r) {
  switch (r) {
    case HarmonyRejection::too_few_notes:
      return "too_few_notes";
    case HarmonyRejection::low_activity:
      return "low_activity";
    case HarmonyRejection::gap_too_long:
      return "gap_too_long";
    case HarmonyRejection::instruments:
      return "instruments";
    case HarmonyRejection::too_short:
      return "too_short";
    case HarmonyRejection::count_:
      break;
  }
  return "unknown";
}

HarmonyStats& HarmonyStats::operator+=(const HarmonyStats& o) {
  files += o.files;
  voices += o.voices;
  pairs += o.pairs;
  kept += o.kept;
  for (std::size_t i = 0; i < rejected.size(); ++i) rejected[i] += o.rejected[i];
  return *this;
}

std::vector<HarmonyVoice> split_voices(const midi::Song& song, const HarmonyOptions& options) {
  validate(options);
  std::vector<ProgNote> all;
  for (const midi::Track& track : song.tracks) {
    // Per (channel, program) lists in start order, for the legato fix.
    std::map<std::pair<int, int>, std::vector<ProgNote>> lists;
    for (const midi::Note& n : track.notes) {
      if (options.skip_percussion && n.channel == 9) continue;
      if (n.end_tick <= n.start_tick) continue;
      const int program = program_at(track, n.channel, n.start_tick);
      lists[{n.channel, program}].push_back(ProgNote{n, program});
    }
    for (auto& [key, list] : lists) {
      std::stable_sort(list.begin(), list.end(), [](const ProgNote& a, const ProgNote& b) {
        return a.note.start_tick < b.note.start_tick;
      });
      if (options.legato_fix) {
        for (std::size_t k = 0; k + 1 < list.size(); ++k) {
          midi::Note& a = list[k].note;
          const midi::Note& b = list[k + 1].note;
          const std::int64_t inter =
              std::min(a.end_tick, b.end_tick) - std::max(a.start_tick, b.start_tick);
          const std::int64_t uni =
              std::max(a.end_tick, b.end_tick) - std::min(a.start_tick, b.start_tick);
          const double overlap =
              inter > 0 && uni > 0 ? static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
          if (overlap <= options.legato_max_overlap) {
            a.end_tick = b.start_tick;
            a.end_s = b.start_s;
          }
        }
      }
      for (const ProgNote& pn : list)
        if (pn.note.end_tick > pn.note.start_tick) all.push_back(pn);
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const ProgNote& a, const ProgNote& b) {
    return std::tie(a.note.start_tick, a.note.pitch, a.note.channel) <
           std::tie(b.note.start_tick, b.note.pitch, b.note.channel);
  });

  std::vector<HarmonyVoice> voices;
  for (const ProgNote& pn : all) {
    HarmonyVoice* target = nullptr;
    for (HarmonyVoice& v : voices) {
      if (v.program == pn.program && v.end_tick <= pn.note.start_tick) {
        target = &v;
        break;
      }
    }
    if (!target) {
      voices.emplace_back();
      target = &voices.back();
      target->program = pn.program;
    }
    target->notes.push_back(pn.note);
    target->end_tick = pn.note.end_tick;
  }
  for (HarmonyVoice& v : voices) {
    double sum = 0.0;
    std::int64_t prev_end = 0;
    for (const midi::Note& n : v.notes) {
      sum += n.pitch;
      v.sounding_ticks += n.end_tick - n.start_tick;
      v.longest_gap_ticks = std::max(v.longest_gap_ticks, n.start_tick - prev_end);
      prev_end = n.end_tick;
    }
    v.mean_pitch = sum / static_cast<double>(v.notes.size());
  }
  std::stable_sort(voices.begin(), voices.end(), [](const HarmonyVoice& a, const HarmonyVoice& b) {
    return a.mean_pitch < b.mean_pitch;
  });
  return voices;
}

std::vector<HarmonySample> sample_voice(const midi::Song& song,
                                        const std::vector<midi::Note>& notes,
                                        const HarmonyOptions& options, std::size_t steps) {
  validate(options);
  const Grid grid(song, options);
  if (steps == 0) steps = steps_until_end(grid, notes);
  return sample_on(grid, notes, steps);
}

HarmonyResult extract_harmonies(const midi::Song& song, const HarmonyOptions& options) {
  HarmonyResult res;
  res.voices = split_voices(song, options);
  res.stats.files = 1;
  res.stats.voices = res.voices.size();
  const Grid grid(song, options);
  const auto reject = [&](HarmonyRejection r) { ++res.stats.rejected[static_cast<int>(r)]; };
  const auto min_notes = static_cast<std::size_t>(options.min_notes);
  for (std::size_t i = 0; i < res.voices.size(); ++i) {
    for (std::size_t j = i + 1; j < res.voices.size(); ++j) {
      ++res.stats.pairs;
      const HarmonyVoice& lo = res.voices[i];
      const HarmonyVoice& up = res.voices[j];
      if (lo.notes.size() < min_notes || up.notes.size() < min_notes) {
        reject(HarmonyRejection::too_few_notes);
        continue;
      }
      const auto later = static_cast<double>(std::max(lo.end_tick, up.end_tick));
      if (static_cast<double>(lo.sounding_ticks) / later < options.min_activity ||
          static_cast<double>(up.sounding_ticks) / later < options.min_activity) {
        reject(HarmonyRejection::low_activity);
        continue;
      }
      if (static_cast<double>(lo.longest_gap_ticks) / static_cast<double>(lo.end_tick) >
              options.max_gap ||
          static_cast<double>(up.longest_gap_ticks) / static_cast<double>(up.end_tick) >
              options.max_gap) {
        reject(HarmonyRejection::gap_too_long);
        continue;
      }
      if (!program_allowed(options.lower_programs, lo.program) ||
          !program_allowed(options.upper_programs, up.program)) {
        reject(HarmonyRejection::instruments);
        continue;
      }
      const std::size_t steps =
          std::min(steps_until_end(grid, lo.notes), steps_until_end(grid, up.notes));
      SymbolHarmony h{sample_on(grid, lo.notes, steps), sample_on(grid, up.notes, steps)};
      if (options.remove_silences) h = remove_silences(h);
      if (h.steps() < static_cast<std::size_t>(options.min_steps) || h.steps() == 0) {
        reject(HarmonyRejection::too_short);
        continue;
      }
      ExtractedHarmony e;
      e.source = song.source;
      e.lower_voice = static_cast<int>(i);
      e.upper_voice = static_cast<int>(j);
      e.lower_program = lo.program;
      e.upper_program = up.program;
      e.step_seconds = grid.seconds_per_step();
      e.step_ticks = grid.step_ticks();
      e.harmony = normalize(std::move(h));
      res.harmonies.push_back(std::move(e));
      ++res.stats.kept;
    }
  }
  return res;
}

}  // namespace melodl::encode
