// `pass loc mem` and `pass loc io`: host memory laid over guest-physical
// space as accelerator memory slots (no exits), and host I/O ports behind
// the guest's ports (every access forwarded, string I/O included).
// `pass loc pci` is handed to a plug-in (PciPassSpecs, below).
//
// Memory is backed by host physical memory (/dev/mem; `=HOST` or, as in
// QNX, the guest address itself), a host file (`=file:PATH`) or a POSIX
// shared-memory object (`=shm:NAME`). Its regions sit on the MMIO bus too,
// so that nothing else is placed there and an access that does exit (a
// write to a read-only pass) is answered; ports sit on the I/O bus and go
// to the machine's host-port access (Machine::host_port_in/out).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "vmm/arch.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/guest_memory.h"

namespace qvm {

// `pass loc pci:...`: a host PCI function. The core does not drive the
// host's device itself: each such pass becomes an instance of the plug-in
// type the machine names (Machine::pci_pass_device: vdev/vfio-pci, Linux
// VFIO), with the option `host` saying which host function, so that the
// function sits on the guest's PCI bus like every other one and reaches
// qvm only through the vdev ABI. The returned specs carry the pass's
// position: the plug-in's refusals are reported at the `pass loc` token.
std::vector<VdevSpec> PciPassSpecs(const Config& cfg, const std::string& plugin_type);

class Passthrough : public BusDevice {
 public:
  Passthrough() = default;
  Passthrough(const Passthrough&) = delete;
  Passthrough& operator=(const Passthrough&) = delete;
  ~Passthrough() override;

  struct Mem {
    uint64_t gpa = 0, size = 0;
    bool writable = true;
    std::string attrs;   // as written ("rw" when none were)
    std::string source;  // "host physical 0x...", "file PATH", "shm NAME"
    SourceLoc where;
    void* host = nullptr;  // the mapping (nullptr: not opened, dryrun)
  };
  struct Io {
    uint32_t port = 0, count = 0, host = 0;  // guest ports, host ports
    SourceLoc where;
  };

  // Checks every `pass` of `cfg` (attributes, alignment, sizes, overlaps
  // with guest RAM/ROM, with what the buses already hold and with each
  // other; errors at the location's token) and puts the regions on the
  // buses. `open` (false for dryrun): map the host memory and open the host
  // ports. InvalidArgument: a configuration error.
  absl::Status build(const Config& cfg, const GuestMemory& mem, Bus& mmio, Bus& io,
                     Machine& machine, bool open);
  // Every memory pass as a slot of a new accelerator VM (every boot):
  // `map(gpa, host, size, writable)` returns 0 or -errno.
  absl::Status map_all(const std::function<int(uint64_t, void*, uint64_t, bool)>& map) const;
  // The dryrun's `passes:` section.
  void print(FILE* out) const;

  const std::vector<Mem>& mems() const { return mems_; }
  const std::vector<Io>& ios() const { return ios_; }

  // BusDevice: the bus regions of mems()[i] and ios()[i] (their region
  // indexes tell them apart).
  BusStatus read(const BusAccess& acc, uint8_t* data) override;
  BusStatus write(const BusAccess& acc, const uint8_t* data) override;
  std::string bus_name() const override { return "pass"; }

 private:
  absl::Status check_mem(const LocSpec& l, const GuestMemory& mem, const Bus& mmio, Mem* out);
  absl::Status open_mem(const LocSpec& l, Mem& m);
  std::vector<Mem> mems_;
  std::vector<Io> ios_;
  Machine* machine_ = nullptr;
};

}  // namespace qvm
