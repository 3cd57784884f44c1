// shmem: the factory and control page register model (QNX guest_shm
// layout), name checks, allow/deny, the 16-client limit, detach, a client
// whose process dies, notifications both ways with a host program's
// client (libshm, as qvm-shm uses it), MSI-X on the PCI function, and
// hostile writes, through the fake host. Regions are real POSIX
// shared-memory objects named after this process (removed at the end).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "helpers.h"
#include "qvm_shm.h"

namespace {

constexpr uint64_t kFactory = 0x10000000;
constexpr uint32_t kSig = 0, kShmem = 8, kVector = 16, kStatus = 20, kSize = 24, kName = 28,
                   kFind = 60;
enum { OK = 0, UNKNOWN = 1, NOMEM = 2, CLIENT_MAX = 3, ILLEGAL = 4, NO_PERM = 5, NOT_EXIST = 6 };

std::string Uniq(const std::string &tag) { return "ut" + std::to_string(getpid()) + tag; }

struct ShmFixture : HostFixture {
  qvm_vdev *d = nullptr;
  std::vector<std::string> names;
  ~ShmFixture() {
    h.reset();  // the device's connections first
    for (auto &n : names) qvm_shm_unlink(n.c_str());
  }
  void make_mmio(std::vector<std::pair<std::string, std::string>> opts = {}) {
    fake::Config c = cfg_loc(QVM_SPACE_MEM, kFactory);
    c.intrs.push_back({"ioapic", 10});
    c.options = std::move(opts);
    d = make("shmem", c);
  }
  uint64_t rd(uint32_t off, unsigned n = 4) { return h.mread(d, kFactory + off, n); }
  void wr(uint32_t off, uint64_t v, unsigned n = 4) { h.mwrite(d, kFactory + off, n, v); }
  void set_name(const std::string &n) {  // byte by byte, NUL-padded, as guests do
    for (unsigned i = 0; i < 32; i++) wr(kName + i, i < n.size() ? uint8_t(n[i]) : 0, 1);
  }
  // Creates/attaches `n` (remembered for removal); returns the status.
  uint32_t attach(const std::string &n, uint32_t pages) {
    names.push_back(n);
    set_name(n);
    wr(kSize, pages);
    return uint32_t(rd(kStatus));
  }
  int level() {
    std::lock_guard<std::recursive_mutex> g(d->mu);
    return d->intr_level.empty() ? -1 : d->intr_level[0];
  }
  // Waits (generously: loaded CI hosts) for the interrupt line to reach v.
  bool wait_level(int v) {
    for (int i = 0; i < 3000; i++) {
      if (level() == v) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  uint32_t ctl(uint64_t base, uint32_t off) { return uint32_t(h.mread(d, base + off, 4)); }
};

}  // namespace

TEST_CASE_METHOD(ShmFixture, "shmem: factory page registers and interrupt number", "[shmem]") {
  make_mmio();
  CHECK(rd(kSig, 8) == 0x4d534732474d5651ull);
  CHECK(rd(kSig) == 0x474d5651u);
  CHECK(rd(kSig + 4) == 0x4d534732u);
  CHECK(rd(kVector) == 10);  // the configured intr line
  CHECK(rd(kStatus) == 0);
  CHECK(rd(kShmem, 8) == 0);
  REQUIRE(d->regions.size() == 1);
  CHECK(d->regions[0].base == kFactory);
  CHECK(d->regions[0].size == 0x1000);
  // the name reads back; registers beyond the layout read 0, writes there are dropped
  set_name("abc");
  CHECK(rd(kName) == 0x00636261u);
  wr(0x100, 0xffffffff);
  CHECK(rd(0x100) == 0);
  CHECK(rd(0xffc) == 0);
  // FDT node for MMIO placement
  CHECK(h.gen_fdt(d) == 0);
  CHECK(d->fdt_compatible == "qvm,guest_shm");
}

TEST_CASE_METHOD(ShmFixture, "shmem: create, map the data, exchange with a host client both ways",
                 "[shmem]") {
  make_mmio();
  std::string n = Uniq("x");
  REQUIRE(attach(n, 4) == OK);
  uint64_t base = rd(kShmem, 8);
  CHECK(base == (1ull << 30));  // the lowest free place: 1 GiB
  CHECK(base % 4096 == 0);
  CHECK(rd(kSize) == 4);
  // control page trapped, data pages mapped as memory (not trapped)
  REQUIRE(d->memmaps.size() == 1);
  CHECK(d->memmaps[0].offset == 4096);
  CHECK(d->memmaps[0].size == 4 * 4096);
  CHECK(d->memmaps[0].writable);
  CHECK(ctl(base, 4) == 0);             // idx: the first client
  CHECK(ctl(base, 0) == (1u << 16));    // active: itself, nothing pending
  // a host program attaches: the guest is told (active changed)
  qvm_shm host{};
  REQUIRE(qvm_shm_attach(n.c_str(), 0, &host) == QVM_SHM_OK);
  CHECK(host.idx == 1);
  CHECK(host.pages == 4);
  REQUIRE(wait_level(1));
  CHECK(ctl(base, 0) == (3u << 16));
  CHECK(level() == 0);  // read: nothing left to report
  // host -> guest: data through the shared pages, then a notification
  char *guest_view = static_cast<char *>(d->memmaps[0].host);
  strcpy(static_cast<char *>(host.data) + 100, "from the host");
  CHECK(qvm_shm_notify(&host, 1u << 0) == 1);
  REQUIRE(wait_level(1));
  CHECK(std::string(guest_view + 100) == "from the host");
  CHECK(ctl(base, 0) == ((3u << 16) | (1u << 1)));  // pending: client 1
  CHECK(ctl(base, 0) == (3u << 16));                // cleared by the read
  CHECK(level() == 0);
  // guest -> host
  strcpy(guest_view + 4000, "from the guest");
  h.mwrite(d, base + 8, 4, 1u << 1);
  CHECK(qvm_shm_status(&host, 1) == ((3u << 16) | 1u));
  CHECK(std::string(static_cast<char *>(host.data) + 4000) == "from the guest");
  // find: this guest's connection to the name
  wr(kShmem, 0, 8);  // read-only: ignored
  CHECK(rd(kShmem, 8) == base);
  wr(kFind, 1);
  CHECK(rd(kStatus) == OK);
  CHECK(rd(kShmem, 8) == base);
  set_name(Uniq("nothere"));
  wr(kFind, 1);
  CHECK(rd(kStatus) == NOT_EXIST);
  // the guest detaches: the host sees the active set drop, the pages go
  h.mwrite(d, base + 12, 4, 1);
  CHECK(d->memmaps.empty());
  CHECK((qvm_shm_status(&host, 0) >> 16) == 2u);
  CHECK_THROWS(h.mread(d, base, 4));
  qvm_shm_detach(&host);
}

TEST_CASE_METHOD(ShmFixture, "shmem: illegal, unterminated and denied names", "[shmem]") {
  make_mmio({{"allow", "ok*"}, {"allow", "exact"}});
  CHECK(attach("", 1) == ILLEGAL);
  CHECK(attach("a/b", 1) == ILLEGAL);
  CHECK(attach(".hidden", 1) == ILLEGAL);
  for (unsigned i = 0; i < 32; i++) wr(kName + i, 'a', 1);  // no NUL in 32 bytes
  wr(kSize, 1);
  CHECK(rd(kStatus) == ILLEGAL);
  CHECK(attach("nope", 1) == NO_PERM);  // allow ...: implicit deny *
  CHECK(attach("exact", 0) != NO_PERM);
  CHECK(attach("ok" + Uniq("a"), 1) == OK);
  CHECK(d->memmaps.size() == 1);
}

TEST_CASE_METHOD(ShmFixture, "shmem: deny patterns, implicit allow", "[shmem]") {
  make_mmio({{"deny", "sec*"}});
  CHECK(attach("secret", 1) == NO_PERM);
  CHECK(attach(Uniq("d"), 1) == OK);
}

TEST_CASE_METHOD(ShmFixture, "shmem: hostile sizes, notify bits and accesses", "[shmem]") {
  make_mmio();
  std::string n = Uniq("h");
  CHECK(attach(n, 0xffffffffu) == NOMEM);  // would overflow any page count
  CHECK(attach(n, (1u << 18) + 1) == NOMEM);
  CHECK(attach(n, 0) == NOT_EXIST);        // size 0: only an existing region
  REQUIRE(attach(n, 1) == OK);
  uint64_t base = rd(kShmem, 8);
  REQUIRE(attach(n, 1) == OK);  // a second connection of this guest: client 1
  CHECK(ctl(rd(kShmem, 8), 4) == 1);
  // notify bits beyond 16 clients and of inactive clients are ignored
  h.mwrite(d, base + 8, 4, 0xffff0000u);
  h.mwrite(d, base + 8, 4, 1u << 7);
  CHECK(ctl(base, 0) == (3u << 16));
  // odd sizes and offsets on the control page: no effect, no fault
  h.mwrite(d, base + 9, 1, 0xff);
  h.mwrite(d, base + 0xffc, 4, 1);
  CHECK(h.mread(d, base + 2, 2) == 0);
  CHECK(ctl(base, 0) == (3u << 16));
  CHECK(d->memmaps.size() == 2);
}

TEST_CASE_METHOD(ShmFixture, "shmem: the 17th client gets client max", "[shmem]") {
  make_mmio();
  std::string n = Uniq("m");
  names.push_back(n);
  REQUIRE(qvm_shm_create(n.c_str(), 1) == QVM_SHM_OK);
  qvm_shm c[16];
  for (auto &x : c) REQUIRE(qvm_shm_attach(n.c_str(), 0, &x) == QVM_SHM_OK);
  CHECK(attach(n, 1) == CLIENT_MAX);
  CHECK(d->memmaps.empty());
  qvm_shm_detach(&c[5]);
  REQUIRE(attach(n, 1) == OK);
  CHECK(ctl(rd(kShmem, 8), 4) == 5);  // the freed slot
  for (unsigned i = 0; i < 16; i++)
    if (i != 5) qvm_shm_detach(&c[i]);
}

TEST_CASE_METHOD(ShmFixture, "shmem: a client whose process dies drops out", "[shmem]") {
  make_mmio();
  std::string n = Uniq("k");
  REQUIRE(attach(n, 2) == OK);
  uint64_t base = rd(kShmem, 8);
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0);
  pid_t pid = fork();
  if (pid == 0) {  // a client that never detaches
    qvm_shm s;
    char ok = qvm_shm_attach(n.c_str(), 0, &s) == QVM_SHM_OK ? 'y' : 'n';
    if (write(pipefd[1], &ok, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  REQUIRE(pid > 0);
  char ok = 0;
  REQUIRE(read(pipefd[0], &ok, 1) == 1);
  REQUIRE(ok == 'y');
  REQUIRE(wait_level(1));
  CHECK(ctl(base, 0) == (3u << 16));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(pipefd[0]);
  close(pipefd[1]);
  REQUIRE(wait_level(1));  // the reaper noticed and told this guest
  CHECK(ctl(base, 0) == (1u << 16));
}

TEST_CASE_METHOD(ShmFixture, "shmem: create option pre-creates the region", "[shmem]") {
  std::string n = Uniq("pre");
  names.push_back(n);
  make_mmio({{"create", n + ",8k"}});
  qvm_shm s;
  REQUIRE(qvm_shm_attach(n.c_str(), 0, &s) == QVM_SHM_OK);
  CHECK(s.pages == 2);
  qvm_shm_detach(&s);
  fake::Config c = cfg_loc(QVM_SPACE_MEM, kFactory);
  c.intrs.push_back({"ioapic", 10});
  for (const char *bad : {"noname", "a/b,4096", "x,0", "x,2G", "x,12q"}) {
    c.options = {{"create", bad}};
    CHECK(h.create("shmem", c) == nullptr);
  }
}

TEST_CASE_METHOD(ShmFixture, "shmem: loc without intr is refused", "[shmem]") {
  CHECK(h.create("shmem", cfg_loc(QVM_SPACE_MEM, kFactory)) == nullptr);
}

TEST_CASE_METHOD(ShmFixture, "shmem: PCI function, INTx and MSI-X", "[shmem]") {
  d = make("shmem");
  CHECK(d->pci.vendor_id == 0x1c05);
  CHECK(d->pci.device_id == 0x0001);
  CHECK(d->pci.bar_size[0] == 0x1000);
  CHECK(d->pci.msix_vectors == 1);
  CHECK(d->pci.intx_pin == 1);
  REQUIRE(d->intrs.size() == 1);
  CHECK(d->intrs[0].controller == "pci-host");
  // BAR 0 accesses, as the PCI host dispatches them
  auto bar = [&](bool wr, uint64_t off, unsigned size, uint64_t v) {
    qvm_access acc{QVM_SPACE_MEM, size, off, 0, 0};
    unsigned char buf[8] = {};
    memcpy(buf, &v, 8);
    std::lock_guard<std::recursive_mutex> g(d->mu);
    int rc = wr ? d->factory->write(d, d->state, &acc, buf) : d->factory->read(d, d->state, &acc, buf);
    REQUIRE(rc == QVM_DONE);
    uint64_t out = 0;
    memcpy(&out, buf, size);
    return out;
  };
  CHECK(bar(false, kSig, 8, 0) == 0x4d534732474d5651ull);
  CHECK(bar(false, kVector, 4, 0) == 17);  // device 1, INTA: IOAPIC 16 + (1 & 3)
  std::string n = Uniq("p");
  names.push_back(n);
  for (unsigned i = 0; i < n.size(); i++) bar(true, kName + i, 1, uint8_t(n[i]));
  bar(true, kSize, 4, 1);
  REQUIRE(bar(false, kStatus, 4, 0) == OK);
  uint64_t base = bar(false, kShmem, 8, 0);
  CHECK(d->regions.size() >= 7);  // connection regions start past the BAR indexes
  // MSI-X: program the vector, enable, unmask
  bar(true, 0x800, 4, 0xfee00000);
  bar(true, 0x808, 4, 0x41);
  CHECK(bar(false, 0xc00, 8, 0) == 0);
  {
    std::lock_guard<std::recursive_mutex> g(d->mu);
    d->pci_state = QVM_PCI_STATE_MSIX_ENABLE | QVM_PCI_STATE_MEM_ENABLE;
  }
  bar(true, 0x80c, 4, 0);  // unmask
  qvm_shm host{};
  REQUIRE(qvm_shm_attach(n.c_str(), 0, &host) == QVM_SHM_OK);
  bool got = false;
  for (int i = 0; i < 3000 && !got; i++) {
    {
      std::lock_guard<std::recursive_mutex> g(d->mu);
      got = !d->msis.empty();
    }
    if (!got) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(got);
  {
    std::lock_guard<std::recursive_mutex> g(d->mu);
    CHECK(d->msis[0].address == 0xfee00000);
    CHECK(d->msis[0].data == 0x41);
  }
  CHECK(level() == 0);  // no INTx while MSI-X is on
  CHECK(ctl(base, 0) == (3u << 16));
  qvm_shm_detach(&host);
}

TEST_CASE_METHOD(ShmFixture, "shmem: guest reset ends every connection", "[shmem]") {
  make_mmio();
  std::string n = Uniq("r");
  REQUIRE(attach(n, 1) == OK);
  qvm_shm host{};
  REQUIRE(qvm_shm_attach(n.c_str(), 0, &host) == QVM_SHM_OK);
  CHECK((qvm_shm_status(&host, 0) >> 16) == 3u);
  CHECK(h.control(d, QVM_CTRL_RESET) == 0);
  CHECK(d->memmaps.empty());
  CHECK((qvm_shm_status(&host, 0) >> 16) == 2u);  // the guest's client left at once
  CHECK(rd(kStatus) == 0);
  CHECK(rd(kShmem, 8) == 0);
  CHECK(rd(kName) == 0);
  qvm_shm_detach(&host);
}

TEST_CASE_METHOD(ShmFixture, "shmem: at most 16 connections per device", "[shmem]") {
  make_mmio();
  std::string n = Uniq("c");
  for (unsigned i = 0; i < 16; i++) REQUIRE(attach(n, 1) == OK);
  CHECK(attach(Uniq("c2"), 1) == CLIENT_MAX);
  CHECK(d->memmaps.size() == 16);
  // detaching one frees a connection again (its thread is joined first)
  uint64_t base = rd(kShmem, 8);
  h.mwrite(d, base + 12, 4, 1);
  bool ok = false;
  for (int i = 0; i < 3000 && !ok; i++) {
    ok = attach(Uniq("c2"), 1) == OK;
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(ok);
}
