// tests/midi/recover_test.cpp: the reader's recover mode (ReadMode::recover), one test per
// policy of docs/midi.md "Recovery". Each damaged file is made here from a valid one
// (tests/midi/smf_builder.h): cut at every byte, a data byte above 127, each undefined status
// byte inserted, End-of-Track deleted, a wrong track count, a garbage prefix, RIFF wrappers,
// a missing header, chunk lengths past the end, invalid meta values. Strict mode must still
// refuse what it refused before; recover mode must give exactly the notes expected.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "midi/reader.h"
#include "tests/midi/smf_builder.h"

namespace melodl::midi {
namespace {

using test::Bytes;
using test::SmfBytes;
using test::TrackBytes;

ReadReport recover_ok(const Bytes& b, const ReadLimits& limits = {}) {
  auto r = read_bytes(b, "damaged.mid", ReadMode::recover, limits);
  if (!r) ADD_FAILURE() << "recover mode gave a LoadError: " << r.error().what();
  return r ? std::move(r).value() : ReadReport{};
}

bool strict_fails(const Bytes& b) { return !read_bytes(b, "damaged.mid").ok(); }

struct N {  // a note as (channel, key, velocity, start, end) for compact expectations
  int ch, key, vel;
  std::int64_t start, end;
  bool operator==(const N&) const = default;
};

std::vector<N> notes_of(const Track& t) {
  std::vector<N> out;
  for (const Note& n : t.notes)
    out.push_back({n.channel, n.pitch, n.velocity, n.start_tick, n.end_tick});
  return out;
}

std::string dump(const std::vector<N>& v) {
  std::ostringstream s;
  for (const N& n : v)
    s << "(" << n.ch << "," << n.key << "," << n.vel << "," << n.start << "," << n.end << ") ";
  return s.str();
}

#define EXPECT_NOTES(track, ...)                                                \
  do {                                                                          \
    const std::vector<N> want_ = __VA_ARGS__;                                   \
    const std::vector<N> got_ = notes_of(track);                                \
    EXPECT_EQ(got_, want_) << "got " << dump(got_) << "\nwant " << dump(want_); \
  } while (0)

bool has(const ReadReport& r, RepairKind k) { return r.repairs.count(k) > 0; }

const Repair* first(const ReadReport& r, RepairKind k) {
  for (const Repair& x : r.repairs.items)
    if (x.kind == k) return &x;
  return nullptr;
}

// Three notes on key 60, 62, 64, one after the other, in track 2 of a format-1 file.
TrackBytes melody() {
  TrackBytes t;
  t.on(0, 0, 60, 100).off(480, 0, 60).on(0, 0, 62, 90).off(480, 0, 62).on(0, 0, 64, 80);
  t.off(480, 0, 64).eot();
  return t;
}
TrackBytes conductor() {
  TrackBytes c;
  c.tempo(0, 500000).meta(0, 0x58, {4, 2, 24, 8}).eot();
  return c;
}
const std::vector<N> kMelody = {
    {0, 60, 100, 0, 480}, {0, 62, 90, 480, 960}, {0, 64, 80, 960, 1440}};

Bytes valid_file() { return SmfBytes(1, 2, 480).track(conductor()).track(melody()).bytes(); }

TEST(MidiRecover, ValidFileReadsTheSameInBothModesWithoutRepairs) {
  const Bytes b = valid_file();
  auto strict = read_bytes(b, "v.mid", ReadMode::strict);
  const ReadReport rec = recover_ok(b);
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(strict->repairs.empty());
  EXPECT_TRUE(rec.repairs.empty());
  ASSERT_EQ(rec.song.tracks.size(), 2u);
  EXPECT_NOTES(rec.song.tracks[1], kMelody);
  EXPECT_EQ(notes_of(strict->song.tracks[1]), kMelody);
  EXPECT_TRUE(rec.song.warnings.empty());
  // The old API is strict mode.
  auto old = read_bytes(b, "v.mid");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(notes_of(old->tracks[1]), kMelody);
}

// Cut at every byte: recover mode keeps every complete event and closes sounding notes at the
// last known time; the expected notes are written out for each region of the file.
TEST(MidiRecover, TruncatedAtEveryByte) {
  const Bytes full = valid_file();
  const std::size_t body = 14 + 8 + conductor().bytes().size() + 8;  // track 2's first event
  // Track 2's body: on60 [0,4), off60 [4,9) (delta 480 = 2 bytes), on62 [9,13), off62 [13,18),
  // on64 [18,22), off64 [22,27), End-of-Track [27,31). A note-on whose note-off is cut ends at
  // the last known time: the cut event's delta once its 2 bytes are there, else the note-on's
  // own tick (zero length: dropped).
  for (std::size_t len = 0; len < full.size(); ++len) {
    SCOPED_TRACE("cut at " + std::to_string(len));
    const Bytes b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    auto r = read_bytes(b, "cut.mid", ReadMode::recover);
    if (len < 14) {  // no complete header: nothing to read
      EXPECT_FALSE(r.ok());
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.error().what();
    const Song& s = r->song;
    EXPECT_FALSE(r->repairs.empty());
    if (len < body) {  // cut in the conductor track or the second chunk header
      EXPECT_LE(s.tracks.size(), 1u);
      EXPECT_EQ(s.note_count(), 0u);
      continue;
    }
    ASSERT_EQ(s.tracks.size(), 2u);
    const std::size_t in = len - body;
    std::vector<N> want;
    if (in >= 6) want.push_back(kMelody[0]);
    if (in >= 15) want.push_back(kMelody[1]);
    if (in >= 24) want.push_back(kMelody[2]);
    EXPECT_NOTES(s.tracks[1], want);
    EXPECT_EQ(r->repairs.count(RepairKind::chunk_past_end), 1u);
    EXPECT_EQ(s.tracks[1].end_tick, in < 6 ? 0 : in < 15 ? 480 : in < 24 ? 960 : 1440);
  }
}

TEST(MidiRecover, TruncatedEventKeepsEverythingBeforeAndReportsIt) {
  TrackBytes t;
  t.on(0, 0, 60, 100).on(0, 0, 67, 100).off(240, 0, 60).raw({0x81, 0x70, 0x80, 67});
  // The last event (delta 240, note-off 67) is cut inside its data bytes.
  const Bytes b = SmfBytes(0, 1, 480).track(t).bytes();
  EXPECT_TRUE(strict_fails(b));
  const ReadReport r = recover_ok(b);
  ASSERT_EQ(r.song.tracks.size(), 1u);
  EXPECT_NOTES(r.song.tracks[0], {{0, 60, 100, 0, 240}, {0, 67, 100, 0, 480}});
  EXPECT_EQ(r.song.tracks[0].end_tick, 480);
  const Repair* x = first(r, RepairKind::truncated);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->offset, 22 + 13);
  EXPECT_EQ(x->track, 0);
  EXPECT_EQ(x->tick, 480);
  EXPECT_EQ(x->bytes_dropped, 4u);
  EXPECT_EQ(x->notes_closed, 1u);
  EXPECT_NE(x->detail.find("kept"), std::string::npos) << x->detail;
  EXPECT_FALSE(has(r, RepairKind::missing_end_of_track));
  EXPECT_FALSE(r.song.warnings.empty());
}

TEST(MidiRecover, VlqLongerThanFourBytesEndsTheTrack) {
  TrackBytes t;
  t.on(0, 0, 60, 100).off(10, 0, 60).raw({0x81, 0x80, 0x80, 0x80, 0x00, 0x90, 62, 64});
  const Bytes b = SmfBytes(0, 1, 96).track(t).bytes();
  EXPECT_TRUE(strict_fails(b));
  const ReadReport r = recover_ok(b);
  EXPECT_NOTES(r.song.tracks[0], {{0, 60, 100, 0, 10}});
  EXPECT_TRUE(has(r, RepairKind::long_vlq));
  EXPECT_EQ(r.song.tracks[0].end_tick, 10);
}

TEST(MidiRecover, DataByteAboveOneTwentySevenIsClippedInBothModes) {
  Bytes b = valid_file();
  // The velocity byte of the first note-on of track 2 (header 14, conductor, MTrk header 8,
  // delta 1, status 1, key 1).
  const std::size_t at = 14 + 8 + conductor().bytes().size() + 8 + 3;
  ASSERT_EQ(b[at], 100);
  b[at] = 0xE4;
  for (ReadMode mode : {ReadMode::strict, ReadMode::recover}) {
    auto r = read_bytes(b, "clip.mid", mode);
    ASSERT_TRUE(r.ok());
    std::vector<N> want = kMelody;
    want[0].vel = 127;
    EXPECT_EQ(notes_of(r->song.tracks[1]), want);
    EXPECT_EQ(r->repairs.count(RepairKind::data_byte_clipped), 1u);
    EXPECT_EQ(r->repairs.items.at(0).offset, static_cast<std::int64_t>(at));
  }
}

// Each undefined status byte inserted as an event of its own between two notes: recover mode
// skips it and reads every note; strict mode refuses.
TEST(MidiRecover, EachUndefinedStatusByteInsertedIsSkipped) {
  for (int s = 0xF1; s <= 0xFE; ++s) {
    if (s == 0xF7) continue;  // F7 is a SysEx escape packet, valid in files
    SCOPED_TRACE("status " + std::to_string(s));
    TrackBytes t;
    t.on(0, 0, 60, 100).off(480, 0, 60).ev(0, {static_cast<std::uint8_t>(s)});
    t.on(0, 0, 62, 90).off(480, 0, 62).eot();
    const Bytes b = SmfBytes(0, 1, 480).track(t).bytes();
    EXPECT_TRUE(strict_fails(b));
    const ReadReport r = recover_ok(b);
    EXPECT_NOTES(r.song.tracks[0], {{0, 60, 100, 0, 480}, {0, 62, 90, 480, 960}});
    ASSERT_EQ(r.repairs.count(RepairKind::undefined_status), 1u);
    const Repair* x = first(r, RepairKind::undefined_status);
    EXPECT_EQ(x->offset, 22 + 4 + 5 + 1);
    EXPECT_EQ(x->bytes_dropped, 1u);
    EXPECT_EQ(x->notes_closed, 0u);
  }
}

// System common messages with their data bytes (F1 xx, F2 xx yy, F3 xx) are skipped whole.
TEST(MidiRecover, SystemCommonMessagesWithDataBytesAreSkippedWhole) {
  TrackBytes t;
  t.on(0, 0, 60, 100).ev(0, {0xF2, 0x10, 0x20}).ev(0, {0xF1, 0x05}).off(480, 0, 60).eot();
  const ReadReport r = recover_ok(SmfBytes(0, 1, 480).track(t).bytes());
  EXPECT_NOTES(r.song.tracks[0], {{0, 60, 100, 0, 480}});
  EXPECT_EQ(r.repairs.count(RepairKind::undefined_status), 2u);
  EXPECT_EQ(r.repairs.items[0].notes_closed, 0u);
}

// An undefined status byte in place of a note-off's status: the broken event is dropped
// (never read as something else), the note that was sounding ends at the defect's tick, and
// reading resumes at the next event.
TEST(MidiRecover, UndefinedStatusReplacingAStatusResynchronises) {
  for (std::uint8_t s : {0xF4, 0xF5, 0xF9, 0xFD}) {
    TrackBytes t;
    t.on(0, 0, 60, 100).on(0, 0, 72, 100).raw({0x83, 0x60, s, 60, 64});  // delta 480, "off 60"
    t.off(0, 0, 72).on(480, 0, 62, 90).off(480, 0, 62).eot();
    const Bytes b = SmfBytes(0, 1, 480).track(t).bytes();
    EXPECT_TRUE(strict_fails(b));
    const ReadReport r = recover_ok(b);
    EXPECT_NOTES(r.song.tracks[0],
                 {{0, 60, 100, 0, 480}, {0, 72, 100, 0, 480}, {0, 62, 90, 960, 1440}});
    const Repair* x = first(r, RepairKind::undefined_status);
    ASSERT_NE(x, nullptr);
    EXPECT_EQ(x->tick, 480);
    EXPECT_EQ(x->bytes_dropped, 3u);  // the status byte and the two data bytes after it
    EXPECT_EQ(x->notes_closed, 2u);
  }
}

TEST(MidiRecover, RunningStatusWithNoPreviousStatusIsSkipped) {
  TrackBytes t;
  t.raw({0x00, 60, 100, 0x00, 61, 100}).on(0, 0, 62, 90).off(480, 0, 62).eot();
  const Bytes b = SmfBytes(0, 1, 480).track(t).bytes();
  EXPECT_TRUE(strict_fails(b));
  const ReadReport r = recover_ok(b);
  EXPECT_NOTES(r.song.tracks[0], {{0, 62, 90, 0, 480}});  // the status-less notes are dropped
  const Repair* x = first(r, RepairKind::no_running_status);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->offset, 23);
  EXPECT_EQ(x->bytes_dropped, 5u);  // 3C 64 00 3D 64
}

TEST(MidiRecover, MissingEndOfTrackIsToleratedInBothModes) {
  TrackBytes t;
  t.on(0, 0, 60, 100).off(480, 0, 60).on(0, 0, 62, 90).off(240, 0, 62);  // EOT deleted
  const Bytes b = SmfBytes(1, 2, 480).track(t).track(melody()).bytes();
  for (ReadMode mode : {ReadMode::strict, ReadMode::recover}) {
    auto r = read_bytes(b, "noeot.mid", mode);
    ASSERT_TRUE(r.ok());
    EXPECT_NOTES(r->song.tracks[0], {{0, 60, 100, 0, 480}, {0, 62, 90, 480, 720}});
    EXPECT_NOTES(r->song.tracks[1], kMelody);
    EXPECT_EQ(r->repairs.count(RepairKind::missing_end_of_track), 1u);
    EXPECT_EQ(r->repairs.total, 1u);
  }
}

TEST(MidiRecover, HeaderTrackCountDifferentFromTheChunksPresent) {
  {  // declares 1, holds 2: strict reads 1 (the rest is trailing bytes), recover reads both
    const Bytes b = SmfBytes(1, 1, 480).track(conductor()).track(melody()).bytes();
    auto strict = read_bytes(b, "count.mid", ReadMode::strict);
    ASSERT_TRUE(strict.ok());
    EXPECT_EQ(strict->song.tracks.size(), 1u);
    const ReadReport r = recover_ok(b);
    ASSERT_EQ(r.song.tracks.size(), 2u);
    EXPECT_NOTES(r.song.tracks[1], kMelody);
    EXPECT_EQ(r.repairs.count(RepairKind::track_count), 1u);
    EXPECT_FALSE(has(r, RepairKind::trailing_bytes));
  }
  {  // declares 5, holds 2: both modes read the 2
    const Bytes b = SmfBytes(1, 5, 480).track(conductor()).track(melody()).bytes();
    for (ReadMode mode : {ReadMode::strict, ReadMode::recover}) {
      auto r = read_bytes(b, "count.mid", mode);
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r->song.tracks.size(), 2u);
      EXPECT_NOTES(r->song.tracks[1], kMelody);
      EXPECT_EQ(r->repairs.count(RepairKind::track_count), 1u);
    }
  }
}

TEST(MidiRecover, GarbagePrefixBeforeTheHeaderIsSkipped) {
  const std::string html = "<html><body>404 not found</body></html>\n";
  Bytes b(html.begin(), html.end());
  const Bytes v = valid_file();
  b.insert(b.end(), v.begin(), v.end());
  EXPECT_TRUE(strict_fails(b));
  const ReadReport r = recover_ok(b);
  ASSERT_EQ(r.song.tracks.size(), 2u);
  EXPECT_NOTES(r.song.tracks[1], kMelody);
  const Repair* x = first(r, RepairKind::leading_garbage);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->offset, 0);
  EXPECT_EQ(x->bytes_dropped, html.size());
  EXPECT_EQ(r.repairs.total, 1u);
}

TEST(MidiRecover, RiffWrappers) {
  const Bytes v = valid_file();
  {  // a good RMID: no repair in either mode
    const ReadReport r = recover_ok(test::rmid_wrap(v));
    EXPECT_NOTES(r.song.tracks[1], kMelody);
    EXPECT_TRUE(r.repairs.empty());
  }
  {  // RIFF of another form holding an SMF: strict refuses, recover finds MThd inside
    Bytes b = test::rmid_wrap(v);
    b[8] = 'W', b[9] = 'A', b[10] = 'V', b[11] = 'E';
    EXPECT_TRUE(strict_fails(b));
    const ReadReport r = recover_ok(b);
    EXPECT_NOTES(r.song.tracks[1], kMelody);
    EXPECT_TRUE(has(r, RepairKind::riff_wrapper));
  }
  {  // RMID whose 'data' chunk id is damaged: no 'data' chunk
    Bytes b = test::rmid_wrap(v);
    const std::size_t data_id = 12 + 8 + 6;  // after RIFF header and the padded LIST chunk
    ASSERT_EQ(b[data_id], 'd');
    b[data_id] = 'x';
    EXPECT_TRUE(strict_fails(b));
    const ReadReport r = recover_ok(b);
    EXPECT_NOTES(r.song.tracks[1], kMelody);
    EXPECT_TRUE(has(r, RepairKind::riff_wrapper));
  }
}

TEST(MidiRecover, MissingHeaderChunkTracksStillFound) {
  const Bytes v = valid_file();
  const Bytes b(v.begin() + 14, v.end());  // MThd chunk deleted
  EXPECT_TRUE(strict_fails(b));
  const ReadReport r = recover_ok(b);
  EXPECT_EQ(r.song.format, 1);
  EXPECT_EQ(r.song.division.ppq, 480);
  ASSERT_EQ(r.song.tracks.size(), 2u);
  EXPECT_NOTES(r.song.tracks[1], kMelody);
  EXPECT_TRUE(has(r, RepairKind::missing_header));
  EXPECT_FALSE(has(r, RepairKind::track_count));
  // Neither MThd nor MTrk: still a LoadError.
  const Bytes junk = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  auto e = read_bytes(junk, "junk.mid", ReadMode::recover);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().problem().find("no MThd header or MTrk chunk"), std::string::npos);
}

TEST(MidiRecover, ChunkLengthPastTheEndOfTheFile) {
  const Bytes b =
      SmfBytes(1, 2, 480).track(conductor()).chunk("MTrk", melody().bytes(), 0x00FFFFFF).bytes();
  EXPECT_TRUE(strict_fails(b));
  const ReadReport r = recover_ok(b);
  EXPECT_NOTES(r.song.tracks[1], kMelody);
  EXPECT_EQ(r.repairs.count(RepairKind::chunk_past_end), 1u);
  EXPECT_EQ(r.repairs.total, 1u);  // the track itself ends with its End-of-Track
}

TEST(MidiRecover, UnknownChunksAndGarbageBetweenChunks) {
  // A printable unknown chunk is skipped by length in both modes (the spec allows it).
  const Bytes ok =
      SmfBytes(1, 2, 480).track(conductor()).chunk("XFIH", {1, 2, 3}).track(melody()).bytes();
  for (ReadMode mode : {ReadMode::strict, ReadMode::recover}) {
    auto r = read_bytes(ok, "xf.mid", mode);
    ASSERT_TRUE(r.ok());
    EXPECT_NOTES(r->song.tracks[1], kMelody);
    EXPECT_TRUE(r->repairs.empty());
  }
  // Bytes that are no chunk: strict refuses, recover skips to the next MTrk.
  const Bytes bad = SmfBytes(1, 2, 480)
                        .track(conductor())
                        .raw({0x00, 0x01, 0x02, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0x10})
                        .track(melody())
                        .raw({0xDE, 0xAD})
                        .bytes();
  EXPECT_TRUE(strict_fails(bad));
  const ReadReport r = recover_ok(bad);
  ASSERT_EQ(r.song.tracks.size(), 2u);
  EXPECT_NOTES(r.song.tracks[1], kMelody);
  const Repair* x = first(r, RepairKind::garbage_skipped);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->bytes_dropped, 9u);
  EXPECT_EQ(r.repairs.count(RepairKind::trailing_bytes), 1u);
  EXPECT_FALSE(has(r, RepairKind::track_count));
}

TEST(MidiRecover, InvalidHeaderFieldsAreSnapped) {
  for (const auto& [format, division] :
       {std::pair{7, 480}, std::pair{1, 0}, std::pair{1, 0x8A05}}) {
    const Bytes b = SmfBytes(format, 2, static_cast<std::uint16_t>(division))
                        .track(conductor())
                        .track(melody())
                        .bytes();
    EXPECT_TRUE(strict_fails(b));
    const ReadReport r = recover_ok(b);
    EXPECT_EQ(r.song.format, format > 2 ? 1 : format);
    EXPECT_EQ(r.song.division.ppq, 480);
    EXPECT_NOTES(r.song.tracks[1], kMelody);
    EXPECT_EQ(r.repairs.count(RepairKind::bad_header), 1u);
  }
}

TEST(MidiRecover, InvalidMetaValuesAreIgnored) {
  TrackBytes c;
  c.tempo(0, 250000).tempo(480, 0);      // zero tempo at 480
  c.meta(0, 0x59, {0x09, 0x00});         // key signature: 9 sharps
  c.meta(0, 0x54, {0x60, 70, 0, 0, 0});  // SMPTE offset: minute 70
  c.meta(0, 0x58, {4, 9, 24, 8}).eot();  // time signature 4/2^9
  const Bytes b = SmfBytes(1, 2, 480).track(c).track(melody()).bytes();
  auto strict = read_bytes(b, "meta.mid", ReadMode::strict);
  ASSERT_TRUE(strict.ok());  // strict keeps the zero tempo, as it always did
  EXPECT_EQ(strict->song.tempo_map.back().us_per_quarter, 0u);
  const ReadReport r = recover_ok(b);
  ASSERT_EQ(r.song.tempo_map.size(), 1u);  // 250000 from 0; the zero tempo ignored
  EXPECT_EQ(r.song.tempo_map[0].us_per_quarter, 250000u);
  EXPECT_NOTES(r.song.tracks[1], kMelody);
  EXPECT_DOUBLE_EQ(r.song.tracks[1].notes[2].end_s, 0.75);
  EXPECT_EQ(r.repairs.count(RepairKind::invalid_meta), 4u);
  EXPECT_EQ(strict->repairs.count(RepairKind::invalid_meta), 3u);  // all but the zero tempo
  EXPECT_TRUE(r.song.time_signatures.empty());
}

TEST(MidiRecover, RepairsAreBoundedAndResynchronisingIsLinear) {
  // One note, then 1 MiB of undefined status bytes and data: every byte is a defect.
  TrackBytes t;
  t.on(0, 0, 60, 100).off(10, 0, 60);
  Bytes body = t.bytes();
  for (int i = 0; i < (1 << 19); ++i) body.insert(body.end(), {0x00, 0xF4});
  const Bytes b = SmfBytes(0, 1, 96).chunk("MTrk", body).bytes();
  const auto t0 = std::chrono::steady_clock::now();
  ReadLimits limits;
  limits.max_repairs = 100;
  const ReadReport r = recover_ok(b, limits);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 60.0);  // linear: 0.1-0.4 s (Release), 3.5 s (ASan -O1); quadratic: hours
  EXPECT_NOTES(r.song.tracks[0], {{0, 60, 100, 0, 10}});
  EXPECT_EQ(r.repairs.items.size(), 100u);
  EXPECT_EQ(r.repairs.count(RepairKind::undefined_status), std::size_t{1} << 19);
  EXPECT_LE(r.song.warnings.size(), 32u);
  // Data bytes with no status, 1 MiB of them: one repair, one scan.
  Bytes junk = {0x00};
  junk.insert(junk.end(), 1 << 20, 0x3C);
  const ReadReport j = recover_ok(SmfBytes(0, 1, 96).chunk("MTrk", junk).bytes());
  EXPECT_EQ(j.repairs.count(RepairKind::no_running_status), 1u);
  EXPECT_EQ(j.song.note_count(), 0u);
}

TEST(MidiRecover, LimitsAreStillErrors) {
  ReadLimits limits;
  limits.max_notes = 2;
  auto r = read_bytes(valid_file(), "limits.mid", ReadMode::recover, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().problem().find("more than 2 notes"), std::string::npos);
}

TEST(MidiRecover, RepairKindNamesAreStableAndDistinct) {
  EXPECT_EQ(repair_kind_name(RepairKind::truncated), "truncated");
  EXPECT_EQ(repair_kind_name(RepairKind::undefined_status), "undefined_status");
  EXPECT_EQ(repair_kind_name(RepairKind::invalid_meta), "invalid_meta");
  for (std::size_t i = 0; i < kRepairKindCount; ++i)
    for (std::size_t j = i + 1; j < kRepairKindCount; ++j)
      EXPECT_NE(repair_kind_name(static_cast<RepairKind>(i)),
                repair_kind_name(static_cast<RepairKind>(j)));
}

}  // namespace
}  // namespace melodl::midi
