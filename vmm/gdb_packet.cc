#include "vmm/gdb_packet.h"

namespace qvm::gdb {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kHex[] = "0123456789abcdef";

bool NeedsEscape(char c) { return c == '#' || c == '$' || c == '}' || c == '*'; }

// The run lengths a count byte can say: n + 29 printable, not '#' or '$'
// (n = 6, 7), at most '~'.
constexpr size_t kMaxRun = 126 - 29;
bool RunCountOk(size_t n) { return n >= 3 && n <= kMaxRun && n != 6 && n != 7; }

}  // namespace

uint8_t Checksum(std::string_view data) {
  uint8_t s = 0;
  for (char c : data) s = uint8_t(s + uint8_t(c));
  return s;
}

void PacketReader::feed(std::string_view in, std::vector<Event>* out) {
  for (char c : in) {
    switch (state_) {
      case State::kIdle:
        if (c == '$') {
          state_ = State::kData;
          buf_.clear();
          oversized_ = false;
          sum_ = 0;
        } else if (c == '+') {
          out->push_back({Event::kAck, {}});
        } else if (c == '-') {
          out->push_back({Event::kNak, {}});
        } else if (c == '\x03') {
          out->push_back({Event::kInterrupt, {}});
        } else {
          skipped_++;
        }
        break;
      case State::kData:
        if (c == '#') {
          state_ = State::kCsum1;
        } else if (c == '$') {
          // A new start inside a packet: the old one was cut off.
          out->push_back({Event::kBadPacket, {}});
          buf_.clear();
          oversized_ = false;
          sum_ = 0;
        } else {
          sum_ = uint8_t(sum_ + uint8_t(c));
          if (buf_.size() < max_)
            buf_ += c;
          else
            oversized_ = true;
        }
        break;
      case State::kCsum1:
        csum_hi_ = HexDigit(c);
        state_ = State::kCsum2;
        break;
      case State::kCsum2: {
        state_ = State::kIdle;
        int lo = HexDigit(c);
        if (oversized_) {
          out->push_back({Event::kOversized, {}});
        } else if (csum_hi_ < 0 || lo < 0 || uint8_t(csum_hi_ * 16 + lo) != sum_) {
          out->push_back({Event::kBadPacket, {}});
        } else if (auto d = Decode(buf_, max_)) {
          out->push_back({Event::kPacket, std::move(*d)});
        } else {
          out->push_back({Event::kBadPacket, {}});
        }
        buf_.clear();
        break;
      }
    }
  }
}

std::optional<std::string> Decode(std::string_view wire, size_t max_out) {
  std::string out;
  bool escaped = false;  // the last byte came from an escape: no run may follow
  for (size_t i = 0; i < wire.size(); i++) {
    char c = wire[i];
    bool esc = false;
    if (c == '}') {
      if (++i >= wire.size()) return std::nullopt;
      c = char(wire[i] ^ 0x20);
      esc = true;
    } else if (c == '*') {
      if (out.empty() || escaped || ++i >= wire.size()) return std::nullopt;
      int n = int(uint8_t(wire[i])) - 29;
      if (n < 3 || size_t(n) > kMaxRun) return std::nullopt;
      if (out.size() + size_t(n) > max_out) return std::nullopt;
      out.append(size_t(n), out.back());
      continue;
    }
    if (out.size() >= max_out) return std::nullopt;
    out += c;
    escaped = esc;
  }
  return out;
}

std::string Frame(std::string_view payload, bool rle) {
  std::string body;
  for (size_t i = 0; i < payload.size();) {
    char c = payload[i];
    if (NeedsEscape(c)) {
      body += '}';
      body += char(c ^ 0x20);
      i++;
      continue;
    }
    size_t run = 1;
    while (i + run < payload.size() && payload[i + run] == c) run++;
    body += c;
    size_t more = run - 1;  // repeats after the first
    if (rle && RunCountOk(more)) {
      body += '*';
      body += char(more + 29);
      i += run;
      continue;
    }
    if (rle && more > kMaxRun) {
      body += '*';
      body += char(kMaxRun + 29);
      i += 1 + kMaxRun;
      continue;
    }
    if (rle && (more == 6 || more == 7)) {  // counts that would say '#' or '$'
      body += '*';
      body += char(5 + 29);
      i += 1 + 5;
      continue;
    }
    i++;
  }
  std::string out = "$" + body + "#";
  uint8_t s = Checksum(body);
  out += kHex[s >> 4];
  out += kHex[s & 15];
  return out;
}

std::string ToHex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    out += kHex[uint8_t(c) >> 4];
    out += kHex[uint8_t(c) & 15];
  }
  return out;
}

std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexDigit(hex[i]), lo = HexDigit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += char(hi * 16 + lo);
  }
  return out;
}

std::optional<uint64_t> ParseHex(std::string_view hex) {
  if (hex.empty() || hex.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : hex) {
    int d = HexDigit(c);
    if (d < 0) return std::nullopt;
    v = v << 4 | uint64_t(d);
  }
  return v;
}

}  // namespace qvm::gdb
