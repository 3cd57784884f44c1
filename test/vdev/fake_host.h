// Fake qvm host for vdev plug-in unit tests.
//
// Implements every host function declared in vdev/include/qvm/vdev.h so the
// real vdev-*.so plug-ins can be dlopen()ed into the test binary (linked with
// -rdynamic, so the plug-ins' undefined qvm_* symbols resolve here). It
// records what devices ask of the host (regions, interrupt levels, MSIs, MSI
// routes, external-interrupt output, power/exit requests, logs), owns a
// controllable clock for qvm_time_ns and fires timers only when a test
// advances that clock.
#pragma once

#include <qvm/vdev.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

struct qvm_timer {
  qvm_vdev_t *dev = nullptr;
  qvm_timer_fn fn = nullptr;
  void *arg = nullptr;
  bool armed = false;
  bool destroyed = false;
  uint64_t when = 0;
  uint64_t period = 0;
  uint64_t fired = 0;
};

namespace fake {

struct Region {
  uint32_t space;
  uint64_t base;
  uint64_t size;
};

struct IntrSpec {
  std::string controller;
  unsigned line;
};

struct Msi {
  uint64_t address;
  uint32_t data;
};

struct MsiRoute {
  uint64_t address;
  uint32_t data;
  int masked;
};

struct NamedIrq {
  std::string controller;
  unsigned line;
  int level;
};

struct FdWatch {
  int fd;
  qvm_timer_fn fn;
  void *arg;
};

// Options for creating an instance.
struct Config {
  std::string name;                                       // default TYPE+N
  std::vector<std::pair<std::string, std::string>> options;  // name, value
  std::vector<std::pair<uint32_t, uint64_t>> locs;        // space, base
  std::vector<IntrSpec> intrs;                            // configured
};

}  // namespace fake

struct qvm_vdev {
  const qvm_factory *factory = nullptr;
  std::string name;
  std::unique_ptr<unsigned char[]> state_mem;
  void *state = nullptr;
  std::vector<std::pair<uint32_t, uint64_t>> locs;
  std::vector<fake::IntrSpec> intrs;  // effective (configured or defaults)
  bool intrs_configured = false;
  std::vector<fake::Region> regions;
  std::vector<int> intr_level;             // current level per intr index
  std::vector<std::vector<int>> intr_log;  // every level set, per index
  std::vector<fake::Msi> msis;
  std::map<unsigned, fake::MsiRoute> routes;
  std::vector<fake::NamedIrq> named;
  int extint = 0;
  std::vector<int> extint_log;
  std::vector<int> power;
  std::vector<int> exit_codes;
  std::vector<int> exit_statuses;  // qvm_exit_status (ABI 1.2)
  std::vector<std::string> logs;
  std::vector<fake::FdWatch> watches;
  std::string acpi_hid, acpi_cid;  // from qvm_acpi_device
  std::vector<qvm_timer *> timers;

  // Rising edges seen on intr index i (0->1 transitions).
  int rises(unsigned i) const;
};

namespace fake {

// The one host of the test process. reset() destroys every instance.
class Host {
 public:
  static Host &get();

  // dlopen()s vdev-NAME.so from $QVM_VDEV_DIR (default build/lib/qvm).
  // Returns the factory or nullptr (and fails the test through Catch).
  const qvm_factory *load(const std::string &type);

  // Runs OPTIONS_START, OPTION*, OPTIONS_END, RESOURCES, GUEST_CONFIGURED,
  // RESET. On failure returns nullptr and stores the failing rc in last_rc.
  qvm_vdev *create(const std::string &type, const Config &cfg = {});
  int last_rc = 0;

  void reset();  // terminate and free every instance, timers, clock reset

  // Guest accesses through the device's regions (address = absolute address
  // in `space`). Returns the callback status; value via *out.
  int read(qvm_vdev *d, uint32_t space, uint64_t addr, unsigned size,
           uint64_t *out);
  int write(qvm_vdev *d, uint32_t space, uint64_t addr, unsigned size,
            uint64_t value);
  // Convenience for I/O ports.
  uint64_t inb(qvm_vdev *d, uint16_t port) { return in(d, port, 1); }
  uint64_t in(qvm_vdev *d, uint16_t port, unsigned size);
  void outb(qvm_vdev *d, uint16_t port, uint8_t v) { out(d, port, 1, v); }
  void out(qvm_vdev *d, uint16_t port, unsigned size, uint64_t v);
  uint64_t mread(qvm_vdev *d, uint64_t addr, unsigned size);
  void mwrite(qvm_vdev *d, uint64_t addr, unsigned size, uint64_t v);

  int control(qvm_vdev *d, unsigned ctrl, int arg = 0,
              const char *value = nullptr);

  // Clock and timers.
  uint64_t now() const { return now_; }
  void set_now(uint64_t t) { now_ = t; }
  // Advance the clock to now+ns, firing due timers in time order.
  void advance(uint64_t ns);
  size_t armed_timers(qvm_vdev *d) const;
  // Earliest armed timer of d, or UINT64_MAX.
  uint64_t next_timer(qvm_vdev *d) const;

  // Run fd watches whose fd is readable (poll with zero timeout).
  void poll_fds();

  // Named controller lookup (by instance name).
  qvm_vdev *find(const std::string &name);

  // Host streams for qvm_hostdev_open: spec -> fd handed out (dup'ed).
  std::map<std::string, int> hostdevs;

  // Guest RAM for qvm_gmem_*.
  uint64_t ram_base = 0x100000;
  std::vector<unsigned char> ram = std::vector<unsigned char>(1 << 20);

  std::vector<std::unique_ptr<qvm_vdev>> devs;
  std::vector<std::unique_ptr<qvm_timer>> timers;
  std::map<std::string, unsigned> instance_counts;

  uint64_t now_ = 1000000000000ull;  // arbitrary non-zero start

  static constexpr uint64_t kStart = 1000000000000ull;
};

}  // namespace fake

// Registry filled by qvm_register_factory.
std::vector<const qvm_factory *> &fake_factories();
