// tests/midi/smf_builder.h: a tiny byte builder for hand-made Standard MIDI File fixtures
// used by the midi tests (no binary fixture files). Builds MThd/MTrk chunks, events with
// explicit delta times, RMID wrapping; leaves malformed bytes to the caller on purpose.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace melodl::midi::test {

using Bytes = std::vector<std::uint8_t>;

inline void put_vlq(Bytes& b, std::uint32_t v) {
  std::uint8_t tmp[5];
  int n = 0;
  tmp[n++] = v & 0x7F;
  while (v >>= 7) tmp[n++] = static_cast<std::uint8_t>(0x80 | (v & 0x7F));
  while (n > 0) b.push_back(tmp[--n]);
}
inline void put_be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
inline void put_le32(Bytes& b, std::uint32_t v) {
  for (int s = 0; s <= 24; s += 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
inline void put_be16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

// Events of one track body. Each call takes the delta time in ticks first.
class TrackBytes {
 public:
  // Delta time then raw event bytes (status optional: running status is the caller's choice).
  TrackBytes& ev(std::uint32_t delta, std::initializer_list<std::uint8_t> bytes) {
    put_vlq(b_, delta);
    b_.insert(b_.end(), bytes);
    return *this;
  }
  TrackBytes& on(std::uint32_t delta, int ch, int key, int vel) {
    return ev(delta, {static_cast<std::uint8_t>(0x90 | ch), static_cast<std::uint8_t>(key),
                      static_cast<std::uint8_t>(vel)});
  }
  TrackBytes& off(std::uint32_t delta, int ch, int key) {
    return ev(delta, {static_cast<std::uint8_t>(0x80 | ch), static_cast<std::uint8_t>(key), 64});
  }
  TrackBytes& meta(std::uint32_t delta, std::uint8_t type, const Bytes& data) {
    put_vlq(b_, delta);
    b_.push_back(0xFF);
    b_.push_back(type);
    put_vlq(b_, static_cast<std::uint32_t>(data.size()));
    b_.insert(b_.end(), data.begin(), data.end());
    return *this;
  }
  TrackBytes& text(std::uint32_t delta, std::uint8_t type, const std::string& s) {
    return meta(delta, type, Bytes(s.begin(), s.end()));
  }
  TrackBytes& tempo(std::uint32_t delta, std::uint32_t us) {
    return meta(delta, 0x51,
                {static_cast<std::uint8_t>(us >> 16), static_cast<std::uint8_t>(us >> 8),
                 static_cast<std::uint8_t>(us)});
  }
  // SysEx (F0) or escape/continuation (F7) with a length prefix.
  TrackBytes& sysex(std::uint32_t delta, std::uint8_t kind, const Bytes& data) {
    put_vlq(b_, delta);
    b_.push_back(kind);
    put_vlq(b_, static_cast<std::uint32_t>(data.size()));
    b_.insert(b_.end(), data.begin(), data.end());
    return *this;
  }
  TrackBytes& eot(std::uint32_t delta = 0) { return meta(delta, 0x2F, {}); }
  TrackBytes& raw(std::initializer_list<std::uint8_t> bytes) {
    b_.insert(b_.end(), bytes);
    return *this;
  }
  const Bytes& bytes() const { return b_; }

 private:
  Bytes b_;
};

// A whole file: MThd then chunks appended in order.
class SmfBytes {
 public:
  SmfBytes(int format, int ntracks, std::uint16_t division) {
    b_ = {'M', 'T', 'h', 'd'};
    put_be32(b_, 6);
    put_be16(b_, static_cast<std::uint16_t>(format));
    put_be16(b_, static_cast<std::uint16_t>(ntracks));
    put_be16(b_, division);
  }
  SmfBytes& track(const TrackBytes& t) { return chunk("MTrk", t.bytes()); }
  // Any chunk; declared_len overrides the length field (for truncation tests).
  SmfBytes& chunk(const char id[5], const Bytes& body, std::int64_t declared_len = -1) {
    b_.insert(b_.end(), id, id + 4);
    put_be32(b_, static_cast<std::uint32_t>(
                     declared_len >= 0 ? declared_len : static_cast<std::int64_t>(body.size())));
    b_.insert(b_.end(), body.begin(), body.end());
    return *this;
  }
  SmfBytes& raw(const Bytes& bytes) {
    b_.insert(b_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  const Bytes& bytes() const { return b_; }

 private:
  Bytes b_;
};

// RIFF 'RMID' wrapping with an extra chunk before 'data' (as some writers emit).
inline Bytes rmid_wrap(const Bytes& smf) {
  Bytes body = {'R', 'M', 'I', 'D'};
  const Bytes info = {'I', 'N', 'F', 'O', 'x'};  // odd length: padded
  body.insert(body.end(), {'L', 'I', 'S', 'T'});
  put_le32(body, static_cast<std::uint32_t>(info.size()));
  body.insert(body.end(), info.begin(), info.end());
  body.push_back(0);  // pad byte
  body.insert(body.end(), {'d', 'a', 't', 'a'});
  put_le32(body, static_cast<std::uint32_t>(smf.size()));
  body.insert(body.end(), smf.begin(), smf.end());
  Bytes out = {'R', 'I', 'F', 'F'};
  put_le32(out, static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace melodl::midi::test
