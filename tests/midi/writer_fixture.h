// tests/midi/writer_fixture.h: what the writer tests share: a fresh temporary folder per
// test (removed afterwards) and a note built from its fields.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "midi/model.h"

namespace melodl::midi::test {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("melodl_" + std::string(info->test_suite_name()) + "_" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::size_t entries() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++n;
    return n;
  }
  std::filesystem::path dir_;
};

inline Note make_note(int ch, int pitch, int vel, std::int64_t start, std::int64_t end) {
  Note n;
  n.channel = static_cast<std::uint8_t>(ch);
  n.pitch = static_cast<std::uint8_t>(pitch);
  n.velocity = static_cast<std::uint8_t>(vel);
  n.start_tick = start;
  n.end_tick = end;
  return n;
}

}  // namespace melodl::midi::test
