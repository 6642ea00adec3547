// midi/reader_chunks.cpp: the file structure: RMID unwrapping, the MThd header and the walk
// over chunks, in strict and recover mode (docs/midi.md, "File structure" and "Recovery").
#include <algorithm>
#include <cstring>

#include "midi/reader_parser.h"

namespace melodl::midi::detail {

namespace {

bool is_chunk_id(const std::uint8_t* p) {
  for (int i = 0; i < 4; ++i)
    if (p[i] < 0x20 || p[i] > 0x7E) return false;
  return true;
}

std::string n_bytes(std::size_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

}  // namespace

// RMID: "RIFF" <size LE> "RMID" then RIFF chunks; the SMF is the 'data' chunk's body. In recover
// mode a RIFF file of another form, or without a 'data' chunk, is searched for MThd instead.
void Parser::unwrap_rmid() {
  if (size_ < 12 || std::memcmp(data_, "RIFF", 4) != 0) return;
  if (std::memcmp(data_ + 8, "RMID", 4) != 0) {
    const std::string form = is_chunk_id(data_ + 8)
                                 ? std::string(reinterpret_cast<const char*>(data_ + 8), 4)
                                 : hex_byte(data_[8]) + "...";
    if (!recover_) fail(8, "RIFF file of form '" + form + "', not RMID");
    recover_repair(RepairKind::riff_wrapper, 8,
                   "RIFF file of form '" + form + "', not RMID: searched for MThd inside");
    return;
  }
  std::size_t end = size_;
  const std::uint64_t riff_end = std::uint64_t{le32(data_ + 4)} + 8;
  if (riff_end < end) end = static_cast<std::size_t>(riff_end);
  std::size_t pos = 12;
  while (pos + 8 <= end) {
    const std::uint64_t len = le32(data_ + pos + 4);
    if (std::memcmp(data_ + pos, "data", 4) == 0) {
      smf_begin_ = pos + 8;
      const std::uint64_t avail = end - smf_begin_;
      if (len > avail) {
        warn(pos, "RMID 'data' chunk declares more bytes than the file holds");
        repair(RepairKind::riff_wrapper, pos,
               "RMID 'data' chunk declares more bytes than the file holds: read to the end");
      }
      smf_end_ = smf_begin_ + static_cast<std::size_t>(std::min(len, avail));
      return;
    }
    const std::uint64_t next = std::uint64_t{pos} + 8 + len + (len & 1);  // RIFF pads to even
    if (next > end) break;
    pos = static_cast<std::size_t>(next);
  }
  if (!recover_) fail(12, "RIFF RMID file has no 'data' chunk");
  recover_repair(RepairKind::riff_wrapper, 12,
                 "RIFF RMID file has no 'data' chunk: searched for MThd inside");
}

void Parser::parse_header() {
  std::size_t p = smf_begin_;
  if (smf_end_ - p < 4 || std::memcmp(data_ + p, "MThd", 4) != 0) {
    if (!recover_) fail(p, "not a Standard MIDI File (no MThd header)");
    const std::size_t mthd = find_tag("MThd", p, smf_end_);
    if (mthd == smf_end_) {
      const std::size_t mtrk = find_tag("MTrk", p, smf_end_);
      if (mtrk == smf_end_) fail(p, "not a Standard MIDI File (no MThd header or MTrk chunk)");
      recover_repair(RepairKind::missing_header, p,
                     "no MThd header: " + n_bytes(mtrk - p) +
                         " before the first MTrk skipped, format 1 and 480 ticks per quarter "
                         "assumed",
                     -1, -1, mtrk - p);
      song_.format = 1;
      song_.division.ppq = kAssumedPpq;
      declared_tracks_ = -1;
      smf_begin_ = mtrk;
      return;
    }
    recover_repair(RepairKind::leading_garbage, p, n_bytes(mthd - p) + " before MThd skipped", -1,
                   -1, mthd - p);
    p = mthd;
  }
  if (smf_end_ - p < 14) fail(p, "truncated MThd header");
  std::uint32_t len = be32(data_ + p + 4);
  if (len < 6 || len > smf_end_ - p - 8) {
    const std::string problem =
        len < 6 ? "MThd length " + std::to_string(len) + " is shorter than 6"
                : "truncated MThd chunk (declares " + std::to_string(len) + " bytes, " +
                      std::to_string(smf_end_ - p - 8) + " remain)";
    if (!recover_) fail(p + 4, problem);
    recover_repair(RepairKind::bad_header, p + 4, problem + ": 6 assumed");
    len = 6;
  }
  std::uint16_t format = be16(data_ + p + 8);
  const std::uint16_t ntracks = be16(data_ + p + 10);
  const std::uint16_t division = be16(data_ + p + 12);
  if (format > 2) {
    const std::string problem = "unsupported SMF format " + std::to_string(format);
    if (!recover_) fail(p + 8, problem);
    recover_repair(RepairKind::bad_header, p + 8, problem + ": format 1 assumed");
    format = 1;
  }
  if (ntracks > limits_.max_tracks) {
    const std::string problem = "declares " + std::to_string(ntracks) +
                                " tracks, over the limit of " + std::to_string(limits_.max_tracks);
    if (!recover_) fail(p + 10, problem);
    recover_repair(RepairKind::bad_header, p + 10, problem + ": the MTrk chunks present are read");
  }
  song_.format = format;
  declared_tracks_ = ntracks;
  std::string bad_division;
  std::size_t bad_at = p + 12;
  if (division & 0x8000) {
    const int fps = 256 - (division >> 8);
    const int tpf = division & 0xFF;
    if (fps != 24 && fps != 25 && fps != 29 && fps != 30) {
      bad_division = "invalid SMPTE frame rate " + std::to_string(fps);
    } else if (tpf == 0) {
      bad_division = "SMPTE division with 0 ticks per frame";
      bad_at = p + 13;
    } else {
      song_.division.smpte = true;
      song_.division.ppq = 0;
      song_.division.frames_per_second = static_cast<std::uint8_t>(fps);
      song_.division.ticks_per_frame = static_cast<std::uint8_t>(tpf);
    }
  } else if (division == 0) {
    bad_division = "division of 0 ticks per quarter note";
  } else {
    song_.division.smpte = false;
    song_.division.ppq = division;
  }
  if (!bad_division.empty()) {
    if (!recover_) fail(bad_at, bad_division);
    recover_repair(RepairKind::bad_header, bad_at,
                   bad_division + ": 480 ticks per quarter note assumed");
    song_.division.smpte = false;
    song_.division.ppq = kAssumedPpq;
  }
  smf_begin_ = p + 8 + len;  // first chunk after the header
}

// Strict mode reads chunks until the declared number of MTrk chunks is found. Recover mode
// reads every MTrk chunk up to the end of the file (the first max_tracks), skipping bytes that
// are no chunk to the next "MTrk", and reports a track count that differs from the header.
void Parser::parse_chunks() {
  const auto declared = static_cast<std::size_t>(std::max(declared_tracks_, 0));
  // Every MTrk chunk takes at least 8 bytes: never reserve more tracks than could fit.
  song_.tracks.reserve(std::min(declared, (smf_end_ - smf_begin_) / 8));
  std::size_t pos = smf_begin_;
  std::int64_t format2_offset = 0;
  std::size_t found = 0;
  const auto holds = [&] {
    return "header declares " + std::to_string(declared_tracks_) + " tracks, file holds " +
           std::to_string(found);
  };
  while (recover_ || found < declared) {
    const std::size_t remain = smf_end_ - pos;
    if (remain < 8) {
      if (recover_) break;
      warn(pos, holds());
      repair(RepairKind::track_count, pos, holds() + ": the tracks present are read");
      return;
    }
    const std::uint8_t* c = data_ + pos;
    std::uint32_t len = be32(c + 4);
    if (std::memcmp(c, "MTrk", 4) == 0) {
      if (len > remain - 8) {
        const std::string problem = "truncated MTrk chunk (declares " + std::to_string(len) +
                                    " bytes, " + std::to_string(remain - 8) + " remain)";
        if (!recover_) fail(pos, problem);
        recover_repair(RepairKind::chunk_past_end, pos, problem + ": read to the end of the file",
                       static_cast<int>(found));
        len = static_cast<std::uint32_t>(remain - 8);
      }
      if (found >= limits_.max_tracks) break;  // recover mode: the rest is trailing bytes
      parse_track(pos + 8, pos + 8 + len, format2_offset);
      if (song_.format == 2) format2_offset = song_.tracks.back().end_tick;
      ++found;
      pos += 8 + std::size_t{len};
      continue;
    }
    const bool chunk = is_chunk_id(c);
    if (chunk && len <= remain - 8) {
      pos += 8 + std::size_t{len};  // unknown chunk: skipped
      continue;
    }
    if (!recover_) {
      if (!chunk)
        fail(pos, "expected an MTrk chunk, found bytes " + hex_byte(c[0]) + " " + hex_byte(c[1]) +
                      " " + hex_byte(c[2]) + " " + hex_byte(c[3]) + " (track " +
                      std::to_string(found + 1) + " of " + std::to_string(declared_tracks_) + ")");
      const std::string problem = "unknown chunk runs past the end of the file; " + holds();
      warn(pos, problem);
      repair(RepairKind::chunk_past_end, pos, problem + ": the tracks present are read");
      return;
    }
    // Recover mode: not a chunk, or an unknown chunk past the end: go on at the next MTrk.
    const std::size_t next = find_tag("MTrk", pos + 1, smf_end_);
    if (next == smf_end_) break;
    recover_repair(RepairKind::garbage_skipped, pos,
                   n_bytes(next - pos) + (chunk ? " of a chunk running past the end" : "") +
                       " skipped to the next MTrk chunk",
                   -1, -1, next - pos);
    pos = next;
  }
  if (recover_ && declared_tracks_ >= 0 && found != declared)
    recover_repair(RepairKind::track_count, pos, holds() + ": the tracks present are read");
  if (pos < smf_end_) {
    // Trailing bytes after the last track: tolerated (strict mode reads no MTrk chunk there).
    const std::string problem = std::to_string(smf_end_ - pos) + " bytes after the last " +
                                (recover_ ? "track ignored" : "declared track ignored");
    warn(pos, problem);
    repair(RepairKind::trailing_bytes, pos, problem, -1, -1, smf_end_ - pos);
  }
}

}  // namespace melodl::midi::detail
