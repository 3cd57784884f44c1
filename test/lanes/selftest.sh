#!/usr/bin/env bash
# Checks the x86_64 lane's own machinery (run.sh + lane.sh) with the lane's
# self-tests: a pass, a deliberate failure, and a hang that only the whole-lane
# timeout ends, followed by a test that is then never reached. Boots the
# emulated host once (~40 s). Prints RESULT lines for suite "lanes".
set -u
cd "$(dirname "$0")/../.."
out=$(QVM_LANE_TESTS="selftest-pass selftest-fail selftest-hang host-kvm" QVM_LANE_TIMEOUT=${QVM_SELFTEST_TIMEOUT:-30} \
      QVM_LANE_REPS=1 bash test/lanes/x86_64/run.sh 2>&1)
rc=$?
fails=0
expect() {
  if grep -qxF "$1" <<<"$out"; then echo "RESULT PASS lanes/$2"
  else echo "RESULT FAIL lanes/$2 missing line: $1"; fails=1; fi
}
expect "RESULT PASS x86_64/selftest-pass" pass-reported
expect "RESULT FAIL x86_64/selftest-fail deliberate failure" fail-reported
expect "RESULT FAIL x86_64/selftest-hang hung or died here (lane timed out after ${QVM_SELFTEST_TIMEOUT:-30} s)" hang-named
expect "RESULT FAIL x86_64/host-kvm not reached (lane timed out after ${QVM_SELFTEST_TIMEOUT:-30} s in selftest-hang)" unreached-named
if [[ $rc -ne 0 ]]; then echo "RESULT PASS lanes/failing-lane-exit-status"
else echo "RESULT FAIL lanes/failing-lane-exit-status run.sh exited 0"; fails=1; fi
if ((fails)); then echo "$out" | sed 's/^/  | /'; fi
exit $fails
