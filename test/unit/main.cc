// Catch2's main for build/bin/qvm-unit-tests (every test/unit/*.cc links in).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
