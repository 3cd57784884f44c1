#!/bin/sh
# The aarch64 lane's test script. It runs as the startup script of the lane's
# host image (lane.build), inside QEMU's emulated arm64 host (virt at EL2,
# KVM built into Debian's arm64 cloud kernel), and
# reports over the console, one line each:
#   QVMLANE PLAN <test> ...            the tests it will run, in order
#   QVMTEST START <test>
#   QVMTEST PASS|FAIL|SKIP <test> [detail]
#   QVMTIME <label> <ms>               boot times and per-test wall times
#   QVMLANE DONE
# run.sh (on the build machine) turns these into RESULT lines. Kernel
# command-line knobs: qvmlane.tests=a,b (subset, or the lane self-tests
# selftest-pass/-fail/-hang), qvmlane.reps=N (boot-2cpu repetitions).
# Keep guest consoles quiet: every byte is a VM exit.
TESTS="host-kvm bad-config mg-uart boot-1cpu boot-2cpu reboot"

busybox --install -s
cr=$(printf '\r')
reps=5
verbose=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    qvmlane.tests=*) TESTS=$(echo "${arg#qvmlane.tests=}" | tr ',' ' ') ;;
    qvmlane.reps=*) reps=${arg#qvmlane.reps=} ;;
    qvmlane.verbose=1) verbose=1 ;;
  esac
done

# Milliseconds of uptime (10 ms resolution) without forking.
now_ms() { read -r up _ </proc/uptime; ms=$(( ${up%.*} * 1000 + 1${up#*.} * 10 - 1000 )); }

# qvm's stdin: a FIFO held open read-write, so it never sees EOF and tests
# can type into the guest console (printf ... >&3).
mkfifo /tmp/qvm-in
exec 3<>/tmp/qvm-in

# watch NAME MODE: copies qvm's output (stdin) to /tmp/NAME.out, adding
#   QVMSTAMP <n> <ms>   when the n-th QVM-GUEST-INIT marker arrives.
# MODE reboot: power-cut qvm (SIGQUIT) at the 2nd marker.
# MODE shell:  type `nproc` after the shell banner, `poweroff` after its answer.
# MODE button: press the power button (SIGTERM to qvm) at the shell banner.
watch() {
  n=0 acted=""
  while IFS= read -r line; do
    line=${line%"$cr"}
    case "$line" in
      *QVM-GUEST-INIT*) n=$((n + 1)); now_ms; echo "QVMSTAMP $n $ms" ;;
    esac
    printf '%s\n' "$line"
    case "$2" in
      reboot)
        if [ $n -ge 2 ] && [ -z "$acted" ]; then kill -QUIT "$(cat /tmp/$1.pid)"; acted=1; fi ;;
      button)
        case "$line" in
          QVM-GUEST-SHELL*) [ -z "$acted" ] && kill -TERM "$(cat /tmp/$1.pid)" && acted=1 ;;
        esac ;;
      shell)
        case "$line" in
          QVM-GUEST-SHELL*) [ -z "$acted" ] && printf 'nproc\n' >&3 && acted=nproc ;;
          [0-9]|[0-9][0-9]) [ "$acted" = nproc ] && echo "QVMNPROC $line" && printf 'poweroff\n' >&3 && acted=off ;;
        esac ;;
    esac
  done >/tmp/$1.out
}

# guest NAME CONF SECS MODE: runs qvm under a kill timeout; afterwards
# /tmp/NAME.out holds its output, RC its exit status, BOOT the ms from qvm's
# start to the first marker (empty when none), MARKS the number of markers.
guest() {
  rm -f /tmp/$1.out /tmp/$1.pid
  now_ms; t0=$ms
  { timeout -s KILL "$3" qvm @"$2" <&3 2>&1 &
    echo $! >/tmp/$1.pid
    wait $!
    echo "QVMRC $?"; } | watch "$1" "$4"
  RC=$(sed -n 's/^QVMRC //p' /tmp/$1.out)
  MARKS=$(grep -c '^QVMSTAMP ' /tmp/$1.out)
  BOOT=$(awk -v t0="$t0" '$1 == "QVMSTAMP" && $2 == 1 { print $3 - t0 }' /tmp/$1.out)
  NPROC=$(sed -n 's/.*QVM-GUEST-NPROC \([0-9]*\).*/\1/p' /tmp/$1.out | head -n1)
  [ -n "$verbose" ] && sed 's/^/  : /' /tmp/$1.out
}

# Shows the end of a failed run's output on the console.
show() { tail -n 15 "$1" | sed 's/^/  | /'; }

rc_text() {
  case "$1" in
    137) echo "killed after its timeout (hang)" ;;
    *) echo "exit $1" ;;
  esac
}

# Each test sets RESULT (PASS/FAIL/SKIP) and DETAIL.
t_host_kvm() {
  if [ ! -c /dev/kvm ]; then
    RESULT=FAIL DETAIL="no /dev/kvm"; dmesg | grep -i -E 'kvm' | tail -n 5 | sed 's/^/  | /'; return
  fi
  if dmesg | grep -q -E 'kvm \[1\]: (VHE mode|Hyp mode) initialized'; then RESULT=PASS DETAIL=""
  else RESULT=FAIL DETAIL="KVM did not report its hypervisor mode"; dmesg | grep -i kvm | tail -n 5 | sed 's/^/  | /'; fi
}

t_bad_config() {
  expect='/etc/qvm/bad.qvmconf:4:18: vdev gic: bad value `4` for option `version`'
  timeout -s KILL 20 qvm @/etc/qvm/bad.qvmconf <&3 >/tmp/bad.stdout 2>/tmp/bad.stderr
  rc=$?
  if [ $rc -ne 65 ]; then RESULT=FAIL DETAIL="$(rc_text $rc), expected 65"; show /tmp/bad.stderr; return; fi
  if ! grep -qF "$expect" /tmp/bad.stderr; then
    RESULT=FAIL DETAIL="stderr lacks the expected message"
    echo "  | expected: $expect"; show /tmp/bad.stderr; return
  fi
  RESULT=PASS DETAIL=""
}

# boot_check NAME CONF CPUS: one boot to init and poweroff.
boot_check() {
  guest "$1" "$2" 90 plain
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 (markers seen: $MARKS)"
  elif [ "$MARKS" -lt 1 ]; then RESULT=FAIL DETAIL="no QVM-GUEST-INIT marker"
  elif [ "$NPROC" != "$3" ]; then RESULT=FAIL DETAIL="guest nproc ${NPROC:-?}, expected $3"
  else RESULT=PASS DETAIL=""; return; fi
  show /tmp/$1.out
}

t_boot_1cpu() {
  boot_check boot-1cpu /etc/qvm/boot-1cpu.qvmconf 1
  [ -n "$BOOT" ] && echo "QVMTIME boot-1cpu $BOOT"
  if [ "$RESULT" = PASS ] && [ "$(head -c 4 /tmp/boot1.dtb | od -An -tx1 | tr -d ' ')" != d00dfeed ]; then
    RESULT=FAIL DETAIL="set fdt-dump-file wrote no device tree"
  fi
}

t_boot_2cpu() {
  i=1
  while [ $i -le "$reps" ]; do
    boot_check boot-2cpu /etc/qvm/boot-2cpu.qvmconf 2
    [ -n "$BOOT" ] && echo "QVMTIME boot-2cpu $BOOT"
    if [ $RESULT != PASS ]; then DETAIL="run $i of $reps: $DETAIL"; return; fi
    i=$((i + 1))
  done
}

t_reboot() {
  guest reboot /etc/qvm/reboot.qvmconf 120 reboot
  if [ "$MARKS" -ge 2 ] && [ "$RC" = 3 ]; then RESULT=PASS DETAIL=""; return; fi
  if [ "$MARKS" -lt 2 ]; then RESULT=FAIL DETAIL="guest booted $MARKS time(s), expected a reset in place (2); qvm $(rc_text "$RC")"
  else RESULT=FAIL DETAIL="after the power cut qvm gave $(rc_text "$RC"), expected 3"; fi
  show /tmp/reboot.out
}


# The micro-guest: UART output through MMIO aborts with and without a
# syndrome (load pair, writeback), then PSCI SYSTEM_OFF -> exit 0.
t_mg_uart() {
  guest mg /etc/qvm/mg-uart.qvmconf 30 plain
  if [ "$RC" = 0 ] && grep -q MG-UART-OK /tmp/mg.out; then RESULT=PASS DETAIL=""; return; fi
  RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 and MG-UART-OK"
  show /tmp/mg.out
}

# Self-tests of the lane machinery (run only when named in qvmlane.tests).
t_selftest_pass() { RESULT=PASS DETAIL=""; }
t_selftest_fail() { RESULT=FAIL DETAIL="deliberate failure"; }
t_selftest_hang() { sleep 100000; RESULT=PASS DETAIL=""; }

echo "QVMLANE PLAN $TESTS"
echo "QVMLANE host $(uname -r), $(nproc) cpu, up $(cut -d' ' -f1 /proc/uptime) s, modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
for t in $TESTS; do
  echo "QVMTEST START $t"
  now_ms; start=$ms
  fn=t_$(echo "$t" | tr '-' '_')
  if type "$fn" >/dev/null 2>&1; then
    RESULT=FAIL DETAIL="test did not set a result"
    "$fn"
  else
    RESULT=FAIL DETAIL="no such test"
  fi
  now_ms
  echo "QVMTIME test-$t $((ms - start))"
  echo "QVMTEST $RESULT $t${DETAIL:+ $DETAIL}"
done
echo "QVMLANE DONE"
stty -F /dev/console -tostop 2>/dev/null  # drain the console
poweroff -f
