// tests/midi/reader_test.cpp: the bounds-checked SMF reader (midi/reader.h) on hand-built
// byte fixtures (tests/midi/smf_builder.h): pairing, running status, SysEx/meta edge cases,
// SMPTE, RMID, format 2, tick totals past 2^31, malformed input (LoadError with offset),
// and limits. Every case here is one that libsmf 1.3 gets wrong or crashes on (docs/midi.md).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "midi/reader.h"
#include "tests/midi/smf_builder.h"

namespace melodl::midi {
namespace {

using test::Bytes;
using test::SmfBytes;
using test::TrackBytes;

Song read_ok(const Bytes& b, const ReadLimits& limits = {}) {
  auto r = read_bytes(b, "fixture.mid", limits);
  if (!r) ADD_FAILURE() << "unexpected LoadError: " << r.error().what();
  return r ? std::move(r).value() : Song{};
}

LoadError read_err(const Bytes& b, const ReadLimits& limits = {}) {
  auto r = read_bytes(b, "bad.mid", limits);
  if (r) {
    ADD_FAILURE() << "expected a LoadError, got a song with " << r->note_count() << " notes";
    return LoadError("bad.mid", -1, "none");
  }
  return r.error();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

void expect_note(const Note& n, int ch, int pitch, int vel, std::int64_t start, std::int64_t end) {
  EXPECT_EQ(n.channel, ch);
  EXPECT_EQ(n.pitch, pitch);
  EXPECT_EQ(n.velocity, vel);
  EXPECT_EQ(n.start_tick, start);
  EXPECT_EQ(n.end_tick, end);
}

TEST(MidiReader, SimpleFormat1WithNameProgramAndTimeSignature) {
  TrackBytes conductor;
  conductor.tempo(0, 500000).meta(0, 0x58, {3, 3, 24, 8}).eot(0);
  TrackBytes t;
  t.text(0, 0x03, "Soprano").ev(0, {0xC2, 19}).on(0, 2, 60, 90).off(480, 2, 60).eot(10);
  const Song s = read_ok(SmfBytes(1, 2, 480).track(conductor).track(t).bytes());
  EXPECT_EQ(s.format, 1);
  EXPECT_FALSE(s.division.smpte);
  EXPECT_EQ(s.division.ppq, 480);
  ASSERT_EQ(s.tracks.size(), 2u);
  EXPECT_EQ(s.tracks[1].name, "Soprano");
  ASSERT_EQ(s.tracks[1].programs.size(), 1u);
  EXPECT_EQ(s.tracks[1].programs[0].channel, 2);
  EXPECT_EQ(s.tracks[1].programs[0].program, 19);
  ASSERT_EQ(s.tracks[1].notes.size(), 1u);
  expect_note(s.tracks[1].notes[0], 2, 60, 90, 0, 480);
  EXPECT_DOUBLE_EQ(s.tracks[1].notes[0].end_s, 0.5);
  EXPECT_EQ(s.tracks[1].end_tick, 490);
  EXPECT_EQ(s.end_tick, 490);
  ASSERT_EQ(s.time_signatures.size(), 1u);
  EXPECT_EQ(s.time_signatures[0].numerator, 3);
  EXPECT_EQ(s.time_signatures[0].denominator, 8);
  EXPECT_TRUE(s.warnings.empty());
  EXPECT_EQ(s.source, "fixture.mid");
}

TEST(MidiReader, RunningStatusAndVelocityZeroNoteOff) {
  TrackBytes t;
  t.on(0, 0, 60, 100)
      .ev(0, {64, 101})  // running status: note-on 64
      .ev(240, {60, 0})  // note-on velocity 0 = note-off
      .ev(0, {67, 102})
      .ev(240, {64, 0})
      .ev(0, {67, 0})
      .eot();
  const Song s = read_ok(SmfBytes(0, 1, 480).track(t).bytes());
  ASSERT_EQ(s.note_count(), 3u);
  const auto& n = s.tracks[0].notes;  // sorted by (start, pitch, channel)
  expect_note(n[0], 0, 60, 100, 0, 240);
  expect_note(n[1], 0, 64, 101, 0, 480);
  expect_note(n[2], 0, 67, 102, 240, 480);
}

TEST(MidiReader, OverlappingSamePitchPairsFirstInFirstOut) {
  TrackBytes t;
  t.on(0, 3, 60, 100).on(100, 3, 60, 50).off(100, 3, 60).off(100, 3, 60).eot();
  const Song s = read_ok(SmfBytes(0, 1, 96).track(t).bytes());
  ASSERT_EQ(s.note_count(), 2u);
  expect_note(s.tracks[0].notes[0], 3, 60, 100, 0, 200);  // first on, first off
  expect_note(s.tracks[0].notes[1], 3, 60, 50, 100, 300);
  // A note-off arriving at the same tick as a re-strike ends the older note.
  TrackBytes u;
  u.on(0, 0, 62, 80).on(96, 0, 62, 81).off(0, 0, 62).off(96, 0, 62).eot();
  const Song s2 = read_ok(SmfBytes(0, 1, 96).track(u).bytes());
  ASSERT_EQ(s2.note_count(), 2u);
  expect_note(s2.tracks[0].notes[0], 0, 62, 80, 0, 96);
  expect_note(s2.tracks[0].notes[1], 0, 62, 81, 96, 192);
}

TEST(MidiReader, Format0WithManyChannels) {
  TrackBytes t;
  for (int ch = 0; ch < 16; ++ch) t.on(0, ch, 40 + ch, 60 + ch);
  for (int ch = 15; ch >= 0; --ch) t.off(10, ch, 40 + ch);
  t.eot();
  const Song s = read_ok(SmfBytes(0, 1, 120).track(t).bytes());
  EXPECT_EQ(s.format, 0);
  ASSERT_EQ(s.note_count(), 16u);
  for (int ch = 0; ch < 16; ++ch) {
    const Note& n = s.tracks[0].notes[static_cast<std::size_t>(ch)];
    expect_note(n, ch, 40 + ch, 60 + ch, 0, 10 * (16 - ch));
  }
}

TEST(MidiReader, NotesOnTheSameKeyInDifferentChannelsAreIndependent) {
  TrackBytes t;
  t.on(0, 0, 60, 10).on(0, 1, 60, 20).off(5, 1, 60).off(5, 0, 60).eot();
  const Song s = read_ok(SmfBytes(0, 1, 120).track(t).bytes());
  ASSERT_EQ(s.note_count(), 2u);
  expect_note(s.tracks[0].notes[0], 0, 60, 10, 0, 10);
  expect_note(s.tracks[0].notes[1], 1, 60, 20, 0, 5);
}

TEST(MidiReader, TempoChangesGiveCorrectSeconds) {
  TrackBytes conductor;
  conductor.tempo(0, 500000).tempo(960, 1000000).eot(960);  // 120 bpm, then 60 bpm at tick 960
  TrackBytes t;
  t.on(480, 0, 60, 64).off(480, 0, 60).on(0, 0, 62, 64).off(480, 0, 62).eot();
  // A tempo change in a later track (format 1 allows it anywhere) also counts.
  TrackBytes t2;
  t2.tempo(1440, 250000).on(0, 1, 70, 64).off(480, 1, 70).eot();
  const Song s = read_ok(SmfBytes(1, 3, 480).track(conductor).track(t).track(t2).bytes());
  ASSERT_EQ(s.tempo_map.size(), 3u);
  EXPECT_EQ(s.tempo_map[1].tick, 960);
  EXPECT_DOUBLE_EQ(s.tempo_map[1].seconds, 1.0);
  EXPECT_DOUBLE_EQ(s.tempo_map[2].seconds, 2.0);  // 1.0 s + 480 ticks at 60 bpm
  const auto& n = s.tracks[1].notes;
  ASSERT_EQ(n.size(), 2u);
  EXPECT_DOUBLE_EQ(n[0].start_s, 0.5);
  EXPECT_DOUBLE_EQ(n[0].end_s, 1.0);
  EXPECT_DOUBLE_EQ(n[1].start_s, 1.0);
  EXPECT_DOUBLE_EQ(n[1].end_s, 2.0);
  ASSERT_EQ(s.tracks[2].notes.size(), 1u);
  EXPECT_DOUBLE_EQ(s.tracks[2].notes[0].start_s, 2.0);
  EXPECT_DOUBLE_EQ(s.tracks[2].notes[0].end_s, 2.25);  // 480 ticks at 240 bpm
  EXPECT_DOUBLE_EQ(s.tick_to_seconds(1920), 2.25);
  EXPECT_DOUBLE_EQ(s.tick_to_seconds(480), 0.5);
  EXPECT_DOUBLE_EQ(s.duration_s, 2.25);
}

TEST(MidiReader, NoTempoMeansOneHundredTwentyBpm) {
  TrackBytes t;
  t.on(0, 0, 60, 64).off(960, 0, 60).eot();
  const Song s = read_ok(SmfBytes(0, 1, 480).track(t).bytes());
  ASSERT_EQ(s.tempo_map.size(), 1u);
  EXPECT_EQ(s.tempo_map[0].tick, 0);
  EXPECT_EQ(s.tempo_map[0].us_per_quarter, 500000u);
  EXPECT_DOUBLE_EQ(s.tracks[0].notes[0].end_s, 1.0);
}

TEST(MidiReader, SmpteDivision) {
  // 25 fps x 40 ticks per frame = 1000 ticks per second; tempo events do not change timing.
  TrackBytes t;
  t.tempo(0, 1000000).on(500, 0, 60, 64).off(1000, 0, 60).eot();
  const Song s = read_ok(SmfBytes(0, 1, 0xE728).track(t).bytes());
  EXPECT_TRUE(s.division.smpte);
  EXPECT_EQ(s.division.frames_per_second, 25);
  EXPECT_EQ(s.division.ticks_per_frame, 40);
  ASSERT_EQ(s.note_count(), 1u);
  EXPECT_DOUBLE_EQ(s.tracks[0].notes[0].start_s, 0.5);
  EXPECT_DOUBLE_EQ(s.tracks[0].notes[0].end_s, 1.5);
  // 29 means 29.97 drop-frame.
  TrackBytes u;
  u.on(0, 0, 60, 64).off(2997, 0, 60).eot();
  const Song d = read_ok(SmfBytes(0, 1, 0xE30A).track(u).bytes());  // -29, 10 ticks per frame
  EXPECT_EQ(d.division.frames_per_second, 29);
  EXPECT_NEAR(d.tracks[0].notes[0].end_s, 10.0, 1e-9);
  // An impossible frame rate is an error at the division's offset.
  const LoadError e = read_err(SmfBytes(0, 1, 0xE50A).track(u).bytes());
  EXPECT_EQ(e.offset(), 12);
  EXPECT_TRUE(contains(e.problem(), "SMPTE")) << e.what();
}

TEST(MidiReader, TruncatedAndCorruptChunksGiveLoadErrorsWithOffsets) {
  TrackBytes t;
  t.on(0, 0, 60, 64).off(10, 0, 60).eot();
  {  // MTrk declares more bytes than the file holds
    const LoadError e = read_err(SmfBytes(0, 1, 96).chunk("MTrk", t.bytes(), 1000).bytes());
    EXPECT_EQ(e.offset(), 14);
    EXPECT_TRUE(contains(e.problem(), "truncated MTrk")) << e.what();
    EXPECT_EQ(e.file(), "bad.mid");
    EXPECT_TRUE(contains(e.what(), "bad.mid: offset 14: ")) << e.what();
  }
  {  // truncated header
    Bytes b = SmfBytes(0, 1, 96).bytes();
    b.resize(10);
    const LoadError e = read_err(b);
    EXPECT_EQ(e.offset(), 0);
    EXPECT_TRUE(contains(e.problem(), "MThd")) << e.what();
  }
  {  // not MIDI at all, and an empty file
    EXPECT_TRUE(
        contains(read_err(Bytes{'h', 'e', 'l', 'l', 'o'}).problem(), "not a Standard MIDI"));
    EXPECT_EQ(read_err(Bytes{}).offset(), 0);
  }
  {  // garbage where the first track's chunk header should be
    const LoadError e = read_err(SmfBytes(1, 2, 96).track(t).raw({1, 2, 3, 4, 0, 0, 0, 0}).bytes());
    EXPECT_EQ(e.offset(), 14 + 8 + static_cast<std::int64_t>(t.bytes().size()));
    EXPECT_TRUE(contains(e.problem(), "expected an MTrk chunk")) << e.what();
  }
  {  // an event that runs past the chunk end: meta length too long
    TrackBytes u;
    u.on(0, 0, 60, 64).raw({0x00, 0xFF, 0x01, 0x40, 'a', 'b'});
    const LoadError e = read_err(SmfBytes(0, 1, 96).track(u).bytes());
    EXPECT_EQ(e.offset(), 22 + 4);  // the event's delta-time byte
    EXPECT_TRUE(contains(e.problem(), "meta event")) << e.what();
  }
  {  // a channel message cut off by the chunk end
    TrackBytes u;
    u.on(0, 0, 60, 64).raw({0x00, 0x80, 60});
    const LoadError e = read_err(SmfBytes(0, 1, 96).track(u).bytes());
    EXPECT_EQ(e.offset(), 26);
    EXPECT_TRUE(contains(e.problem(), "truncated channel message")) << e.what();
  }
  {  // variable-length quantity of 5 bytes
    TrackBytes u;
    u.raw({0x81, 0x80, 0x80, 0x80, 0x00, 0x90, 60, 64});
    const LoadError e = read_err(SmfBytes(0, 1, 96).track(u).bytes());
    EXPECT_EQ(e.offset(), 22);
    EXPECT_TRUE(contains(e.problem(), "longer than 4 bytes")) << e.what();
  }
  {  // data byte with no running status, and a status byte not allowed in files
    TrackBytes u;
    u.raw({0x00, 0x3C, 0x40});
    EXPECT_TRUE(
        contains(read_err(SmfBytes(0, 1, 96).track(u).bytes()).problem(), "running status"));
    TrackBytes v;
    v.raw({0x00, 0xF4, 0x00});
    const LoadError e = read_err(SmfBytes(0, 1, 96).track(v).bytes());
    EXPECT_EQ(e.offset(), 22);
    EXPECT_TRUE(contains(e.problem(), "0xF4")) << e.what();
  }
  {  // bad header fields
    EXPECT_TRUE(contains(read_err(SmfBytes(3, 1, 96).track(t).bytes()).problem(), "format 3"));
    EXPECT_TRUE(contains(read_err(SmfBytes(0, 1, 0).track(t).bytes()).problem(), "division"));
  }
}

TEST(MidiReader, TrackWithoutEndOfTrackIsTolerated) {
  TrackBytes t;
  t.on(0, 0, 60, 64).on(100, 0, 64, 64).off(100, 0, 60);  // no EOT; 64 never ends
  TrackBytes u;
  u.on(0, 1, 50, 64).off(50, 1, 50).eot();
  const Song s = read_ok(SmfBytes(1, 2, 96).track(t).track(u).bytes());
  ASSERT_EQ(s.tracks.size(), 2u);
  EXPECT_EQ(s.tracks[0].end_tick, 200);
  ASSERT_EQ(s.tracks[0].notes.size(), 2u);
  expect_note(s.tracks[0].notes[0], 0, 60, 64, 0, 200);
  expect_note(s.tracks[0].notes[1], 0, 64, 64, 100, 200);  // unended: closes at track end
  ASSERT_EQ(s.tracks[1].notes.size(), 1u);
  ASSERT_FALSE(s.warnings.empty());
  EXPECT_TRUE(contains(s.warnings[0], "End-of-Track")) << s.warnings[0];
}

TEST(MidiReader, UnendedNotesCloseAtEndOfTrackAndZeroLengthNotesAreDropped) {
  TrackBytes t;
  t.on(0, 0, 60, 64).on(10, 0, 61, 64).off(0, 0, 61).eot(90);
  const Song s = read_ok(SmfBytes(0, 1, 96).track(t).bytes());
  EXPECT_EQ(s.tracks[0].end_tick, 100);
  ASSERT_EQ(s.note_count(), 1u);  // 61 starts and ends at tick 10
  expect_note(s.tracks[0].notes[0], 0, 60, 64, 0, 100);
}

TEST(MidiReader, ZeroLengthTrack) {
  TrackBytes empty;
  TrackBytes t;
  t.on(0, 0, 60, 64).off(10, 0, 60).eot();
  const Song s = read_ok(SmfBytes(1, 3, 96).track(empty).track(t).track(empty).bytes());
  ASSERT_EQ(s.tracks.size(), 3u);
  EXPECT_TRUE(s.tracks[0].notes.empty());
  EXPECT_EQ(s.tracks[0].end_tick, 0);
  EXPECT_EQ(s.tracks[1].notes.size(), 1u);
  EXPECT_EQ(s.end_tick, 10);
}

TEST(MidiReader, SysExAndF7ContinuationPackets) {
  TrackBytes t;
  t.on(0, 0, 60, 64)
      .sysex(0, 0xF0, {0x43, 0x12, 0x00, 0x07})  // first packet, no F7: continues
      .sysex(5, 0xF7, {0x01, 0x90, 0x3C, 0x7F})  // continuation holding status-like bytes
      .sysex(5, 0xF7, {0x02, 0xF7})              // last packet
      .sysex(0, 0xF7, {0x90, 0x3E, 0x40})        // escape: raw bytes, not a note
      .off(10, 0, 60)
      .eot();
  const Song s = read_ok(SmfBytes(0, 1, 96).track(t).bytes());
  ASSERT_EQ(s.note_count(), 1u);
  expect_note(s.tracks[0].notes[0], 0, 60, 64, 0, 20);
}

TEST(MidiReader, RunningStatusSurvivesSysExAndMetaEvents) {
  // Per the SMF spec SysEx and meta events cancel running status; many writers rely on it
  // surviving, and the bytes are unambiguous, so melodl keeps it (docs/midi.md).
  TrackBytes t;
  t.on(0, 0, 60, 64)
      .sysex(0, 0xF0, {0x7E, 0x7F, 0x09, 0x01, 0xF7})
      .ev(10, {62, 65})  // running status right after a SysEx
      .text(0, 0x01, "marker")
      .ev(10, {64, 66})  // running status across a meta event
      .ev(10, {60, 0})
      .ev(0, {62, 0})
      .ev(0, {64, 0})
      .eot();
  const Song s = read_ok(SmfBytes(0, 1, 96).track(t).bytes());
  ASSERT_EQ(s.note_count(), 3u);
  expect_note(s.tracks[0].notes[0], 0, 60, 64, 0, 30);
  expect_note(s.tracks[0].notes[1], 0, 62, 65, 10, 30);
  expect_note(s.tracks[0].notes[2], 0, 64, 66, 20, 30);
  ASSERT_EQ(s.warnings.size(), 1u);  // reported once per file
  EXPECT_TRUE(contains(s.warnings[0], "running status continued")) << s.warnings[0];
}

TEST(MidiReader, LongMetaEventsDoNotLoseNotes) {
  for (std::size_t len : {127u, 128u, 129u, 300u, 20000u}) {
    TrackBytes t;
    t.on(0, 0, 60, 64).text(0, 0x01, std::string(len, 'x')).ev(10, {60, 0});
    t.text(0, 0x03, std::string(len, 'n')).on(0, 0, 62, 64).off(10, 0, 62).eot();
    const Song s = read_ok(SmfBytes(0, 1, 96).track(t).bytes());
    ASSERT_EQ(s.note_count(), 2u) << "meta length " << len;
    expect_note(s.tracks[0].notes[0], 0, 60, 64, 0, 10);
    expect_note(s.tracks[0].notes[1], 0, 62, 64, 10, 20);
    EXPECT_EQ(s.tracks[0].name.size(), len);
  }
}

TEST(MidiReader, TickTotalsPast2To31) {
  TrackBytes t;
  for (int i = 0; i < 10; ++i) t.text(0x0FFFFFFF, 0x01, "x");  // 10 x (2^28 - 1) ticks
  t.on(0, 0, 60, 64).off(0x0FFFFFFF, 0, 60).eot();
  const Song s = read_ok(SmfBytes(0, 1, 480).track(t).bytes());
  const std::int64_t start = 10 * std::int64_t{0x0FFFFFFF};
  ASSERT_GT(start, std::int64_t{1} << 31);
  ASSERT_EQ(s.note_count(), 1u);
  expect_note(s.tracks[0].notes[0], 0, 60, 64, start, start + 0x0FFFFFFF);
  EXPECT_DOUBLE_EQ(s.tracks[0].notes[0].start_s, static_cast<double>(start) / 960.0);
  EXPECT_EQ(s.end_tick, start + 0x0FFFFFFF);
}

TEST(MidiReader, DeclaredTrackCountLargerThanChunksPresent) {
  TrackBytes t;
  t.on(0, 0, 60, 64).off(10, 0, 60).eot();
  const Song s = read_ok(SmfBytes(1, 5, 96).track(t).track(t).bytes());
  EXPECT_EQ(s.tracks.size(), 2u);
  EXPECT_EQ(s.note_count(), 2u);
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_TRUE(contains(s.warnings[0], "declares 5 tracks")) << s.warnings[0];
}

TEST(MidiReader, UnknownChunksSkippedAndTrailingGarbageTolerated) {
  TrackBytes t;
  t.on(0, 0, 60, 64).off(10, 0, 60).eot();
  const Song s = read_ok(SmfBytes(1, 2, 96)
                             .chunk("XFIH", {1, 2, 3})
                             .track(t)
                             .chunk("MTrk", Bytes{0x00, 0x90, 0x3C, 0x40, 0x10, 0x3C, 0x00})
                             .raw({0xDE, 0xAD, 0xBE, 0xEF, 0x00})
                             .bytes());
  ASSERT_EQ(s.tracks.size(), 2u);
  EXPECT_EQ(s.note_count(), 2u);
  EXPECT_EQ(s.tracks[1].notes[0].end_tick, 16);
  EXPECT_FALSE(s.warnings.empty());
}

TEST(MidiReader, RmidWrappedFile) {
  TrackBytes t;
  t.tempo(0, 400000).on(0, 0, 60, 64).off(96, 0, 60).eot();
  const Bytes smf = SmfBytes(0, 1, 96).track(t).bytes();
  const Song plain = read_ok(smf);
  const Song wrapped = read_ok(test::rmid_wrap(smf));
  ASSERT_EQ(wrapped.note_count(), 1u);
  expect_note(wrapped.tracks[0].notes[0], 0, 60, 64, 0, 96);
  EXPECT_DOUBLE_EQ(wrapped.tracks[0].notes[0].end_s, plain.tracks[0].notes[0].end_s);
  EXPECT_DOUBLE_EQ(wrapped.duration_s, 0.4);
  // Errors inside the wrapped SMF report offsets in the whole file.
  const Bytes bad = SmfBytes(0, 1, 96).chunk("MTrk", t.bytes(), 500).bytes();
  const Bytes wrapped_bad = test::rmid_wrap(bad);
  const LoadError e = read_err(wrapped_bad);
  EXPECT_EQ(e.offset(), 12 + 8 + 6 + 8 + 14);  // RIFF header, LIST chunk, 'data' header, MThd
  // RIFF without a 'data' chunk, and a RIFF file that is not RMID.
  Bytes no_data = {'R', 'I', 'F', 'F', 4, 0, 0, 0, 'R', 'M', 'I', 'D'};
  EXPECT_TRUE(contains(read_err(no_data).problem(), "no 'data' chunk"));
  Bytes wave = {'R', 'I', 'F', 'F', 4, 0, 0, 0, 'W', 'A', 'V', 'E'};
  EXPECT_TRUE(contains(read_err(wave).problem(), "not RMID"));
}

TEST(MidiReader, Format2TracksAreLaidEndToEnd) {
  TrackBytes a;
  a.on(0, 0, 60, 64).off(480, 0, 60).eot(20);  // ends at 500
  TrackBytes b;
  b.tempo(0, 250000).on(0, 0, 62, 64).off(480, 0, 62).eot();
  const Song s = read_ok(SmfBytes(2, 2, 480).track(a).track(b).bytes());
  EXPECT_EQ(s.format, 2);
  ASSERT_EQ(s.tracks.size(), 2u);
  expect_note(s.tracks[0].notes[0], 0, 60, 64, 0, 480);
  expect_note(s.tracks[1].notes[0], 0, 62, 64, 500, 980);
  EXPECT_EQ(s.end_tick, 980);
  EXPECT_DOUBLE_EQ(s.tracks[1].notes[0].start_s, 500.0 / 960.0);
  EXPECT_DOUBLE_EQ(s.tracks[1].notes[0].end_s, 500.0 / 960.0 + 0.25);
}

TEST(MidiReader, DataBytesAboveOneTwentySevenAreClippedWithAWarning) {
  TrackBytes t;
  t.on(0, 0, 60, 64).raw({0x00, 0x90, 0x40}).raw({0x9A}).off(10, 0, 60).off(0, 0, 64).eot();
  // 0x90 0x40 0x9A: velocity byte 0x9A has the high bit set; read as 127.
  const Song s = read_ok(SmfBytes(0, 1, 96).track(t).bytes());
  ASSERT_EQ(s.note_count(), 2u);
  EXPECT_EQ(s.tracks[0].notes[1].velocity, 127);
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_TRUE(contains(s.warnings[0], "0x9A")) << s.warnings[0];
}

TEST(MidiReader, LimitsGiveClearErrors) {
  TrackBytes t;
  for (int i = 0; i < 20; ++i) t.on(0, 0, 60 + i, 64).off(10, 0, 60 + i);
  t.eot();
  const Bytes file = SmfBytes(1, 3, 96).track(t).track(t).track(t).bytes();
  EXPECT_EQ(read_ok(file).note_count(), 60u);
  ReadLimits events;
  events.max_events = 50;
  EXPECT_TRUE(contains(read_err(file, events).problem(), "more than 50 events"));
  ReadLimits notes;
  notes.max_notes = 59;
  EXPECT_TRUE(contains(read_err(file, notes).problem(), "more than 59 notes"));
  ReadLimits tracks;
  tracks.max_tracks = 2;
  const LoadError e = read_err(file, tracks);
  EXPECT_EQ(e.offset(), 10);
  EXPECT_TRUE(contains(e.problem(), "declares 3 tracks, over the limit of 2")) << e.what();
  ReadLimits bytes;
  bytes.max_file_bytes = file.size() - 1;
  EXPECT_TRUE(contains(read_err(file, bytes).problem(), "over the limit"));
}

TEST(MidiReader, ReadFileNamesThePath) {
  const auto dir = std::filesystem::temp_directory_path() / "melodl_reader_test";
  std::filesystem::create_directories(dir);
  const auto good = dir / "good.mid";
  TrackBytes t;
  t.on(0, 0, 60, 64).off(10, 0, 60).eot();
  const Bytes b = SmfBytes(0, 1, 96).track(t).bytes();
  {
    std::ofstream out(good, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  auto r = read_file(good);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->source, good.string());
  EXPECT_EQ(r->note_count(), 1u);
  ReadLimits small;
  small.max_file_bytes = 10;
  auto big = read_file(good, small);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().file(), good.string());
  auto missing = read_file(dir / "missing.mid");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().offset(), -1);
  EXPECT_TRUE(contains(missing.error().what(), "missing.mid: cannot open"))
      << missing.error().what();
  auto directory = read_file(dir);
  ASSERT_FALSE(directory);
  EXPECT_TRUE(contains(directory.error().what(), "read error")) << directory.error().what();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace melodl::midi
