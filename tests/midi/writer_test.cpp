// tests/midi/writer_test.cpp: the writer (midi/writer.h): round trip through the reader
// (notes, tempo map, programs, names, time signatures), a 300k-note track, atomic
// replacement (no temporary file left, old target replaced), WriteError on bad input or
// paths, and nothing on stderr. Its bytes against the former libsmf writer:
// writer_bytes_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "midi/reader.h"
#include "midi/writer.h"
#include "tests/midi/writer_fixture.h"

namespace melodl::midi {
namespace {

namespace fs = std::filesystem;

class MidiWriter : public test::TempDirTest {};
using test::make_note;

Song two_voice_song() {
  Song song = make_song(480, 100.0);
  TempoChange faster;
  faster.tick = 1920;
  faster.us_per_quarter = 400000;
  song.tempo_map.push_back(faster);
  TimeSignature three_four;
  three_four.tick = 1920;
  three_four.numerator = 3;
  three_four.denominator = 4;
  song.time_signatures.push_back(three_four);
  Track melody;
  melody.name = "Melody";
  melody.programs.push_back(ProgramChange{0, 0.0, 0, 73});
  // Legato line with a repeated pitch whose end meets the next start.
  melody.notes = {make_note(0, 72, 100, 0, 480), make_note(0, 72, 90, 480, 960),
                  make_note(0, 74, 80, 960, 2400), make_note(0, 76, 70, 2400, 2880)};
  Track bass;
  bass.name = "Bass";
  bass.programs.push_back(ProgramChange{0, 0.0, 1, 32});
  bass.programs.push_back(ProgramChange{1920, 0.0, 1, 33});
  bass.notes = {make_note(1, 36, 110, 0, 960), make_note(1, 43, 100, 0, 960),
                make_note(1, 41, 100, 960, 2880)};
  song.tracks = {melody, bass};
  return song;
}

TEST_F(MidiWriter, RoundTripKeepsNotesTempoProgramsAndNames) {
  const Song song = two_voice_song();
  const fs::path path = dir_ / "song.mid";
  ::testing::internal::CaptureStderr();
  write_file(path, song);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "");
  EXPECT_EQ(entries(), 1u);  // no temporary file left behind

  auto r = read_file(path);
  ASSERT_TRUE(r) << r.error().what();
  const Song& back = *r;
  EXPECT_TRUE(back.warnings.empty());
  EXPECT_EQ(back.format, 1);
  EXPECT_EQ(back.division.ppq, 480);
  ASSERT_EQ(back.tracks.size(), 3u);  // conductor + 2
  EXPECT_TRUE(back.tracks[0].notes.empty());
  ASSERT_EQ(back.tempo_map.size(), 2u);
  EXPECT_EQ(back.tempo_map[0].us_per_quarter, 600000u);
  EXPECT_EQ(back.tempo_map[1].tick, 1920);
  EXPECT_EQ(back.tempo_map[1].us_per_quarter, 400000u);
  EXPECT_DOUBLE_EQ(back.tempo_map[1].seconds, 2.4);
  ASSERT_EQ(back.time_signatures.size(), 2u);
  EXPECT_EQ(back.time_signatures[1].numerator, 3);
  EXPECT_EQ(back.time_signatures[1].denominator, 4);
  for (std::size_t t = 0; t < 2; ++t) {
    const Track& want = song.tracks[t];
    const Track& got = back.tracks[t + 1];
    EXPECT_EQ(got.name, want.name);
    ASSERT_EQ(got.programs.size(), want.programs.size());
    for (std::size_t i = 0; i < want.programs.size(); ++i) {
      EXPECT_EQ(got.programs[i].tick, want.programs[i].tick);
      EXPECT_EQ(got.programs[i].channel, want.programs[i].channel);
      EXPECT_EQ(got.programs[i].program, want.programs[i].program);
    }
    ASSERT_EQ(got.notes.size(), want.notes.size()) << "track " << t;
    for (std::size_t i = 0; i < want.notes.size(); ++i) {
      // The reader sorts by (start, pitch, channel); the fixtures are already in that order.
      EXPECT_EQ(got.notes[i].channel, want.notes[i].channel);
      EXPECT_EQ(got.notes[i].pitch, want.notes[i].pitch);
      EXPECT_EQ(got.notes[i].velocity, want.notes[i].velocity);
      EXPECT_EQ(got.notes[i].start_tick, want.notes[i].start_tick);
      EXPECT_EQ(got.notes[i].end_tick, want.notes[i].end_tick);
      EXPECT_DOUBLE_EQ(got.notes[i].start_s, back.tick_to_seconds(want.notes[i].start_tick));
    }
  }
  EXPECT_EQ(back.end_tick, 2880);
  EXPECT_DOUBLE_EQ(back.duration_s, 2.4 + 2.0 * 0.4);
}

TEST_F(MidiWriter, ReplacesAnExistingFileAtomically) {
  const fs::path path = dir_ / "out.mid";
  {
    std::ofstream junk(path);
    junk << "not a midi file";
  }
  Song song = two_voice_song();
  write_file(path, song);
  EXPECT_EQ(entries(), 1u);
  auto r = read_file(path);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->note_count(), 7u);
  // Overwrite again with a smaller song: the file is the new one, nothing else remains.
  song.tracks.resize(1);
  write_file(path, song);
  EXPECT_EQ(entries(), 1u);
  auto r2 = read_file(path);
  ASSERT_TRUE(r2) << r2.error().what();
  EXPECT_EQ(r2->note_count(), 4u);
}

TEST_F(MidiWriter, ManyNotesRoundTripExactly) {
  // 300k notes in one track and a second track: libsmf's save took 150 s here (quadratic
  // in a track's events); the writer's own layout is linear, and the file holds every note.
  Song song = make_song(480, 120.0);
  Track line, other;
  line.name = "long line";
  line.programs.push_back(ProgramChange{0, 0.0, 0, 40});
  for (int i = 0; i < 300000; ++i)
    line.notes.push_back(make_note(0, 48 + (i * 7) % 40, 1 + i % 127, 120LL * i, 120LL * i + 90));
  other.notes = {make_note(1, 60, 100, 0, 480), make_note(1, 62, 100, 480, 960)};
  song.tracks = {line, other};
  const fs::path path = dir_ / "long.mid";
  write_file(path, song);
  auto r = read_file(path);
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->tracks.size(), 3u);
  const auto& notes = r->tracks[1].notes;
  ASSERT_EQ(notes.size(), line.notes.size());
  for (std::size_t i = 0; i < notes.size(); ++i) {
    ASSERT_EQ(notes[i].start_tick, line.notes[i].start_tick) << i;
    ASSERT_EQ(notes[i].end_tick, line.notes[i].end_tick) << i;
    ASSERT_EQ(notes[i].pitch, line.notes[i].pitch) << i;
    ASSERT_EQ(notes[i].velocity, line.notes[i].velocity) << i;
  }
  EXPECT_EQ(r->tracks[2].notes.size(), 2u);
  EXPECT_EQ(entries(), 1u);  // no temporary file left
}

TEST_F(MidiWriter, TickPastTheLimitNamesIt) {
  // A melody long enough to pass 2^31 - 1 ticks gets an error naming the limit.
  Song song = make_song(480, 120.0);
  Track t;
  t.notes = {make_note(0, 60, 90, 0, 480), make_note(0, 62, 90, 2147483000LL, 2147484000LL)};
  song.tracks = {t};
  try {
    write_file(dir_ / "long.mid", song);
    FAIL() << "expected WriteError";
  } catch (const WriteError& e) {
    EXPECT_NE(std::string(e.what()).find("tick 2147484000 out of range 0..2147483647"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(entries(), 0u);
}

TEST_F(MidiWriter, EmptySongWritesAConductorTrack) {
  const fs::path path = dir_ / "empty.mid";
  write_file(path, make_song(96, 120.0));
  auto r = read_file(path);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->division.ppq, 96);
  EXPECT_EQ(r->tracks.size(), 1u);
  EXPECT_EQ(r->note_count(), 0u);
  EXPECT_EQ(r->tempo_map[0].us_per_quarter, 500000u);
}

TEST_F(MidiWriter, LongTrackNamesAreCutTo127BytesAtACharacterBoundary) {
  // libsmf 1.3 rejects meta events of 128+ bytes ("Event #1 on track #2 is invalid").
  Song song = two_voice_song();
  song.tracks[0].name = std::string(300, 'n');
  song.tracks[1].name = std::string(126, 'a') + "\xC3\xA9";  // 128 bytes ending in a 2-byte char
  const fs::path path = dir_ / "names.mid";
  ::testing::internal::CaptureStderr();
  write_file(path, song);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  auto r = read_file(path);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->tracks[1].name, std::string(127, 'n'));
  EXPECT_EQ(r->tracks[2].name, std::string(126, 'a'));
  EXPECT_EQ(r->note_count(), 7u);
}

TEST_F(MidiWriter, BadInputAndBadPathsThrowWriteError) {
  Song song = two_voice_song();
  song.tracks[1].notes[0].end_tick = song.tracks[1].notes[0].start_tick;  // zero length
  const fs::path path = dir_ / "bad.mid";
  try {
    write_file(path, song);
    FAIL() << "expected WriteError";
  } catch (const WriteError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.mid"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("track 2: note 0"), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(), 0u);  // nothing written, no temporary file

  Song pitch = two_voice_song();
  pitch.tracks[0].notes[0].pitch = 200;
  EXPECT_THROW(write_file(path, pitch), WriteError);
  Song smpte = two_voice_song();
  smpte.division.smpte = true;
  EXPECT_THROW(write_file(path, smpte), WriteError);
  Song big = two_voice_song();
  big.tracks[0].notes[0].end_tick = std::int64_t{1} << 40;
  EXPECT_THROW(write_file(path, big), WriteError);
  EXPECT_EQ(entries(), 0u);

  ::testing::internal::CaptureStderr();
  try {
    write_file(dir_ / "no" / "such" / "dir" / "x.mid", two_voice_song());
    ADD_FAILURE() << "expected WriteError";
  } catch (const WriteError& e) {
    EXPECT_NE(std::string(e.what()).find("x.mid"), std::string::npos) << e.what();
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace melodl::midi
