// tests/base/files_test.cpp: the atomic writer and the removal of its orphaned temporary files.
#include "base/files.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/error.h"

namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("melodl-base-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void touch(const fs::path& p) { std::ofstream(p) << "x"; }

// A pid that belonged to a process that has exited (and been reaped).
long dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

bool contains(const std::vector<fs::path>& v, const fs::path& p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

}  // namespace

TEST(AtomicFile, UncommittedLeavesTargetAndNoTemp) {
  const fs::path dir = fresh_dir("uncommitted");
  melodl::write_file_atomic(dir / "a.txt", "old");
  {
    melodl::AtomicFile f(dir / "a.txt");
    f.write("new");
  }
  EXPECT_EQ(melodl::read_text_file(dir / "a.txt"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

// A long write polls its cancel check between chunks: cancelled, it removes its temporary
// file at once and leaves the old target as it was; never cancelled, every byte lands.
TEST(AtomicFile, CancelledWriteRemovesItsTempAndKeepsTheTarget) {
  const fs::path dir = fresh_dir("cancel");
  melodl::write_file_atomic(dir / "big.bin", "old");
  const std::string big(8 * melodl::kWriteChunk + 12345, 'x');
  int polls = 0;
  {
    melodl::AtomicFile f(dir / "big.bin", 0644, [&] { return ++polls > 3; });
    EXPECT_THROW(f.write(big), melodl::WriteCancelled);
    EXPECT_FALSE(fs::exists(f.temp_path()));  // removed when cancelled, not at destruction
    EXPECT_THROW(f.commit(), melodl::IoError);
  }
  EXPECT_EQ(polls, 4);  // stopped within one chunk of the check turning true
  EXPECT_EQ(melodl::read_text_file(dir / "big.bin"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);

  polls = 0;
  melodl::AtomicFile g(dir / "big.bin", 0644, [&] {
    ++polls;
    return false;
  });
  g.write(big.substr(0, 100));
  g.write(big.substr(100));
  g.commit();
  EXPECT_EQ(polls, 1 + 9 + 1);  // the small write, the 9 chunks of the rest, the commit
  EXPECT_EQ(melodl::read_text_file(dir / "big.bin"), big);
  fs::remove_all(dir);
}

TEST(AtomicFile, CancelledAtCommitLeavesNoFile) {
  const fs::path dir = fresh_dir("cancel-commit");
  bool cancel = false;
  melodl::AtomicFile f(dir / "a.txt", 0644, [&] { return cancel; });
  f.write("complete");
  cancel = true;
  try {
    f.commit();
    ADD_FAILURE() << "commit after cancel succeeded";
  } catch (const melodl::WriteCancelled& e) {
    EXPECT_NE(std::string(e.what()).find("a.txt abandoned"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(RemoveStaleTempFiles, RemovesDeadOwnersAndKeepsEverythingElse) {
  const fs::path dir = fresh_dir("stale");
  const long dead = dead_pid();
  const std::string me = std::to_string(::getpid());
  const fs::path dead_tmp = dir / (".ckpt-000045.safetensors.tmp-" + std::to_string(dead) + "-3");
  const fs::path dead_probe = dir / (".melodies.txt.probe" + std::to_string(dead));
  const fs::path mine_old = dir / (".melody-1.mid.tmp-" + me + "-0");
  const fs::path mine_new = dir / (".melody-2.mid.tmp-" + me + "-1");
  const fs::path live_other = dir / ".x.mid.tmp-1-0";  // pid 1 is always alive
  const fs::path plain = dir / "ckpt-000045.safetensors";
  const fs::path lookalike = dir / ".notes.tmp-abc-1";
  const fs::path no_dot = dir / ("y.tmp-" + std::to_string(dead) + "-1");
  for (const auto& p :
       {dead_tmp, dead_probe, mine_old, mine_new, live_other, plain, lookalike, no_dot})
    touch(p);
  // Older than this process: a previous holder of this pid left it.
  fs::last_write_time(mine_old, fs::file_time_type::clock::now() - std::chrono::hours(24));
  fs::create_directories(dir / "sub");
  const fs::path nested = dir / "sub" / (".z.tmp-" + std::to_string(dead) + "-0");
  touch(nested);

  const auto removed = melodl::remove_stale_temp_files(dir);
  EXPECT_EQ(removed.size(), 3u);
  EXPECT_TRUE(contains(removed, dead_tmp));
  EXPECT_TRUE(contains(removed, dead_probe));
  EXPECT_TRUE(contains(removed, mine_old));
  EXPECT_FALSE(fs::exists(dead_tmp));
  EXPECT_FALSE(fs::exists(dead_probe));
  EXPECT_FALSE(fs::exists(mine_old));
  for (const auto& p : {mine_new, live_other, plain, lookalike, no_dot, nested})
    EXPECT_TRUE(fs::exists(p)) << p;
  fs::remove_all(dir);
}

TEST(RemoveStaleTempFiles, MissingFolderRemovesNothing) {
  EXPECT_TRUE(melodl::remove_stale_temp_files("/nonexistent/melodl/folder").empty());
}
