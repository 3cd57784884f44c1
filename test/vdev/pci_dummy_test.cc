// pci-dummy: the PCI function it declares (IDs, class, subsystem), QNX's
// `reg OFFSET/SIZE=VALUE` and `reg NAME=VALUE`, `clone` from a host
// device, and the refusals, through the fake host.
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include <cstdio>
#include <string>
#include <vector>

#include "helpers.h"
#include "test/unit/temp_dir.h"

namespace {

fake::Config Regs(const std::vector<std::string> &regs) {
  fake::Config c;
  for (const auto &r : regs) c.options.push_back({"reg", r});
  return c;
}

}  // namespace

TEST_CASE("pci-dummy: defaults, option flags", "[pci-dummy]") {
  HostFixture f;
  qvm_vdev *d = f.make("pci-dummy");
  CHECK(d->pci.vendor_id == 0x1c05);
  CHECK(d->pci.device_id == 0xffff);
  CHECK(d->pci.class_code == 0xff);
  CHECK(d->pci.intx_pin == 0);
  for (int i = 0; i < 6; i++) CHECK(d->pci.bar_size[i] == 0);  // nothing but its IDs
  CHECK(d->regions.empty());
  REQUIRE(d->factory->option_flags != nullptr);
  CHECK(d->factory->option_flags[0] == QVM_OPTF_REPEAT);  // `reg` repeats
}

TEST_CASE("pci-dummy: reg by offset/size and by name; later values win", "[pci-dummy]") {
  HostFixture f;
  qvm_vdev *d = f.make("pci-dummy",
                       Regs({"0/4=0x12348086", "8/4=0x06010003", "Sub_Vendor_ID=0x1af4",
                             "0x2e/2=0x1100", "Device_ID=0x7000", "Class_Code[0]=0x80",
                             "Header_Type=0"}));
  CHECK(d->pci.vendor_id == 0x8086);
  CHECK(d->pci.device_id == 0x7000);  // the later `reg` wins
  CHECK(d->pci.revision == 0x03);
  CHECK(d->pci.prog_if == 0x80);
  CHECK(d->pci.subclass == 0x01);
  CHECK(d->pci.class_code == 0x06);
  CHECK(d->pci.subsystem_vendor_id == 0x1af4);
  CHECK(d->pci.subsystem_id == 0x1100);
  // 8-byte register covering vendor, device, command/status: status is not
  // modelled.
  CHECK(f.h.create("pci-dummy", Regs({"0x2c/4=0x11001af4"})) != nullptr);
}

TEST_CASE("pci-dummy: refusals", "[pci-dummy]") {
  HostFixture f;
  for (const char *bad :
       {"0/8=1",             // covers command/status (0x04-0x07)
        "0x10/4=0xfe000000",  // a BAR
        "3/2=1",             // unaligned
        "0/3=1",             // bad size
        "0/1=0x100",         // does not fit
        "Header_Type=0x80",  // multi-function: not what the host serves
        "Vendor_ID=0xffff",  // "no function"
        "Bogus_ID=1", "0/4", "=1", "Vendor_ID=x", "Vendor_ID=-1"}) {
    INFO(bad);
    CHECK(f.h.create("pci-dummy", Regs({bad})) == nullptr);
  }
  for (const char *bad : {"zz", "1:2", "0000:00:20.0", "00:00.8", "ffff:ff:1f.7"}) {
    INFO(bad);
    fake::Config c;
    c.options = {{"clone", bad}};
    CHECK(f.h.create("pci-dummy", c) == nullptr);  // bad address or absent device
  }
}

TEST_CASE("pci-dummy: clone copies a host device's identification", "[pci-dummy]") {
  // A host device in a directory of sysfs's layout ($QVM_PCI_SYSFS).
  qvm::test::TempDir dir;
  std::string dev = dir.path() + "/0000:00:1f.3";
  REQUIRE(mkdir(dev.c_str(), 0755) == 0);
  unsigned char cfg[256] = {};
  const unsigned char id[] = {0x86, 0x80, 0x22, 0xa3, 0, 0, 0, 0, 0x10, 0x00, 0x03, 0x04};
  memcpy(cfg, id, sizeof id);
  cfg[0x0e] = 0x80;  // multi-function on the host: not copied
  cfg[0x2c] = 0x28;
  cfg[0x2d] = 0x10;
  cfg[0x2e] = 0x34;
  cfg[0x2f] = 0x12;
  FILE *fp = fopen((dev + "/config").c_str(), "wb");
  REQUIRE(fp != nullptr);
  REQUIRE(fwrite(cfg, 1, sizeof cfg, fp) == sizeof cfg);
  fclose(fp);
  setenv("QVM_PCI_SYSFS", dir.path().c_str(), 1);
  HostFixture f;
  fake::Config c;
  c.options = {{"clone", "00:1f.3"}, {"reg", "Revision_ID=0x42"}};
  qvm_vdev *d = f.make("pci-dummy", c);
  fake::Config full;
  full.options = {{"clone", "0000:00:1f.3"}};
  qvm_vdev *d2 = f.make("pci-dummy", full);
  fake::Config absent;
  absent.options = {{"clone", "00:1f.4"}};
  CHECK(f.h.create("pci-dummy", absent) == nullptr);
  unsetenv("QVM_PCI_SYSFS");
  CHECK(d->pci.vendor_id == 0x8086);
  CHECK(d->pci.device_id == 0xa322);
  CHECK(d->pci.class_code == 0x04);
  CHECK(d->pci.subclass == 0x03);
  CHECK(d->pci.prog_if == 0x00);
  CHECK(d->pci.subsystem_vendor_id == 0x1028);
  CHECK(d->pci.subsystem_id == 0x1234);
  CHECK(d->pci.revision == 0x42);  // a later reg overrides the clone
  CHECK(d2->pci.revision == 0x10);
}
