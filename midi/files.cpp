// midi/files.cpp: see files.h.
#include "midi/files.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <system_error>

#include "base/error.h"

namespace melodl::midi {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

bool has_midi_extension(const fs::path& path) {
  const std::string ext = lower(path.extension().string());
  return ext == ".mid" || ext == ".midi" || ext == ".rmi" || ext == ".kar";
}

std::vector<fs::path> find_midi_files(const std::vector<std::string>& inputs) {
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    fs::path key = fs::weakly_canonical(p, ec);
    if (ec) key = p;
    if (seen.insert(key).second) out.push_back(p);
  };
  for (const std::string& input : inputs) {
    const fs::path root(input);
    std::error_code ec;
    const fs::file_status st = fs::status(root, ec);
    if (ec || !fs::exists(st)) throw IoError("no such file or directory: " + input);
    if (!fs::is_directory(st)) {
      add(root);
      continue;
    }
    std::vector<fs::path> found;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) throw IoError("cannot read directory " + input + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) throw IoError("cannot read directory " + input + ": " + ec.message());
      std::error_code fec;
      if (it->is_regular_file(fec) && has_midi_extension(it->path())) found.push_back(it->path());
    }
    if (ec) throw IoError("cannot read directory " + input + ": " + ec.message());
    // Byte-wise order of the generic form: the same on every machine and locale.
    std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
      return a.generic_string() < b.generic_string();
    });
    for (const auto& p : found) add(p);
  }
  return out;
}

}  // namespace melodl::midi
