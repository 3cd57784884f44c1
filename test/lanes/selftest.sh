#!/usr/bin/env bash
# Checks the lanes' own machinery (test/lanes/lib/driver.sh + host.sh): the
# lane budget and a dying host with lib/fake-lane.sh (no QEMU), then the
# self-tests of host.sh in one x86_64 lane run of two emulated hosts:
#   selftest-pass, selftest-fail   a pass and a deliberate failure reported
#   selftest-kick                  the host stops its heartbeat and waits,
#                                  silent, for a keyboard interrupt: the
#                                  driver must kick it (LANE_KICK), log the
#                                  kick with the LAPIC state, and count it
#                                  as followed by output
#   selftest-hang                  qvm on a spinning guest: its kill timeout
#                                  ends it (its vCPUs recorded first, QVMHANG
#                                  lines), the test fails naming the hang
#   selftest-stall                 the driver stops the emulated CPUs (QMP
#                                  `stop`): the stall is detected from
#                                  outside (no console output, QEMU's CPU
#                                  time flat), diagnosed into a stall log,
#                                  and the test is rerun (and passes) in a
#                                  freshly booted host, saying so
#   host-kvm                       a real test, run in that fresh host
#   selftest-busy                  the host stops its heartbeat and spins
#                                  with no output (QEMU's CPU time grows):
#                                  a stall all the same, rerun (and passes)
#                                  in a third host
#   selftest-freeze                stalls again: with no fresh host left
#                                  (QVM_LANE_BOOTS=3) it fails as a stall
#   bad-config                     then never reached
# Stall bound QVM_SELFTEST_STALL (16 s). Prints RESULT lines for suite
# "lanes"; exit status 0 when every check passed.
set -u
cd "$(dirname "$0")/../.."
stall=${QVM_SELFTEST_STALL:-16}
# First the paths a real host cannot show quickly, with lib/fake-lane.sh
# (a shell script stands in for QEMU; a few seconds): the lane's budget
# running out in a test whose host is alive, the host dying in a test, and
# a result line with the next line glued to it (a lost line end).
fake=$(QVM_LANE_TESTS="fake-pass fake-sleep fake-after" QVM_LANE_TIMEOUT=6 bash test/lanes/lib/fake-lane.sh 2>&1;
       QVM_LANE_TESTS="fake-pass fake-die fake-after" bash test/lanes/lib/fake-lane.sh 2>&1
       QVM_LANE_TESTS="fake-bootdie fake-pass" bash test/lanes/lib/fake-lane.sh 2>&1
       QVM_LANE_TESTS="fake-glued fake-pass" bash test/lanes/lib/fake-lane.sh 2>&1)
out=$(QVM_LANE_TESTS="selftest-pass selftest-kick selftest-fail selftest-hang selftest-stall host-kvm selftest-busy selftest-freeze bad-config" \
      QVM_LANE_STALL=$stall QVM_LANE_SILENCE=600 QVM_LANE_BOOTS=3 QVM_LANE_REPS=1 bash test/lanes/x86_64/run.sh 2>&1)
rc=$?
fails=0
ok() { echo "RESULT PASS lanes/$1"; }
bad() { echo "RESULT FAIL lanes/$1 $2"; fails=1; }
expect() {  # LINE NAME [TEXT]: that exact line in TEXT (default: the lane's output)
  if grep -qxF "$1" <<<"${3-$out}"; then ok "$2"; else bad "$2" "missing line: $1"; fi
}
expect_re() {  # REGEX NAME: a line matching it
  if grep -qE "$1" <<<"$out"; then ok "$2"; else bad "$2" "no line matches: $1"; fi
}
expect "RESULT FAIL fake/fake-sleep hung or died here (lane timed out after 6 s)" budget-hung-named "$fake"
expect "RESULT FAIL fake/fake-after not reached (lane timed out after 6 s in fake-sleep)" budget-unreached-named "$fake"
expect "RESULT FAIL fake/fake-die hung or died here (emulated host stopped early (qemu exit 0; see build/test-logs/fake-lane.log))" host-died-named "$fake"
expect "RESULT FAIL fake/fake-after not reached (emulated host stopped early (qemu exit 0; see build/test-logs/fake-lane.log) in fake-die)" host-died-unreached "$fake"
expect "RESULT PASS fake/fake-bootdie" boot-death-fresh-host "$fake"
expect "fake lane: 2 host boot(s), 0 emulated-host stall(s), 1 host(s) died before their first test, 0 rerun(s)" boot-death-counted "$fake"
expect "RESULT PASS fake/fake-glued" glued-lines-taken-apart "$fake"
stall1=build/test-logs/x86_64-lane-stall-1.log
expect "RESULT PASS x86_64/selftest-pass" pass-reported
expect "RESULT FAIL x86_64/selftest-fail deliberate failure" fail-reported
expect "RESULT PASS x86_64/selftest-kick" kick-reaches-host
expect_re "^x86_64 lane: [1-9][0-9]* kick\\(s\\) of a host silent for 2 s, [1-9][0-9]* followed by console output within 5 s \\(log: build/test-logs/x86_64-lane-kicks.log\\)$" kick-counted
kicklog=build/test-logs/x86_64-lane-kicks.log
if [[ -f $kicklog ]] && grep -q '^=== kick [0-9]*: host boot 1, selftest-kick, no console output for ' "$kicklog" &&
   grep -q -- '--- monitor: info lapic' "$kicklog" && grep -q '^IRR' "$kicklog" &&
   grep -q -- '--- sent: sendkey shift' "$kicklog" && grep -q -- '--- the host spoke again' "$kicklog"; then
  ok kick-logged
else
  bad kick-logged "$kicklog lacks the first kick in selftest-kick, the LAPIC state, the key or the host's answer"
  [[ -f $kicklog ]] && sed 's/^/  # /' "$kicklog" | head -n 40
fi
expect "RESULT FAIL x86_64/selftest-hang qvm killed after its timeout (hang)" hang-killed-by-qvm-timeout
expect "RESULT PASS x86_64/selftest-stall (rerun after emulated-host stall: $stall1)" stall-rerun-reported
expect "RESULT PASS x86_64/host-kvm" fresh-host-runs-the-rest
expect "RESULT PASS x86_64/selftest-busy (rerun after emulated-host stall: build/test-logs/x86_64-lane-stall-2.log)" busy-stall-rerun-reported
expect_re "^x86_64 lane: emulated host stalled in selftest-busy: no heartbeat for [0-9]+ s \(QEMU's CPU time \+[0-9]+ ms in it: the host's user space stopped\)" busy-stall-named
# (either description of a stall: a loaded machine can deliver the QMP
# stop late, and the host's CPU time before it then reads as a busy host)
expect_re "^RESULT FAIL x86_64/selftest-freeze emulated host stalled \((no console output for [0-9]+ s and QEMU's CPU time \+[0-9]+ ms in it|no heartbeat for [0-9]+ s \(QEMU's CPU time \+[0-9]+ ms in it: the host's user space stopped\)); state: build/test-logs/x86_64-lane-stall-3.log\); not rerun: no fresh host left \(QVM_LANE_BOOTS=3\)$" stall-without-rerun
expect "RESULT FAIL x86_64/bad-config not reached (emulated host stalled in selftest-freeze; no fresh host left (QVM_LANE_BOOTS=3))" unreached-named
expect "x86_64 lane: 3 host boot(s), 3 emulated-host stall(s), 0 host(s) died before their first test, 2 rerun(s) (selftest-stall selftest-busy)" summary-counts-reruns
# The stall log: the last console lines and the stopped CPU's state.
if [[ -f $stall1 ]] && grep -q '^QVMLANE SELFTEST-STOP selftest-stall$' "$stall1" &&
   grep -q -- '--- monitor: info registers' "$stall1" && grep -qE '^(RIP|EIP)=' "$stall1" &&
   grep -q -- '--- monitor: info lapic' "$stall1" && grep -q -- '--- threads:' "$stall1"; then
  ok stall-state-captured
else
  bad stall-state-captured "$stall1 lacks the console tail, the registers or the threads"
  [[ -f $stall1 ]] && sed 's/^/  # /' "$stall1" | head -n 60
fi
if [[ $rc -ne 0 ]]; then ok failing-lane-exit-status
else bad failing-lane-exit-status "run.sh exited 0"; fi
if ((fails)); then echo "$fake"$'\n'"$out" | sed 's/^/  | /'; fi
exit $fails
