// libFuzzer target for the configuration parser (vmm/config.cc): whole
// files with `@file` nesting. The input is up to four files separated by
// a line "%%": `main`, then `a`, `b`, `c`, written into one private
// directory (once per process, removed at exit); qvm's argument `@DIR/main`
// is parsed as qvm parses its command line, so `@a` in main, `@b` in a and
// `@main` (a recursive include) reach the include logic. The main file's
// text also goes through the tokenizer and both number parsers directly.
// Dictionary: config.dict. Built and run by `make fuzz` (test/fuzz/).
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "vmm/config.h"

namespace {
constexpr size_t kMaxInput = 65536;  // also libFuzzer's -max_len
const char* const kNames[] = {"main", "a", "b", "c"};

std::string g_dir;
void RemoveDir() {
  for (const char* n : kNames) unlink((g_dir + "/" + n).c_str());
  rmdir(g_dir.c_str());
}
bool WriteFile(const std::string& path, std::string_view text) {
  FILE* f = fopen(path.c_str(), "wb");
  if (!f) return false;
  bool ok = fwrite(text.data(), 1, text.size(), f) == text.size();
  return fclose(f) == 0 && ok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInput) return 0;
  if (g_dir.empty()) {
    char tmpl[] = "/tmp/qvm-config-fuzz.XXXXXX";
    if (!mkdtemp(tmpl)) abort();
    g_dir = tmpl;
    atexit(RemoveDir);
  }
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  std::string main_text;
  for (int i = 0; i < 4; i++) {
    size_t end = i < 3 ? in.find("\n%%\n", pos) : std::string_view::npos;
    std::string_view part = in.substr(pos, end == std::string_view::npos ? in.size() - pos : end - pos);
    if (i == 0) main_text = part;
    if (!WriteFile(g_dir + "/" + kNames[i], part)) abort();
    pos = end == std::string_view::npos ? in.size() : end + 4;
  }

  auto toks = qvm::Tokenize(main_text, "fuzz.qvmconf");
  if (toks.ok()) {
    for (const qvm::Token& t : *toks) {
      (void)qvm::ParseNumber(t.text);
      (void)qvm::ParseSize(t.text);
    }
  }
  auto cfg = qvm::ParseArgs({"@" + g_dir + "/main"});
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
