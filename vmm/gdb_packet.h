// The gdb remote serial protocol's packet layer, without sockets or state
// beyond one connection's input: framing ($data#cs), checksums, acks, the
// out-of-band interrupt (0x03), binary escapes (} x^0x20) and run-length
// encoding (x*n). Everything arriving here is hostile: input is bounded
// (a packet longer than the limit is dropped whole and reported, bytes
// outside packets are skipped), checksums and hex digits are checked, and
// decoding never expands past a caller-given bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qvm::gdb {

// What the reader found in the byte stream, in order.
struct Event {
  enum Kind {
    kPacket,     // a complete packet with a good checksum: `data` (decoded)
    kBadPacket,  // checksum mismatch or undecodable: answer '-' (gdb resends)
    kOversized,  // longer than the limit: dropped; answer '+' and an error
    kAck,        // '+'
    kNak,        // '-': resend the last reply
    kInterrupt,  // 0x03 outside a packet (Ctrl-C)
  };
  Kind kind;
  std::string data;
};

class PacketReader {
 public:
  // `max_packet`: the largest payload accepted, in bytes on the wire
  // between '$' and '#' (what qSupported's PacketSize announces).
  explicit PacketReader(size_t max_packet) : max_(max_packet) {}
  // Consumes `in` and appends what it completed to `out` (at most one
  // event per input byte). Partial packets are kept for the next call.
  void feed(std::string_view in, std::vector<Event>* out);
  // Bytes skipped outside packets since the start (noise, notifications).
  uint64_t skipped() const { return skipped_; }

 private:
  enum class State { kIdle, kData, kCsum1, kCsum2 };
  size_t max_;
  State state_ = State::kIdle;
  std::string buf_;
  bool oversized_ = false;
  uint8_t sum_ = 0;
  int csum_hi_ = 0;
  uint64_t skipped_ = 0;
};

// The modulo-256 sum of the bytes.
uint8_t Checksum(std::string_view data);

// Decodes a packet's wire payload: '}' escapes and '*' run lengths.
// nullopt: malformed (a dangling '}', '*' with nothing before it or a count
// byte out of range) or the result would exceed `max_out`.
std::optional<std::string> Decode(std::string_view wire, size_t max_out);

// A packet on the wire: "$" + payload (escaped: # $ } *, and run-length
// encoded when `rle`) + "#" + two hex digits of the checksum.
std::string Frame(std::string_view payload, bool rle = true);

// Lower-case hex of the bytes, and back (nullopt: odd length or a
// non-hex digit).
std::string ToHex(std::string_view bytes);
std::optional<std::string> FromHex(std::string_view hex);
// An unsigned hex number (at most 16 digits, no prefix); nullopt otherwise.
std::optional<uint64_t> ParseHex(std::string_view hex);

}  // namespace qvm::gdb
