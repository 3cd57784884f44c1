// qvm: one process, one virtual machine.
//   qvm [option ...]     options are config tokens; @file reads a file
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "vmm/arch.h"
#include "vmm/config.h"
#include "vmm/log.h"
#include "vmm/vdev_host.h"
#include "vmm/vm.h"

namespace {

void Usage() {
  fputs(
      "usage: qvm [option ...]\n"
      "  Options are configuration tokens (see the qvm configuration\n"
      "  language); @FILE reads a file's tokens in place. Examples:\n"
      "    qvm @guest.qvmconf\n"
      "    qvm @guest.qvmconf dryrun\n"
      "Exit codes: 0 guest powered off, 3 power cut, 4 watchdog, 5 unsupported\n"
      "operation, 6 vdev error, 7 unexpected error, 32-63 vdev-defined,\n"
      "64 fatal before the guest started, 65 configuration error, 96 fatal\n"
      "after the guest started.\n",
      stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // Writes to a vanished reader (a console pipe, `dump "|cmd"`) must fail
  // with EPIPE, not kill the VM.
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    Usage();
    return args.empty() ? qvm::kExitConfig : 0;
  }
  // The plug-ins' factories tell the parser how their options are written;
  // the VM then uses the same loader.
  auto loader = std::make_unique<qvm::VdevLoader>(qvm::VdevLoader::DefaultSearchDirs());
  auto cfg = qvm::ParseArgs(args, loader.get());
  if (!cfg.ok()) {
    fprintf(stderr, "%s\n", std::string(cfg.status().message()).c_str());
    return qvm::kExitConfig;
  }
  absl::Status st = qvm::LogConfigure(cfg->loggers);
  if (!st.ok()) {
    fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return qvm::kExitConfig;
  }
  bool dryrun = cfg->dryrun;
  qvm::Vm vm(std::move(*cfg), qvm::CreateMachine(), std::move(loader));
  st = vm.build();
  if (!st.ok()) {
    fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return absl::IsInvalidArgument(st) ? qvm::kExitConfig
                                       : qvm::kExitFatalBeforeStart;
  }
  if (dryrun) {
    vm.print(stdout);
    return 0;
  }
  fflush(stdout);
  return vm.run();
}
