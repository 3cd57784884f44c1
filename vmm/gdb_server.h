// The gdb remote serial protocol's command layer: one debugger connection
// to an all-stop target whose threads are the vCPUs. No sockets and no
// threads here: bytes in (feed), bytes out (the return values), and a
// GdbTarget that does what the commands ask (vmm/vm_gdb.cc: the Vm; unit
// tests: a fake). Everything that arrives is hostile: every number, length,
// register and thread id is checked, a reply never exceeds kMaxPacket, and
// a command the server does not know gets the empty reply.
//
// What it serves: qSupported, QStartNoAckMode, ?, qfThreadInfo/qsThreadInfo
// (thread id = vCPU index + 1), qC, H g/c, T, qAttached,
// qXfer:features:read:target.xml (CpuModel), g/G/p/P (CpuModel's gdb
// numbering), m/M/X (guest-virtual through the selected vCPU's page tables,
// or guest-physical after `monitor phys on`), qRcmd (`monitor help|phys`),
// Z0/z0 (software breakpoints: the CpuModel's breakpoint instruction,
// original bytes kept and shown to memory reads, put back on removal only
// where the instruction still is, planted again after a reset), Z1-Z4/z1-z4 (hardware
// breakpoints and watchpoints: the target's debug registers), c/C/s/S,
// vCont (c, C, s, S), Ctrl-C, D, k.
//
// Stop events: when several vCPUs stop for their own reasons at once, the
// first is reported and the others wait in a bounded queue; the next
// c/s/vCont reports the next one without resuming anything (as gdbserver
// does in all-stop mode). A queued breakpoint or watchpoint event whose
// breakpoint the debugger removed meanwhile is dropped (the vCPU runs into
// the instruction again if it is still planted).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/backend.h"
#include "vmm/cpu_model.h"
#include "vmm/exit.h"
#include "vmm/gdb_packet.h"

namespace qvm::gdb {

// The largest packet either side sends (qSupported's PacketSize; memory
// transfers are cut to fit).
inline constexpr size_t kMaxPacket = 4096;
// The most software breakpoints one connection may plant.
inline constexpr size_t kMaxSwBreakpoints = 1024;
// The most stop events waiting to be reported (one per vCPU is the most the
// Vm produces; more are dropped and counted).
inline constexpr size_t kMaxPendingStops = 256;

// Why the target stopped, as the stop reply says it.
struct Stop {
  unsigned vcpu = 0;
  Exit::DebugWhy why = Exit::DebugWhy::Other;
  int slot = -1;           // HwBreak/Watch: GuestDebug::hw index
  bool interrupted = false;  // Ctrl-C (SIGINT) rather than a debug event (SIGTRAP)
};

// What the server needs of the VM. Called only while every vCPU is stopped,
// except interrupt().
class Target {
 public:
  virtual ~Target() = default;
  virtual const CpuModel& model() const = 0;
  virtual unsigned vcpus() const = 0;
  virtual bool regs(unsigned vcpu, VcpuRegs* out) = 0;
  virtual bool set_regs(unsigned vcpu, const VcpuRegs& regs) = 0;
  // Guest memory, guest-physical (`phys`) or guest-virtual through vCPU
  // `vcpu`'s page tables. Returns the bytes done from the start (stops at
  // the first one that cannot be reached).
  virtual size_t read(unsigned vcpu, uint64_t addr, bool phys, uint8_t* out, size_t len) = 0;
  virtual size_t write(unsigned vcpu, uint64_t addr, bool phys, const uint8_t* in,
                       size_t len) = 0;
  // Guest-virtual to guest-physical through vCPU `vcpu`'s page tables.
  virtual std::optional<uint64_t> translate(unsigned vcpu, uint64_t va) = 0;
  // How many hardware breakpoints (watch=false) / watchpoints the vCPUs have.
  // The target shares them: GuestDebug::hw holds both, in slot order.
  virtual unsigned hw_slots() const = 0;
  // Applies `d` to every vCPU without running them (the accelerator checks
  // what it can watch). False: refused.
  virtual bool apply(const GuestDebug& d) = 0;
  // Applies `d` to every vCPU (single_step only to `step`, when >= 0) and
  // lets them all run. False: the accelerator refused `d` (nothing runs).
  virtual bool resume(const GuestDebug& d, int step) = 0;
  // Debug events vCPUs recorded that no stopped() delivered yet (the
  // target is stopped; each is taken once). The server queues them before
  // it resumes the target.
  virtual std::vector<Stop> take_stops() = 0;
  // Stops every vCPU now (Ctrl-C); false when they did not stop.
  virtual bool interrupt() = 0;
  // Debugging off on every vCPU; the guest runs on.
  virtual void detach() = 0;
  // Ends qvm (the `k` packet).
  virtual void kill() = 0;
};

class Server {
 public:
  // The target is stopped when the server is made (a connection stops it).
  explicit Server(Target& t, Stop initial = {});

  // Bytes from the debugger; returns the bytes to send back.
  std::string feed(std::string_view in);
  // The target stopped on its own (a Debug exit on a vCPU): the stop reply
  // to send while running; "" when the server was not waiting for one
  // (then the event is queued for the next c/s/vCont).
  std::string stopped(const Stop& s);
  // The guest reset in place (memory reloaded, new vCPUs, all stopped):
  // software breakpoints are planted again at their guest-physical
  // addresses over the new contents (which they keep, and show to reads),
  // those that cannot be are dropped; stop events of the old vCPUs are
  // dropped. Returns the debug state the new vCPUs need.
  GuestDebug reset();
  // The debugger went away (or the connection is being closed): breakpoints
  // out of guest memory, debugging off, the guest runs on.
  void disconnect();

  bool running() const { return running_; }
  // After D or k: the connection is to be closed.
  bool finished() const { return finished_; }
  // Statistics: packets dropped as malformed / oversized.
  uint64_t bad_packets() const { return bad_; }
  // Stop events waiting to be reported / dropped (queue full).
  size_t pending_stops() const { return pending_.size(); }
  size_t sw_breakpoints() const { return sw_.size(); }
  uint64_t dropped_stops() const { return dropped_stops_; }

 private:
  std::string command(const std::string& p);  // one packet's reply payload
  std::string reply(std::string_view payload);  // framed, remembered for '-'
  std::string stop_reply(const Stop& s) const;
  std::string query(const std::string& p);
  std::string monitor(std::string_view cmd);
  std::string read_regs();
  std::string write_regs(std::string_view hex);
  std::string read_reg(std::string_view args);
  std::string write_reg(std::string_view args);
  std::string read_mem(std::string_view args);
  std::string write_mem(std::string_view args, bool binary);
  std::string breakpoint(const std::string& p, bool insert);
  std::string resume(int step);  // "" (running) or an error reply
  std::string vcont(std::string_view actions);
  std::string set_thread(std::string_view args);
  // A thread id of the protocol (hex; -1 = all, 0 = any) as a vCPU, or -1.
  std::optional<int> thread(std::string_view id, bool allow_all) const;
  size_t mem_read(uint64_t addr, uint8_t* out, size_t len);
  size_t mem_write(uint64_t addr, const uint8_t* in, size_t len);
  bool sw_insert(uint64_t addr);
  bool sw_remove(uint64_t addr);
  void remove_all();
  GuestDebug debug_state(bool step) const;
  // Queues a stop event (with the hardware point its slot names now).
  void queue_stop(const Stop& s);
  // The next queued event still worth reporting (slot renumbered), if any.
  std::optional<Stop> next_pending();
  // The vCPU's program counter (gdb's code_ptr register).
  std::optional<uint64_t> pc_of(unsigned vcpu);

  struct SwBreak {
    uint64_t pa = 0;   // where it is planted (guest-physical)
    std::string orig;  // the bytes it replaced
  };

  Target& t_;
  std::vector<std::string> pre_;  // packets sent before this command's reply (monitor output)
  bool no_reply_ = false;         // this command has no reply (c, s, k)
  PacketReader reader_{kMaxPacket};
  std::string last_;  // the last framed reply (resent on '-')
  bool no_ack_ = false;
  bool running_ = false;
  bool finished_ = false;
  bool phys_ = false;  // `monitor phys on`: m/M/X address guest-physical memory
  unsigned g_vcpu_ = 0, c_vcpu_ = 0;  // Hg / Hc
  Stop last_stop_;
  std::map<uint64_t, SwBreak> sw_;  // planted breakpoints by guest-virtual address
  std::vector<HwPoint> hw_;              // hardware breakpoints and watchpoints
  struct PendingStop {
    Stop stop;
    std::optional<HwPoint> point;  // HwBreak/Watch: the point its slot named
  };
  std::deque<PendingStop> pending_;  // stop events not reported yet
  uint64_t bad_ = 0;
  uint64_t dropped_stops_ = 0;
};

}  // namespace qvm::gdb
