// pipeline/audio.cpp: see audio.h. The only file of melodl that talks to fluidsynth.
// MELODL_HAS_FLUIDSYNTH (examples/CMakeLists.txt) is defined when the build has it; without
// it the WAV I/O stays and rendering throws kNoAudioMessage.
#include "pipeline/audio.h"

#ifdef MELODL_HAS_FLUIDSYNTH
#include <fluidsynth.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

#include "base/error.h"
#include "base/files.h"

namespace melodl::pipeline {
namespace fs = std::filesystem;

namespace {

#ifdef MELODL_HAS_FLUIDSYNTH
// Longest song we render: a guard against a corrupt tempo map asking for days of audio.
constexpr double kMaxSeconds = 3600.0;

void silence_fluidsynth() {
  for (int level : {FLUID_PANIC, FLUID_ERR, FLUID_WARN, FLUID_INFO, FLUID_DBG})
    fluid_set_log_function(level, nullptr, nullptr);
}

struct Event {
  double seconds;
  int order;  // at equal times: program changes, then note-offs, then note-ons
  int channel;
  int a;  // program or pitch
  int velocity;
};
#endif

// Byte by byte: GCC 12 reports a false -Wstringop-overflow on vector::insert of a list.
void put_tag(std::vector<std::uint8_t>& b, const char (&tag)[5]) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(tag[i]));
}
void put_u16(std::vector<std::uint8_t>& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v & 0xff));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}
void put_u32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>((v >> (8 * i)) & 0xff));
}
std::uint32_t get_u32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
std::uint16_t get_u16(const std::string& s, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(s[at]) |
                                    (static_cast<unsigned char>(s[at + 1]) << 8));
}

}  // namespace

#ifdef MELODL_HAS_FLUIDSYNTH
bool audio_available() { return true; }
#else
bool audio_available() { return false; }

namespace {
Error no_audio_error() {
  return Error(std::string(kNoAudioMessage) +
               ": WAV files need a melodl configured with fluidsynth "
               "(Debian: libfluidsynth-dev, then -DMELODL_AUDIO=AUTO or ON)");
}
}  // namespace
#endif

fs::path find_soundfont(const fs::path& requested) {
#ifndef MELODL_HAS_FLUIDSYNTH
  throw no_audio_error();
#endif
  std::error_code ec;
  if (!requested.empty()) {
    if (!fs::is_regular_file(requested, ec))
      throw Error("soundfont not found: " + requested.string());
    return requested;
  }
  static const char* const kCandidates[] = {
      "/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
      "/usr/share/sounds/sf3/default-GM.sf3", "/usr/share/sounds/sf3/FluidR3Mono_GM.sf3",
      "/usr/share/sounds/sf2/TimGM6mb.sf2",   "/usr/share/soundfonts/default.sf2",
      "/usr/share/soundfonts/FluidR3_GM.sf2"};
  for (const char* c : kCandidates)
    if (fs::is_regular_file(c, ec)) return c;
  throw Error(
      "no General MIDI soundfont found (looked in /usr/share/sounds/sf2, /usr/share/sounds/sf3 "
      "and /usr/share/soundfonts); install one with `sudo apt-get install fluid-soundfont-gm` "
      "or pass --soundfont PATH");
}

#ifdef MELODL_HAS_FLUIDSYNTH
struct WavRenderer::Impl {
  fluid_settings_t* settings = nullptr;
  fluid_synth_t* synth = nullptr;
  int sample_rate = 44100;
  ~Impl() {
    if (synth) delete_fluid_synth(synth);
    if (settings) delete_fluid_settings(settings);
  }
};

WavRenderer::WavRenderer(const fs::path& soundfont, int sample_rate)
    : impl_(std::make_unique<Impl>()) {
  silence_fluidsynth();
  impl_->sample_rate = sample_rate;
  impl_->settings = new_fluid_settings();
  if (!impl_->settings) throw Error("fluidsynth: cannot create settings");
  fluid_settings_setnum(impl_->settings, "synth.sample-rate", sample_rate);
  // 0.2 (the default) peaks near -25 dBFS on a piano melody; 0.8 about -13 dBFS,
  // leaving headroom for chords.
  fluid_settings_setnum(impl_->settings, "synth.gain", 0.8);
  fluid_settings_setint(impl_->settings, "synth.threadsafe-api", 0);
  impl_->synth = new_fluid_synth(impl_->settings);
  if (!impl_->synth) throw Error("fluidsynth: cannot create a synthesizer");
  std::error_code ec;
  if (!fs::is_regular_file(soundfont, ec))
    throw Error("soundfont not found: " + soundfont.string());
  if (fluid_synth_sfload(impl_->synth, soundfont.c_str(), 1) == FLUID_FAILED)
    throw Error("fluidsynth cannot load soundfont " + soundfont.string());
}

WavRenderer::~WavRenderer() = default;

Audio WavRenderer::render(const midi::Song& song, double max_seconds) {
  constexpr double kTailSeconds = 1.5;  // release of the last notes
  constexpr double kFadeSeconds = 0.5;  // fade-out when cut at max_seconds
  fluid_synth_t* synth = impl_->synth;
  fluid_synth_system_reset(synth);
  std::vector<Event> events;
  for (const auto& track : song.tracks) {
    for (const auto& pc : track.programs)
      events.push_back({song.tick_to_seconds(pc.tick), 0, pc.channel, pc.program, 0});
    for (const auto& n : track.notes) {
      events.push_back({song.tick_to_seconds(n.start_tick), 2, n.channel, n.pitch, n.velocity});
      events.push_back({song.tick_to_seconds(n.end_tick), 1, n.channel, n.pitch, 0});
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& x, const Event& y) {
    return x.seconds != y.seconds ? x.seconds < y.seconds : x.order < y.order;
  });
  double end_s = (events.empty() ? 0.0 : events.back().seconds) + kTailSeconds;
  const bool cut = max_seconds > 0.0 && end_s > max_seconds;
  if (cut) end_s = max_seconds;
  if (!(end_s <= kMaxSeconds))
    throw Error("song too long to render: " + std::to_string(end_s) + " s");
  const int rate = impl_->sample_rate;
  Audio audio;
  audio.sample_rate = rate;
  const auto total_frames = static_cast<std::size_t>(std::ceil(end_s * rate));
  audio.samples.assign(total_frames * 2, 0);
  std::size_t frame = 0;
  auto render_to = [&](std::size_t target) {
    target = std::min(target, total_frames);
    while (frame < target) {
      // fluidsynth renders in blocks of 64 frames internally; any length is allowed.
      const int n = static_cast<int>(std::min<std::size_t>(target - frame, 4096));
      std::int16_t* out = audio.samples.data() + 2 * frame;
      fluid_synth_write_s16(synth, n, out, 0, 2, out, 1, 2);
      frame += static_cast<std::size_t>(n);
    }
  };
  for (const Event& e : events) {
    if (e.seconds * rate >= static_cast<double>(total_frames)) break;
    render_to(static_cast<std::size_t>(std::llround(std::max(0.0, e.seconds) * rate)));
    if (e.order == 0)
      fluid_synth_program_change(synth, e.channel, e.a);
    else if (e.order == 1)
      fluid_synth_noteoff(synth, e.channel, e.a);
    else
      fluid_synth_noteon(synth, e.channel, e.a, std::clamp(e.velocity, 1, 127));
  }
  render_to(total_frames);
  fluid_synth_all_sounds_off(synth, -1);
  if (cut) {
    const auto fade = std::min(total_frames, static_cast<std::size_t>(kFadeSeconds * rate));
    for (std::size_t f = 0; f < fade; ++f) {
      const double gain = static_cast<double>(f) / static_cast<double>(fade);  // 0 at the end
      for (int c = 0; c < 2; ++c) {
        std::int16_t& s = audio.samples[2 * (total_frames - 1 - f) + static_cast<std::size_t>(c)];
        s = static_cast<std::int16_t>(std::lround(s * gain));
      }
    }
  }
  return audio;
}

#else  // no fluidsynth: nothing can be rendered

struct WavRenderer::Impl {};

WavRenderer::WavRenderer(const fs::path&, int) { throw no_audio_error(); }

WavRenderer::~WavRenderer() = default;

Audio WavRenderer::render(const midi::Song&, double) { throw no_audio_error(); }
#endif

void WavRenderer::render(const midi::Song& song, const fs::path& wav_path, double max_seconds) {
  const std::vector<std::uint8_t> bytes = wav_bytes(render(song, max_seconds));
  write_file_atomic(wav_path,
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void render_wav(const midi::Song& song, const fs::path& wav_path, const fs::path& soundfont,
                double max_seconds) {
  WavRenderer renderer(soundfont);
  renderer.render(song, wav_path, max_seconds);
}

std::vector<std::uint8_t> wav_bytes(const Audio& audio) {
  const auto data_bytes = static_cast<std::uint32_t>(audio.samples.size() * 2);
  std::vector<std::uint8_t> b;
  b.reserve(44 + data_bytes);
  put_tag(b, "RIFF");
  put_u32(b, 36 + data_bytes);
  put_tag(b, "WAVE");
  put_tag(b, "fmt ");
  put_u32(b, 16);  // PCM fmt chunk size
  put_u16(b, 1);   // PCM
  put_u16(b, 2);   // channels
  put_u32(b, static_cast<std::uint32_t>(audio.sample_rate));
  put_u32(b, static_cast<std::uint32_t>(audio.sample_rate) * 4);  // byte rate
  put_u16(b, 4);                                                  // block align
  put_u16(b, 16);                                                 // bits per sample
  put_tag(b, "data");
  put_u32(b, data_bytes);
  for (std::int16_t s : audio.samples) put_u16(b, static_cast<std::uint16_t>(s));
  return b;
}

Audio read_wav(const fs::path& path) {
  const std::string s = read_text_file(path);
  auto bad = [&](const char* why) {
    return Error("not a 16-bit PCM WAV: " + path.string() + ": " + why);
  };
  if (s.size() < 12 || s.compare(0, 4, "RIFF") != 0 || s.compare(8, 4, "WAVE") != 0)
    throw bad("no RIFF/WAVE header");
  Audio audio;
  int channels = 0, bits = 0;
  bool have_fmt = false;
  std::size_t at = 12;
  while (at + 8 <= s.size()) {
    const std::string id = s.substr(at, 4);
    const std::uint32_t size = get_u32(s, at + 4);
    const std::size_t body = at + 8;
    if (size > s.size() - body) throw bad("chunk runs past the end of the file");
    if (id == "fmt ") {
      if (size < 16) throw bad("short fmt chunk");
      if (get_u16(s, body) != 1) throw bad("not PCM");
      channels = get_u16(s, body + 2);
      audio.sample_rate = static_cast<int>(get_u32(s, body + 4));
      bits = get_u16(s, body + 14);
      have_fmt = true;
    } else if (id == "data") {
      if (!have_fmt || bits != 16 || channels != 2) throw bad("expected 16-bit stereo");
      audio.samples.resize(size / 2);
      for (std::size_t i = 0; i < audio.samples.size(); ++i)
        audio.samples[i] = static_cast<std::int16_t>(get_u16(s, body + 2 * i));
      return audio;
    }
    at = body + size + (size & 1);
  }
  throw bad("no data chunk");
}

}  // namespace melodl::pipeline
