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
TESTS="host-kvm bad-config mg-uart mg-uart-nofifo mg-sp805 mg-psci mg-psci-reset mg-timer mg-timer-host mg-counter boot-1cpu boot-2cpu stress-2cpu mg-gicd-v3 mg-gicd-user mg-gictimer-v3 mg-gictimer-user boot-ugic-1cpu boot-ugic-2cpu reboot virtio-blk virtio-blk-ugic virtio-net boot-fdt-load boot-pmu boot-pmu-ugic"

busybox --install -s
cr=$(printf '\r')
reps=5
verbose=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    qvmlane.tests=*) TESTS=$(echo "${arg#qvmlane.tests=}" | tr ',' ' ') ;;
    qvmlane.reps=*) reps=${arg#qvmlane.reps=} ;;
    qvmlane.verbose=1) verbose=1 ;;
    qvmlane.guestlog=1) guestlog=1 ;;
    qvmlane.stressreps=*) stress_reps=${arg#qvmlane.stressreps=} ;;
  esac
done
# qvmlane.guestlog=1: the nested guests' kernels log at their default level
# (no `quiet`): segfault reports and oopses reach the failure output.
[ -n "${guestlog:-}" ] && sed -i 's/ quiet / /' /etc/qvm/*.qvmconf

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
  n=0 acted="" panicked=""
  while IFS= read -r line; do
    line=${line%"$cr"}
    case "$line" in
      *QVM-GUEST-INIT*) n=$((n + 1)); now_ms; echo "QVMSTAMP $n $ms" ;;
      # A guest kernel panic without panic= never reboots: stop qvm at once
      # (power cut) instead of waiting for the kill timeout.
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
      mgreset)  # power-cut qvm after the micro-guest's second run (a reset in place)
        case "$line" in
          MG-PSCI-OK*) acted=$((${acted:-0} + 1)); [ "$acted" -eq 2 ] && kill -QUIT "$(cat /tmp/$1.pid)" ;;
        esac ;;
      pause)  # pause qvm 3 s (/dev/qvm) at the first tick of mg/timer.s
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
# start to the first marker (empty when none), MARKS the number of markers.
guest() {
  rm -f /tmp/$1.out /tmp/$1.pid
  now_ms; t0=$ms
  { timeout -s KILL "$3" qvm @"$2" <&3 2>&1 &
    echo $! >/tmp/$1.pid
    wait $!
    echo "QVMRC $?"; } | watch "$1" "$4"
  # (a power cut can land mid-line: QVMRC may follow a partial guest line)
  RC=$(sed -n 's/.*QVMRC \([0-9]*\)$/\1/p' /tmp/$1.out | tail -n1)
  MARKS=$(grep -c '^QVMSTAMP ' /tmp/$1.out)
  BOOT=$(awk -v t0="$t0" '$1 == "QVMSTAMP" && $2 == 1 { print $3 - t0 }' /tmp/$1.out)
  NPROC=$(sed -n 's/.*QVM-GUEST-NPROC \([0-9]*\).*/\1/p' /tmp/$1.out | head -n1)
  [ -n "$verbose" ] && sed 's/^/  : /' /tmp/$1.out
}

# Shows the end of a failed run's output on the console, after any lines
# that tell why a guest died (fatal signals, oopses, panics).
show() {
  grep -E 'unhandled|segfault|Internal error|Unable to handle|Kernel panic|Call trace|^\[ *[0-9.]*\] *(pc|lr|sp) :|esr|QVMPANIC' "$1" | head -n 30 | sed 's/^/  ! /'
  tail -n 15 "$1" | sed 's/^/  | /'
}

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
  if grep -q '^QVMPANIC' /tmp/$1.out; then
    RESULT=FAIL DETAIL="guest kernel panic: $(sed -n 's/^QVMPANIC //p' /tmp/$1.out | head -n1 | cut -c1-120) (qvm $(rc_text "$RC"))"
  elif [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 (markers seen: $MARKS)"
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

# `fdt load`: dump the generated tree of a 1-vCPU config without cmdline or
# initrd (dryrun + set fdt-dump-file), then boot Debian's kernel with that
# blob given by `fdt load` and cmdline/initrd from the config: qvm must say
# it uses the file, the guest must find its initrd and qvm.test=poweroff
# (exit 0), and the final tree (fdt-dump-file) must hold the bootargs.
has_str() { tr '\0' '\n' <"$1" | grep -qF -- "$2"; }
t_boot_fdt_load() {
  rm -f /tmp/fdtgen.dtb /tmp/fdtload.dtb
  timeout -s KILL 60 qvm @/etc/qvm/fdt-gen.qvmconf dryrun <&3 >/tmp/fdtgen.out 2>&1
  rc=$?
  if [ $rc -ne 0 ] || [ "$(head -c 4 /tmp/fdtgen.dtb 2>/dev/null | od -An -tx1 | tr -d ' ')" != d00dfeed ]; then
    RESULT=FAIL DETAIL="generating the tree to load: qvm $(rc_text $rc), blob $(ls -l /tmp/fdtgen.dtb 2>&1)"
    show /tmp/fdtgen.out; return
  fi
  if has_str /tmp/fdtgen.dtb qvm.test= || has_str /tmp/fdtgen.dtb linux,initrd-start; then
    RESULT=FAIL DETAIL="the generated tree already has bootargs or an initrd"; return
  fi
  timeout -s KILL 60 qvm @/etc/qvm/boot-fdt-load.qvmconf dryrun <&3 >/tmp/fdtload-dry.out 2>&1
  if ! grep -q 'FDT at .*from /tmp/fdtgen.dtb' /tmp/fdtload-dry.out; then
    RESULT=FAIL DETAIL="qvm does not use the loaded tree: $(grep '^boot:' /tmp/fdtload-dry.out)"
    show /tmp/fdtload-dry.out; return
  fi
  rm -f /tmp/fdtload.dtb
  boot_check boot-fdt-load /etc/qvm/boot-fdt-load.qvmconf 1
  [ -n "$BOOT" ] && echo "QVMTIME boot-fdt-load $BOOT"
  [ "$RESULT" = PASS ] || return
  if ! has_str /tmp/fdtload.dtb qvm.test=poweroff ||
     ! has_str /tmp/fdtload.dtb linux,initrd-start || ! has_str /tmp/fdtload.dtb /pl011@1c090000; then
    RESULT=FAIL DETAIL="the final tree (fdt-dump-file) lacks bootargs, initrd or the user's stdout-path"
  fi
}

# Every repetition runs (a failure does not stop the series): the summary
# line QVMREPS boot-2cpu PASSED RUNS tells how reliable the boot is.
t_boot_2cpu() {
  i=1 passed=0 first=""
  while [ $i -le "$reps" ]; do
    boot_check boot-2cpu /etc/qvm/boot-2cpu.qvmconf 2
    [ -n "$BOOT" ] && echo "QVMTIME boot-2cpu $BOOT"
    if [ $RESULT = PASS ]; then passed=$((passed + 1))
    else
      echo "  ! boot-2cpu run $i of $reps: $DETAIL"
      [ -z "$first" ] && first="run $i: $DETAIL"
    fi
    i=$((i + 1))
  done
  echo "QVMREPS boot-2cpu $passed $reps"
  if [ $passed -eq "$reps" ]; then RESULT=PASS DETAIL=""
  else RESULT=FAIL DETAIL="$((reps - passed)) of $reps runs failed; first: $first"; fi
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

# virtio-blk over virtio-mmio (FDT node virtio,mmio, SPI): the guest writes
# 16 MiB (qvm.blkmib=16) of random data with fsync, drops its caches and
# reads it back; the host file must hold the same md5.
t_virtio_blk() {
  rm -f /tmp/disk.img
  dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
  guest vblk /etc/qvm/virtio-blk.qvmconf 180 plain
  o=/tmp/vblk.out
  sum=$(sed -n 's/^QVM-BLK-SYNCED \([0-9a-f]*\).*/\1/p' $o | head -n1)
  back=$(sed -n 's/^QVM-BLK-READBACK //p' $o | head -n1)
  host=$(head -c 16777216 /tmp/disk.img | md5sum); host=${host%% *}
  dev=$(sed -n 's/^QVM-BLK-DEV //p' $o | head -n1)
  # "QVM-IRQ N: COUNT GICv3 74 Level virtio0": the SPI, level, counted
  irq=$(grep '^QVM-IRQ [0-9]*: [1-9][0-9]* GIC.* 74 Level .*virtio' $o | head -n1)
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0"
  elif [ "${dev#*1c130000.virtio_mmio}" = "$dev" ]; then RESULT=FAIL DETAIL="/dev/vda is not the virtio_mmio@1c130000 device: '$dev'"
  elif [ -z "$irq" ]; then RESULT=FAIL DETAIL="no counted level GIC interrupt 74 for virtio in /proc/interrupts: $(grep '^QVM-IRQ' $o | head -n1)"
  elif [ -z "$sum" ]; then RESULT=FAIL DETAIL="no checksum from the guest (virtio-blk write failed or no /dev/vda)"
  elif [ "$back" != "$sum" ]; then RESULT=FAIL DETAIL="guest read-back $back != written $sum"
  elif [ "$host" != "$sum" ]; then RESULT=FAIL DETAIL="host file md5 $host != guest's $sum"
  else RESULT=PASS DETAIL=""; return; fi
  show $o
}

# virtio-blk-ugic: the same on the user-space GICv2 (`vdev gic mode user`).
t_virtio_blk_ugic() {
  rm -f /tmp/disk.img
  dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
  guest vblku /etc/qvm/virtio-blk-ugic.qvmconf 180 plain
  o=/tmp/vblku.out
  sum=$(sed -n 's/^QVM-BLK-SYNCED \([0-9a-f]*\).*/\1/p' $o | head -n1)
  back=$(sed -n 's/^QVM-BLK-READBACK //p' $o | head -n1)
  host=$(head -c 16777216 /tmp/disk.img | md5sum); host=${host%% *}
  dev=$(sed -n 's/^QVM-BLK-DEV //p' $o | head -n1)
  # "QVM-IRQ N: COUNT GIC-0 74 Level virtio0": the SPI, level, counted
  irq=$(grep '^QVM-IRQ [0-9]*: [1-9][0-9]* GIC.* 74 Level .*virtio' $o | head -n1)
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0"
  elif [ "${dev#*1c130000.virtio_mmio}" = "$dev" ]; then RESULT=FAIL DETAIL="/dev/vda is not the virtio_mmio@1c130000 device: '$dev'"
  elif [ -z "$irq" ]; then RESULT=FAIL DETAIL="no counted level GIC interrupt 74 for virtio in /proc/interrupts: $(grep '^QVM-IRQ' $o | head -n1)"
  elif [ -z "$sum" ]; then RESULT=FAIL DETAIL="no checksum from the guest (virtio-blk write failed or no /dev/vda)"
  elif [ "$back" != "$sum" ]; then RESULT=FAIL DETAIL="guest read-back $back != written $sum"
  elif [ "$host" != "$sum" ]; then RESULT=FAIL DETAIL="host file md5 $host != guest's $sum"
  else RESULT=PASS DETAIL=""; return; fi
  show $o
}

# virtio-net over virtio-mmio on a tap qvm creates (qvmtap0): once it exists
# the host side gets 10.0.2.1/24 and pings the guest (10.0.2.15) while the
# guest pings the host (plain and 1400-byte); then 1 MiB each way over TCP
# (busybox nc) with md5 checks; eth0 must be the virtio_mmio@1c130000 device.
t_virtio_net() {
  rm -f /tmp/net-host
  ip link del qvmtap0 2>/dev/null
  ( i=0
    while [ ! -e /sys/class/net/qvmtap0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    if ! ip addr add 10.0.2.1/24 dev qvmtap0 || ! ip link set qvmtap0 up; then
      echo "no-tap" >/tmp/net-host; exit 0
    fi
    i=0 r=fail
    while [ $i -lt 60 ]; do
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
  guest vnet /etc/qvm/virtio-net.qvmconf 180 plain
  wait $cfg
  kill $n1 $n2 2>/dev/null
  exec 6<&-
  h2g=$(md5sum </tmp/net-h2g); h2g=${h2g%% *}
  g2h=$(md5sum </tmp/net-g2h 2>/dev/null); g2h=${g2h%% *}
  o=/tmp/vnet.out
  mac=$(sed -n 's/^QVM-NET-MAC //p' $o | head -n1)
  gping=$(sed -n 's/^QVM-NET-PING //p' $o | head -n1)
  hping=$(cat /tmp/net-host 2>/dev/null)
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0"
  elif [ "$mac" != 52:54:00:12:34:57 ]; then RESULT=FAIL DETAIL="guest eth0 MAC '$mac', expected the configured 52:54:00:12:34:57"
  elif [ "$hping" = no-tap ]; then RESULT=FAIL DETAIL="qvm did not create/open tap qvmtap0 (or ip could not configure it)"
  elif [ "$gping" != ok ]; then RESULT=FAIL DETAIL="guest ping of the host over virtio-net/tap: ${gping:-no result}"
  elif [ "$hping" != ok ]; then RESULT=FAIL DETAIL="host ping of the guest: ${hping:-no result}"
  elif ! grep -q "^QVM-NET-G2H $g2h" $o; then RESULT=FAIL DETAIL="1 MiB guest->host over TCP: host got md5 $g2h ($(wc -c </tmp/net-g2h) bytes), guest sent $(sed -n 's/^QVM-NET-G2H //p' $o)"
  elif ! grep -q "^QVM-NET-H2G $h2g" $o; then RESULT=FAIL DETAIL="1 MiB host->guest over TCP: guest got $(sed -n 's/^QVM-NET-H2G //p' $o), host sent $h2g"
  elif grep -q 'no ioeventfds' $o; then RESULT=FAIL DETAIL="virtio-net fell back to exits: $(grep 'no ioeventfds' $o | head -n1)"
  else RESULT=PASS DETAIL=""; return; fi
  show $o
}

# mg/psci.s: PSCI VERSION, FEATURES, CPU_ON/AFFINITY_INFO/CPU_OFF of vCPU 1,
# then SYSTEM_OFF while vCPU 1 spins: qvm must exit 0 at once.
t_mg_psci() {
  guest mgpsci /etc/qvm/mg-psci.qvmconf 30 plain
  if [ "$RC" = 0 ] && grep -q '^MG-PSCI-OK' /tmp/mgpsci.out && ! grep -q MG-PSCI-FAIL /tmp/mgpsci.out; then
    RESULT=PASS DETAIL=""; grep '^MG-PSCI-VERSION' /tmp/mgpsci.out | sed 's/^/  | /'; return
  fi
  RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 and MG-PSCI-OK$(sed -n 's/^MG-PSCI-FAIL \(.*\)/ (failed at step \1)/p' /tmp/mgpsci.out | head -n1)"
  show /tmp/mgpsci.out
}

# The same guest with SYSTEM_RESET (vCPU 1 spinning): the VM resets in place
# and the guest passes again; then a power cut (exit 3).
t_mg_psci_reset() {
  guest mgpscireset /etc/qvm/mg-psci-reset.qvmconf 40 mgreset
  tm_oks=$(grep -c '^MG-PSCI-OK' /tmp/mgpscireset.out)
  if [ "$RC" = 3 ] && [ "$tm_oks" -ge 2 ] && ! grep -q MG-PSCI-FAIL /tmp/mgpscireset.out; then
    RESULT=PASS DETAIL=""; return
  fi
  RESULT=FAIL DETAIL="qvm $(rc_text "$RC") after $tm_oks passing run(s), expected 2 runs (a reset in place) and exit 3"
  show /tmp/mgpscireset.out
}

# hexval HEXDIGITS -> $v (decimal)
hexval() { case "$1" in ""|*[!0-9a-fA-F]*) v=0 ;; *) v=$((0x$1)) ;; esac; }

# mg/timer.s with qvm's default counter offset: the virtual counter starts
# near 0, and a 3 s pause (qvmctl) between two half-second ticks does not
# count: the guest sees ~0.5 s between them, the host ~3.5 s.
t_mg_timer() {
  PAUSE_SYS=mgtimer
  guest mgtimer /etc/qvm/mg-timer.qvmconf 40 pause
  tm_o=/tmp/mgtimer.out
  hexval "$(sed -n 's/^MG-TIMER-START //p' $tm_o | head -n1)"; tm_start=$v
  hexval "$(sed -n 's/^MG-TIMER-FREQ //p' $tm_o | head -n1)"; tm_freq=$v
  tm_t1=$(sed -n 's/^MG-TIMER-T //p' $tm_o | sed -n 1p); tm_t2=$(sed -n 's/^MG-TIMER-T //p' $tm_o | sed -n 2p)
  tm_w1=$(sed -n 's/^QVMTICK //p' $tm_o | sed -n 1p); tm_w2=$(sed -n 's/^QVMTICK //p' $tm_o | sed -n 2p)
  tm_pause=$(sed -n 's/^QVMPAUSE //p' $tm_o)
  if [ "$RC" != 0 ] || ! grep -q '^MG-TIMER-END' $tm_o || grep -q MG-TIMER-FAIL $tm_o; then
    RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 and MG-TIMER-END"; show $tm_o; return
  fi
  if [ "$tm_freq" -le 0 ]; then RESULT=FAIL DETAIL="CNTFRQ is 0"; show $tm_o; return; fi
  tm_start_ms=$((tm_start * 1000 / tm_freq))
  echo "  | counter at entry: $tm_start ticks ($tm_start_ms ms) at $tm_freq Hz"
  if [ "$tm_start_ms" -gt 5000 ]; then
    RESULT=FAIL DETAIL="guest counter started at $tm_start_ms ms, expected near 0"; show $tm_o; return
  fi
  if [ "$tm_pause" != "0 0" ] || [ -z "$tm_t2" ] || [ -z "$tm_w2" ]; then
    RESULT=FAIL DETAIL="pause/resume through qvmctl failed (rc ${tm_pause:-none})"; cat /tmp/mgtimer.ctl 2>/dev/null | sed 's/^/  | /'; show $tm_o; return
  fi
  hexval "$tm_t1"; tm_g1=$v; hexval "$tm_t2"; tm_g2=$v
  tm_gms=$(( (tm_g2 - tm_g1) * 1000 / tm_freq )); tm_wms=$((tm_w2 - tm_w1))
  echo "  | across the pause: guest $tm_gms ms, host $tm_wms ms"
  if [ "$tm_wms" -lt 2500 ]; then RESULT=FAIL DETAIL="the pause did not hold the guest (host saw $tm_wms ms)"
  elif [ "$tm_gms" -gt 1500 ]; then RESULT=FAIL DETAIL="guest counter jumped by the paused time ($tm_gms ms between ticks 0.5 s apart)"
  else RESULT=PASS DETAIL=""; return; fi
  show $tm_o
}

# The nested Debian guest with 2 vCPUs running short-lived processes on both
# (test/guest/init qvm.test=stress), `reps` times: no process may die of a
# signal, no kernel panic, poweroff -> 0. Runs qvmlane.stressreps times (2).
t_stress_2cpu() {
  tm_i=1 tm_pass=0 tm_first="" tm_reps=${stress_reps:-2}
  while [ $tm_i -le "$tm_reps" ]; do
    guest stress /etc/qvm/stress-2cpu.qvmconf 300 plain
    tm_o=/tmp/stress.out
    if grep -q '^QVMPANIC' $tm_o; then tm_d="guest kernel panic: $(sed -n 's/^QVMPANIC //p' $tm_o | head -n1 | cut -c1-100)"
    elif grep -q QVM-STRESS-CRASH $tm_o; then tm_d="$(grep -c QVM-STRESS-CRASH $tm_o) crash(es): $(grep QVM-STRESS-CRASH $tm_o | head -n1)"
    elif [ "$RC" != 0 ] || ! grep -q QVM-STRESS-DONE $tm_o; then tm_d="qvm $(rc_text "$RC"), expected 0 and QVM-STRESS-DONE"
    else tm_d=""; fi
    if [ -z "$tm_d" ]; then tm_pass=$((tm_pass + 1))
    else echo "  ! stress-2cpu run $tm_i of $tm_reps: $tm_d"; show $tm_o; [ -z "$tm_first" ] && tm_first="run $tm_i: $tm_d"; fi
    tm_i=$((tm_i + 1))
  done
  echo "QVMREPS stress-2cpu $tm_pass $tm_reps"
  if [ $tm_pass -eq "$tm_reps" ]; then RESULT=PASS DETAIL=""
  else RESULT=FAIL DETAIL="$((tm_reps - tm_pass)) of $tm_reps runs failed; first: $tm_first"; fi
}

# mg/counter.s: 2 vCPUs x 20000 MMIO exits each; the virtual counter must
# never go backwards on a vCPU or across them.
t_mg_counter() {
  guest mgcounter /etc/qvm/mg-counter.qvmconf 120 plain
  tm_o=/tmp/mgcounter.out
  tm_l=$(grep '^MG-COUNTER iter=' $tm_o | head -n1)
  if [ "$RC" != 0 ] || [ -z "$tm_l" ]; then
    RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 and the MG-COUNTER line"; show $tm_o; return
  fi
  echo "  | $tm_l"
  case "$tm_l" in
    *"back-self=0000000000000000 back-cross=0000000000000000"*) RESULT=PASS DETAIL="" ;;
    *) RESULT=FAIL DETAIL="the guest's counter went backwards: ${tm_l#MG-COUNTER } $(grep '^MG-COUNTER-FIRST' $tm_o | head -n1)" ;;
  esac
}

# `set counter-offset 0`: the guest counts what the host counts (it is at
# least the emulated host's uptime).
t_mg_timer_host() {
  read -r tm_up _ </proc/uptime; tm_up=${tm_up%.*}
  guest mgtimerhost /etc/qvm/mg-timer-host.qvmconf 40 plain
  tm_o=/tmp/mgtimerhost.out
  hexval "$(sed -n 's/^MG-TIMER-START //p' $tm_o | head -n1)"; tm_start=$v
  hexval "$(sed -n 's/^MG-TIMER-FREQ //p' $tm_o | head -n1)"; tm_freq=$v
  if [ "$RC" != 0 ] || [ "$tm_freq" -le 0 ]; then
    RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 and the counter lines"; show $tm_o; return
  fi
  tm_s=$((tm_start / tm_freq))
  echo "  | counter at entry: $tm_s s (host up $tm_up s)"
  if [ "$tm_s" -lt $((tm_up - 1)) ]; then
    RESULT=FAIL DETAIL="guest counter $tm_s s is not the host's (host up $tm_up s)"; show $tm_o; return
  fi
  RESULT=PASS DETAIL=""
}

# mg/uart-nofifo.s: PL011 flags and TX interrupt with LCR_H.FEN clear, then set.
t_mg_uart_nofifo() {
  guest mgnofifo /etc/qvm/mg-uart-nofifo.qvmconf 30 plain
  if [ "$RC" = 0 ] && grep -q MG-NOFIFO-LINE /tmp/mgnofifo.out && grep -q MG-FIFO-LINE /tmp/mgnofifo.out &&
     grep -q MG-UART-NOFIFO-OK /tmp/mgnofifo.out && ! grep -q MG-FAIL /tmp/mgnofifo.out; then
    RESULT=PASS DETAIL=""; return
  fi
  RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 and MG-UART-NOFIFO-OK"
  show /tmp/mgnofifo.out
}

# mg/sp805.s: SP805 registers, interrupt pending in the GIC, then expiry:
# qvm must exit 4 (watchdog) after the guest's MG-SP805-WAIT.
t_mg_sp805() {
  guest mgsp805 /etc/qvm/mg-sp805.qvmconf 30 plain
  if [ "$RC" = 4 ] && grep -q MG-SP805-IRQ /tmp/mgsp805.out && grep -q MG-SP805-WAIT /tmp/mgsp805.out &&
     ! grep -q MG-FAIL /tmp/mgsp805.out; then
    RESULT=PASS DETAIL=""; return
  fi
  RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 4 (watchdog) after MG-SP805-WAIT"
  show /tmp/mgsp805.out
}

# mg/gicd.s, mg/gic-timer.s on the in-kernel GICv3 and the user-space GICv2:
# mg_gic NAME CONF MARKER VERSION
mg_gic() {
  guest "$1" "$2" 30 plain
  if [ "$RC" = 0 ] && grep -q "$3 v$4" /tmp/$1.out && ! grep -q MG-FAIL /tmp/$1.out; then
    RESULT=PASS DETAIL=""; return
  fi
  RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 and '$3 v$4'$(sed -n 's/.*MG-FAIL check \(.\).*/ (failed check \1)/p' /tmp/$1.out | head -n1)"
  show /tmp/$1.out
}
t_mg_gicd_v3() { mg_gic mggicd3 /etc/qvm/mg-gicd-v3.qvmconf MG-GICD-OK 3; }
t_mg_gicd_user() { mg_gic mggicdu /etc/qvm/mg-gicd-user.qvmconf MG-GICD-OK 2; }
t_mg_gictimer_v3() { mg_gic mggict3 /etc/qvm/mg-gictimer-v3.qvmconf MG-TIMER-OK 3; }
t_mg_gictimer_user() { mg_gic mggictu /etc/qvm/mg-gictimer-user.qvmconf MG-TIMER-OK 2; }

# Debian's kernel on the user-space GICv2: 1 vCPU once, 2 vCPUs `reps` times.
t_boot_ugic_1cpu() {
  boot_check boot-ugic-1cpu /etc/qvm/boot-ugic-1cpu.qvmconf 1
  [ -n "$BOOT" ] && echo "QVMTIME boot-ugic-1cpu $BOOT"
}

t_boot_ugic_2cpu() {
  i=1
  while [ $i -le "$reps" ]; do
    boot_check boot-ugic-2cpu /etc/qvm/boot-ugic-2cpu.qvmconf 2
    [ -n "$BOOT" ] && echo "QVMTIME boot-ugic-2cpu $BOOT"
    if [ $RESULT != PASS ]; then DETAIL="run $i of $reps: $DETAIL"; return; fi
    i=$((i + 1))
  done
}

# `set pmu` (the guest's PMUv3). Whether this host's KVM can give guests a
# PMU (KVM_CAP_ARM_PMU_V3) follows from the host's own PMU driver (its
# "hw perfevents: enabled" boot line); qvm's `set pmu auto` dryrun must
# agree. With it: a bad value is exit 65 at its token, then Debian's kernel
# with `set pmu on` must find the PMU (perf driver line, armv8_pmuv3 event
# source) and take its overflow interrupt (qvm-pmu-probe samples a cycle
# counter; the PMU line of /proc/interrupts must grow). Without it: `set pmu
# on` must stop qvm before the guest starts (exit 64) naming the variable
# and the capability. pmu_check NAME CONF GICNAME
pmu_check() {
  tm_name=$1 tm_conf=$2 tm_gic=$3 tm_o=/tmp/$1.out
  timeout -s KILL 20 qvm @/etc/qvm/pmu-bad.qvmconf <&3 >/tmp/pmubad.out 2>&1; tm_rc=$?
  if [ $tm_rc -ne 65 ] || ! grep -qF '/etc/qvm/pmu-bad.qvmconf:5:9: `pmu`: bad on/off/auto value `sometimes`' /tmp/pmubad.out; then
    RESULT=FAIL DETAIL="set pmu sometimes: $(rc_text $tm_rc), expected 65 and the message at its token"; show /tmp/pmubad.out; return
  fi
  if dmesg | grep -q 'hw perfevents: enabled'; then tm_cap=1; else tm_cap=0; fi
  timeout -s KILL 30 qvm @"$tm_conf" set pmu auto dryrun <&3 >/tmp/$tm_name.dry 2>&1
  if grep -q 'PMUv3 (PPI 23)' /tmp/$tm_name.dry; then tm_auto=1; else tm_auto=0; fi
  echo "  | host PMU driver: $tm_cap; qvm's set pmu auto: $tm_auto"
  if [ $tm_cap != $tm_auto ]; then
    RESULT=FAIL DETAIL="set pmu auto ($tm_auto) disagrees with the host's PMU driver ($tm_cap)"
    show /tmp/$tm_name.dry; return
  fi
  if [ $tm_cap = 0 ]; then
    timeout -s KILL 30 qvm @"$tm_conf" <&3 >$tm_o 2>&1; tm_rc=$?
    if [ $tm_rc = 64 ] && grep -q "$tm_conf:[0-9]*:[0-9]*: .set pmu on.: .*KVM_CAP_ARM_PMU_V3" $tm_o &&
       ! grep -q QVM-GUEST-INIT $tm_o; then
      grep -m1 'set pmu on' $tm_o | sed 's/^/  | /'
      RESULT=PASS DETAIL="(host KVM has no PMUv3: set pmu on refused before the guest started)"; return
    fi
    RESULT=FAIL DETAIL="no PMUv3 on this host: qvm $(rc_text $tm_rc), expected 64 and the set pmu on error"; show $tm_o; return
  fi
  boot_check "$tm_name" "$tm_conf" 2
  [ -n "$BOOT" ] && echo "QVMTIME $tm_name $BOOT"
  [ "$RESULT" = PASS ] || return
  tm_dmesg=$(sed -n 's/^QVM-PMU-DMESG //p' $tm_o | head -n1)
  tm_dev=$(sed -n 's/^QVM-PMU-DEV //p' $tm_o | head -n1)
  tm_cnt=$(sed -n 's/^QVM-PMU-COUNT //p' $tm_o | head -n1)
  tm_irq=$(sed -n 's/^QVM-PMU-IRQ //p' $tm_o | head -n1)
  tm_line=$(sed -n 's/^QVM-PMU-IRQLINE //p' $tm_o | head -n1)
  echo "  | $tm_dmesg; sources: $tm_dev; cycles/ms: $tm_cnt; interrupts before/after: $tm_irq"
  echo "  | $tm_line"
  set -- $tm_irq; tm_i0=${1:-x} tm_i1=${2:-x}
  set -- $tm_cnt; tm_c=${1:-x}
  case "$tm_dmesg" in *"enabled with armv8_pmuv3"*) ;; *)
    RESULT=FAIL DETAIL="the guest's perf driver did not enable armv8_pmuv3: '${tm_dmesg}'"; show $tm_o; return ;; esac
  case " $tm_dev " in *" armv8_pmuv3"*) ;; *)
    RESULT=FAIL DETAIL="no armv8_pmuv3 event source in the guest: '${tm_dev}'"; show $tm_o; return ;; esac
  case "$tm_c" in ""|*[!0-9]*|0)
    RESULT=FAIL DETAIL="the guest's cycle counter did not count: '${tm_cnt}'"; show $tm_o; return ;; esac
  case "$tm_i0$tm_i1" in *[!0-9]*)
    RESULT=FAIL DETAIL="no PMU interrupt in the guest's /proc/interrupts: '${tm_irq}'"; show $tm_o; return ;; esac
  case "$tm_line" in *"$tm_gic"*" 23 Level"*) ;; *)
    RESULT=FAIL DETAIL="the guest's PMU interrupt is not $tm_gic INTID 23, level: '${tm_line}'"; show $tm_o; return ;; esac
  if [ "$tm_i1" -le "$tm_i0" ]; then
    RESULT=FAIL DETAIL="no PMU overflow interrupt reached the guest (count $tm_i0 -> $tm_i1 while sampling $tm_c cycles)"; show $tm_o; return
  fi
  RESULT=PASS DETAIL=""
}
t_boot_pmu() { pmu_check bootpmu /etc/qvm/boot-pmu.qvmconf GICv3; }
t_boot_pmu_ugic() { pmu_check bootpmuu /etc/qvm/boot-pmu-ugic.qvmconf GIC; }

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
