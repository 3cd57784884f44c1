// The unit suites' one way to ask gdb itself: `gdb-multiarch -nx -batch`
// with the given arguments (each shell-quoted by the caller as needed, e.g.
// "-c 'core'" or "-ex 'info registers'"), stdout and stderr together.
// Empty when gdb-multiarch is not installed (the caller decides whether
// that is a failure: `make deps` installs it).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace qvm::test {

inline std::string GdbBatch(const std::vector<std::string>& args) {
  if (system("command -v gdb-multiarch >/dev/null 2>&1") != 0) return "";
  std::string cmd = "timeout 60 gdb-multiarch -nx -batch -iex 'set auto-load off'";
  for (const auto& a : args) cmd += " " + a;
  cmd += " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  REQUIRE(!out.empty());
  return out;
}

}  // namespace qvm::test
