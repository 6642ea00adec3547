// tests/encode/melody_file_test.cpp: the melodies file refuses what is not one
// (encode/melody_file.h, docs/formats.md section 7): binary bytes, a text that is not
// melodies, a file without a format line with a few bad lines; and still reads the
// formats it read before (melodl's, MELODL4J v1's, hand-written lines with stray chars).
#include "encode/melody_file.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "base/error.h"

namespace fs = std::filesystem;
using melodl::encode::parse_melody_file;
using melodl::encode::read_melody_file;

namespace {

fs::path write_temp(const std::string& name, const std::string& bytes) {
  const fs::path dir =
      fs::temp_directory_path() / ("melodl-melody-file-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

// The FormatError message of reading `p`; fails the test when it reads.
std::string refusal(const fs::path& p) {
  try {
    const auto f = read_melody_file(p);
    ADD_FAILURE() << p << " was read as " << f.melodies.size() << " melodies";
  } catch (const melodl::FormatError& e) {
    return e.what();
  }
  return {};
}

std::string good_lines(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "<8O8N8M8_4J" + std::string(1, "0123456789"[i % 10]) + ">\n";
  return s;
}

TEST(MelodyFile, BinaryGarbageIsOneErrorNamingTheFile) {
  std::mt19937 rng(14);
  std::string bytes(1 << 20, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
  const fs::path p = write_temp("garbage.bin", bytes);
  const std::string e = refusal(p);
  EXPECT_NE(e.find(p.string() + ": not a melodies file: binary content (a NUL byte on line"),
            std::string::npos)
      << e;
  // A format line does not make binary bytes melodies.
  const fs::path h = write_temp(
      "header.bin", "// melodl melodies format=native version=1\n" + std::string("<8O8\0N8>\n", 9));
  EXPECT_NE(refusal(h).find("a NUL byte on line 2, byte offset 47"), std::string::npos);
}

TEST(MelodyFile, InvalidUtf8IsBinaryButCommentsMayHoldAnyBytes) {
  const std::string header = "// melodl melodies format=native version=1\n";
  const fs::path p = write_temp("latin1.txt", header + "<8O8>\n<8\xE9O8>\n");
  EXPECT_NE(refusal(p).find(p.string() + ": not a melodies file: binary content (invalid UTF-8 "
                                         "on line 3, byte offset 51)"),
            std::string::npos);
  // Overlong and surrogate forms are not UTF-8 either.
  EXPECT_THROW(parse_melody_file(header + "<8\xC0\xAF>\n"), melodl::FormatError);
  EXPECT_THROW(parse_melody_file(header + "<8\xED\xA0\x80>\n"), melodl::FormatError);
  // A source path in another encoding, in a comment, and real UTF-8 are fine.
  const auto f = parse_melody_file(header + "// track=0 source=caf\xE9.mid\n<8O8>\n" +
                                   "// source=\xC3\xA9t\xC3\xA9 \xE2\x99\xAA.mid\n<8N8>\n");
  ASSERT_EQ(f.melodies.size(), 2u);
  EXPECT_EQ(f.melodies[1].meta.source, "\xC3\xA9t\xC3\xA9 \xE2\x99\xAA.mid");
}

TEST(MelodyFile, TextThatIsNotMelodiesIsRefused) {
  const fs::path p = write_temp("notes.md",
                                "# Shopping list\n"
                                "\n"
                                "Buy milk, eggs and bread before Friday.\n"
                                "int main() { return 0; }\n");
  const std::string e = refusal(p);
  EXPECT_NE(e.find(p.string() + ": not a melodies file: it has no '// melodl melodies format=' "
                                "line, and line 1 is not a melody (native: "),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("melodl4j-v1: "), std::string::npos) << e;
  EXPECT_NE(e.find("3 of 3 do"), std::string::npos) << e;
  // Quoting a format line further down (as docs/formats.md does) does not make it one.
  const fs::path q = write_temp("doc.md",
                                "Our files look like this:\n"
                                "// melodl harmonies format=native version=1\n"
                                "<Mc--M--->\n");
  EXPECT_NE(refusal(q).find("line 1 is not a melody"), std::string::npos);
}

TEST(MelodyFile, WithoutFormatLineAFewBadLinesAreRefusedWithTheFirst) {
  std::string text = good_lines(6) + "~~~~\n" + good_lines(3) + "hello world\n";
  const fs::path p = write_temp("few-bad.txt", text);
  const std::string e = refusal(p);
  EXPECT_NE(e.find("line 7 is not a melody (native: no note decodes; melodl4j-v1: decoding skips "
                   "or substitutes 7 symbols in 4 characters)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("at most 1 line in 100 may fail to decode, and 2 of 11 do"), std::string::npos)
      << e;
  // A line with more than a quarter of its characters invalid is not a melody.
  EXPECT_THROW(parse_melody_file("<8O8~~~N8>\n"), melodl::FormatError);
  // 1 bad line in 100 is allowed, 2 in 199 are not.
  EXPECT_EQ(parse_melody_file(good_lines(99) + "~~~~\n").melodies.size(), 100u);
  EXPECT_THROW(parse_melody_file(good_lines(197) + "~~~~\n~~~~\n"), melodl::FormatError);
}

TEST(MelodyFile, FormatsReadBeforeStillRead) {
  // Hand-written native lines without a format line, stray characters included (render
  // skips and counts them), blank lines and CRLF.
  auto f = parse_melody_file("<8O8~~N8M8>\r\n\n<8O8N8>\n");
  EXPECT_TRUE(f.format.empty());
  ASSERT_EQ(f.melodies.size(), 2u);
  EXPECT_EQ(f.melodies[0].text, "<8O8~~N8M8>");
  // MELODL4J v1 files: its comments, no format line.
  f = parse_melody_file(
      "// Track = 1, Channel = 0, Instrument = 73, StartNote = 67\n"
      "l2lRh#t0zDMcd\n"
      "l#l@l!lxl\n");
  ASSERT_EQ(f.melodies.size(), 2u);
  EXPECT_EQ(f.melodies[0].meta.program, 73);
  // With a format line (all melodl writes) decoding stays tolerant: a network's bad line is
  // the codec's to skip and count, not the reader's to refuse.
  f = parse_melody_file("// melodl melodies format=native version=1\n<8O8>\n~~~~\nhello\n");
  EXPECT_EQ(f.format, "native");
  EXPECT_EQ(f.melodies.size(), 3u);
  f = parse_melody_file(
      "\n// melodl harmonies format=original-harmony version=1\n"
      "// grid step_s=0.0625\nM]M]M]M]\n  \n");
  EXPECT_TRUE(f.harmonies);
  EXPECT_EQ(f.format, "original-harmony");
  // A byte order mark (some editors write one) does not hide the format line.
  f = parse_melody_file("\xEF\xBB\xBF// melodl melodies format=melodl4j-v1 version=1\nl2l\n");
  EXPECT_EQ(f.format, "melodl4j-v1");
  EXPECT_NE(refusal(write_temp("bom.txt", "\xEF\xBB\xBF<8O8>\n<8\xFF>\n")).find("byte offset 11"),
            std::string::npos);
  // An empty file is an empty set of melodies (the commands say so themselves).
  EXPECT_TRUE(parse_melody_file("").melodies.empty());
}

}  // namespace
