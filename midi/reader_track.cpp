// midi/reader_track.cpp: the events of one MTrk chunk: delta times, running status, channel
// messages and note pairing, meta and SysEx events; in recover mode the policies for cut,
// undefined and out-of-place bytes (docs/midi.md, "Events" and "Recovery").
#include <algorithm>

#include "midi/reader_parser.h"

namespace melodl::midi::detail {

namespace {

// Data bytes that a system common message F1-F6 carries (F1 and F3: 1, F2: 2, others 0).
std::size_t system_common_data_bytes(std::uint8_t status) {
  if (status == 0xF2) return 2;
  return status == 0xF1 || status == 0xF3 ? 1 : 0;
}

}  // namespace

void Parser::vlq_defect(Vlq status, std::size_t start, const char* what, std::size_t event_at,
                        std::size_t end, std::int64_t tick) {
  if (status == Vlq::truncated) {
    if (!recover_) fail(start, std::string("truncated ") + what);
    cut_track(RepairKind::truncated, event_at, end, tick,
              std::string("truncated ") + what + " at offset " + std::to_string(start));
  } else {
    if (!recover_)
      fail(start, std::string(what) + " is a variable-length quantity longer than 4 bytes");
    cut_track(RepairKind::long_vlq, event_at, end, tick,
              std::string(what) + " at offset " + std::to_string(start) +
                  " is a variable-length quantity longer than 4 bytes");
  }
}

void Parser::cut_track(RepairKind kind, std::size_t event_at, std::size_t end, std::int64_t tick,
                       const std::string& why) {
  cut_ = true;
  cut_item_ = recover_repair(kind, event_at,
                             why + ": every complete event before kept, the last " +
                                 std::to_string(end - event_at) + " bytes of the track dropped",
                             static_cast<int>(song_.tracks.size() - 1), tick, end - event_at);
}

// An event starts with a delta time (0-3 bytes >= 0x80, then one < 0x80) and a status byte
// whose event fits in [.., end): a channel message with its data bytes all < 0x80, a meta event
// (FF, type < 0x80, length) or SysEx (F0/F7, length) that fits.
bool Parser::plausible_event(std::size_t at, std::size_t end) const {
  const std::uint8_t s = data_[at];
  if (s < 0x80) return false;
  std::size_t pos = at + 1;
  if (s < 0xF0) {
    const std::size_t need = (s & 0xF0) == 0xC0 || (s & 0xF0) == 0xD0 ? 1 : 2;
    if (end - pos < need) return false;
    for (std::size_t i = 0; i < need; ++i)
      if (data_[pos + i] & 0x80) return false;
    return true;
  }
  if (s == 0xFF) {
    if (pos >= end || (data_[pos] & 0x80)) return false;
    ++pos;
  } else if (s != 0xF0 && s != 0xF7) {
    return true;  // F1-F6, F8-FE: an event of its own, skipped in turn
  }
  std::uint32_t len = 0;
  return read_vlq(pos, end, len) == Vlq::ok && len <= end - pos;
}

std::size_t Parser::resync(std::size_t from, std::size_t end) const {
  for (std::size_t k = from + 1; k < end; ++k) {
    if (data_[k] < 0x80 || data_[k - 1] >= 0x80 || !plausible_event(k, end)) continue;
    std::size_t s = k - 1;  // the delta time's last byte; the delta is at most 4 bytes
    while (s > from && k - s < 4 && data_[s - 1] >= 0x80) --s;
    return s;
  }
  return end;
}

std::size_t Parser::close_open_notes(std::int64_t tick) {
  std::vector<Note>& notes = song_.tracks.back().notes;
  std::size_t closed = 0;
  for (std::size_t i = open_from_; i < notes.size(); ++i) {
    Note& n = notes[i];
    if (n.end_tick >= 0) continue;
    n.end_tick = tick;
    pending_[n.channel * 128u + n.pitch] = Pending{};
    ++closed;
  }
  open_from_ = notes.size();
  return closed;
}

// Meta values the note model does not keep but a damaged file gets wrong: key signature
// (FF 59: -7..7 sharps, major/minor) and SMPTE offset (FF 54: hh mm ss fr ff in range).
// Ignored either way; an invalid one is listed as a repair.
void Parser::check_meta(std::uint8_t type, const std::uint8_t* m, std::uint32_t len,
                        std::size_t event_at, std::int64_t tick) {
  if (type == 0x59) {
    const auto sf = static_cast<std::int8_t>(len >= 2 ? m[0] : 0);
    if (len != 2 || sf < -7 || sf > 7 || m[1] > 1)
      ignore_meta(event_at, tick, "key signature out of range ignored", false);
  } else if (type == 0x54) {
    if (len != 5 || (m[0] & 0x1F) > 23 || m[1] > 59 || m[2] > 59 || m[3] > 29 || m[4] > 99)
      ignore_meta(event_at, tick, "SMPTE offset out of range ignored", false);
  }
}

std::uint8_t Parser::clip_data_byte(std::size_t at, std::uint8_t status, std::int64_t tick) {
  const std::uint8_t b = data_[at];
  if (!clipped_warned_) {
    clipped_warned_ = true;
    warn(at, "data byte " + hex_byte(b) + " above 127 clipped to 127");
  }
  if (count_only(RepairKind::data_byte_clipped, false)) return 0x7F;
  repair(RepairKind::data_byte_clipped, at,
         "data byte " + hex_byte(b) + " of a " + hex_byte(status) + " message clipped to 127",
         static_cast<int>(song_.tracks.size() - 1), tick);
  return 0x7F;
}

void Parser::ignore_meta(std::size_t event_at, std::int64_t tick, const char* what,
                         bool as_warning) {
  if (as_warning) warn(event_at, what);
  repair(RepairKind::invalid_meta, event_at, what, static_cast<int>(song_.tracks.size() - 1), tick);
}

void Parser::cut_event(Cut what, std::size_t event_at, std::size_t end, std::int64_t tick,
                       std::uint8_t byte, std::uint32_t len, std::size_t remain) {
  std::string problem;
  switch (what) {
    case Cut::delta_at_end:
      problem = "truncated event (delta time at the end of the track)";
      break;
    case Cut::channel:
      problem = "truncated channel message " + hex_byte(byte) + " at the end of track";
      break;
    case Cut::meta_type:
      problem = "truncated meta event";
      break;
    case Cut::meta_length:
      problem = "meta event " + hex_byte(byte) + " declares " + std::to_string(len) + " bytes, " +
                std::to_string(remain) + " remain in the track";
      break;
    case Cut::sysex_length:
      problem = "SysEx event declares " + std::to_string(len) + " bytes, " +
                std::to_string(remain) + " remain in the track";
      break;
  }
  if (!recover_) fail(event_at, problem);
  cut_track(RepairKind::truncated, event_at, end, tick, problem);
}

std::size_t Parser::skip_status_less(std::size_t pos, std::size_t end, std::int64_t tick) {
  const auto problem = [&] {
    return "data byte " + hex_byte(data_[pos]) +
           " where a status byte is needed (no running status)";
  };
  if (!recover_) fail(pos, problem());
  const std::size_t next = resync(pos + 1, end);  // the data byte itself is dropped
  const std::size_t closed = close_open_notes(tick);
  if (next >= end) cut_ = true;
  if (count_only(RepairKind::no_running_status, true)) return next;
  const std::ptrdiff_t item = recover_repair(
      RepairKind::no_running_status, pos,
      problem() + ": " + std::to_string(next - pos) + " bytes skipped to the next event",
      static_cast<int>(song_.tracks.size() - 1), tick, next - pos);
  if (item >= 0) repairs_.items[static_cast<std::size_t>(item)].notes_closed = closed;
  return next;
}

// F1-F6, F8-FE. Strict mode reports the event's offset (its delta time), as it always did.
// Recover mode skips the status byte and resynchronises at the next plausible event; notes
// still sounding end here when more than the message's own data bytes are skipped (a note-off
// may be among them).
std::size_t Parser::skip_undefined_status(std::size_t event_at, std::size_t status_at,
                                          std::size_t end, std::int64_t tick) {
  const std::uint8_t status = data_[status_at];
  const auto problem = [&] {
    return "status byte " + hex_byte(status) + " is not allowed in a MIDI file";
  };
  if (!recover_) fail(event_at, problem());
  const std::size_t pos = status_at + 1;
  const std::size_t next = resync(pos, end);
  const std::size_t skipped = next - pos;
  const std::size_t dropped = skipped > system_common_data_bytes(status) ? skipped : 0;
  const std::size_t closed = dropped > 0 ? close_open_notes(tick) : 0;
  if (next >= end && dropped > 0) cut_ = true;
  if (count_only(RepairKind::undefined_status, true)) return next;
  const std::ptrdiff_t item = recover_repair(
      RepairKind::undefined_status, status_at,
      problem() + ": skipped" +
          (dropped > 0 ? " with the " + std::to_string(dropped) + " bytes up to the next event"
                       : std::string()),
      static_cast<int>(song_.tracks.size() - 1), tick, 1 + dropped);
  if (item >= 0) repairs_.items[static_cast<std::size_t>(item)].notes_closed = closed;
  return next;
}

void Parser::parse_track(std::size_t begin, std::size_t end, std::int64_t tick0) {
  Track& track = song_.tracks.emplace_back();
  const int track_index = static_cast<int>(song_.tracks.size() - 1);
  std::vector<Note>& notes = track.notes;
  notes.reserve((end - begin) / 8);
  next_.clear();  // pending_ is all empty here: each track clears the keys it used
  open_from_ = 0;
  cut_ = false;
  cut_item_ = -1;
  bool have_name = false;
  bool ended = false;
  std::uint8_t running = 0;  // running status: channel messages only, kept across meta/sysex
  bool since_other = false;  // a meta or SysEx event came after the last channel message
  std::int64_t tick = tick0;
  std::size_t pos = begin;
  const std::uint8_t* d = data_;

  // Data bytes above 127 take the cold path (clipped to 127); `tick` goes by value so that it
  // stays in a register in the loop.
  auto data_byte = [this, d](std::size_t at, std::uint8_t status, std::int64_t t) {
    const std::uint8_t b = d[at];
    return b < 0x80 ? b : clip_data_byte(at, status, t);
  };

  while (pos < end) {
    const std::size_t event_at = pos;
    std::uint32_t delta = 0;
    if (const Vlq st = read_vlq(pos, end, delta); st != Vlq::ok) {
      vlq_defect(st, event_at, "delta time", event_at, end, tick);
      break;
    }
    tick += delta;
    if (pos >= end) {
      cut_event(Cut::delta_at_end, event_at, end, tick);
      break;
    }
    if (++events_ > limits_.max_events)
      fail(event_at, "more than " + std::to_string(limits_.max_events) + " events");
    std::uint8_t status = d[pos];
    if (status & 0x80) {
      ++pos;
    } else {
      if (running == 0) {
        pos = skip_status_less(pos, end, tick);
        continue;
      }
      status = running;
      if (since_other && !running_warned_) {
        running_warned_ = true;
        warn(pos, "running status continued across a meta or SysEx event (kept)");
      }
    }

    if (status < 0xF0) {  // channel message
      running = status;
      since_other = false;
      const std::uint8_t kind = status & 0xF0;
      const std::uint8_t ch = status & 0x0F;
      const std::size_t need = (kind == 0xC0 || kind == 0xD0) ? 1 : 2;
      if (end - pos < need) {
        cut_event(Cut::channel, event_at, end, tick, status);
        break;
      }
      const std::uint8_t a = data_byte(pos, status, tick);
      const std::uint8_t b = need == 2 ? data_byte(pos + 1, status, tick) : 0;
      pos += need;
      if (kind == 0x90 && b > 0) {
        if (++notes_ > limits_.max_notes)
          fail(event_at, "more than " + std::to_string(limits_.max_notes) + " notes");
        const auto idx = static_cast<std::int32_t>(notes.size());
        Note n;
        n.channel = ch;
        n.pitch = a;
        n.velocity = b;
        n.start_tick = tick;
        n.end_tick = -1;
        notes.push_back(n);
        next_.push_back(-1);
        Pending& q = pending_[ch * 128u + a];
        if (q.tail >= 0)
          next_[static_cast<std::size_t>(q.tail)] = idx;
        else
          q.head = idx;
        q.tail = idx;
      } else if (kind == 0x80 || kind == 0x90) {  // note-off, or note-on with velocity 0
        Pending& q = pending_[ch * 128u + a];
        if (q.head >= 0) {
          const auto idx = static_cast<std::size_t>(q.head);
          notes[idx].end_tick = tick;
          q.head = next_[idx];
          if (q.head < 0) q.tail = -1;
        }
      } else if (kind == 0xC0) {
        ProgramChange pc;
        pc.tick = tick;
        pc.channel = ch;
        pc.program = a;
        track.programs.push_back(pc);
      }
      continue;
    }

    since_other = true;
    if (status == 0xFF) {  // meta event: FF type len data
      if (pos >= end) {
        cut_event(Cut::meta_type, event_at, end, tick);
        break;
      }
      const std::uint8_t type = d[pos++];
      const std::size_t len_at = pos;
      std::uint32_t len = 0;
      if (const Vlq st = read_vlq(pos, end, len); st != Vlq::ok) {
        vlq_defect(st, len_at, "meta event length", event_at, end, tick);
        break;
      }
      if (len > end - pos) {
        cut_event(Cut::meta_length, event_at, end, tick, type, len, end - pos);
        break;
      }
      const std::uint8_t* m = d + pos;
      pos += len;
      if (type == 0x2F) {
        ended = true;
        break;
      }
      if (type == 0x51) {
        const std::uint32_t us =
            len >= 3 ? (std::uint32_t{m[0]} << 16) | (std::uint32_t{m[1]} << 8) | m[2] : 0;
        if (len < 3)
          ignore_meta(event_at, tick, "tempo meta event shorter than 3 bytes ignored", true);
        else if (us == 0 && recover_)
          ignore_meta(event_at, tick,
                      "tempo of 0 microseconds per quarter ignored (the tempo before stays)", true);
        else
          tempos_.push_back(RawTempo{tick, us});
      } else if (type == 0x58) {
        if (len >= 4 && m[1] <= 7) {
          TimeSignature ts;
          ts.tick = tick;
          ts.numerator = m[0];
          ts.denominator = static_cast<std::uint8_t>(1u << m[1]);
          ts.clocks_per_click = m[2];
          ts.notated_32nds_per_quarter = m[3];
          song_.time_signatures.push_back(ts);
        } else {
          ignore_meta(event_at, tick, "malformed time-signature meta event ignored", true);
        }
      } else if (type == 0x03 && !have_name) {
        track.name.assign(reinterpret_cast<const char*>(m), len);
        have_name = true;
      } else if (type == 0x59 || type == 0x54) {
        check_meta(type, m, len, event_at, tick);
      }
      continue;
    }

    if (status == 0xF0 || status == 0xF7) {  // SysEx, or F7 continuation/escape: skipped
      const std::size_t len_at = pos;
      std::uint32_t len = 0;
      if (const Vlq st = read_vlq(pos, end, len); st != Vlq::ok) {
        vlq_defect(st, len_at, "SysEx length", event_at, end, tick);
        break;
      }
      if (len > end - pos) {
        cut_event(Cut::sysex_length, event_at, end, tick, 0, len, end - pos);
        break;
      }
      pos += len;
      continue;
    }

    pos = skip_undefined_status(event_at, pos - 1, end, tick);  // F1-F6, F8-FE
  }

  if (!ended && !cut_) {
    if (end > begin) {
      const std::string problem =
          "track " + std::to_string(song_.tracks.size()) + " has no End-of-Track event";
      warn(end, problem);
      repair(RepairKind::missing_end_of_track, end, problem + ": ends at its last event",
             track_index, tick);
    } else {
      const std::string problem = "track " + std::to_string(song_.tracks.size()) + " is empty";
      warn(begin, problem);
      repair(RepairKind::missing_end_of_track, begin, problem, track_index, tick);
    }
  }
  track.end_tick = tick;

  // Unended notes close at the end of their track; notes of zero length are dropped.
  std::size_t closed = 0;
  for (Note& n : notes) {
    if (n.end_tick < 0) {
      n.end_tick = tick;
      ++closed;
    }
    pending_[n.channel * 128u + n.pitch] = Pending{};  // ready for the next track
  }
  if (cut_item_ >= 0) repairs_.items[static_cast<std::size_t>(cut_item_)].notes_closed = closed;
  notes.erase(std::remove_if(notes.begin(), notes.end(),
                             [](const Note& n) { return n.end_tick <= n.start_tick; }),
              notes.end());
  std::stable_sort(notes.begin(), notes.end(), [](const Note& x, const Note& y) {
    if (x.start_tick != y.start_tick) return x.start_tick < y.start_tick;
    if (x.pitch != y.pitch) return x.pitch < y.pitch;
    return x.channel < y.channel;
  });
}

}  // namespace melodl::midi::detail
