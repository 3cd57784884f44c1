// Catch2's main(), compiled once per build tree and linked into every Catch2
// suite (qvm-unit-tests, qvm-vdev-tests, qvm-virtio-tests, qvm-resmgr-tests,
// qvm-mkimage-tests). It is Catch2's whole runner: the costliest file of the
// tree to compile, so test/module.mk builds it without optimisation or debug
// information.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
