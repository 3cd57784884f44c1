// The Vm's gdb remote stub (`set gdb`): the listening socket, one debugger
// connection at a time, and the all-stop target the command layer
// (vmm/gdb_server.h) drives: threads are the vCPUs, stopping is the
// pause/park machinery of /dev/qvm's pause, memory goes through the vCPU
// backends' translation. Loop thread only; a vCPU's debug event reaches it
// through Vm::debug_exit (the vCPU parks) and a wake-up of the loop.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "vmm/gdb_server.h"
#include "vmm/vm_plan.h"

namespace qvm {

class Vm;

class GdbLink : public gdb::Target {
 public:
  explicit GdbLink(Vm& vm) : vm_(vm) {}
  ~GdbLink() override;
  // Opens the endpoint of the plan: a Unix socket (mode 0600) or a TCP
  // port (127.0.0.1 unless the configuration names another host).
  // A socket file already there is replaced only when nobody listens on
  // it. On failure, error() is the errno that explains it.
  absl::Status listen(const VmPlan& plan);
  const std::string& where() const { return where_; }
  // What a debugger gives `target remote`: the socket path or HOST:PORT.
  const std::string& address() const { return address_; }
  // Whether the endpoint of `plan` is the one this stub listens on.
  bool serves(const VmPlan& plan) const;
  int error() const { return err_; }
  // A vCPU stopped on a debug event (the loop took it from Vm).
  void on_stop(const gdb::Stop& s);
  // The VM resets in place (the old vCPUs are gone, memory is about to be
  // reloaded): the debugger stays; events of the old vCPUs are dropped.
  void on_reset();
  // Whether a debugger is connected (the new vCPUs then start parked).
  bool attached() const { return cfd_ >= 0 && server_ != nullptr; }
  // After the reset, the new vCPUs created and parked: the software
  // breakpoints are planted again, the debug state applied to the new
  // vCPUs, and they run on unless the debugger had the guest stopped.
  void after_reset();

  // gdb::Target
  const CpuModel& model() const override;
  unsigned vcpus() const override;
  bool regs(unsigned vcpu, VcpuRegs* out) override;
  bool set_regs(unsigned vcpu, const VcpuRegs& regs) override;
  size_t read(unsigned vcpu, uint64_t addr, bool phys, uint8_t* out, size_t len) override;
  size_t write(unsigned vcpu, uint64_t addr, bool phys, const uint8_t* in, size_t len) override;
  std::optional<uint64_t> translate(unsigned vcpu, uint64_t va) override;
  unsigned hw_slots() const override;
  bool apply(const GuestDebug& d) override;
  bool resume(const GuestDebug& d, int step) override;
  std::vector<gdb::Stop> take_stops() override;
  bool interrupt() override;
  void detach() override;
  void kill() override;

 private:
  void on_accept();
  void on_readable();
  void send(const std::string& bytes);
  void close_client(const char* why);
  // Guest memory page by page (virtual: through `vcpu`'s translation).
  size_t access(unsigned vcpu, uint64_t addr, bool phys, uint8_t* buf, size_t len, bool write);
  bool set_debug(const GuestDebug& d, int step);

  Vm& vm_;
  int lfd_ = -1, cfd_ = -1;
  std::string unix_path_;  // unlinked when the stub closes
  std::string where_;      // "tcp 127.0.0.1:1234" / the socket path
  std::string address_;    // "127.0.0.1:1234" / the socket path
  std::string host_;       // TCP: as configured
  uint16_t port_ = 0;
  int err_ = 0;
  std::unique_ptr<gdb::Server> server_;
};

}  // namespace qvm
