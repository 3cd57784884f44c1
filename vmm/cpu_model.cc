#include "vmm/cpu_model.h"

#include "absl/strings/str_cat.h"

namespace qvm {

std::string GdbTargetXml(const CpuModel& model) {
  std::string x = absl::StrCat(
      "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
      "<target version=\"1.0\">\n<architecture>",
      model.gdb_architecture(), "</architecture>\n");
  std::string_view open;
  std::span<const GdbReg> regs = model.gdb_registers();
  for (size_t i = 0; i < regs.size(); i++) {
    const GdbReg& r = regs[i];
    if (open != r.feature) {
      if (!open.empty()) x += "</feature>\n";
      open = r.feature;
      absl::StrAppend(&x, "<feature name=\"", r.feature, "\">\n");
    }
    absl::StrAppend(&x, "<reg name=\"", r.name, "\" bitsize=\"", r.bits, "\" type=\"", r.type,
                    "\" regnum=\"", i, "\"/>\n");
  }
  if (!open.empty()) x += "</feature>\n";
  x += "</target>\n";
  return x;
}

namespace {

// The register's word, when it is one of this model's and in the snapshot.
const GdbReg* Lookup(const CpuModel& model, const VcpuRegs& regs, unsigned regno) {
  std::span<const GdbReg> all = model.gdb_registers();
  if (regs.model != &model || regno >= all.size()) return nullptr;
  const GdbReg& r = all[regno];
  if (r.word < 0 || size_t(r.word) >= VcpuRegs::kWords || r.bits > 64 || r.bits % 8)
    return nullptr;
  return &r;
}

}  // namespace

bool GdbGetReg(const CpuModel& model, const VcpuRegs& regs, unsigned regno, uint8_t* out,
               size_t out_len) {
  const GdbReg* r = Lookup(model, regs, regno);
  if (!r || out_len < r->bits / 8) return false;
  uint64_t v = regs.words[size_t(r->word)];
  for (unsigned i = 0; i < r->bits / 8; i++) out[i] = uint8_t(v >> (8 * i));
  return true;
}

bool GdbSetReg(const CpuModel& model, VcpuRegs& regs, unsigned regno, const uint8_t* in,
               size_t len) {
  const GdbReg* r = Lookup(model, regs, regno);
  if (!r || len != r->bits / 8) return false;
  uint64_t v = 0;
  for (unsigned i = 0; i < len; i++) v |= uint64_t(in[i]) << (8 * i);
  regs.words[size_t(r->word)] = v;
  return true;
}

}  // namespace qvm
