// The resmgr wire protocol (shared by the server and the client library).
// Unix-domain SOCK_SEQPACKET: one packet = one message. Little-endian.
// resmgr/README.md describes it in prose; this header is the reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qvm::resmgr::proto {

inline constexpr uint16_t kMagic = 0x5251;  // bytes 'Q' 'R'
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kMaxMessage = 65536;  // header included
inline constexpr size_t kMaxPayload = kMaxMessage - kHeaderSize;  // 65520
inline constexpr size_t kReplyPrefix = 8;  // i32 status + u32 reserved
// Largest data block a READ reply, WRITE request or DEVCTL carries.
inline constexpr size_t kMaxData = kMaxPayload - 8;  // 65512
inline constexpr size_t kMaxName = 255;

enum MsgType : uint8_t {
  kConnect = 1,
  kRead = 2,
  kWrite = 3,
  kDevctl = 4,
  kStat = 5,
  kClose = 6,
  kNotify = 7,
  // Server to client.
  kReply = 0x80,
  kNotifyEvent = 0x81,
};

// Readiness bits for NOTIFY (same values as poll(2)).
inline constexpr uint32_t kNotifyIn = 0x1;
inline constexpr uint32_t kNotifyPri = 0x2;
inline constexpr uint32_t kNotifyOut = 0x4;
inline constexpr uint32_t kNotifyMask = kNotifyIn | kNotifyPri | kNotifyOut;

inline constexpr size_t kStatSize = 32;

// Header of every message (16 bytes):
//   u16 magic, u8 version, u8 type, u32 id, u32 length (of the payload that
//   follows; must equal packet length - 16), u32 reserved (0).
struct Header {
  uint16_t magic = kMagic;
  uint8_t version = kVersion;
  uint8_t type = 0;
  uint32_t id = 0;
  uint32_t length = 0;
  uint32_t reserved = 0;
};

// A request as validated by CheckRequest; views point into the packet.
struct Request {
  Header hdr;
  // CONNECT
  uint32_t flags = 0;
  std::string_view name;
  // READ / WRITE
  uint32_t nbytes = 0;
  uint64_t offset = 0;
  // WRITE data / DEVCTL input
  std::string_view data;
  // DEVCTL
  uint32_t cmd = 0;
  uint32_t max_out = 0;
  // NOTIFY
  uint32_t events = 0;
  uint32_t cookie = 0;
};

// Size limits of one request type (payload bytes, header excluded).
struct SizeRule {
  uint8_t type;
  uint32_t min_payload;
  uint32_t max_payload;
};
// The per-message table. Returns nullptr for a type clients may not send.
const SizeRule* RuleFor(uint8_t type);

// Validates a packet received from a client. `pkt` holds the first
// min(real_len, kMaxMessage) bytes; `real_len` is the packet's real length
// (recv with MSG_TRUNC). Returns 0 and fills *out, or an errno:
//   EBADMSG  short header, bad magic, nonzero reserved, declared length !=
//            packet length, oversize packet, payload outside the type's
//            size table, inner lengths inconsistent;
//   EPROTO   protocol version not ours;
//   ENOSYS   unknown (or server-only) message type;
//   EINVAL   well-formed but invalid field (unknown NOTIFY bits).
// out->hdr.id is filled whenever the header could be read (else 0).
int CheckRequest(const uint8_t* pkt, size_t real_len, Request* out);

// Little-endian encoding helpers.
void PutU16(std::string& s, uint16_t v);
void PutU32(std::string& s, uint32_t v);
void PutU64(std::string& s, uint64_t v);
uint16_t GetU16(const uint8_t* p);
uint32_t GetU32(const uint8_t* p);
uint64_t GetU64(const uint8_t* p);

void PutHeader(std::string& s, uint8_t type, uint32_t id, uint32_t length);
bool ParseHeader(const uint8_t* p, size_t n, Header* h);

// Whole messages.
std::string EncodeConnect(uint32_t id, uint32_t flags, std::string_view name);
std::string EncodeRead(uint32_t id, uint32_t nbytes, uint64_t offset);
std::string EncodeWrite(uint32_t id, uint64_t offset, std::string_view data);
std::string EncodeDevctl(uint32_t id, uint32_t cmd, uint32_t max_out,
                         std::string_view in);
std::string EncodeEmpty(uint8_t type, uint32_t id);  // STAT, CLOSE
std::string EncodeNotify(uint32_t id, uint32_t events, uint32_t cookie);
std::string EncodeReply(uint32_t id, int32_t status, std::string_view data);
std::string EncodeNotifyEvent(uint32_t events, uint32_t cookie);

}  // namespace qvm::resmgr::proto
