#include "vmm/gdb_server.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace qvm::gdb {
namespace {

// Error replies (the numbers are errno values, as gdbserver sends them).
constexpr const char* kErrNoEnt = "E02";
constexpr const char* kErrIo = "E05";
constexpr const char* kErrFault = "E0e";
constexpr const char* kErrInval = "E16";
constexpr const char* kErrNoSpc = "E1c";

// `s` cut at every `sep` (empty pieces kept unless `skip_empty`).
std::vector<std::string_view> Split(std::string_view s, char sep, bool skip_empty = false) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t at = s.find(sep);
    std::string_view piece = s.substr(0, at);
    if (!skip_empty || !piece.empty()) out.push_back(piece);
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

// The most bytes one m packet reads: its hex must fit in a packet.
constexpr size_t kMaxRead = (kMaxPacket - 8) / 2;

// "ADDR,LEN" (hex both), with ADDR+LEN not wrapping.
bool AddrLen(std::string_view s, uint64_t* addr, uint64_t* len) {
  size_t comma = s.find(',');
  if (comma == std::string_view::npos) return false;
  auto a = ParseHex(s.substr(0, comma));
  auto l = ParseHex(s.substr(comma + 1));
  if (!a || !l) return false;
  if (*l && *a + *l - 1 < *a) return false;  // wraps past the top
  *addr = *a;
  *len = *l;
  return true;
}

constexpr const char* kMonitorHelp =
    "qvm monitor commands:\n"
    "  phys        show whether memory accesses are guest-physical\n"
    "  phys on     m/M/X address guest-physical memory\n"
    "  phys off    m/M/X address guest-virtual memory through the selected\n"
    "              vCPU's page tables (the default)\n"
    "  help        this text\n";

}  // namespace

Server::Server(Target& t, Stop initial) : t_(t), last_stop_(initial) {
  if (last_stop_.vcpu >= t_.vcpus()) last_stop_.vcpu = 0;
  g_vcpu_ = c_vcpu_ = last_stop_.vcpu;
}

std::string Server::reply(std::string_view payload) {
  last_ = Frame(payload);
  return last_;
}

std::string Server::feed(std::string_view in) {
  std::vector<Event> ev;
  reader_.feed(in, &ev);
  std::string out;
  for (Event& e : ev) {
    if (finished_) break;
    switch (e.kind) {
      case Event::kAck:
        break;
      case Event::kNak:
        out += last_;
        break;
      case Event::kBadPacket:
        bad_++;
        if (!no_ack_) out += "-";
        break;
      case Event::kOversized:
        bad_++;
        if (!no_ack_) out += "+";
        if (!running_) out += reply(kErrNoSpc);
        break;
      case Event::kInterrupt:
        if (running_ && t_.interrupt()) {
          running_ = false;
          Stop s;
          s.vcpu = last_stop_.vcpu;
          s.interrupted = true;
          last_stop_ = s;
          out += reply(stop_reply(s));
        }
        break;
      case Event::kPacket: {
        if (!no_ack_) out += "+";
        if (running_) {  // all-stop: nothing but Ctrl-C while the guest runs
          bad_++;
          break;
        }
        pre_.clear();
        no_reply_ = false;
        std::string r = command(e.data);
        for (const auto& p : pre_) out += Frame(p);
        if (!no_reply_) out += reply(r);
        break;
      }
    }
  }
  return out;
}

std::string Server::stopped(const Stop& s) {
  if (finished_) return "";
  if (!running_) {
    queue_stop(s);
    return "";
  }
  running_ = false;
  last_stop_ = s;
  if (last_stop_.vcpu >= t_.vcpus()) last_stop_.vcpu = 0;
  g_vcpu_ = c_vcpu_ = last_stop_.vcpu;
  return reply(stop_reply(last_stop_));
}

void Server::queue_stop(const Stop& s) {
  if (s.vcpu >= t_.vcpus()) return;  // not a vCPU of this target
  if (pending_.size() >= kMaxPendingStops) {
    dropped_stops_++;
    return;
  }
  PendingStop p;
  p.stop = s;
  p.stop.interrupted = false;
  if ((s.why == Exit::DebugWhy::HwBreak || s.why == Exit::DebugWhy::Watch) && s.slot >= 0 &&
      size_t(s.slot) < hw_.size())
    p.point = hw_[size_t(s.slot)];
  pending_.push_back(p);
}

std::optional<uint64_t> Server::pc_of(unsigned vcpu) {
  VcpuRegs r;
  if (!t_.regs(vcpu, &r)) return std::nullopt;
  auto regs = t_.model().gdb_registers();
  for (size_t i = 0; i < regs.size(); i++) {
    if (std::string_view(regs[i].type) != "code_ptr") continue;
    uint8_t b[16] = {};
    size_t n = regs[i].bits / 8;
    if (n > 8 || !GdbGetReg(t_.model(), r, unsigned(i), b, sizeof b)) return std::nullopt;
    uint64_t pc = 0;
    for (size_t k = 0; k < n; k++) pc |= uint64_t(b[k]) << (8 * k);
    return pc;
  }
  return std::nullopt;
}

std::optional<Stop> Server::next_pending() {
  while (!pending_.empty()) {
    PendingStop p = pending_.front();
    pending_.pop_front();
    Stop& s = p.stop;
    switch (s.why) {
      case Exit::DebugWhy::SwBreak: {
        // Still worth a stop only while a breakpoint is planted where the
        // vCPU stands.
        auto pc = pc_of(s.vcpu);
        if (!pc || !sw_.count(*pc)) continue;
        break;
      }
      case Exit::DebugWhy::HwBreak:
      case Exit::DebugWhy::Watch: {
        if (!p.point) {
          s.slot = -1;
          break;
        }
        auto same = [&](const HwPoint& o) {
          return o.kind == p.point->kind && o.addr == p.point->addr && o.len == p.point->len;
        };
        auto it = std::find_if(hw_.begin(), hw_.end(), same);
        if (it == hw_.end()) continue;  // the debugger removed it
        s.slot = int(it - hw_.begin());
        break;
      }
      default:
        break;
    }
    return s;
  }
  return std::nullopt;
}

void Server::disconnect() {
  if (finished_) return;
  finished_ = true;
  pending_.clear();
  if (running_ && !t_.interrupt()) {
    // The vCPUs did not stop: breakpoints stay planted but the debug
    // state goes off, so that they trap in the guest, not in qvm.
    t_.detach();
    return;
  }
  running_ = false;
  remove_all();
  t_.detach();
}

std::string Server::stop_reply(const Stop& s) const {
  std::string r = absl::StrFormat("T%02xthread:%x;", s.interrupted ? 2 : 5, s.vcpu + 1);
  if (s.interrupted) return r;
  switch (s.why) {
    case Exit::DebugWhy::SwBreak:
      r += "swbreak:;";
      break;
    case Exit::DebugWhy::HwBreak:
      r += "hwbreak:;";
      break;
    case Exit::DebugWhy::Watch:
      if (s.slot >= 0 && size_t(s.slot) < hw_.size()) {
        const HwPoint& p = hw_[size_t(s.slot)];
        const char* what = p.kind == HwPoint::kRead     ? "rwatch"
                           : p.kind == HwPoint::kAccess ? "awatch"
                                                        : "watch";
        absl::StrAppendFormat(&r, "%s:%x;", what, p.addr);
      }
      break;
    default:
      break;
  }
  return r;
}

std::optional<int> Server::thread(std::string_view id, bool allow_all) const {
  if (id == "-1") return allow_all ? std::optional<int>(-1) : std::nullopt;
  auto n = ParseHex(id);
  if (!n) return std::nullopt;
  if (*n == 0) return int(last_stop_.vcpu);  // any thread
  if (*n > t_.vcpus()) return std::nullopt;
  return int(*n - 1);
}

std::string Server::command(const std::string& p) {
  if (p.empty()) return "";
  std::string_view args = std::string_view(p).substr(1);
  switch (p[0]) {
    case '?':
      return stop_reply(last_stop_);
    case 'q':
    case 'Q':
      return query(p);
    case 'H':
      return set_thread(args);
    case 'T': {
      auto v = thread(args, false);
      return v ? "OK" : kErrNoEnt;
    }
    case 'g':
      return read_regs();
    case 'G':
      return write_regs(args);
    case 'p':
      return read_reg(args);
    case 'P':
      return write_reg(args);
    case 'm':
      return read_mem(args);
    case 'M':
      return write_mem(args, false);
    case 'X':
      return write_mem(args, true);
    case 'Z':
    case 'z':
      return breakpoint(p, p[0] == 'Z');
    case 'c':
    case 's':
    case 'C':
    case 'S': {
      // c [ADDR], s [ADDR], C SIG[;ADDR], S SIG[;ADDR]: the signal is not
      // passed to a guest (there is none to pass).
      std::string_view a = args;
      if (p[0] == 'C' || p[0] == 'S') {
        size_t semi = a.find(';');
        a = semi == std::string_view::npos ? std::string_view() : a.substr(semi + 1);
      }
      unsigned vcpu = c_vcpu_ < t_.vcpus() ? c_vcpu_ : last_stop_.vcpu;
      if (!a.empty()) {
        auto addr = ParseHex(a);
        if (!addr) return kErrInval;
        VcpuRegs r;
        if (!t_.regs(vcpu, &r)) return kErrIo;
        r.pc = *addr;
        // The pc is a register like any other in gdb's numbering: find it.
        bool set = false;
        auto regs = t_.model().gdb_registers();
        for (size_t i = 0; i < regs.size() && !set; i++)
          if (std::string_view(regs[i].type) == "code_ptr") {
            uint8_t b[8];
            for (int k = 0; k < 8; k++) b[k] = uint8_t(*addr >> (8 * k));
            set = GdbSetReg(t_.model(), r, unsigned(i), b, regs[i].bits / 8);
          }
        if (!set || !t_.set_regs(vcpu, r)) return kErrIo;
      }
      bool step = p[0] == 's' || p[0] == 'S';
      return resume(step ? int(vcpu) : -1);
    }
    case 'v':
      if (p == "vCont?") return "vCont;c;C;s;S";
      if (absl::StartsWith(p, "vCont;")) return vcont(std::string_view(p).substr(6));
      return "";
    case 'D':
      pending_.clear();
      remove_all();
      t_.detach();
      finished_ = true;
      return "OK";
    case 'k':
      pending_.clear();
      remove_all();
      finished_ = true;
      no_reply_ = true;
      t_.kill();
      return "";
    default:
      return "";
  }
}

std::string Server::query(const std::string& p) {
  if (absl::StartsWith(p, "qSupported"))
    return absl::StrFormat(
        "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;QStartNoAckMode+;"
        "vContSupported+",
        kMaxPacket);
  if (p == "QStartNoAckMode") {
    // The OK itself is still acknowledged; nothing after it.
    pre_.clear();
    no_ack_ = true;
    return "OK";
  }
  if (p == "qfThreadInfo") {
    std::string r = "m";
    for (unsigned i = 0; i < t_.vcpus(); i++) absl::StrAppendFormat(&r, "%s%x", i ? "," : "", i + 1);
    return r;
  }
  if (p == "qsThreadInfo") return "l";
  if (p == "qC") return absl::StrFormat("QC%x", g_vcpu_ + 1);
  if (p == "qAttached") return "1";
  if (p == "qSymbol::") return "OK";
  if (absl::StartsWith(p, "qThreadExtraInfo,")) {
    auto v = thread(std::string_view(p).substr(17), false);
    if (!v) return kErrNoEnt;
    return ToHex(absl::StrCat("vCPU ", *v));
  }
  constexpr std::string_view kXfer = "qXfer:features:read:";
  if (absl::StartsWith(p, "qXfer:features:read:")) {
    std::string_view rest = std::string_view(p).substr(kXfer.size());
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos) return kErrInval;
    if (rest.substr(0, colon) != "target.xml") return kErrNoEnt;
    uint64_t off, len;
    if (!AddrLen(rest.substr(colon + 1), &off, &len)) return kErrInval;
    std::string xml = GdbTargetXml(t_.model());
    if (off >= xml.size()) return "l";
    // Escaping can double a byte: half a packet of data always fits.
    len = std::min<uint64_t>(len, kMaxPacket / 2 - 8);
    std::string chunk = xml.substr(size_t(off), size_t(len));
    return absl::StrCat(off + chunk.size() >= xml.size() ? "l" : "m", chunk);
  }
  if (absl::StartsWith(p, "qRcmd,")) {
    auto cmd = FromHex(std::string_view(p).substr(6));
    if (!cmd) return kErrInval;
    return monitor(*cmd);
  }
  return "";
}

std::string Server::monitor(std::string_view cmd) {
  std::vector<std::string_view> w = Split(cmd, ' ', true);
  std::string text;
  if (w.empty() || w[0] == "help") {
    text = kMonitorHelp;
  } else if (w[0] == "phys" && w.size() == 1) {
    text = phys_ ? "memory accesses are guest-physical\n"
                 : "memory accesses are guest-virtual (the selected vCPU's page tables)\n";
  } else if (w[0] == "phys" && w.size() == 2 && (w[1] == "on" || w[1] == "off")) {
    phys_ = w[1] == "on";
    text = phys_ ? "memory accesses are now guest-physical\n"
                 : "memory accesses are now guest-virtual\n";
  } else {
    text = absl::StrCat("unknown monitor command `", std::string(cmd.substr(0, 64)), "`\n",
                        kMonitorHelp);
  }
  pre_.push_back(absl::StrCat("O", ToHex(text)));
  return "OK";
}

std::string Server::set_thread(std::string_view args) {
  if (args.empty() || (args[0] != 'g' && args[0] != 'c')) return kErrInval;
  auto v = thread(args.substr(1), true);
  if (!v) return kErrNoEnt;
  unsigned vcpu = *v < 0 ? last_stop_.vcpu : unsigned(*v);
  if (args[0] == 'g') g_vcpu_ = vcpu;
  else c_vcpu_ = vcpu;
  return "OK";
}

std::string Server::read_regs() {
  VcpuRegs r;
  if (!t_.regs(g_vcpu_, &r)) return kErrIo;
  std::string out;
  auto regs = t_.model().gdb_registers();
  for (size_t i = 0; i < regs.size(); i++) {
    size_t n = regs[i].bits / 8;
    uint8_t b[16];
    if (n <= sizeof b && GdbGetReg(t_.model(), r, unsigned(i), b, sizeof b))
      out += ToHex(std::string_view(reinterpret_cast<const char*>(b), n));
    else
      out.append(2 * n, 'x');
  }
  return out;
}

std::string Server::write_regs(std::string_view hex) {
  VcpuRegs r;
  if (!t_.regs(g_vcpu_, &r)) return kErrIo;
  auto regs = t_.model().gdb_registers();
  size_t total = 0;
  for (const GdbReg& g : regs) total += g.bits / 8 * 2;
  // gdb may send fewer registers than it knows (a prefix): take what came.
  if (hex.size() > total || hex.size() % 2) return kErrInval;
  size_t at = 0;
  for (size_t i = 0; i < regs.size() && at < hex.size(); i++) {
    size_t n = regs[i].bits / 8 * 2;
    if (at + n > hex.size()) return kErrInval;
    std::string_view h = hex.substr(at, n);
    at += n;
    auto b = FromHex(h);
    if (!b) continue;  // "xx...": unavailable, left alone
    GdbSetReg(t_.model(), r, unsigned(i), reinterpret_cast<const uint8_t*>(b->data()), b->size());
  }
  return t_.set_regs(g_vcpu_, r) ? "OK" : kErrIo;
}

std::string Server::read_reg(std::string_view args) {
  auto n = ParseHex(args);
  auto regs = t_.model().gdb_registers();
  if (!n || *n >= regs.size()) return kErrInval;
  VcpuRegs r;
  if (!t_.regs(g_vcpu_, &r)) return kErrIo;
  size_t len = regs[*n].bits / 8;
  uint8_t b[16];
  if (len <= sizeof b && GdbGetReg(t_.model(), r, unsigned(*n), b, sizeof b))
    return ToHex(std::string_view(reinterpret_cast<const char*>(b), len));
  return std::string(2 * len, 'x');
}

std::string Server::write_reg(std::string_view args) {
  size_t eq = args.find('=');
  if (eq == std::string_view::npos) return kErrInval;
  auto n = ParseHex(args.substr(0, eq));
  auto v = FromHex(args.substr(eq + 1));
  auto regs = t_.model().gdb_registers();
  if (!n || !v || *n >= regs.size()) return kErrInval;
  VcpuRegs r;
  if (!t_.regs(g_vcpu_, &r)) return kErrIo;
  if (!GdbSetReg(t_.model(), r, unsigned(*n), reinterpret_cast<const uint8_t*>(v->data()),
                 v->size()))
    return kErrInval;
  return t_.set_regs(g_vcpu_, r) ? "OK" : kErrIo;
}

size_t Server::mem_read(uint64_t addr, uint8_t* out, size_t len) {
  size_t n = t_.read(g_vcpu_, addr, phys_, out, len);
  if (phys_) return n;
  // Planted breakpoints read as the bytes they replaced.
  for (const auto& [a, bp] : sw_) {
    for (size_t k = 0; k < bp.orig.size(); k++) {
      uint64_t b = a + k;
      if (b >= addr && b - addr < n) out[b - addr] = uint8_t(bp.orig[k]);
    }
  }
  return n;
}

size_t Server::mem_write(uint64_t addr, const uint8_t* in, size_t len) {
  if (phys_ || sw_.empty()) return t_.write(g_vcpu_, addr, phys_, in, len);
  // A write over a planted breakpoint changes the bytes it replaced; the
  // breakpoint instruction stays.
  std::string buf(reinterpret_cast<const char*>(in), len);
  for (auto& [a, bp] : sw_) {
    for (size_t k = 0; k < bp.orig.size(); k++) {
      uint64_t b = a + k;
      if (b >= addr && b - addr < len) {
        bp.orig[k] = buf[b - addr];
        buf[b - addr] = t_.model().gdb_breakpoint()[k];
      }
    }
  }
  return t_.write(g_vcpu_, addr, false, reinterpret_cast<const uint8_t*>(buf.data()), len);
}

std::string Server::read_mem(std::string_view args) {
  uint64_t addr, len;
  if (!AddrLen(args, &addr, &len)) return kErrInval;
  len = std::min<uint64_t>(len, kMaxRead);
  std::string buf(size_t(len), '\0');
  size_t n = mem_read(addr, reinterpret_cast<uint8_t*>(buf.data()), buf.size());
  if (n == 0 && len) return kErrFault;
  buf.resize(n);
  return ToHex(buf);
}

std::string Server::write_mem(std::string_view args, bool binary) {
  size_t colon = args.find(':');
  if (colon == std::string_view::npos) return kErrInval;
  uint64_t addr, len;
  if (!AddrLen(args.substr(0, colon), &addr, &len)) return kErrInval;
  std::string data;
  if (binary) {
    data = std::string(args.substr(colon + 1));  // the packet layer decoded the escapes
  } else {
    auto d = FromHex(args.substr(colon + 1));
    if (!d) return kErrInval;
    data = std::move(*d);
  }
  if (data.size() != len) return kErrInval;
  if (len == 0) return "OK";
  size_t n = mem_write(addr, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  return n == len ? "OK" : kErrFault;
}

bool Server::sw_insert(uint64_t addr) {
  if (sw_.count(addr)) return true;
  if (sw_.size() >= kMaxSwBreakpoints) return false;
  std::string_view insn = t_.model().gdb_breakpoint();
  if (insn.empty() || addr + insn.size() - 1 < addr) return false;
  SwBreak bp;
  bp.orig.resize(insn.size());
  if (t_.read(g_vcpu_, addr, false, reinterpret_cast<uint8_t*>(bp.orig.data()), insn.size()) !=
      insn.size())
    return false;
  // Planted and removed by guest-physical address: the guest may change
  // its page tables while it runs.
  auto pa = t_.translate(g_vcpu_, addr);
  auto last = t_.translate(g_vcpu_, addr + insn.size() - 1);
  if (!pa || !last || *last != *pa + insn.size() - 1) return false;
  bp.pa = *pa;
  if (t_.write(g_vcpu_, bp.pa, true, reinterpret_cast<const uint8_t*>(insn.data()),
               insn.size()) != insn.size())
    return false;
  sw_[addr] = std::move(bp);
  return true;
}

bool Server::sw_remove(uint64_t addr) {
  auto it = sw_.find(addr);
  if (it == sw_.end()) return true;
  const SwBreak& bp = it->second;
  const size_t want = bp.orig.size();
  // The guest (or a reload) may have written over the instruction: then
  // its bytes are the guest's, not to be replaced by old ones.
  std::string now(want, '\0');
  std::string_view insn = t_.model().gdb_breakpoint();
  bool ok = t_.read(g_vcpu_, bp.pa, true, reinterpret_cast<uint8_t*>(now.data()), want) == want;
  if (ok && now == insn)
    ok = t_.write(g_vcpu_, bp.pa, true, reinterpret_cast<const uint8_t*>(bp.orig.data()),
                  want) == want;
  sw_.erase(it);  // bp dangles from here on
  return ok;
}

GuestDebug Server::reset() {
  pending_.clear();
  std::string_view insn = t_.model().gdb_breakpoint();
  for (auto it = sw_.begin(); it != sw_.end();) {
    SwBreak& bp = it->second;
    std::string now(bp.orig.size(), '\0');
    bool ok = now.size() == insn.size() &&
              t_.read(g_vcpu_, bp.pa, true, reinterpret_cast<uint8_t*>(now.data()),
                      now.size()) == now.size() &&
              t_.write(g_vcpu_, bp.pa, true, reinterpret_cast<const uint8_t*>(insn.data()),
                       insn.size()) == insn.size();
    if (!ok) {
      it = sw_.erase(it);
      continue;
    }
    // Planted over a breakpoint left in memory (a reset that kept it):
    // the original bytes stay those remembered.
    if (now != insn) bp.orig = std::move(now);
    ++it;
  }
  return debug_state(false);
}

void Server::remove_all() {
  while (!sw_.empty()) sw_remove(sw_.begin()->first);
  hw_.clear();
}

std::string Server::breakpoint(const std::string& p, bool insert) {
  // Z TYPE,ADDR,KIND[;cond...]: conditions and commands are not supported
  // (not announced); they are ignored.
  std::string_view a = std::string_view(p).substr(1);
  if (size_t semi = a.find(';'); semi != std::string_view::npos) a = a.substr(0, semi);
  std::vector<std::string_view> f = Split(a, ',');
  if (f.size() != 3 || f[0].size() != 1 || f[0][0] < '0' || f[0][0] > '4') return kErrInval;
  auto addr = ParseHex(f[1]);
  auto kind = ParseHex(f[2]);
  if (!addr || !kind) return kErrInval;
  int type = f[0][0] - '0';
  if (type == 0) {
    if (insert) return sw_insert(*addr) ? "OK" : kErrFault;
    return sw_remove(*addr) ? "OK" : kErrFault;
  }
  HwPoint hp;
  hp.kind = type == 1 ? HwPoint::kExec
            : type == 2 ? HwPoint::kWrite
            : type == 3 ? HwPoint::kRead
                        : HwPoint::kAccess;
  hp.addr = *addr;
  hp.len = type == 1 ? 1 : unsigned(std::min<uint64_t>(*kind, 64));
  if (type != 1 && (*kind == 0 || *kind > 8)) return kErrInval;
  auto same = [&](const HwPoint& o) {
    return o.kind == hp.kind && o.addr == hp.addr && o.len == hp.len;
  };
  auto it = std::find_if(hw_.begin(), hw_.end(), same);
  if (!insert) {
    if (it != hw_.end()) hw_.erase(it);
    t_.apply(debug_state(false));
    return "OK";
  }
  if (it != hw_.end()) return "OK";
  if (hw_.size() >= t_.hw_slots()) return kErrNoSpc;
  hw_.push_back(hp);
  // The accelerator checks what it can watch now, not at the next resume.
  if (!t_.apply(debug_state(false))) {
    hw_.pop_back();
    t_.apply(debug_state(false));
    return kErrInval;
  }
  return "OK";
}

GuestDebug Server::debug_state(bool step) const {
  GuestDebug d;
  d.sw_breakpoints = !sw_.empty();
  d.single_step = step;
  d.hw = hw_;
  d.enable = d.sw_breakpoints || step || !d.hw.empty();
  return d;
}

std::string Server::resume(int step) {
  // Events recorded but not reported yet come first: the next one is the
  // reply, and nothing runs (all-stop, as gdbserver).
  for (const Stop& s : t_.take_stops()) queue_stop(s);
  if (auto s = next_pending()) {
    last_stop_ = *s;
    g_vcpu_ = c_vcpu_ = s->vcpu;
    return stop_reply(*s);
  }
  if (!t_.resume(debug_state(step >= 0), step)) return kErrIo;
  running_ = true;
  no_reply_ = true;
  return "";
}

std::string Server::vcont(std::string_view actions) {
  // vCont;ACTION[:TID];...: the first action naming a thread applies to it,
  // an action without a thread to the rest. All-stop: every vCPU runs;
  // at most one steps.
  int step = -1;
  bool any = false;
  for (std::string_view act : Split(actions, ';')) {
    if (act.empty()) return kErrInval;
    std::string_view tid;
    if (size_t colon = act.find(':'); colon != std::string_view::npos) {
      tid = act.substr(colon + 1);
      act = act.substr(0, colon);
    }
    char op = act[0];
    if (op != 'c' && op != 'C' && op != 's' && op != 'S') return kErrInval;
    if ((op == 'C' || op == 'S') && !ParseHex(act.substr(1))) return kErrInval;
    if ((op == 'c' || op == 's') && act.size() != 1) return kErrInval;
    any = true;
    if ((op == 's' || op == 'S') && step < 0) {
      if (tid.empty()) {
        step = int(last_stop_.vcpu);
      } else {
        auto v = thread(tid, true);
        if (!v) return kErrNoEnt;
        step = *v < 0 ? int(last_stop_.vcpu) : *v;
      }
    } else if (!tid.empty() && !thread(tid, true)) {
      return kErrNoEnt;
    }
  }
  if (!any) return kErrInval;
  return resume(step);
}

}  // namespace qvm::gdb
