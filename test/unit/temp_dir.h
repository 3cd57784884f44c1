// The one scratch directory helper of the Catch2 suites (unit, vdev, virtio,
// resmgr): a fresh directory under $TMPDIR (or /tmp), removed with
// everything in it when the object goes out of scope. `dir / "name"` is a
// path inside it; write()/write_text() put a file there (creating missing
// parent directories) and return its path.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace qvm::test {

class TempDir {
 public:
  // MODE: the directory's permissions (0755 lets other uids traverse it).
  explicit TempDir(mode_t mode = 0700) {
    const char* t = getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/qvm-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
    REQUIRE(chmod(path_.c_str(), mode) == 0);
  }
  ~TempDir() {
    std::error_code ec;  // never throws out of a destructor
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  std::string write(const std::string& name, const std::vector<uint8_t>& b) {
    return put(name, reinterpret_cast<const char*>(b.data()), b.size());
  }
  std::string write_text(const std::string& name, std::string_view text) {
    return put(name, text.data(), text.size());
  }

 private:
  std::string put(const std::string& name, const char* data, size_t len) {
    std::string p = *this / name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(data, static_cast<std::streamsize>(len));
    REQUIRE(f.good());
    return p;
  }

  std::string path_;
};

}  // namespace qvm::test
