#include <catch2/catch.hpp>

#include "tools/mkimage/cpio.h"

using namespace mkimage;

TEST_CASE("newc records: header fields, NUL-terminated name, 4-byte padding, trailer") {
  CpioEntry f;
  f.path = "init";
  f.mode = 0100755;
  f.data = "#!/bin/sh\n";  // 10 bytes
  std::string a = WriteCpio({f});
  std::string expect_header =
      "070701"
      "00000001"   // ino
      "000081ED"   // mode
      "00000000"   // uid
      "00000000"   // gid
      "00000001"   // nlink
      "00000000"   // mtime
      "0000000A"   // filesize
      "00000000" "00000000" "00000000" "00000000"  // dev, rdev
      "00000005"   // namesize incl. NUL
      "00000000";  // check
  REQUIRE(a.size() > 110);
  CHECK(a.substr(0, 110) == expect_header);
  // 110 + 5 = 115 -> padded to 116; data 10 -> padded to 12.
  CHECK(a.substr(110, 6) == std::string("init\0\0", 6));
  CHECK(a.substr(116, 12) == std::string("#!/bin/sh\n\0\0", 12));
  std::string trailer = a.substr(128);
  CHECK(trailer.substr(0, 6) == "070701");
  CHECK(trailer.substr(110, 10) == "TRAILER!!!");
  CHECK(a.size() % 4 == 0);
}

TEST_CASE("directories get nlink 2, devices carry rdev, output is deterministic") {
  CpioEntry d{"dev", 040755, 0, 0, 0, 0, ""};
  CpioEntry c{"dev/console", 020600, 0, 0, 5, 1, ""};
  std::string a = WriteCpio({d, c});
  CHECK(a.substr(6 + 4 * 8, 8) == "00000002");
  size_t second = 112;  // 110 + "dev\0" = 114 -> 116? name "dev" + NUL = 4 -> 114, padded to 116
  second = 116;
  CHECK(a.substr(second, 6) == "070701");
  CHECK(a.substr(second + 6 + 9 * 8, 8) == "00000005");
  CHECK(a.substr(second + 6 + 10 * 8, 8) == "00000001");
  CHECK(WriteCpio({d, c}) == a);
}

TEST_CASE("absolute or empty names are refused") {
  CpioEntry bad{"/init", 0100644, 0, 0, 0, 0, ""};
  CHECK_THROWS(WriteCpio({bad}));
  CpioEntry empty{"", 0100644, 0, 0, 0, 0, ""};
  CHECK_THROWS(WriteCpio({empty}));
}
