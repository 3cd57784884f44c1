#include "resmgr/protocol.h"

#include <cerrno>
#include <cstring>

namespace qvm::resmgr::proto {

namespace {

constexpr SizeRule kRules[] = {
    // CONNECT: u32 flags, u32 name_len, name bytes
    {kConnect, 8, 8 + kMaxName},
    // READ: u32 nbytes, u32 reserved, u64 offset
    {kRead, 16, 16},
    // WRITE: u64 offset, data
    {kWrite, 8, kMaxPayload},
    // DEVCTL: u32 cmd, u32 max_out, input data
    {kDevctl, 8, kMaxPayload},
    {kStat, 0, 0},
    {kClose, 0, 0},
    // NOTIFY: u32 events, u32 cookie
    {kNotify, 8, 8},
};

}  // namespace

const SizeRule* RuleFor(uint8_t type) {
  for (const SizeRule& r : kRules)
    if (r.type == type) return &r;
  return nullptr;
}

void PutU16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void PutU32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; i++) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; i++) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint16_t GetU16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t GetU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t GetU64(const uint8_t* p) {
  return static_cast<uint64_t>(GetU32(p)) | (static_cast<uint64_t>(GetU32(p + 4)) << 32);
}

void PutHeader(std::string& s, uint8_t type, uint32_t id, uint32_t length) {
  PutU16(s, kMagic);
  s.push_back(static_cast<char>(kVersion));
  s.push_back(static_cast<char>(type));
  PutU32(s, id);
  PutU32(s, length);
  PutU32(s, 0);
}

bool ParseHeader(const uint8_t* p, size_t n, Header* h) {
  if (n < kHeaderSize) return false;
  h->magic = GetU16(p);
  h->version = p[2];
  h->type = p[3];
  h->id = GetU32(p + 4);
  h->length = GetU32(p + 8);
  h->reserved = GetU32(p + 12);
  return true;
}

int CheckRequest(const uint8_t* pkt, size_t real_len, Request* out) {
  *out = Request{};
  out->hdr.id = 0;
  Header h;
  if (!ParseHeader(pkt, real_len, &h)) return EBADMSG;
  if (h.magic != kMagic) return EBADMSG;
  // The id is echoed in the error reply from here on.
  out->hdr = h;
  if (h.version != kVersion) return EPROTO;
  if (real_len > kMaxMessage) return EBADMSG;
  if (h.reserved != 0) return EBADMSG;
  if (h.length != real_len - kHeaderSize) return EBADMSG;
  const SizeRule* rule = RuleFor(h.type);
  if (rule == nullptr) return ENOSYS;
  if (h.length < rule->min_payload || h.length > rule->max_payload) return EBADMSG;
  const uint8_t* p = pkt + kHeaderSize;
  switch (h.type) {
    case kConnect: {
      out->flags = GetU32(p);
      uint32_t name_len = GetU32(p + 4);
      if (name_len > kMaxName || 8 + static_cast<size_t>(name_len) != h.length)
        return EBADMSG;
      out->name = std::string_view(reinterpret_cast<const char*>(p + 8), name_len);
      if (out->name.find('\0') != std::string_view::npos) return EBADMSG;
      break;
    }
    case kRead:
      out->nbytes = GetU32(p);
      if (GetU32(p + 4) != 0) return EBADMSG;
      out->offset = GetU64(p + 8);
      if (out->nbytes > kMaxData) return EBADMSG;
      break;
    case kWrite:
      out->offset = GetU64(p);
      out->data = std::string_view(reinterpret_cast<const char*>(p + 8), h.length - 8);
      if (out->data.size() > kMaxData) return EBADMSG;
      break;
    case kDevctl:
      out->cmd = GetU32(p);
      out->max_out = GetU32(p + 4);
      if (out->max_out > kMaxData) return EBADMSG;
      out->data = std::string_view(reinterpret_cast<const char*>(p + 8), h.length - 8);
      break;
    case kNotify:
      out->events = GetU32(p);
      out->cookie = GetU32(p + 4);
      if (out->events & ~kNotifyMask) return EINVAL;
      break;
    default:  // STAT, CLOSE: empty payload, already checked by the table
      break;
  }
  return 0;
}

std::string EncodeConnect(uint32_t id, uint32_t flags, std::string_view name) {
  std::string s;
  PutHeader(s, kConnect, id, static_cast<uint32_t>(8 + name.size()));
  PutU32(s, flags);
  PutU32(s, static_cast<uint32_t>(name.size()));
  s.append(name);
  return s;
}

std::string EncodeRead(uint32_t id, uint32_t nbytes, uint64_t offset) {
  std::string s;
  PutHeader(s, kRead, id, 16);
  PutU32(s, nbytes);
  PutU32(s, 0);
  PutU64(s, offset);
  return s;
}

std::string EncodeWrite(uint32_t id, uint64_t offset, std::string_view data) {
  std::string s;
  PutHeader(s, kWrite, id, static_cast<uint32_t>(8 + data.size()));
  PutU64(s, offset);
  s.append(data);
  return s;
}

std::string EncodeDevctl(uint32_t id, uint32_t cmd, uint32_t max_out,
                         std::string_view in) {
  std::string s;
  PutHeader(s, kDevctl, id, static_cast<uint32_t>(8 + in.size()));
  PutU32(s, cmd);
  PutU32(s, max_out);
  s.append(in);
  return s;
}

std::string EncodeEmpty(uint8_t type, uint32_t id) {
  std::string s;
  PutHeader(s, type, id, 0);
  return s;
}

std::string EncodeNotify(uint32_t id, uint32_t events, uint32_t cookie) {
  std::string s;
  PutHeader(s, kNotify, id, 8);
  PutU32(s, events);
  PutU32(s, cookie);
  return s;
}

std::string EncodeReply(uint32_t id, int32_t status, std::string_view data) {
  std::string s;
  s.reserve(kHeaderSize + kReplyPrefix + data.size());
  PutHeader(s, kReply, id, static_cast<uint32_t>(kReplyPrefix + data.size()));
  PutU32(s, static_cast<uint32_t>(status));
  PutU32(s, 0);
  s.append(data);
  return s;
}

std::string EncodeNotifyEvent(uint32_t events, uint32_t cookie) {
  std::string s;
  PutHeader(s, kNotifyEvent, 0, 8);
  PutU32(s, events);
  PutU32(s, cookie);
  return s;
}

}  // namespace qvm::resmgr::proto
