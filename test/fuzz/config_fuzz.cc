// libFuzzer target for the configuration parser: arbitrary bytes as a
// config file. Build (not part of `make all`):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     test/fuzz/config_fuzz.cc vmm/config.cc vmm/vars.cc vmm/vm_plan.cc \
//     arch/vars.cc arch/x86_64/plan.cc arch/aarch64/plan.cc $(ABSL static libs) \
//     -o build/bin/config-fuzz
//   build/bin/config-fuzz -dict=test/fuzz/config.dict NEWDIR test/fuzz/corpus/config
#include <cstddef>
#include <cstdint>
#include <string>

#include "vmm/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto toks = qvm::Tokenize(text, "fuzz.qvmconf");
  if (!toks.ok()) return 0;
  // Also the numbers on their own: every token through both parsers.
  for (const qvm::Token& t : *toks) {
    (void)qvm::ParseNumber(t.text);
    (void)qvm::ParseSize(t.text);
  }
  auto cfg = qvm::ParseTokens(*toks);
  if (cfg.ok()) {
    // Every successful parse must be self-consistent.
    for (const qvm::MemSpec& m : cfg->mem)
      if (m.size == 0 || (m.start && *m.start + m.size < *m.start))
        __builtin_trap();
  } else if (cfg.status().message().find(": ") == std::string::npos) {
    __builtin_trap();  // every error carries FILE:LINE:COL
  }
  return 0;
}
