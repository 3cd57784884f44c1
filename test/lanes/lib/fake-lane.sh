#!/usr/bin/env bash
# A lane whose "emulated host" is this script instead of QEMU, for the
# driver's self-tests of the paths no real host can show quickly and
# deterministically (test/lanes/selftest.sh): the lane's budget running out
# while the host is alive, and the host dying in a test. RESULT lines say
# fake/<test>; logs are build/test-logs/fake-lane*.
#   bash test/lanes/lib/fake-lane.sh         the lane (QVM_LANE_* knobs apply)
#   fake-lane.sh host ... -append "ARGS"     the host (started by the driver)
# Host tests: fake-pass (passes), fake-sleep (never ends; the heartbeat goes
# on), fake-die (the host ends at once, as a powered-off or crashed one),
# fake-bootdie (the first host of a lane run dies before its first test, as
# a kernel that panics in its boot; the next host passes it), fake-glued
# (its result line and the next line arrive as one, their line end lost).
if [[ ${1:-} == host ]]; then
  args=""
  while (($#)); do [[ $1 == -append ]] && args=$2; shift; done
  tests="" hb=1
  for a in $args; do
    case $a in
      qvmlane.tests=*) tests=${a#qvmlane.tests=}; tests=${tests//,/ } ;;
      qvmlane.heartbeat=*) hb=${a#qvmlane.heartbeat=} ;;
    esac
  done
  if [[ " $tests " == *" fake-bootdie "* ]]; then
    mark=${TMPDIR:-/tmp}/fake-lane-bootdie.$PPID
    [[ -e $mark ]] || { : >"$mark"; exit 0; }
    rm -f "$mark"
  fi
  echo "QVMLANE PLAN $tests"
  for t in $tests; do
    echo "QVMTEST START $t"
    case $t in
      fake-pass) echo "QVMTEST PASS $t" ;;
      fake-sleep) while sleep "$hb"; do echo "QVMLANE ALIVE"; done ;;
      fake-die) exit 0 ;;
      fake-bootdie) echo "QVMTEST PASS $t" ;;
      fake-glued) printf 'QVMTEST PASS %sQVMTIME test-%s 5\n' "$t" "$t" ;;
      *) echo "QVMTEST FAIL $t no such test" ;;
    esac
  done
  echo "QVMLANE DONE"
  exit 0
fi
LANE_ARCH=fake
LANE_SCRIPT=/dev/null
LANE_TIMEOUT=60
LANE_CONSOLE=ttyS0
LANE_APPEND=""
LANE_MEDIANS=""
LANE_QEMU=(bash "$(cd "$(dirname "$0")" && pwd)/fake-lane.sh" host)
LANE_STATE=()
LANE_NOLOCK=1
lane_build() { :; }
. "$(dirname "$0")/driver.sh"
lane_main
