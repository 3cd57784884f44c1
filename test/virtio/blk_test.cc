// virtio-blk's request path linked into the test and driven through its
// factory against the fake guest (exit path: no GUEST_CONFIGURED, so no
// workers): READ/WRITE round trip, WRITE_ZEROES and DISCARD on a host file
// that can punch holes (offered, zeroes read back, blocks freed), range
// checks, and multiqueue configuration (threads N).
#include <sched.h>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "fake_guest.h"
#include "test/unit/temp_dir.h"

namespace {

constexpr uint64_t kDesc = FakeGuest::kBase + 0x0000;
constexpr uint64_t kAvail = FakeGuest::kBase + 0x1000;
constexpr uint64_t kUsed = FakeGuest::kBase + 0x2000;
constexpr uint64_t kHdr = FakeGuest::kBase + 0x8000;
constexpr uint64_t kData = FakeGuest::kBase + 0x10000;
constexpr uint64_t kStatus = FakeGuest::kBase + 0x9000;
constexpr uint16_t kQ = 16;
constexpr int F_DISCARD = 13, F_WZ = 14, F_MQ = 12;

const qvm_factory* BlkFactory() {
  for (auto* f : fake_factories())
    if (std::string(f->name) == "virtio-blk") return f;
  return nullptr;
}

struct Blk {
  FakeGuest g;
  const qvm_factory* f = BlkFactory();
  std::vector<uint8_t> state;
  qvm::test::TempDir dir;
  std::string path = dir / "disk.img";
  uint16_t avail = 0;
  Blk(const std::string& opts_threads = "1", size_t file_size = 1 << 20,
      const char* notify = nullptr, unsigned vcpus = 1, const char* dio = nullptr,
      const char* delayed = nullptr) {
    g.vcpus = vcpus;
    REQUIRE(f != nullptr);
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, off_t(file_size)) == 0);
    close(fd);
    state.assign(f->state_size, 0);
    REQUIRE(ctl(QVM_CTRL_OPTIONS_START) == 0);
    REQUIRE(ctl(QVM_CTRL_OPTION, 0, path.c_str()) == 0);
    REQUIRE(ctl(QVM_CTRL_OPTION, 1, opts_threads.c_str()) == 0);
    if (notify) REQUIRE(ctl(QVM_CTRL_OPTION, 2, notify) == 0);
    if (dio) REQUIRE(ctl(QVM_CTRL_OPTION, 3, dio) == 0);
    if (delayed) REQUIRE(ctl(QVM_CTRL_OPTION, 4, delayed) == 0);
    REQUIRE(ctl(QVM_CTRL_OPTIONS_END) == 0);
    REQUIRE(ctl(QVM_CTRL_RESOURCES) == 0);
    REQUIRE(ctl(QVM_CTRL_RESET) == 0);
  }
  ~Blk() {
    ctl(QVM_CTRL_TERMINATE);
  }
  int ctl(unsigned c, int arg = 0, const char* v = nullptr) {
    return f->control(g.dev, state.data(), c, arg, v);
  }
  uint64_t rd(uint64_t off, unsigned size) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8] = {};
    REQUIRE(f->read(g.dev, state.data(), &a, d) == QVM_DONE);
    uint64_t x = 0;
    memcpy(&x, d, size);
    return x;
  }
  void wr(uint64_t off, unsigned size, uint64_t x) {
    qvm_access a{QVM_SPACE_MEM, size, off, 0, 0};
    uint8_t d[8];
    memcpy(d, &x, 8);
    REQUIRE(f->write(g.dev, state.data(), &a, d) == QVM_DONE);
  }
  uint64_t host_features() {
    wr(0, 4, 0);
    uint64_t lo = rd(4, 4);
    wr(0, 4, 1);
    return lo | (rd(4, 4) << 32);
  }
  void bring_up(uint64_t feat) {
    wr(20, 1, 3);
    wr(8, 4, 0); wr(12, 4, uint32_t(feat));
    wr(8, 4, 1); wr(12, 4, uint32_t(feat >> 32));
    wr(20, 1, 3 | VIRTIO_S_FEATURES_OK);
    REQUIRE((rd(20, 1) & VIRTIO_S_FEATURES_OK));
    wr(22, 2, 0);
    wr(24, 2, kQ);
    wr(32, 4, uint32_t(kDesc)); wr(36, 4, 0);
    wr(40, 4, uint32_t(kAvail)); wr(44, 4, 0);
    wr(48, 4, uint32_t(kUsed)); wr(52, 4, 0);
    wr(28, 2, 1);
    wr(20, 1, 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
  }
  void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    uint8_t d[16];
    memcpy(d, &addr, 8); memcpy(d + 8, &len, 4); memcpy(d + 12, &flags, 2); memcpy(d + 14, &next, 2);
    REQUIRE(qvm_gmem_write(nullptr, kDesc + 16ull * i, d, 16) == 0);
  }
  // One request: header, optional data (out or in), status. Returns status.
  uint8_t request(uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len, bool data_in) {
    uint8_t hdr[16] = {};
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    REQUIRE(qvm_gmem_write(nullptr, kHdr, hdr, 16) == 0);
    uint8_t st = 0xee;
    REQUIRE(qvm_gmem_write(nullptr, kStatus, &st, 1) == 0);
    const uint16_t NEXT = 1, WRITE = 2;
    if (len) {
      desc(0, kHdr, 16, NEXT, 1);
      desc(1, data_gpa, len, uint16_t(NEXT | (data_in ? WRITE : 0)), 2);
      desc(2, kStatus, 1, WRITE, 0);
    } else {
      desc(0, kHdr, 16, NEXT, 2);
      desc(2, kStatus, 1, WRITE, 0);
    }
    uint16_t head = 0;
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 4 + 2ull * (avail % kQ), &head, 2) == 0);
    avail++;
    REQUIRE(qvm_gmem_write(nullptr, kAvail + 2, &avail, 2) == 0);
    wr(VIO_PCI_NOTIFY, 2, 0);  // exit path: served inline
    uint16_t used = 0;
    REQUIRE(qvm_gmem_read(nullptr, kUsed + 2, &used, 2) == 0);
    REQUIRE(used == avail);
    REQUIRE(qvm_gmem_read(nullptr, kStatus, &st, 1) == 0);
    return st;
  }
  std::vector<uint8_t> file(off_t off, size_t n) {
    std::vector<uint8_t> b(n);
    int fd = open(path.c_str(), O_RDONLY);
    REQUIRE(pread(fd, b.data(), n, off) == ssize_t(n));
    close(fd);
    return b;
  }
  long blocks() {
    struct stat sb;
    REQUIRE(stat(path.c_str(), &sb) == 0);
    return long(sb.st_blocks);
  }
};

// O_DIRECT on the file system the disks of Blk use.
bool DirectWorks() {
  qvm::test::TempDir dir;
  int fd = open((dir / "direct").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0600);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

bool PunchWorks() {
  qvm::test::TempDir dir;  // on the file system the disks of Blk use
  int fd = open((dir / "punch").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ftruncate(fd, 65536) == 0 &&
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

}  // namespace

TEST_CASE("virtio-blk: write, read back, write-zeroes and discard on the host file") {
  Blk b;
  uint64_t hf = b.host_features();
  if (!PunchWorks()) {
    // the host file cannot punch holes: neither feature is offered
    CHECK_FALSE((hf >> F_DISCARD) & 1);
    CHECK_FALSE((hf >> F_WZ) & 1);
    WARN("$TMPDIR (or /tmp) cannot punch holes: DISCARD/WRITE_ZEROES paths not exercised");
    return;
  }
  REQUIRE(((hf >> F_DISCARD) & 1));
  REQUIRE(((hf >> F_WZ) & 1));
  CHECK_FALSE((hf >> F_MQ) & 1);
  // config: max_discard_sectors, max_discard_seg, write_zeroes limits
  CHECK(b.rd(VIO_PCI_DEVCFG + 36, 4) == 0x3fffff);
  CHECK(b.rd(VIO_PCI_DEVCFG + 40, 4) == 1);
  CHECK(b.rd(VIO_PCI_DEVCFG + 52, 4) == 1);
  b.bring_up((1ull << VIRTIO_F_VERSION_1) | (1ull << F_DISCARD) | (1ull << F_WZ));
  // 64 KiB of a pattern at sector 128 (64 KiB into the file)
  std::vector<uint8_t> pat(65536);
  for (size_t i = 0; i < pat.size(); i++) pat[i] = uint8_t(i * 7 + 1);
  REQUIRE(qvm_gmem_write(nullptr, kData, pat.data(), pat.size()) == 0);
  CHECK(b.request(1 /*OUT*/, 128, kData, 65536, false) == 0);
  CHECK(b.file(65536, 65536) == pat);
  CHECK(b.request(4 /*FLUSH*/, 0, 0, 0, false) == 0);
  long full = b.blocks();
  // WRITE_ZEROES over the first 32 KiB of it
  uint8_t seg[16] = {};
  uint64_t sector = 128;
  uint32_t count = 64, flags = 0;
  memcpy(seg, &sector, 8); memcpy(seg + 8, &count, 4); memcpy(seg + 12, &flags, 4);
  REQUIRE(qvm_gmem_write(nullptr, kData + 0x20000, seg, 16) == 0);
  CHECK(b.request(13 /*WRITE_ZEROES*/, 0, kData + 0x20000, 16, false) == 0);
  CHECK(b.file(65536, 32768) == std::vector<uint8_t>(32768, 0));
  CHECK(b.file(65536 + 32768, 16) == std::vector<uint8_t>(pat.begin() + 32768, pat.begin() + 32768 + 16));
  // DISCARD the second half: zeroes, and the file gives the blocks back
  sector = 192;
  memcpy(seg, &sector, 8);
  REQUIRE(qvm_gmem_write(nullptr, kData + 0x20000, seg, 16) == 0);
  CHECK(b.request(11 /*DISCARD*/, 0, kData + 0x20000, 16, false) == 0);
  CHECK(b.file(65536 + 32768, 32768) == std::vector<uint8_t>(32768, 0));
  CHECK(b.blocks() < full);
  // the guest reads zeroes back through the device too
  std::vector<uint8_t> back(65536, 0xaa);
  REQUIRE(qvm_gmem_write(nullptr, kData, back.data(), back.size()) == 0);
  CHECK(b.request(0 /*IN*/, 128, kData, 65536, true) == 0);
  REQUIRE(qvm_gmem_read(nullptr, kData, back.data(), back.size()) == 0);
  CHECK(back == std::vector<uint8_t>(65536, 0));
  // a range past the end, flags on DISCARD, or two ranges are refused
  sector = (1 << 20) / 512 - 8;
  count = 16;
  memcpy(seg, &sector, 8); memcpy(seg + 8, &count, 4);
  REQUIRE(qvm_gmem_write(nullptr, kData + 0x20000, seg, 16) == 0);
  CHECK(b.request(11, 0, kData + 0x20000, 16, false) == 1 /*IOERR*/);
  sector = 0; count = 8; flags = 1;
  memcpy(seg, &sector, 8); memcpy(seg + 8, &count, 4); memcpy(seg + 12, &flags, 4);
  REQUIRE(qvm_gmem_write(nullptr, kData + 0x20000, seg, 16) == 0);
  CHECK(b.request(11, 0, kData + 0x20000, 16, false) == 2 /*UNSUPP*/);
  CHECK(b.request(11, 0, kData + 0x20000, 32, false) == 1);
  CHECK_FALSE(b.rd(20, 1) & VIRTIO_S_NEEDS_RESET);
}

TEST_CASE("virtio-blk: threads N gives N request queues (VIRTIO_BLK_F_MQ)") {
  Blk b("3");
  CHECK(((b.host_features() >> F_MQ) & 1));
  CHECK(b.rd(VIO_PCI_DEVCFG + 34, 2) == 3);  // num_queues
  CHECK(b.rd(18, 2) == 3);                    // common config num_queues
  CHECK(b.g.declared.msix_vectors == 4);
  Blk one("1");
  CHECK_FALSE((one.host_features() >> F_MQ) & 1);
  CHECK(one.rd(18, 2) == 1);
}

TEST_CASE("virtio-blk: with ioeventfds a worker thread serves the queue, completing via irqfd") {
  Blk b("1", 1 << 20, "eventfd");
  b.g.notify_ok = true;
  REQUIRE(b.ctl(QVM_CTRL_GUEST_CONFIGURED) == 0);
  // one ioeventfd on queue 0's notify address, irqfds for config + queue
  int kick = -1, nirq = 0;
  for (auto& n : b.g.notes) {
    if (!n.irq && n.offset == VIO_PCI_NOTIFY && n.size == 2) kick = n.fd;
    if (n.irq) nirq++;
  }
  REQUIRE(kick >= 0);
  CHECK(nirq == 2);
  b.bring_up(1ull << VIRTIO_F_VERSION_1);
  b.g.pci_state = QVM_PCI_STATE_MSIX_ENABLE;
  b.wr(22, 2, 0);
  b.wr(26, 2, 1);  // queue 0 -> vector 1, after the queue was enabled
  REQUIRE(b.rd(26, 2) == 1);
  // program vectors 0 and 1 alike (the configuration vector and the queue's)
  for (unsigned e = 0; e < 2; e++) {
    b.wr(VIO_PCI_MSIX_TABLE + 16 * e, 4, 0xfee00000);
    b.wr(VIO_PCI_MSIX_TABLE + 16 * e + 8, 4, 0x60 + e);
    b.wr(VIO_PCI_MSIX_TABLE + 16 * e + 12, 4, 0);
  }
  std::vector<uint8_t> pat(4096, 0x5c);
  REQUIRE(qvm_gmem_write(nullptr, kData, pat.data(), pat.size()) == 0);
  uint8_t hdr[16] = {};
  uint32_t type = 1;
  memcpy(hdr, &type, 4);
  REQUIRE(qvm_gmem_write(nullptr, kHdr, hdr, 16) == 0);
  b.desc(0, kHdr, 16, 1, 1);
  b.desc(1, kData, 4096, 1, 2);
  b.desc(2, kStatus, 1, 2, 0);
  uint16_t head = 0, one_idx = 1;
  REQUIRE(qvm_gmem_write(nullptr, kAvail + 4, &head, 2) == 0);
  REQUIRE(qvm_gmem_write(nullptr, kAvail + 2, &one_idx, 2) == 0);
  uint64_t k = 1;
  REQUIRE(write(kick, &k, 8) == 8);  // what KVM does on the guest's write
  uint16_t used = 0;
  for (int i = 0; i < 2000 && used != 1; i++) {
    usleep(1000);
    REQUIRE(qvm_gmem_read(nullptr, kUsed + 2, &used, 2) == 0);
  }
  REQUIRE(used == 1);
  uint8_t st = 0xee;
  REQUIRE(qvm_gmem_read(nullptr, kStatus, &st, 1) == 0);
  CHECK(st == 0);
  CHECK(b.file(0, 4096) == pat);
  // TERMINATE (in ~Blk) stops and joins the worker and releases the fds
  REQUIRE(b.ctl(QVM_CTRL_TERMINATE) == 0);
  CHECK(b.g.notes.empty());
}

// NetBSD's virtio_pci enables every queue first, then writes each vector
// and reads it back ("can't set queue 0 msix vector" when it differs).
TEST_CASE("virtio-blk: MSI-X vectors programmed after the queues are enabled (NetBSD's order)") {
  Blk b("2");
  b.bring_up(1ull << VIRTIO_F_VERSION_1);
  REQUIRE(b.g.declared.msix_vectors == 3);
  b.g.pci_state = QVM_PCI_STATE_MSIX_ENABLE;
  b.wr(16, 2, 0);  // configuration vector
  CHECK(b.rd(16, 2) == 0);
  for (unsigned q = 0; q < 2; q++) {
    b.wr(22, 2, q);
    b.wr(26, 2, q + 1);
    CHECK(b.rd(26, 2) == q + 1);
  }
  // a vector past the declared table is not accepted: NO_VECTOR reads back
  b.wr(22, 2, 0);
  b.wr(26, 2, 3);
  CHECK(b.rd(26, 2) == 0xffff);
  b.wr(16, 2, 0x7fff);
  CHECK(b.rd(16, 2) == 0xffff);
  b.wr(26, 2, 0xffff);  // and NO_VECTOR itself detaches the queue
  CHECK(b.rd(26, 2) == 0xffff);
  // a queue index past num_queues has no vector to set
  b.wr(22, 2, 7);
  b.wr(26, 2, 1);
  CHECK(b.rd(26, 2) == 0xffff);
}

// `notify auto` (the default) uses queue workers only when qvm may run on
// more host CPUs than the VM has vCPUs.
TEST_CASE("virtio-blk: notify auto picks workers only with a spare host CPU") {
  cpu_set_t set;
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  unsigned ncpu = unsigned(CPU_COUNT(&set));
  auto registered = [](Blk& b) {
    b.g.notify_ok = true;
    REQUIRE(b.ctl(QVM_CTRL_GUEST_CONFIGURED) == 0);
    return !b.g.notes.empty();
  };
  {
    Blk b("1", 1 << 20, nullptr, ncpu);  // as many vCPUs as CPUs: exits
    CHECK_FALSE(registered(b));
    bool logged = false;
    for (auto& l : b.g.logs) logged |= l.find("notify auto") != std::string::npos;
    CHECK(logged);
  }
  {
    Blk b("1", 1 << 20, "auto", ncpu + 7);
    CHECK_FALSE(registered(b));
  }
  if (ncpu > 1) {
    Blk b("1", 1 << 20, nullptr, ncpu - 1);  // a spare CPU: workers
    CHECK(registered(b));
  }
  {
    Blk b("1", 1 << 20, "eventfd", ncpu + 7);  // explicit: always workers
    CHECK(registered(b));
  }
  {
    Blk b("1", 1 << 20, "exit", 1);
    CHECK_FALSE(registered(b));
  }
  FakeGuest g;
  std::vector<uint8_t> st(BlkFactory()->state_size, 0);
  REQUIRE(BlkFactory()->control(g.dev, st.data(), QVM_CTRL_OPTIONS_START, 0, nullptr) == 0);
  CHECK(BlkFactory()->control(g.dev, st.data(), QVM_CTRL_OPTION, 2, "sometimes") == -EINVAL);
}

// QNX's `dio enable|read`: the image also opened O_DIRECT; requests whose
// guest buffers are aligned go straight to it, others through the bounce
// buffer (the fake guest's RAM is not page-aligned on the host, and an odd
// guest address never is); both read back what was written. `dio` values
// other than enable|read|disable are refused.
TEST_CASE("virtio-blk: dio enable: direct I/O, aligned or through the bounce buffer") {
  if (!DirectWorks()) {
    WARN("$TMPDIR (or /tmp) cannot open files O_DIRECT: dio enable not exercised here");
    return;
  }
  Blk b("1", 1 << 20, nullptr, 1, "enable");
  bool opened = false;
  for (const auto& l : b.g.logs)
    if (l.find("opened O_DIRECT") != std::string::npos) opened = true;
  CHECK(opened);
  b.bring_up(1ull << VIRTIO_F_VERSION_1);
  std::vector<uint8_t> pat(8192);
  for (size_t i = 0; i < pat.size(); i++) pat[i] = uint8_t(i * 13 + 1);
  for (uint64_t gpa : {kData, kData + 1, kData + 512}) {
    REQUIRE(qvm_gmem_write(nullptr, gpa, pat.data(), pat.size()) == 0);
    CHECK(b.request(1 /* OUT */, 8, gpa, 8192, false) == 0);
    CHECK(b.file(8 * 512, 8192) == pat);
    std::vector<uint8_t> zero(8192, 0);
    REQUIRE(qvm_gmem_write(nullptr, kData + 0x20000, zero.data(), zero.size()) == 0);
    CHECK(b.request(0 /* IN */, 8, kData + 0x20000 + (gpa - kData), 8192, true) == 0);
    std::vector<uint8_t> got(8192);
    REQUIRE(qvm_gmem_read(nullptr, kData + 0x20000 + (gpa - kData), got.data(), got.size()) == 0);
    CHECK(got == pat);
    pat[0]++;
  }
  // a 512-byte write at an offset the file system may not take directly:
  // done anyway (directly, or through the page cache)
  REQUIRE(qvm_gmem_write(nullptr, kData, pat.data(), 512) == 0);
  CHECK(b.request(1, 1, kData, 512, false) == 0);
  CHECK(b.file(512, 512) == std::vector<uint8_t>(pat.begin(), pat.begin() + 512));
  for (const auto& l : b.g.logs) CHECK(l.find("direct") == std::string::npos);  // no failure
}

TEST_CASE("virtio-blk: dio takes enable, read or disable") {
  const qvm_factory* f = BlkFactory();
  REQUIRE(f);
  FakeGuest g;
  std::vector<uint8_t> state(f->state_size, 0);
  REQUIRE(f->control(g.dev, state.data(), QVM_CTRL_OPTIONS_START, 0, nullptr) == 0);
  for (const char* ok : {"enable", "read", "disable"})
    CHECK(f->control(g.dev, state.data(), QVM_CTRL_OPTION, 3, ok) == 0);
  CHECK(f->control(g.dev, state.data(), QVM_CTRL_OPTION, 3, "write") == -EINVAL);
}

namespace {

bool BlkLogHas(FakeGuest& g, const char* what) {
  for (const auto& l : fake::LogsOf(g.dev))
    if (l.find(what) != std::string::npos) return true;
  return false;
}

bool BlkWaitLog(FakeGuest& g, const char* what) {
  for (int i = 0; i < 2000; i++) {  // 20 s: a loaded host
    if (BlkLogHas(g, what)) return true;
    usleep(10000);
  }
  return false;
}

}  // namespace

TEST_CASE("virtio-blk: delayed takes SECONDS or forever") {
  for (const char* v : {"0", "7", "forever", "2147483647"}) {
    INFO(v);
    Blk b("1", 1 << 20, "exit", 1, nullptr, v);
  }
  for (const char* v : {"", "x", "-1", "5s", "0x10", "2147483648"}) {
    INFO(v);
    Blk b;
    CHECK(b.ctl(QVM_CTRL_OPTION, 4, v) == -EINVAL);
  }
}

// QNX's `delayed 20`: the image is not opened at start; the guest's first
// access wakes the opener thread, which retries while the file is missing;
// meanwhile the disk has 0 sectors and requests fail. Once the file is
// there its capacity appears with a configuration-change interrupt and
// requests reach it. The opener's open runs with the instance lock free;
// the test takes the lock around its own accesses, as qvm does.
TEST_CASE("virtio-blk: delayed opens the image after the first access, retrying") {
  Blk b("1", 1 << 20, "exit", 1, nullptr, "20");
  std::string later = b.path + ".later";
  REQUIRE(rename(b.path.c_str(), later.c_str()) == 0);
  REQUIRE(b.ctl(QVM_CTRL_GUEST_CONFIGURED) == 0);
  REQUIRE(b.g.dev->threads.size() == 1);
  CHECK(b.g.dev->threads[0] == "blk-open");
  auto locked = [&](auto fn) {
    std::lock_guard<std::recursive_mutex> l(b.g.dev->mu);
    return fn();
  };
  usleep(200000);
  CHECK_FALSE(BlkLogHas(b.g, "opened after"));  // no access yet
  locked([&] { b.bring_up(1ull << VIRTIO_F_VERSION_1); return 0; });  // first access
  CHECK(locked([&] { return b.rd(VIO_PCI_DEVCFG + 0, 8); }) == 0);   // capacity 0
  std::vector<uint8_t> pat(512, 0xa7);
  REQUIRE(qvm_gmem_write(nullptr, kData, pat.data(), pat.size()) == 0);
  CHECK(locked([&] { return b.request(1, 0, kData, 512, false); }) == 1);  // IOERR
  usleep(300000);
  CHECK_FALSE(BlkLogHas(b.g, "opened after"));  // still missing: retried
  locked([&] { return b.rd(VIO_PCI_ISR, 1); });  // the request's interrupt acknowledged
  CHECK(b.g.intx() == 0);
  int raises = b.g.intx_raises();
  REQUIRE(rename(later.c_str(), b.path.c_str()) == 0);
  REQUIRE(BlkWaitLog(b.g, "opened after the guest's first access"));
  CHECK(BlkLogHas(b.g, ": 2048 sectors"));
  CHECK(locked([&] { return b.rd(VIO_PCI_DEVCFG + 0, 8); }) == 2048);
  CHECK(b.g.intx_raises() > raises);                                   // config change
  CHECK((locked([&] { return b.rd(VIO_PCI_ISR, 1); }) & 2) == 2);
  CHECK(locked([&] { return b.request(1, 8, kData, 512, false); }) == 0);  // write
  CHECK(b.file(8 * 512, 512) == pat);
  {
    std::lock_guard<std::recursive_mutex> l(b.g.dev->mu);
    REQUIRE(b.ctl(QVM_CTRL_TERMINATE) == 0);
  }
}

// `delayed 0`: one try at the first access; a missing image is logged and
// the disk stays empty. TERMINATE before any access ends the opener too.
TEST_CASE("virtio-blk: delayed 0 tries once; TERMINATE ends a waiting opener") {
  {
    Blk b("1", 1 << 20, "exit", 1, nullptr, "0");
    REQUIRE(unlink(b.path.c_str()) == 0);
    REQUIRE(b.ctl(QVM_CTRL_GUEST_CONFIGURED) == 0);
    {
      std::lock_guard<std::recursive_mutex> l(b.g.dev->mu);
      b.host_features();  // the first access
    }
    REQUIRE(BlkWaitLog(b.g, "after 1 tries; the disk stays empty"));
    std::lock_guard<std::recursive_mutex> l(b.g.dev->mu);
    REQUIRE(b.ctl(QVM_CTRL_TERMINATE) == 0);
  }
  {
    Blk b("1", 1 << 20, "exit", 1, nullptr, "forever");
    REQUIRE(b.ctl(QVM_CTRL_GUEST_CONFIGURED) == 0);
    std::lock_guard<std::recursive_mutex> l(b.g.dev->mu);
    REQUIRE(b.ctl(QVM_CTRL_TERMINATE) == 0);  // joins the opener
  }
}
