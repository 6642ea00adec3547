// tests/encode/codec_test.cpp: the native codec (exact strings, random round trips,
// garbage and out-of-place symbols, encode errors) and the MELODL4J v1 compatibility
// codec on hand-written v1 strings, including the duplicate-'z' and invalid-char quirks.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <stdexcept>
#include <string>

#include "base/error.h"
#include "encode/codec.h"
#include "encode/grammar.h"
#include "test_util.h"

namespace melodl::encode {
namespace {

Step n(int interval, int duration) { return Step{false, interval, duration}; }
Step r(int duration) { return Step{true, 0, duration}; }

// A random well-formed melody: a first note, then notes with optional (possibly repeated)
// rests before them; intervals in [lo_iv, 12], durations 0..31 except `avoid`.
SymbolMelody random_melody(std::mt19937& rng, int lo_iv = -12, int avoid = -1) {
  std::uniform_int_distribution<int> len(1, 40), iv(lo_iv, kMaxInterval),
      dur(0, kDurationLevels - 1), coin(0, 5);
  auto d = [&] {
    int k;
    do k = dur(rng);
    while (k == avoid);
    return k;
  };
  SymbolMelody m;
  m.steps.push_back(n(0, d()));
  const int notes = len(rng);
  for (int i = 1; i < notes; ++i) {
    while (coin(rng) == 0) m.steps.push_back(r(d()));
    m.steps.push_back(n(iv(rng), d()));
  }
  return m;
}

// ---- native ---------------------------------------------------------------------

TEST(NativeCodec, ExactString) {
  const SymbolMelody m{{n(0, 8), n(2, 8), r(4), n(-3, 16), n(12, 31), n(-12, 0)}};
  // '<', first duration '8', then +2 'O' 8, rest '_' 4, -3 'J' 16 'g', +12 'Y' 31 'v',
  // -12 'A' 0 '0', '>'.
  EXPECT_EQ(native_codec().encode(m), "<8O8_4JgYvA0>");
  const DecodeResult d = native_codec().decode("<8O8_4JgYvA0>");
  EXPECT_EQ(d.melody, m);
  EXPECT_EQ(d.skipped, 0u);
}

TEST(NativeCodec, Alphabet) {
  const auto a = native_codec().alphabet();
  ASSERT_EQ(a.size(), 60u);
  EXPECT_EQ(std::set<char>(a.begin(), a.end()).size(), 60u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_GT(a[i], ' ') << i;  // printable, no space
    EXPECT_LT(a[i], 127) << i;
    EXPECT_NE(a[i], '/');
    EXPECT_NE(a[i], '#');
    EXPECT_EQ(native::symbol_index(a[i]), static_cast<int>(i));
  }
  EXPECT_EQ(a[native::interval_symbol(0)], 'M');
  EXPECT_EQ(a[native::duration_symbol(8)], '8');
  EXPECT_EQ(a[native::kRest], '_');
  EXPECT_EQ(a[native::kStart], '<');
  EXPECT_EQ(a[native::kEnd], '>');
  EXPECT_EQ(native::symbol_index('x'), -1);
  EXPECT_EQ(native::symbol_index('Z'), -1);
  EXPECT_THROW(native::symbol_char(60), melodl::InvalidArgument);
}

TEST(NativeCodec, RandomRoundTripIsIdentity) {
  std::mt19937 rng(20261125);
  for (int t = 0; t < 2000; ++t) {
    const SymbolMelody m = random_melody(rng);
    const std::string line = native_codec().encode(m);
    const DecodeResult d = native_codec().decode(line);
    ASSERT_EQ(d.melody, m) << line;
    ASSERT_EQ(d.skipped, 0u) << line;
    ASSERT_EQ(d.substituted, 0u);
  }
}

TEST(NativeCodec, GarbageIsSkippedAndCounted) {
  std::mt19937 rng(7);
  const std::string garbage = " \txyzZ#/!@\n\r\x01\x7f\xff";
  for (int t = 0; t < 500; ++t) {
    const SymbolMelody m = random_melody(rng);
    std::string line = native_codec().encode(m);
    std::uniform_int_distribution<int> count(0, 10);
    const int k = count(rng);
    for (int i = 0; i < k; ++i) {
      std::uniform_int_distribution<std::size_t> pos(0, line.size()), which(0, garbage.size() - 1);
      line.insert(line.begin() + static_cast<std::ptrdiff_t>(pos(rng)), garbage[which(rng)]);
    }
    const DecodeResult d = native_codec().decode(line);
    ASSERT_EQ(d.melody, m) << line;
    ASSERT_EQ(d.skipped, static_cast<std::size_t>(k)) << line;
  }
}

TEST(NativeCodec, OutOfPlaceSymbols) {
  const SymbolMelody two{{n(0, 8), n(2, 8)}};
  auto dec = [](std::string_view s) { return native_codec().decode(s); };
  // A second duration after a note, a '<' inside, an interval right after '<'.
  EXPECT_EQ(dec("<88O8>").melody, two);
  EXPECT_EQ(dec("<88O8>").skipped, 1u);
  EXPECT_EQ(dec("<8<O8>").skipped, 1u);
  EXPECT_EQ(dec("<O8O8>").melody, two);
  EXPECT_EQ(dec("<O8O8>").skipped, 1u);
  // Markers are optional.
  EXPECT_EQ(dec("8O8").melody, two);
  EXPECT_EQ(dec("8O8").skipped, 0u);
  EXPECT_EQ(dec("<8O8").skipped, 0u);
  // A rest cannot end a melody: '>' after a rest is out of place, then the unfinished
  // rest is dropped (its 2 symbols counted).
  const DecodeResult tr = dec("<8O8_4>");
  EXPECT_EQ(tr.melody, two);
  EXPECT_EQ(tr.skipped, 3u);
  // Truncated step at the end of the line: '_', '4', 'J' dropped.
  EXPECT_EQ(dec("<8O8_4J").melody, two);
  EXPECT_EQ(dec("<8O8_4J").skipped, 3u);
  // Everything after the end marker is skipped.
  EXPECT_EQ(dec("<8O8>O8").melody, two);
  EXPECT_EQ(dec("<8O8>O8").skipped, 2u);
  // Nothing decodable.
  EXPECT_TRUE(dec("").melody.steps.empty());
  EXPECT_EQ(dec("").skipped, 0u);
  EXPECT_TRUE(dec("<>").melody.steps.empty());
  EXPECT_EQ(dec("<>").skipped, 2u);
}

TEST(NativeCodec, EncodeFoldsIntervalsAndRejectsMalformed) {
  EXPECT_EQ(native_codec().encode(SymbolMelody{{n(0, 8), n(14, 8), n(-25, 8)}}), "<8O8L8>");
  EXPECT_THROW(native_codec().encode(SymbolMelody{}), melodl::InvalidArgument);
  EXPECT_THROW(native_codec().encode(SymbolMelody{{r(2), n(0, 8)}}), melodl::InvalidArgument);
  EXPECT_THROW(native_codec().encode(SymbolMelody{{n(0, 8), r(2)}}), melodl::InvalidArgument);
  EXPECT_THROW(native_codec().encode(SymbolMelody{{n(0, 32)}}), melodl::InvalidArgument);
  EXPECT_THROW(native_codec().encode(SymbolMelody{{n(0, -1)}}), melodl::InvalidArgument);
}

TEST(Codecs, ByName) {
  EXPECT_EQ(codec_by_name("native").name(), "native");
  EXPECT_EQ(codec_by_name("melodl4j-v1").name(), "melodl4j-v1");
  EXPECT_EQ(&codec_by_name("native"), &native_codec());
  EXPECT_THROW(codec_by_name("v1"), melodl::InvalidArgument);
}

// ---- MELODL4J v1 ------------------------------------------------------------------

const Codec& v1() { return melodl4j_v1_codec(); }

TEST(V1Codec, EncodeExact) {
  const SymbolMelody m{{n(0, 8), n(2, 8), r(4), n(-3, 16), n(0, 22), n(-13, 31), n(12, 0)}};
  // First duration, then (R dur)? (interval dur) tokens; 22 writes the second 'z'.
  EXPECT_EQ(v1().encode(m), "l2lRh#t0zDMcd");
  // Out-of-range intervals are folded by octaves (-13 is representable: 'D').
  EXPECT_EQ(v1().encode(SymbolMelody{{n(0, 8), n(14, 8), n(-14, 8), n(-25, 8)}}), "l2l@l!l");
  EXPECT_THROW(v1().encode(SymbolMelody{{n(0, 8), r(3)}}), melodl::InvalidArgument);
}

TEST(V1Codec, DecodeHandWritten) {
  const DecodeResult d = v1().decode("l2lRh#t0zDMcd");
  // The duplicate-'z' quirk: decoding finds the FIRST 'z', index 20 (not 22).
  const SymbolMelody want{{n(0, 8), n(2, 8), r(4), n(-3, 16), n(0, 20), n(-13, 31), n(12, 0)}};
  EXPECT_EQ(d.melody, want);
  EXPECT_EQ(d.skipped, 0u);
  EXPECT_EQ(d.substituted, 0u);
  // Every v1 duration char, in order; 'x' is not one.
  const std::string durs = "defghijklmnopqrstuvwzyzEFGHIJKLM";
  for (std::size_t k = 0; k < durs.size(); ++k) {
    const DecodeResult one = v1().decode(std::string(1, durs[k]));
    ASSERT_EQ(one.melody.steps.size(), 1u);
    EXPECT_EQ(one.melody.steps[0].duration, k == 22 ? 20 : static_cast<int>(k));
  }
}

TEST(V1Codec, InvalidCharsDecodeAsMinusOne) {
  // 'x' (missing from the duration table), 'N', ' ' and '~' are "pitch chars" with
  // unknown intervals: each moves the melody down a semitone.
  const DecodeResult d = v1().decode("lxlNl l~l");
  const SymbolMelody want{{n(0, 8), n(-1, 8), n(-1, 8), n(-1, 8), n(-1, 8)}};
  EXPECT_EQ(d.melody, want);
  EXPECT_EQ(d.substituted, 4u);
  EXPECT_EQ(d.skipped, 0u);
}

TEST(V1Codec, DecodeQuirks) {
  // A pitch char without a duration: v1 plays it as 4 units = index 3 under v1's
  // (k+1) playback, and examines the next char as a new token.
  DecodeResult d = v1().decode("l25l");
  EXPECT_EQ(d.melody, (SymbolMelody{{n(0, 8), n(2, 3), n(5, 8)}}));
  EXPECT_EQ(d.substituted, 1u);
  // 'R' not followed by a duration is skipped; the next char starts a token.
  d = v1().decode("lR2l");
  EXPECT_EQ(d.melody, (SymbolMelody{{n(0, 8), n(2, 8)}}));
  EXPECT_EQ(d.skipped, 1u);
  // A duration char where a token should start is skipped.
  d = v1().decode("ll2l");
  EXPECT_EQ(d.melody, (SymbolMelody{{n(0, 8), n(2, 8)}}));
  EXPECT_EQ(d.skipped, 1u);
  // The last char never starts a token (v1 loops while index < length - 1).
  d = v1().decode("l2ll");
  EXPECT_EQ(d.melody, (SymbolMelody{{n(0, 8), n(2, 8)}}));
  EXPECT_EQ(d.skipped, 1u);
  d = v1().decode("l2");
  EXPECT_EQ(d.melody, (SymbolMelody{{n(0, 8)}}));
  EXPECT_EQ(d.skipped, 1u);
  // No leading duration: the first token's note is the first note (its interval kept in
  // steps[0], which renderers ignore); a rest before it is dropped.
  d = v1().decode("Rh2l3l");
  EXPECT_EQ(d.melody, (SymbolMelody{{n(2, 8), n(3, 8)}}));
  EXPECT_EQ(d.skipped, 0u);
  // Trailing rests carry no sound and are dropped; consecutive rests are kept.
  d = v1().decode("l2lRhRiRj");
  EXPECT_EQ(d.melody, (SymbolMelody{{n(0, 8), n(2, 8)}}));
  d = v1().decode("lRhRi2l");
  EXPECT_EQ(d.melody, (SymbolMelody{{n(0, 8), r(4), r(5), n(2, 8)}}));
  EXPECT_TRUE(v1().decode("").melody.steps.empty());
}

TEST(V1Codec, AlphabetIsTheOriginal59EntryList) {
  const auto a = v1().alphabet();
  ASSERT_EQ(a.size(), 59u);
  EXPECT_EQ(std::string(a.begin(), a.end()),
            "0123456789abc!@#$%^&*(ABCDdefghijklmnopqrstuvwzyzEFGHIJKLMR");
  EXPECT_EQ(a[46], 'z');
  EXPECT_EQ(a[48], 'z');
  EXPECT_EQ(std::set<char>(a.begin(), a.end()).size(), 58u);
}

TEST(V1Codec, RandomRoundTrip) {
  std::mt19937 rng(99);
  for (int t = 0; t < 1000; ++t) {
    // v1 has interval -13 and no duration 22 that decodes back to 22.
    const SymbolMelody m = random_melody(rng, -13, 22);
    const DecodeResult d = v1().decode(v1().encode(m));
    ASSERT_EQ(d.melody, m);
    ASSERT_EQ(d.skipped, 0u);
  }
}

TEST(Codecs, NativeCarriesWhatV1Decodes) {
  // v1 -> native -> v1-decoded melody is lossless for v1's [-12, 12] intervals.
  const DecodeResult v = v1().decode("l2lRhRi#t0zcM");
  const DecodeResult nat = native_codec().decode(native_codec().encode(v.melody));
  EXPECT_EQ(nat.melody, v.melody);
}

}  // namespace
}  // namespace melodl::encode
