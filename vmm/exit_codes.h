// qvm's process exit codes: the one definition every part of qvm uses
// (main, the VM's power state machine, exit dispatch, the vdev ABI).
#pragma once

namespace qvm {

enum ExitCode {
  kExitOk = 0,                // guest powered off
  kExitPowerCut = 3,          // SIGQUIT, a second SIGTERM, `qvmctl kill`
  kExitWatchdog = 4,          // a watchdog device fired
  kExitUnsupported = 5,       // unsupported operation under `unsupported terminate`
  kExitVdevError = 6,         // a vdev failed or asked to terminate
  kExitUnexpected = 7,        // unexpected error
  kExitVdevFirst = 32,        // 32..63: vdev-defined (qvm_exit_code)
  kExitVdevLast = 63,
  kExitFatalBeforeStart = 64,
  kExitConfig = 65,           // configuration error (FILE:LINE:COL: message)
  kExitFatalAfterStart = 96,
};

}  // namespace qvm
