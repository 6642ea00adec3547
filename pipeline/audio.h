// pipeline/audio.h: offline audio rendering of a midi::Song to a 16-bit stereo WAV
// with libfluidsynth and a General MIDI soundfont (Debian: fluid-soundfont-gm).
// Events are fed to the synthesizer at their exact sample frame (no real-time audio
// driver, no sequencer thread), so rendering runs as fast as the CPU allows and the
// result is the same on every run. fluidsynth's own log output is silenced.
// A build configured without fluidsynth (MELODL_AUDIO=OFF, or AUTO when pkg-config finds
// none) keeps the WAV reader and writer; find_soundfont() and WavRenderer then throw
// melodl::Error starting with kNoAudioMessage.
//
// Example:
//   auto sf = pipeline::find_soundfont();              // throws melodl::Error if none
//   pipeline::render_wav(song, "out/melody.wav", sf);  // one-shot
//   pipeline::WavRenderer r(sf);                       // many songs, one soundfont load
//   r.render(song, "a.wav");
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "midi/model.h"

namespace melodl::pipeline {

// Whether this build renders audio (false when built without fluidsynth).
bool audio_available();
inline constexpr char kNoAudioMessage[] = "built without fluidsynth (audio rendering disabled)";

// The soundfont to use: `requested` when not empty (must exist), else the first of
// /usr/share/sounds/sf2/FluidR3_GM.sf2, /usr/share/sounds/sf2/default-GM.sf2,
// /usr/share/sounds/sf3/default-GM.sf3, ... Throws melodl::Error naming the Debian
// package fluid-soundfont-gm when none is installed. Without audio, throws kNoAudioMessage.
std::filesystem::path find_soundfont(const std::filesystem::path& requested = {});

// Interleaved stereo samples.
struct Audio {
  int sample_rate = 44100;
  std::vector<std::int16_t> samples;  // L R L R ...
  std::size_t frames() const { return samples.size() / 2; }
};

class WavRenderer {
 public:
  // Loads the soundfont once; throws melodl::Error if fluidsynth cannot load it.
  explicit WavRenderer(const std::filesystem::path& soundfont, int sample_rate = 44100);
  ~WavRenderer();
  WavRenderer(const WavRenderer&) = delete;
  WavRenderer& operator=(const WavRenderer&) = delete;

  // The song's audio plus 1.5 s after the last note-off for the release. With
  // max_seconds > 0, only its first max_seconds, the last half second faded out.
  Audio render(const midi::Song& song, double max_seconds = 0.0);
  // render() then write a WAV file atomically; throws melodl::Error naming the path.
  void render(const midi::Song& song, const std::filesystem::path& wav_path,
              double max_seconds = 0.0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot convenience: load `soundfont`, render, write.
void render_wav(const midi::Song& song, const std::filesystem::path& wav_path,
                const std::filesystem::path& soundfont, double max_seconds = 0.0);

// RIFF/WAVE PCM 16-bit bytes of `audio`.
std::vector<std::uint8_t> wav_bytes(const Audio& audio);
// Reads back a 16-bit PCM WAV (the files we write); throws melodl::Error.
Audio read_wav(const std::filesystem::path& path);

}  // namespace melodl::pipeline
