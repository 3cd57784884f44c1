// x86 CPUID policy (arch/x86_64/kvm_x86.cc: ApplyCpuidPolicy): topology,
// KVM's hypervisor leaves kept, qvm's identification leaf, `set cpuid-*`.
#if defined(__x86_64__)
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "arch/x86_64/kvm_x86.h"

namespace {

using qvm::x86::ApplyCpuidPolicy;
using qvm::x86::CpuidOptions;

kvm_cpuid_entry2 Leaf(uint32_t f, uint32_t idx = 0, uint32_t a = 0, uint32_t b = 0,
                      uint32_t c = 0, uint32_t d = 0) {
  kvm_cpuid_entry2 e{};
  e.function = f;
  e.index = idx;
  e.eax = a;
  e.ebx = b;
  e.ecx = c;
  e.edx = d;
  return e;
}

std::vector<kvm_cpuid_entry2> Supported() {
  uint32_t k[3];
  std::memcpy(k, "KVMKVMKVM\0\0\0", 12);
  return {Leaf(0, 0, 0x1f), Leaf(1, 0, 0x806c1, 0x00000800, 0x7ffafbff, 0x0fabfbff),
          Leaf(0xa, 0, 0x07300805, 0, 0, 0x603), Leaf(0xb, 0), Leaf(0xb, 1), Leaf(0xb, 2),
          Leaf(0x40000000, 0, 0x40000001, k[0], k[1], k[2]),
          Leaf(0x40000001, 0, 0x01007afb)};
}

const kvm_cpuid_entry2* Find(const std::vector<kvm_cpuid_entry2>& v, uint32_t f,
                             uint32_t idx = 0) {
  for (const auto& e : v)
    if (e.function == f && e.index == idx) return &e;
  return nullptr;
}

std::string Sig(const kvm_cpuid_entry2& e) {
  char s[13] = {};
  std::memcpy(s, &e.ebx, 4);
  std::memcpy(s + 4, &e.ecx, 4);
  std::memcpy(s + 8, &e.edx, 4);
  return s;
}

}  // namespace

TEST_CASE("cpuid: topology and hypervisor bit per vCPU", "[cpuid]") {
  auto v = ApplyCpuidPolicy(Supported(), 2, 3, CpuidOptions{});
  const auto* l1 = Find(v, 1);
  REQUIRE(l1);
  CHECK((l1->ebx >> 24) == 2);            // initial APIC ID
  CHECK(((l1->ebx >> 16) & 0xff) == 3);   // logical processors
  CHECK((l1->ebx & 0xffff) == 0x0800);    // CLFLUSH size etc. kept
  CHECK((l1->ecx >> 31) == 1);            // hypervisor present
  CHECK((l1->edx >> 28 & 1) == 1);        // HTT with > 1 vCPU
  const auto* pmu = Find(v, 0xa);
  REQUIRE(pmu);
  CHECK((pmu->eax | pmu->edx) == 0);
  const auto* smt = Find(v, 0xb, 0);
  const auto* core = Find(v, 0xb, 1);
  const auto* none = Find(v, 0xb, 2);
  REQUIRE((smt && core && none));
  CHECK(smt->ebx == 1);
  CHECK(smt->ecx == 0x100);
  CHECK(core->eax == 2);  // ceil(log2(3))
  CHECK(core->ebx == 3);
  CHECK(core->ecx == 0x201);
  CHECK(none->ecx == 2);
  CHECK(core->edx == 2);  // x2APIC ID
}

TEST_CASE("cpuid: missing leaf 0xB sub-leaves are supplied", "[cpuid]") {
  // An AMD host's KVM lists leaf 0xB with sub-leaf 0 only.
  std::vector<kvm_cpuid_entry2> sup = {Leaf(0, 0, 0xd), Leaf(1), Leaf(0xb, 0)};
  auto out = ApplyCpuidPolicy(sup, 3, 4, CpuidOptions{});
  for (uint32_t i = 0; i < 3; i++) {
    const kvm_cpuid_entry2* e = Find(out, 0xb, i);
    REQUIRE(e != nullptr);
    CHECK(e->edx == 3);
    CHECK((e->ecx & 0xff) == i);
  }
  CHECK(Find(out, 0xb, 1)->eax == 2);
  CHECK(Find(out, 0xb, 1)->ebx == 4);
  CHECK(Find(out, 0xb, 1)->ecx == 0x201);
  CHECK(Find(out, 0xb, 1)->flags == KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
  CHECK(Find(out, 0xb, 2)->ecx == 2);
  CHECK(Find(out, 0x1f, 0) == nullptr);  // absent leaves stay absent
}

TEST_CASE("cpuid: KVM's leaves kept, qvm's leaf added after them", "[cpuid]") {
  auto v = ApplyCpuidPolicy(Supported(), 0, 1, CpuidOptions{});
  const auto* kvm = Find(v, 0x40000000);
  REQUIRE(kvm);
  CHECK(Sig(*kvm) == "KVMKVMKVM");
  CHECK(kvm->eax == 0x40000001);
  REQUIRE(Find(v, 0x40000001));
  CHECK(Find(v, 0x40000001)->eax == 0x01007afb);
  const auto* q = Find(v, 0x40000100);
  REQUIRE(q);
  CHECK(Sig(*q) == "QVMQVMQVM");
  CHECK(q->eax == 0x40000100);
  CHECK(v.size() == Supported().size() + 1);
  CHECK((Find(v, 1)->edx >> 28 & 1) == 0);  // one vCPU: no HTT added
}

TEST_CASE("cpuid: set cpuid-qvm-leaf off / cpuid-hide-hypervisor on", "[cpuid]") {
  CpuidOptions off;
  off.qvm_leaf = false;
  auto v = ApplyCpuidPolicy(Supported(), 0, 1, off);
  CHECK(Find(v, 0x40000100) == nullptr);
  CHECK(Find(v, 0x40000000) != nullptr);
  CHECK(v.size() == Supported().size());

  CpuidOptions hide;
  hide.hide_hypervisor = true;
  v = ApplyCpuidPolicy(Supported(), 0, 1, hide);
  for (const auto& e : v) CHECK((e.function < 0x40000000u || e.function > 0x4fffffffu));
  REQUIRE(Find(v, 1));
  CHECK((Find(v, 1)->ecx >> 31) == 0);
  CHECK((Find(v, 1)->ecx & 0x7fffffff) == 0x7ffafbff);
}

TEST_CASE("cpuid: the qvm leaf never displaces an existing entry", "[cpuid]") {
  // A 0x40000100 range already present (e.g. KVM behind Hyper-V's leaves).
  auto s = Supported();
  s.push_back(Leaf(0x40000100, 0, 0x40000101, 1, 2, 3));
  auto v = ApplyCpuidPolicy(s, 0, 1, CpuidOptions{});
  REQUIRE(Find(v, 0x40000100));
  CHECK(Find(v, 0x40000100)->ebx == 1);
  CHECK(v.size() == s.size());
  // KVM's table holds at most 256 entries: no room, no leaf.
  std::vector<kvm_cpuid_entry2> full(256, Leaf(0xd, 0));
  for (uint32_t i = 0; i < 256; i++) full[i].index = i;
  CHECK(ApplyCpuidPolicy(full, 0, 1, CpuidOptions{}).size() == 256);
}
TEST_CASE("cpuid: the brand string fills the leaves KVM leaves empty", "[cpuid]") {
  auto sup = Supported();
  sup.push_back(Leaf(0x80000000u, 0, 0x80000008u));
  sup.push_back(Leaf(0x80000002u));
  sup.push_back(Leaf(0x80000003u));
  sup.push_back(Leaf(0x80000004u));
  CpuidOptions opt;
  opt.brand = "AMD EPYC 7B13 64-Core Processor";
  auto out = ApplyCpuidPolicy(sup, 0, 1, opt);
  char b[49] = {};
  for (uint32_t i = 0; i < 3; i++) {
    const kvm_cpuid_entry2* e = Find(out, 0x80000002u + i);
    REQUIRE(e != nullptr);
    std::memcpy(b + 16 * i, &e->eax, 4);
    std::memcpy(b + 16 * i + 4, &e->ebx, 4);
    std::memcpy(b + 16 * i + 8, &e->ecx, 4);
    std::memcpy(b + 16 * i + 12, &e->edx, 4);
  }
  CHECK(std::string(b) == opt.brand);
  // a name KVM already supplies is kept; an over-long one is cut to 47
  // characters and still ends in NUL
  sup[sup.size() - 3].eax = 0x20444d41;  // "AMD "
  opt.brand = std::string(60, 'x');
  out = ApplyCpuidPolicy(sup, 0, 1, opt);
  CHECK(Find(out, 0x80000002u)->eax == 0x20444d41);
  CHECK(Find(out, 0x80000002u)->ebx == 0);
  CHECK(Find(out, 0x80000004u)->edx == 0x00787878);
  // no brand known: the leaves stay as KVM gave them
  opt.brand.clear();
  out = ApplyCpuidPolicy(sup, 0, 1, opt);
  CHECK(Find(out, 0x80000003u)->eax == 0);
}

#endif
