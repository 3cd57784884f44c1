# shellcheck shell=sh
# The lanes' in-host library (busybox sh), installed as /etc/lane/host.sh
# in both lane images and sourced by the lane's startup script (<arch>/lane.sh)
# after it has set TESTS (its default test list). It parses the kernel
# command line, gives the tests their helpers (guest, watch, show, ...) and
# runs them: lane_run reports over the console, one line each,
#   QVMLANE PLAN <test> ...            the tests it will run, in order
#   QVMLANE host <kernel, cpus, modules>
#   QVMTEST START <test>
#   QVMRUN <name> <rc>                 each qvm run of guest(): its exit status
#   QVMTEST PASS|FAIL|SKIP <test> [detail]
#   QVMTIME <label> <ms>               boot times and per-test wall times
#   QVMLANE ALIVE                      a heartbeat while tests run
#   QVMLANE idle <N>% ...              how much of the host's CPU time
#                                      its tests left idle (an x86_64 host
#                                      with idle=poll costs QEMU a CPU all
#                                      the same)
#   QVMLANE DONE
# and test/lanes/lib/driver.sh (on the build machine) turns them into RESULT
# lines. Kernel command-line knobs: qvmlane.tests=a,b (the tests to run),
# qvmlane.reps=N (boot repetitions), qvmlane.verbose=1 (every qvm run's
# output), qvmlane.rerun=TEST (this host reruns TEST after an emulated-host
# stall), qvmlane.heartbeat=S (seconds between heartbeats),
# qvmlane.slack=N (every kill timeout is N times its nominal length,
# default 4); a lane's own qvmlane.* arguments go to its lane_arg function
# when it has one.
# Keep guest consoles quiet: every byte is a VM exit.

busybox --install -s
cr=$(printf '\r')
reps=5
verbose=""
RERUN=""
heartbeat=5
slack=4
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    qvmlane.tests=*) TESTS=$(echo "${arg#qvmlane.tests=}" | tr ',' ' ') ;;
    qvmlane.reps=*) reps=${arg#qvmlane.reps=} ;;
    qvmlane.verbose=1) verbose=1 ;;
    qvmlane.rerun=*) RERUN=${arg#qvmlane.rerun=} ;;
    qvmlane.heartbeat=*) heartbeat=${arg#qvmlane.heartbeat=} ;;
    qvmlane.slack=*) slack=${arg#qvmlane.slack=} ;;
    qvmlane.*) type lane_arg >/dev/null 2>&1 && lane_arg "$arg" ;;
  esac
done
case "$reps" in ''|*[!0-9]*) reps=5 ;; esac
case "$heartbeat" in ''|*[!0-9]*|0) heartbeat=5 ;; esac
case "$slack" in ''|*[!0-9]*|0) slack=4 ;; esac

# kill_timeout SECS CMD...: runs CMD in the foreground, SIGKILLed (exit
# 137) after SECS times the slack. The nominal SECS is what a run takes on
# a quiet machine with room to spare; CI shares 2 cores with other work and
# this whole host is emulated, so a correct run can take several times
# longer there. A kill timeout only ends a run that hung; it never judges
# speed (no test checks how long a run took), and a host that stops
# altogether is caught from outside by the driver's stall detection.
# (guest() runs qvm in the background with `timeout` itself, not through
# this function: its $! must be the process that gets the test's signals.)
kill_timeout() { kt_s=$(($1 * slack)); shift; timeout -s KILL "$kt_s" "$@"; }
# Milliseconds of uptime (10 ms resolution) without forking.
now_ms() { read -r up _ </proc/uptime; ms=$(( ${up%.*} * 1000 + 1${up#*.} * 10 - 1000 )); }

# qvm's stdin: a FIFO held open read-write, so it never sees EOF and tests
# can type into the guest console (printf ... >&3).
mkfifo /tmp/qvm-in
exec 3<>/tmp/qvm-in

# watch NAME MODE: copies qvm's output (stdin) to /tmp/NAME.out, adding
#   QVMSTAMP <n> <ms>   when the n-th QVM-GUEST-INIT marker arrives
#   QVMPANIC <line>     when the guest kernel panics: qvm's power is cut at
#                       once (a panic without panic= never reboots) instead
#                       of waiting for the kill timeout.
# MODE reboot:  power-cut qvm (SIGQUIT) at the 2nd marker.
# MODE shell:   type `nproc` after the shell banner, `poweroff` after its answer.
# MODE button:  press the power button (SIGTERM to qvm) at the shell banner.
# MODE vcon:    type a line into the guest's virtio-console when it is ready.
# MODE kill:    SIGKILL qvm when the guest reports its synced write.
# MODE mgreset: power-cut qvm after a micro-guest's second MG-PSCI-OK.
# MODE pause:   pause qvm ($PAUSE_SYS) 3 s through qvmctl at the first
#               MG-TIMER-T tick; QVMTICK <ms> at the first two ticks.
watch() {
  n=0 acted="" panicked=""
  while IFS= read -r line; do
    line=${line%"$cr"}
    case "$line" in
      *QVM-GUEST-INIT*) n=$((n + 1)); now_ms; echo "QVMSTAMP $n $ms" ;;
      *"Kernel panic - not syncing"*)
        if [ -z "$panicked" ]; then echo "QVMPANIC $line"; panicked=1; kill -QUIT "$(cat /tmp/$1.pid)"; fi ;;
    esac
    printf '%s\n' "$line"
    case "$2" in
      reboot)
        if [ $n -ge 2 ] && [ -z "$acted" ]; then kill -QUIT "$(cat /tmp/$1.pid)"; acted=1; fi ;;
      button)
        case "$line" in
          QVM-GUEST-SHELL*) [ -z "$acted" ] && kill -TERM "$(cat /tmp/$1.pid)" && acted=1 ;;
        esac ;;
      vcon)
        case "$line" in
          QVM-VCON-READY*) [ -z "$acted" ] && printf 'ping-from-host\n' >&3 && acted=1 ;;
        esac ;;
      kill)
        case "$line" in
          QVM-BLK-SYNCED*) [ -z "$acted" ] && kill -KILL $(pidof qvm) && acted=1 ;;
        esac ;;
      mgreset)
        case "$line" in
          MG-PSCI-OK*) acted=$((${acted:-0} + 1)); [ "$acted" -eq 2 ] && kill -QUIT "$(cat /tmp/$1.pid)" ;;
        esac ;;
      pause)
        case "$line" in
          MG-TIMER-T*)
            if [ -z "$acted" ]; then
              acted=1
              now_ms; echo "QVMTICK $ms"
              qvmctl pause "$PAUSE_SYS" >/tmp/$1.ctl 2>&1; prc=$?
              sleep 3
              qvmctl resume "$PAUSE_SYS" >>/tmp/$1.ctl 2>&1; rrc=$?
              echo "QVMPAUSE $prc $rrc"
            elif [ "$acted" = 1 ]; then
              acted=2; now_ms; echo "QVMTICK $ms"
            fi ;;
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
# start to the first marker (empty when none), MARKS the number of markers,
# NPROC the guest's QVM-GUEST-NPROC. Reports "QVMRUN NAME RC" on the
# console (the driver learns that a qvm timeout fired).
guest() {
  rm -f /tmp/$1.out /tmp/$1.pid
  now_ms; t0=$ms
  # busybox timeout execs qvm in this process (and kills it from a child),
  # so $! is qvm itself: SIGQUIT/SIGTERM from watch() reach it. At the kill
  # timeout hang_snapshot records qvm's state and kills it; `timeout` is
  # only the backstop, 30 s later.
  { timeout -s KILL "$(($3 * slack + 30))" qvm @"$2" <&3 2>&1 &
    qpid=$!
    echo $qpid >/tmp/$1.pid
    hang_snapshot $qpid $(($3 * slack)) &
    hpid=$!
    wait $qpid
    echo "QVMRC $?"
    kill $hpid 2>/dev/null; } | watch "$1" "$4"
  # (a power cut can land mid-line: QVMRC may follow a partial guest line)
  RC=$(sed -n 's/.*QVMRC \([0-9]*\)$/\1/p' /tmp/$1.out | tail -n1)
  MARKS=$(grep -c '^QVMSTAMP ' /tmp/$1.out)
  BOOT=$(awk -v t0="$t0" '$1 == "QVMSTAMP" && $2 == 1 { print $3 - t0 }' /tmp/$1.out)
  NPROC=$(sed -n 's/.*QVM-GUEST-NPROC \([0-9]*\).*/\1/p' /tmp/$1.out | head -n1)
  echo "QVMRUN $1 ${RC:-?}"
  [ -n "$verbose" ] && sed 's/^/  : /' /tmp/$1.out
}

# hang_snapshot PID SECS: if qvm (PID) still runs SECS s from now, its
# state goes into the run's output before it is SIGKILLed (exit 137, "killed
# after its timeout"): `qvmctl pause` then `status` (every vCPU's registers)
# and `stats` (exits by reason and device), each line "QVMHANG ...", so that
# a hung guest says where it was. Needs qvmctl in the image; without it the
# kill alone.
hang_snapshot() {
  now_ms; hs_end=$((ms + $2 * 1000))
  while kill -0 "$1" 2>/dev/null; do
    now_ms
    [ "$ms" -ge "$hs_end" ] && break
    sleep 1
  done
  kill -0 "$1" 2>/dev/null || return 0
  echo "QVMHANG qvm (pid $1) still running after $2 s; its state:"
  if command -v qvmctl >/dev/null; then
    hs_sock=$(qvmctl list 2>/dev/null | awk -v p="$1" '$3 == p { print $4; exit }')
    if [ -n "$hs_sock" ]; then
      timeout 10 qvmctl pause "$hs_sock" 2>&1
      timeout 10 qvmctl status "$hs_sock" 2>&1
      timeout 10 qvmctl stats "$hs_sock" 2>&1
    else
      echo "(no /dev/qvm socket of pid $1)"
    fi | sed 's/^/QVMHANG /'
  fi
  kill -KILL "$1" 2>/dev/null
}

# Shows the end of a failed run's output on the console, after any lines
# that tell why a guest died (fatal signals, oopses, panics).
show() {
  grep -E 'unhandled|segfault|Internal error|Unable to handle|Kernel panic|Call [Tt]race|soft lockup|^\[ *[0-9.]*\] *(pc|lr|sp) :|esr|QVMPANIC' "$1" | head -n 30 | sed 's/^/  ! /'
  grep '^QVMHANG ' "$1" | head -n 40 | sed 's/^/  ! /'
  grep -v '^QVMHANG ' "$1" | tail -n 15 | sed 's/^/  | /'
}

rc_text() {
  case "$1" in
    137) echo "killed after its timeout (hang)" ;;
    *) echo "exit $1" ;;
  esac
}

# hexval HEXDIGITS -> $v (decimal)
hexval() { case "$1" in ""|*[!0-9a-fA-F]*) v=0 ;; *) v=$((0x$1)) ;; esac; }

# bad_config_check CONF EXPECT [-x]: qvm @CONF exits 65 and its stderr holds
# EXPECT (with -x: as a whole line).
bad_config_check() {
  kill_timeout 20 qvm @"$1" <&3 >/tmp/bad.stdout 2>/tmp/bad.stderr
  rc=$?
  if [ $rc -ne 65 ]; then RESULT=FAIL DETAIL="$(rc_text $rc), expected 65"; show /tmp/bad.stderr; return; fi
  if ! grep -q ${3:-} -F -- "$2" /tmp/bad.stderr; then
    RESULT=FAIL DETAIL="stderr lacks the expected message"
    echo "  | expected: $2"; show /tmp/bad.stderr; return
  fi
  RESULT=PASS DETAIL=""
}

# boot_check NAME CONF CPUS: one boot to init and poweroff, under a kill
# timeout of BOOT_SECS (the lane sets it).
boot_check() {
  guest "$1" "$2" "${BOOT_SECS:-60}" plain
  if grep -q '^QVMPANIC' /tmp/$1.out; then
    RESULT=FAIL DETAIL="guest kernel panic: $(sed -n 's/^QVMPANIC //p' /tmp/$1.out | head -n1 | cut -c1-120) (qvm $(rc_text "$RC"))"
  elif [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 (markers seen: $MARKS)"
  elif [ "$MARKS" -lt 1 ]; then RESULT=FAIL DETAIL="no QVM-GUEST-INIT marker"
  elif [ "$NPROC" != "$3" ]; then RESULT=FAIL DETAIL="guest nproc ${NPROC:-?}, expected $3"
  else RESULT=PASS DETAIL=""; return; fi
  show /tmp/$1.out
}

# repeat_runs LABEL N CMD [ARG...]: runs CMD (a check that sets RESULT and
# DETAIL) N times; every repetition runs (a failure does not stop the
# series): the summary line QVMREPS LABEL PASSED RUNS tells how reliable it
# is, the result fails naming the first failed run.
repeat_runs() {
  rr_label=$1 rr_n=$2
  shift 2
  rr_i=1 rr_passed=0 rr_first=""
  while [ $rr_i -le "$rr_n" ]; do
    "$@"
    if [ "$RESULT" = PASS ]; then rr_passed=$((rr_passed + 1))
    else
      echo "  ! $rr_label run $rr_i of $rr_n: $DETAIL"
      [ -z "$rr_first" ] && rr_first="run $rr_i: $DETAIL"
    fi
    rr_i=$((rr_i + 1))
  done
  echo "QVMREPS $rr_label $rr_passed $rr_n"
  if [ $rr_passed -eq "$rr_n" ]; then RESULT=PASS DETAIL=""
  else RESULT=FAIL DETAIL="$((rr_n - rr_passed)) of $rr_n runs failed; first: $rr_first"; fi
}

# boot_reps LABEL CONF CPUS: boot_check `reps` times, QVMTIME LABEL per boot.
boot_once() { boot_check "$1" "$2" "$3"; [ -n "$BOOT" ] && echo "QVMTIME $1 $BOOT"; }
boot_reps() { repeat_runs "$1" "$reps" boot_once "$1" "$2" "$3"; }

# reboot_check SECS: qvm.test=reboot (/etc/qvm/reboot.qvmconf): the guest
# resets in place (its init marker twice), then SIGQUIT (power cut) must
# give exit 3.
reboot_check() {
  guest reboot /etc/qvm/reboot.qvmconf "$1" reboot
  if [ "$MARKS" -ge 2 ] && [ "$RC" = 3 ]; then RESULT=PASS DETAIL=""; return; fi
  if [ "$MARKS" -lt 2 ]; then RESULT=FAIL DETAIL="guest booted $MARKS time(s), expected a reset in place (2); qvm $(rc_text "$RC")"
  else RESULT=FAIL DETAIL="after the power cut qvm gave $(rc_text "$RC"), expected 3"; fi
  show /tmp/reboot.out
}

# net_check NAME CONF SECS MAC PINGS: qvm creates the tap qvmtap0
# (virtio-net hostdev); once it exists the host side gets 10.0.2.1/24 and
# pings the guest (10.0.2.15, up to PINGS tries) while the guest pings the
# host (plain and 1400-byte echoes); then 1 MiB each way over TCP (busybox
# nc) with md5 checks; the guest's eth0 must have MAC. Queue kicks must be
# ioeventfds (no "no ioeventfds" fallback).
net_check() {
  rm -f /tmp/net-host
  ip link del qvmtap0 2>/dev/null
  ( i=0
    while [ ! -e /sys/class/net/qvmtap0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    if ! ip addr add 10.0.2.1/24 dev qvmtap0 || ! ip link set qvmtap0 up; then
      echo "no-tap" >/tmp/net-host; exit 0
    fi
    i=0 r=fail
    while [ $i -lt "$5" ]; do
      if ping -c 1 -W 1 10.0.2.15 >/dev/null 2>&1; then r=ok; break; fi
      i=$((i + 1))
    done
    echo "$r" >/tmp/net-host ) &
  cfg=$!
  head -c 1048576 /dev/urandom >/tmp/net-h2g
  rm -f /tmp/net-g2h
  # busybox nc ends at end of its stdin: give the receiver one that never ends
  rm -f /tmp/net-nin; mkfifo /tmp/net-nin; exec 6<>/tmp/net-nin
  nc -l -p 5001 <&6 >/tmp/net-g2h & n1=$!
  nc -l -p 5002 </tmp/net-h2g & n2=$!
  guest "$1" "$2" "$3" plain
  wait $cfg
  kill $n1 $n2 2>/dev/null
  exec 6<&-
  h2g=$(md5sum </tmp/net-h2g); h2g=${h2g%% *}
  g2h=$(md5sum </tmp/net-g2h 2>/dev/null); g2h=${g2h%% *}
  o=/tmp/$1.out
  mac=$(sed -n 's/^QVM-NET-MAC //p' $o | head -n1)
  gping=$(sed -n 's/^QVM-NET-PING //p' $o | head -n1)
  hping=$(cat /tmp/net-host 2>/dev/null)
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0"
  elif [ "$mac" != "$4" ]; then RESULT=FAIL DETAIL="guest eth0 MAC '$mac', expected the configured $4"
  elif [ "$hping" = no-tap ]; then RESULT=FAIL DETAIL="qvm did not create/open tap qvmtap0 (or ip could not configure it)"
  elif [ "$gping" != ok ]; then RESULT=FAIL DETAIL="guest ping of the host over virtio-net/tap: ${gping:-no result}"
  elif [ "$hping" != ok ]; then RESULT=FAIL DETAIL="host ping of the guest: ${hping:-no result}"
  elif ! grep -q "^QVM-NET-G2H $g2h" $o; then RESULT=FAIL DETAIL="1 MiB guest->host over TCP: host got md5 $g2h ($(wc -c </tmp/net-g2h) bytes), guest sent $(sed -n 's/^QVM-NET-G2H //p' $o)"
  elif ! grep -q "^QVM-NET-H2G $h2g" $o; then RESULT=FAIL DETAIL="1 MiB host->guest over TCP: guest got $(sed -n 's/^QVM-NET-H2G //p' $o), host sent $h2g"
  elif grep -q 'no ioeventfds' $o; then RESULT=FAIL DETAIL="virtio-net fell back to exits: $(grep 'no ioeventfds' $o | head -n1)"
  else RESULT=PASS DETAIL=""; return; fi
  show $o
}

# gdb_kernel_check MAP KSYMS_CONF GDB_CONF TIMEOUT: the gdb-kernel test of
# both lanes. The guest (GDB_CONF: 2 vCPUs, nokaslr, `set gdb
# /tmp/gdbk.sock`, `set gdb-wait on`, the shell at its prompt) under qvm's
# gdb stub, driven by qvm-gdbcheck (test/lanes/lib/gdbcheck.c: the remote
# protocol with checksums, the architecture from the stub's target
# description): hbreak at start_kernel, on to the shell prompt, Ctrl-C
# (the time to the stop reply is the QVMGDB figure; bound 30 s), both
# vCPUs' pc in the kernel's text, the kernel's banner read, a single step, a
# typed `poweroff` stopping at an hbreak on the reboot system call and a
# software breakpoint on kernel_power_off, detach, the guest powers off
# (qvm exits 0). The addresses come from MAP (the kernel package's
# System.map) when it names them; Debian's is a placeholder (the real one
# is in the -dbg package) or absent, so then from the same kernel's
# /proc/kallsyms in a first boot (KSYMS_CONF: qvm.test=ksyms, nokaslr: the
# same addresses in every boot). What the lane's emulated host cannot
# deliver it names before the call (QVM_GDB_HW_MISS, QVM_GDB_SW_MISS,
# QVM_GDB_NO_SWBREAK, exported): each such breakpoint is its own SKIP row
# gdb-kernel-NAME with that reason; without them a miss fails.
# QVM_GDB_BANNER (exported by the lane) is the kernel banner the guest's
# memory must hold (`Linux version ...`, the guest kernel's /proc/version).
gdb_kernel_check() {
  map=$1
  if ! grep -q ' [Tt] start_kernel$' "$map" 2>/dev/null || ! grep -q ' [Tt] kernel_power_off$' "$map"; then
    if [ -f "$map" ]; then why="$map names no start_kernel ('$(head -c 60 "$map" | tr -d '\n')')"
    else why="no $map (the kernel package has none)"; fi
    echo "  | gdb-kernel: $why: addresses from the kernel's kallsyms"
    guest ksyms "$2" 60 plain
    sed -n 's/.*QVM-KSYM //p' /tmp/ksyms.out | tr -d '\r' >/tmp/ksyms.map
    sed 's/^/  | map: /' /tmp/ksyms.map
    map=/tmp/ksyms.map
    if [ "$RC" != 0 ] || ! grep -q ' start_kernel$' $map; then
      RESULT=FAIL DETAIL="the ksyms boot gave no start_kernel (qvm $(rc_text "$RC"))"; show /tmp/ksyms.out; return
    fi
  fi
  rm -f /tmp/gdbk.sock /tmp/gdbk.rsp
  # the session's transcript goes into the lane log as it happens; a
  # failed session leaves nothing to see: qvm goes at once (not at its
  # kill timeout; the guest would wait at its prompt)
  { qvm-gdbcheck /tmp/gdbk.sock $map /tmp/gdbk.out /tmp/qvm-in 2>&1; grc=$?; echo "GDBRC $grc"
    [ $grc != 0 ] && kill -KILL "$(cat /tmp/gdbk.pid)" 2>/dev/null; } |
    tee /tmp/gdbk.rsp | sed 's/^/  gdb| /' &
  cpid=$!
  guest gdbk "$3" "$4" plain
  # the client sees the connection close with qvm; one that still waits
  # (qvm never listened) is ended after a grace period
  i=0
  while kill -0 $cpid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  kill $(pidof qvm-gdbcheck) 2>/dev/null
  wait $cpid
  crc=$(sed -n 's/^GDBRC //p' /tmp/gdbk.rsp)
  us=$(sed -n 's/^FIGURE ctrl-c-stop-us //p' /tmp/gdbk.rsp)
  [ -n "$us" ] && echo "QVMGDB ctrl-c-to-stop-reply $us us (2 vCPUs, Linux at its shell prompt)"
  bad=$(grep '^CHECK .* FAIL' /tmp/gdbk.rsp | head -n 1 | cut -c7-200)
  if [ "$crc" != 0 ]; then RESULT=FAIL DETAIL="gdb session: ${bad:-client exit $crc}"
  elif [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 after the guest's poweroff"
  elif [ "$MARKS" -lt 1 ]; then RESULT=FAIL DETAIL="no QVM-GUEST-INIT marker"
  else
    # each breakpoint this host could not deliver is its own SKIP row
    # (gdb-kernel-NAME), with the reason
    sed -n 's/^CHECK \([^ ]*\) skip \(.*\)/QVMTEST SKIP gdb-kernel-\1 \2/p' /tmp/gdbk.rsp
    RESULT=PASS DETAIL=""; return
  fi
  show /tmp/gdbk.out
}

# Micro-guests: the lane image holds /mg/tests.tsv (the table),
# /mg/table.sh (test/microguests/table.sh) and the configs in MG_DIR (the
# lane sets it; default /mg) with their images. mg_table ROW... runs rows
# through it under a 60 s default kill timeout (times the slack), one QVMTEST line
# per row (mg-NAME), the failed run's output after it; sets NPASS/NFAIL and
# FIRST (the first failed row).
# Rows the emulated host itself cannot run are in MG_SKIP (the lane's
# description sets it), one "NAME reason" per line: they are reported
# SKIP with that reason, never run, never PASS. The register floods
# (hostile-regs, hostile-pci: two million exits natively) run a tenth as
# long here (MG_FLOOD, table.sh): an exit of a nested guest under TCG
# costs about ten times a native one, and the full flood runs natively.
MG_FLOOD=10
mg_table() {
  NPASS=0 NFAIL=0 FIRST=""
  mg_run=""
  for r in $(sh /mg/table.sh -l /mg/tests.tsv "${MG_DIR:-/mg}" "$@"); do
    why=$(printf '%s\n' "${MG_SKIP:-}" | sed -n "s/^$r //p")
    if [ -n "$why" ]; then echo "QVMTEST SKIP mg-$r $why"; else mg_run="$mg_run $r"; fi
  done
  : >/tmp/mg-table.out
  # shellcheck disable=SC2086  # row names are words
  [ -n "$mg_run" ] &&
    MG_TIMEOUT=60 MG_SLACK=$slack MG_FLOOD=$MG_FLOOD MG_SHOW=1 MG_LOGDIR=/tmp sh /mg/table.sh /mg/tests.tsv "${MG_DIR:-/mg}" $mg_run >/tmp/mg-table.out
  while IFS= read -r line; do
    case "$line" in
      "MGTEST PASS "*) NPASS=$((NPASS + 1)); echo "QVMTEST PASS mg-${line#MGTEST PASS }" ;;
      "MGTEST FAIL "*)
        NFAIL=$((NFAIL + 1)); line=${line#MGTEST FAIL }
        [ -z "$FIRST" ] && FIRST=${line%% *}
        echo "QVMTEST FAIL mg-$line" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done </tmp/mg-table.out
}

# microguests: every row of /mg/tests.tsv; the test fails if any row does.
t_microguests() {
  if [ ! -f /mg/tests.tsv ]; then RESULT=FAIL DETAIL="no /mg/tests.tsv in the lane image"; return; fi
  mg_table
  if [ $NPASS = 0 ] && [ $NFAIL = 0 ]; then RESULT=FAIL DETAIL="no rows in /mg/tests.tsv"
  elif [ $NFAIL = 0 ]; then RESULT=PASS DETAIL="$NPASS micro-guests"
  else RESULT=FAIL DETAIL="$NFAIL of $((NPASS + NFAIL)) micro-guests failed (first: $FIRST)"; fi
}

# mg-NAME without a t_mg_NAME function: the table's row NAME alone (its
# line is the test's result).
mg_row() {
  if [ -z "$(sh /mg/table.sh -l /mg/tests.tsv "${MG_DIR:-/mg}" "$1" 2>/dev/null)" ]; then
    echo "QVMTEST FAIL mg-$1 no such test (and no row $1 in /mg/tests.tsv)"; return
  fi
  mg_table "$1"
}

# Self-tests of the lane machinery (run only when named in qvmlane.tests;
# test/lanes/selftest.sh). selftest-hang runs qvm on a guest that spins
# forever: qvm's kill timeout ends it, after hang_snapshot has recorded its
# vCPUs (SPIN_IMAGE/SPIN_CONF come from the lane). selftest-stall asks the
# driver to stop the emulated CPUs (an emulated-host stall) unless this host is its rerun; selftest-freeze does
# so every time. selftest-busy, unless this host is its rerun, stops the
# heartbeat and keeps the host's CPU busy with no output: a host whose
# user space no longer speaks while QEMU still runs. selftest-kick stops
# the heartbeat and waits, silent, for an interrupt from the emulated
# keyboard (IRQ 1): the driver's kick of a silent host (LANE_KICK) must
# reach the host's kernel as an interrupt.
t_selftest_pass() { RESULT=PASS DETAIL=""; }
kbd_irqs() { awk '$1 == "1:" { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; print n }' /proc/interrupts; }
t_selftest_kick() {
  n0=$(kbd_irqs)
  if [ -z "$n0" ]; then
    RESULT=SKIP DETAIL="this host has no keyboard interrupt (no IRQ 1 line in /proc/interrupts): nothing to kick it with"; return
  fi
  kill "$hb"
  now_ms; k0=$ms n=$n0
  while [ "$n" = "$n0" ] && [ $((ms - k0)) -lt 90000 ]; do sleep 1; n=$(kbd_irqs); now_ms; done
  hb_start
  if [ "$n" != "$n0" ]; then RESULT=PASS DETAIL="keyboard interrupt after $((ms - k0)) ms of silence"
  else RESULT=FAIL DETAIL="no keyboard interrupt in 90 s of silence: the driver did not kick the host"; fi
}
t_selftest_fail() { RESULT=FAIL DETAIL="deliberate failure"; }
t_selftest_hang() {
  spin_image /tmp/spin.bin
  printf '%s\n' "$SPIN_CONF" >/tmp/spin.qvmconf
  guest selftest-hang /tmp/spin.qvmconf 5 plain
  if [ "$RC" = 137 ] && grep -q '^QVMHANG  *vcpu 0: tid [0-9]*, exits [0-9]*, [a-z]*=' /tmp/selftest-hang.out; then
    RESULT=FAIL DETAIL="qvm $(rc_text "$RC")"
  elif [ "$RC" = 137 ]; then
    RESULT=FAIL DETAIL="qvm $(rc_text "$RC") without its state (no QVMHANG vCPU line)"; show /tmp/selftest-hang.out
  else RESULT=FAIL DETAIL="a spinning guest should have been killed after 5 s: qvm $(rc_text "$RC")"; fi
}
selftest_stop() { echo "QVMLANE SELFTEST-STOP $1"; sleep 100000; RESULT=FAIL DETAIL="the emulated host was not stopped"; }
t_selftest_stall() {
  if [ "$RERUN" = selftest-stall ]; then RESULT=PASS DETAIL=""; return; fi
  selftest_stop selftest-stall
}
t_selftest_freeze() { selftest_stop selftest-freeze; }
t_selftest_busy() {
  if [ "$RERUN" = selftest-busy ]; then RESULT=PASS DETAIL=""; return; fi
  # one heartbeat for certain (the loop's first may not have come yet),
  # then none
  echo "QVMLANE ALIVE"
  kill "$hb"
  while :; do :; done
}

hb_start() { ( while :; do echo "QVMLANE ALIVE"; sleep "$heartbeat"; done ) & hb=$!; }

# cpu_idle: the host's idle and busy jiffies so far (/proc/stat) -> $idle $busy
cpu_idle() {
  set -- $(awk '$1 == "cpu" { print $5 + $6, $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat)
  idle=$1 busy=$2
}

# lane_run: runs TESTS (t_NAME functions with - as _; mg-NAME without one is
# a micro-guest table row). Each test sets RESULT (PASS/FAIL/SKIP) and DETAIL.
lane_run() {
  echo "QVMLANE PLAN $TESTS"
  echo "QVMLANE host $(uname -r), $(nproc) cpu, up $(cut -d' ' -f1 /proc/uptime) s, modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
  [ -n "$RERUN" ] && echo "QVMLANE rerun $RERUN"
  # The heartbeat tells the driver that this host still runs while a test
  # is quiet; it stops when the emulated CPUs do.
  hb_start
  cpu_idle; idle0=$idle busy0=$busy
  for t in $TESTS; do
    echo "QVMTEST START $t"
    now_ms; start=$ms
    fn=t_$(echo "$t" | tr '-' '_')
    if type "$fn" >/dev/null 2>&1; then
      RESULT=FAIL DETAIL="test did not set a result"
      "$fn"
    elif [ "${t#mg-}" != "$t" ] && [ -f /mg/table.sh ]; then
      mg_row "${t#mg-}"
      now_ms; echo "QVMTIME test-$t $((ms - start))"
      continue
    else
      RESULT=FAIL DETAIL="no such test"
    fi
    now_ms
    echo "QVMTIME test-$t $((ms - start))"
    echo "QVMTEST $RESULT $t${DETAIL:+ $DETAIL}"
  done
  kill $hb 2>/dev/null
  cpu_idle
  echo "QVMLANE idle $(( (idle - idle0) * 100 / (idle - idle0 + busy - busy0 + 1) ))% of the host's CPU time in its tests"
  echo "QVMLANE DONE"
  stty -F /dev/console -tostop 2>/dev/null  # drain the console
  poweroff -f
}
