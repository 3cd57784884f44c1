// Exit trace (`set trace-exits N`): the last N exits of each vCPU in a ring
// (reason, address, value, timestamp, and the instruction that caused it),
// shown in the status report, in guest dumps and when qvm stops on an
// error, with the instruction disassembled by Capstone.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/backend.h"
#include "vmm/exit.h"

namespace qvm {

struct TraceEntry {
  uint64_t ts_ns = 0;
  ExitKind kind = ExitKind::Fatal;
  uint64_t addr = 0;
  uint32_t size = 0, count = 0;
  bool write = false;
  uint64_t value = 0;  // first (up to) 8 data bytes of a write / MSR value
  InsnContext insn;
};

class ExitTrace {
 public:
  explicit ExitTrace(size_t capacity) : ring_(capacity) {}
  bool enabled() const { return !ring_.empty(); }
  void record(const TraceEntry& e);
  // Oldest first.
  std::vector<TraceEntry> entries() const;

 private:
  mutable std::mutex mu_;
  std::vector<TraceEntry> ring_;
  size_t next_ = 0, used_ = 0;
};

// Capstone disassembly of one instruction ("out dx, al") with the arch and
// mode `model` gives for the instruction's decode mode. Returns "??" with
// the bytes when it cannot decode.
std::string Disassemble(const CpuModel& model, const InsnContext& insn);

// Capstone is loaded on first use (dlopen), on the loop's thread only: the
// system-call filters (vmm/syscall_filter.h) let no vCPU thread open a
// library, so no vCPU thread calls Disassemble or FormatTrace.

// One line per entry, relative times against `now_ns`.
std::vector<std::string> FormatTrace(const CpuModel& model, unsigned vcpu,
                                     const std::vector<TraceEntry>& entries,
                                     uint64_t now_ns);

}  // namespace qvm
