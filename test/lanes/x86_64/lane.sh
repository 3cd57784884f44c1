#!/bin/sh
# The x86_64 lane's test script. It runs as the startup script of the lane's
# host image (lane.build), inside QEMU's emulated AMD host with kvm_amd, and
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
TESTS="host-kvm bad-config boot-1cpu boot-2cpu boot-pvh reboot shell-demo power-button virtio blk-durable blk-perf net net-perf peer virtio-mmio intx microguests"

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
      vcon)
        case "$line" in
          QVM-VCON-READY*) [ -z "$acted" ] && printf 'ping-from-host\n' >&3 && acted=1 ;;
        esac ;;
      kill)
        case "$line" in
          QVM-BLK-SYNCED*) [ -z "$acted" ] && kill -KILL $(pidof qvm) && acted=1 ;;
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
    RESULT=FAIL DETAIL="no /dev/kvm"; dmesg | grep -i -E 'kvm|svm' | tail -n 5 | sed 's/^/  | /'; return
  fi
  if dmesg | grep -q 'Nested Paging enabled'; then RESULT=PASS DETAIL=""
  else RESULT=FAIL DETAIL="kvm_amd loaded without nested paging"; fi
}

t_bad_config() {
  expect='/etc/qvm/bad.qvmconf:4:14: vdev ser8250: unknown option `frobnicate` (valid: loc, intr, name, hostdev, regshift)'
  timeout -s KILL 20 qvm @/etc/qvm/bad.qvmconf <&3 >/tmp/bad.stdout 2>/tmp/bad.stderr
  rc=$?
  if [ $rc -ne 65 ]; then RESULT=FAIL DETAIL="$(rc_text $rc), expected 65"; show /tmp/bad.stderr; return; fi
  if ! grep -qxF "$expect" /tmp/bad.stderr; then
    RESULT=FAIL DETAIL="stderr lacks the expected message"
    echo "  | expected: $expect"; show /tmp/bad.stderr; return
  fi
  RESULT=PASS DETAIL=""
}

# boot_check NAME CONF CPUS: one boot to init and poweroff.
boot_check() {
  guest "$1" "$2" 45 plain
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 (markers seen: $MARKS)"
  elif [ "$MARKS" -lt 1 ]; then RESULT=FAIL DETAIL="no QVM-GUEST-INIT marker"
  elif [ "$NPROC" != "$3" ]; then RESULT=FAIL DETAIL="guest nproc ${NPROC:-?}, expected $3"
  else RESULT=PASS DETAIL=""; return; fi
  show /tmp/$1.out
}

t_boot_1cpu() {
  boot_check boot-1cpu /etc/qvm/boot-1cpu.qvmconf 1
  [ -n "$BOOT" ] && echo "QVMTIME boot-1cpu $BOOT"
  [ "$RESULT" = PASS ] && dmesg_check /tmp/boot-1cpu.out
}

# dmesg_check OUT: the guest (qvm.dmesg=1) printed its warnings and its
# ACPI/MTRR/PAT lines as QVM-DMESG; any ACPI error or warning, firmware bug,
# MTRR or PAT complaint fails the test.
dmesg_check() {
  if ! grep -q '^QVM-DMESG-DONE' "$1"; then
    RESULT=FAIL DETAIL="the guest printed no dmesg report (qvm.dmesg=1)"; show "$1"; return
  fi
  bad=$(grep '^QVM-DMESG ' "$1" | grep -E 'ACPI (BIOS )?(Error|Warning|Exception)|Firmware Bug|PAT not supported|PAT.*disabled|PAT support disabled|^QVM-DMESG <[0-4]>.*(MTRR|mtrr|PAT)')
  # Linux prints this (KERN_ERR) whenever port 0xCF8 has no PCI host, which
  # is what a configuration without PCI devices means: reported, not failed.
  grep -q '^QVM-DMESG .*PCI: Fatal: No config space access function found' "$1" &&
    echo "  | note: guest without PCI devices: Linux logs 'PCI: Fatal: No config space access function found'"
  if [ -n "$bad" ]; then
    RESULT=FAIL DETAIL="guest dmesg: $(echo "$bad" | head -n1 | cut -c11-160) ($(echo "$bad" | wc -l) lines)"
    echo "$bad" | head -n 12 | sed 's/^/  | /'
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

t_boot_pvh() {
  i=1
  while [ $i -le "$reps" ]; do
    boot_check boot-pvh /etc/qvm/boot-pvh.qvmconf 2
    [ -n "$BOOT" ] && echo "QVMTIME boot-pvh $BOOT"
    if [ $RESULT != PASS ]; then DETAIL="run $i of $reps: $DETAIL"; return; fi
    i=$((i + 1))
  done
}
t_reboot() {
  guest reboot /etc/qvm/reboot.qvmconf 60 reboot
  if [ "$MARKS" -ge 2 ] && [ "$RC" = 3 ]; then RESULT=PASS DETAIL=""; return; fi
  if [ "$MARKS" -lt 2 ]; then RESULT=FAIL DETAIL="guest booted $MARKS time(s), expected a reset in place (2); qvm $(rc_text "$RC")"
  else RESULT=FAIL DETAIL="after the power cut qvm gave $(rc_text "$RC"), expected 3"; fi
  show /tmp/reboot.out
}

t_shell_demo() {
  guest shell /etc/qvm/demo.qvmconf 60 shell
  np=$(sed -n 's/^QVMNPROC //p' /tmp/shell.out)
  if [ "$RC" = 0 ] && [ "$np" = 2 ]; then RESULT=PASS DETAIL=""; return; fi
  if [ -z "$np" ]; then RESULT=FAIL DETAIL="no answer to nproc at the shell prompt; qvm $(rc_text "$RC")"
  elif [ "$np" != 2 ]; then RESULT=FAIL DETAIL="nproc at the prompt said $np, expected 2"
  else RESULT=FAIL DETAIL="poweroff at the prompt: qvm $(rc_text "$RC"), expected 0"; fi
  show /tmp/shell.out
}

# SIGTERM is the virtual power button: the guest must shut down cleanly
# (ACPI power button -> acpid -> poweroff) and qvm exit 0.
t_power_button() {
  guest button /etc/qvm/demo.qvmconf 60 button
  if [ "$RC" = 0 ] && [ "$MARKS" -ge 1 ]; then RESULT=PASS DETAIL=""; return; fi
  RESULT=FAIL DETAIL="after SIGTERM qvm gave $(rc_text "$RC"), expected a clean guest poweroff (0)"
  show /tmp/button.out
}
# virtio: the guest writes 64 MiB with fsync to a virtio-blk disk, reads it
# back after dropping its caches; the host checks the same md5 on the file;
# a read-only disk refuses writes; GET_ID; virtio-rng bytes; a line each way
# on virtio-console.
fresh_disks() {
  rm -f /tmp/disk.img /tmp/ro.img
  dd if=/dev/zero of=/tmp/disk.img bs=1M count=80 2>/dev/null
  dd if=/dev/zero of=/tmp/ro.img bs=1M count=1 2>/dev/null
}
# the guest writes 64 MiB (test/guest/init BLK_MIB)
host_md5() { h=$(head -c 67108864 /tmp/disk.img | md5sum); echo "${h%% *}"; }
t_virtio() {
  fresh_disks
  guest virtio /etc/qvm/virtio.qvmconf 240 vcon
  o=/tmp/virtio.out
  sum=$(sed -n 's/^QVM-BLK-SYNCED \([0-9a-f]*\).*/\1/p' $o | head -n1)
  back=$(sed -n 's/^QVM-BLK-READBACK //p' $o | head -n1)
  ro=$(sed -n 's/^QVM-BLK-RO //p' $o | head -n1)
  rng=$(sed -n 's/^QVM-RNG //p' $o | head -n1)
  mq=$(sed -n 's/^QVM-BLK-MQ //p' $o | head -n1)
  mqirq=$(sed -n 's/^QVM-BLK-MQIRQ //p' $o | head -n1)
  disc=$(sed -n 's/^QVM-BLK-DISCARD //p' $o | head -n1)
  zero1m=$(head -c 1048576 /dev/zero | md5sum); zero1m=${zero1m%% *}
  rh=${rng#* }
  host=$(host_md5)
  echo "QVMBLK virtio: request queues $mq (completion interrupts per queue: $mqirq), discard ${disc%% *}"
  set -- $mqirq
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0"
  elif [ -z "$sum" ]; then RESULT=FAIL DETAIL="no checksum from the guest (virtio-blk write failed or no /dev/vda)"
  elif [ "$back" != "$sum" ]; then RESULT=FAIL DETAIL="guest read-back $back != written $sum"
  elif [ "$host" != "$sum" ]; then RESULT=FAIL DETAIL="host file md5 $host != guest's $sum"
  elif [ "$mq" != 2 ]; then RESULT=FAIL DETAIL="vda has ${mq:-no} request queue(s), expected 2 (threads 2)"
  elif [ $# -ne 2 ] || [ "$1" -eq 0 ] || [ "$2" -eq 0 ]; then
    RESULT=FAIL DETAIL="both of vda's request queues should complete I/O: interrupts per queue '${mqirq}'"
  elif [ "$disc" != "not-offered" ] && [ "$disc" != "ok $zero1m" ]; then
    RESULT=FAIL DETAIL="DISCARD of 1 MiB: guest got '$disc', expected 'ok $zero1m'"
  elif [ "$disc" = "not-offered" ] && fallocate -p -o 0 -l 4096 /tmp/ro.img 2>/dev/null; then
    RESULT=FAIL DETAIL="the host file can punch holes but DISCARD was not offered"
  elif [ "$ro" != "refused 1 id=disk.img" ]; then RESULT=FAIL DETAIL="read-only disk / GET_ID: got '$ro'"
  elif [ "${rng%% *}" != virtio_rng.0 ] || [ ${#rh} -ne 64 ] || [ "$rh" = 0000000000000000000000000000000000000000000000000000000000000000 ]; then
    RESULT=FAIL DETAIL="virtio-rng: got '$rng'"
  elif ! grep -q '^QVM-VCON-OUT hello' $o; then RESULT=FAIL DETAIL="no line from the guest's /dev/hvc0"
  elif ! grep -q '^QVM-VCON-IN ping-from-host' $o; then RESULT=FAIL DETAIL="the guest did not read the host's line on /dev/hvc0"
  else RESULT=PASS DETAIL=""; return; fi
  show $o
}

# A write the guest fsync()ed is in the host file after qvm is SIGKILLed
# right after the guest reports it.
t_blk_durable() {
  fresh_disks
  guest blkdur /etc/qvm/blk-durable.qvmconf 180 kill
  sum=$(sed -n 's/^QVM-BLK-SYNCED \([0-9a-f]*\).*/\1/p' /tmp/blkdur.out | head -n1)
  host=$(host_md5)
  if [ -z "$sum" ]; then RESULT=FAIL DETAIL="the guest reported no synced write; qvm $(rc_text "$RC")"
  elif [ "$RC" != 137 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected SIGKILL (137)"
  elif [ "$host" != "$sum" ]; then RESULT=FAIL DETAIL="after SIGKILL the host file md5 $host != guest's $sum"
  else RESULT=PASS DETAIL=""; return; fi
  show /tmp/blkdur.out
}

# blk-perf: the guest's qvm-blkbench (O_DIRECT sequential write/read in
# 1 MiB blocks, 4 KiB random reads) on virtio-blk with eventfds (ioeventfd
# + irqfd, worker thread) and with `notify exit` (served on the vCPU
# thread). Figures go out as QVMBLK lines; fails only when a run fails.
t_blk_perf() {
  RESULT=PASS DETAIL=""
  for mode in eventfd exit; do
    rm -f /tmp/bench.img
    dd if=/dev/zero of=/tmp/bench.img bs=1M count=64 2>/dev/null
    guest blkb-$mode /etc/qvm/blkbench-$mode.qvmconf 240 plain
    o=/tmp/blkb-$mode.out
    grep '^QVM-BLKBENCH ' $o | sed "s/^QVM-BLKBENCH /QVMBLK qvm-$mode /"
    n=$(grep -c '^QVM-BLKBENCH [a-z]* [0-9.]* ' $o)
    if [ "$RC" != 0 ] || [ "$n" != 3 ]; then
      RESULT=FAIL DETAIL="notify $mode: qvm $(rc_text "$RC"), $n of 3 figures"; show $o; return
    fi
  done
}

# net: qvm creates the tap qvmtap0 (virtio-net hostdev); once it exists the
# host side gets 10.0.2.1/24 and pings the guest (10.0.2.15) while the guest
# pings the host (plain and 1400-byte echoes); then 1 MiB each way over TCP
# (busybox nc) with md5 checks, which exercises the checksum/TSO offloads.
t_net() {
  rm -f /tmp/net-host
  ip link del qvmtap0 2>/dev/null
  ( i=0
    while [ ! -e /sys/class/net/qvmtap0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    if ! ip addr add 10.0.2.1/24 dev qvmtap0 || ! ip link set qvmtap0 up; then
      echo "no-tap" >/tmp/net-host; exit 0
    fi
    i=0 r=fail
    while [ $i -lt 40 ]; do
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
  guest net /etc/qvm/net.qvmconf 90 plain
  wait $cfg
  kill $n1 $n2 2>/dev/null
  exec 6<&-
  h2g=$(md5sum </tmp/net-h2g); h2g=${h2g%% *}
  g2h=$(md5sum </tmp/net-g2h 2>/dev/null); g2h=${g2h%% *}
  o=/tmp/net.out
  mac=$(sed -n 's/^QVM-NET-MAC //p' $o | head -n1)
  gping=$(sed -n 's/^QVM-NET-PING //p' $o | head -n1)
  hping=$(cat /tmp/net-host 2>/dev/null)
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0"
  elif [ "$mac" != 52:54:00:12:34:56 ]; then RESULT=FAIL DETAIL="guest eth0 MAC '$mac', expected the configured 52:54:00:12:34:56"
  elif [ "$hping" = no-tap ]; then RESULT=FAIL DETAIL="qvm did not create/open tap qvmtap0 (or ip could not configure it)"
  elif [ "$gping" != ok ]; then RESULT=FAIL DETAIL="guest ping of the host over virtio-net/tap: ${gping:-no result}"
  elif [ "$hping" != ok ]; then RESULT=FAIL DETAIL="host ping of the guest: ${hping:-no result}"
  elif ! grep -q "^QVM-NET-G2H $g2h" $o; then RESULT=FAIL DETAIL="1 MiB guest->host over TCP: host got md5 $g2h ($(wc -c </tmp/net-g2h) bytes), guest sent $(sed -n 's/^QVM-NET-G2H //p' $o)"
  elif ! grep -q "^QVM-NET-H2G $h2g" $o; then RESULT=FAIL DETAIL="1 MiB host->guest over TCP: guest got $(sed -n 's/^QVM-NET-H2G //p' $o), host sent $h2g"
  else RESULT=PASS DETAIL=""; return; fi
  show $o
}

# net-perf: TCP throughput over virtio-net on a tap (qvm-netbench, 64 MiB
# guest->host into the host's sink, then 64 MiB host->guest from its
# source; the receiver checks every byte's pattern), with eventfds
# (ioeventfd kicks watched by qvm's event thread + MSI irqfds, the default)
# and with `notify exit`, alternating, two runs each. Figures go out as
# QVMNET lines ("MiB/s bytes ns bad"); fails when a run or a transfer
# fails, never on the figures.
t_net_perf() {
  RESULT=PASS DETAIL=""
  for mode in eventfd exit eventfd exit; do
    ip link del qvmtap0 2>/dev/null
    ( i=0
      while [ ! -e /sys/class/net/qvmtap0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
      ip addr add 10.0.2.1/24 dev qvmtap0 && ip link set qvmtap0 up ) &
    cfg=$!
    qvm-netbench sink 5003 >/tmp/nb-sink.out 2>&1 & s1=$!
    qvm-netbench source 5004 64 >/tmp/nb-src.out 2>&1 & s2=$!
    guest nb-$mode /etc/qvm/netbench-$mode.qvmconf 400 plain
    wait $cfg
    kill $s1 $s2 2>/dev/null; wait $s1 $s2 2>/dev/null
    o=/tmp/nb-$mode.out
    g2h=$(sed -n 's/^QVM-NETBENCH g2h //p' $o | head -n1)
    h2g=$(sed -n 's/^QVM-NETBENCH h2g //p' $o | head -n1)
    sink=$(sed -n 's/^sink //p' /tmp/nb-sink.out | head -n1)
    echo "QVMNET qvm-$mode g2h ${g2h:-none} (host sink: ${sink:-none})"
    echo "QVMNET qvm-$mode h2g ${h2g:-none}"
    set -- $sink; sbytes=${3:-0} sbad=${5:-x}
    set -- $h2g; hbytes=${3:-0} hbad=${5:-x}
    if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="notify $mode: qvm $(rc_text "$RC")"
    elif [ $mode = eventfd ] && grep -q 'no ioeventfds' $o; then
      RESULT=FAIL DETAIL="notify eventfd fell back to exits: $(grep 'no ioeventfds' $o | head -n1)"
    elif [ -z "$g2h" ] || [ "$sbytes" != 67108864 ] || [ "$sbad" != 0 ]; then
      RESULT=FAIL DETAIL="notify $mode: guest->host: guest '$g2h', host sink '$sink' (want 67108864 bytes, 0 bad)"
    elif [ "$hbytes" != 67108864 ] || [ "$hbad" != 0 ]; then
      RESULT=FAIL DETAIL="notify $mode: host->guest: guest got '$h2g' (want 67108864 bytes, 0 bad)"
    else continue; fi
    show $o; return
  done
}

# peer: two qvm (systems peer1/peer2) joined by `vdev virtio-net peer
# qvmlink`, guest 1's NIC on virtio-pci, guest 2's on virtio-mmio; each
# guest pings the other and sends it 1 MiB over TCP; the md5 each received
# must be the one the other sent.
t_peer() {
  rm -rf /dev/qvm/net-peers
  guest peer1 /etc/qvm/peer-1.qvmconf 150 plain &
  p1=$!
  sleep 0.5   # the first one listens, the second connects (either order works)
  guest peer2 /etc/qvm/peer-2.qvmconf 150 plain
  wait $p1
  o1=/tmp/peer1.out o2=/tmp/peer2.out
  rc1=$(sed -n 's/^QVMRC //p' $o1) rc2=$(sed -n 's/^QVMRC //p' $o2)
  ping1=$(sed -n 's/^QVM-PEER-PING //p' $o1 | head -n1)
  ping2=$(sed -n 's/^QVM-PEER-PING //p' $o2 | head -n1)
  sent1=$(sed -n 's/^QVM-PEER-SENT //p' $o1 | head -n1)
  sent2=$(sed -n 's/^QVM-PEER-SENT //p' $o2 | head -n1)
  recv1=$(sed -n 's/^QVM-PEER-RECV //p' $o1 | head -n1)
  recv2=$(sed -n 's/^QVM-PEER-RECV //p' $o2 | head -n1)
  mac1=$(sed -n 's/^QVM-NET-MAC //p' $o1 | head -n1)
  mac2=$(sed -n 's/^QVM-NET-MAC //p' $o2 | head -n1)
  dev1=$(sed -n 's/^QVM-NET-DEV //p' $o1 | head -n1)
  dev2=$(sed -n 's/^QVM-NET-DEV //p' $o2 | head -n1)
  if [ "$rc1" != 0 ] || [ "$rc2" != 0 ]; then RESULT=FAIL DETAIL="qvm exits $(rc_text "$rc1") / $(rc_text "$rc2"), expected 0 / 0"
  elif [ -z "$mac1" ] || [ "$mac1" = "$mac2" ]; then RESULT=FAIL DETAIL="guest MACs '$mac1' / '$mac2' (missing or equal)"
  elif [ "${dev1#*/pci0000}" = "$dev1" ] || [ "${dev2#*/LNRO0005}" = "$dev2" ]; then
    RESULT=FAIL DETAIL="eth0 devices '$dev1' / '$dev2', expected virtio-pci / virtio-mmio (LNRO0005)"
  elif [ "$ping1" != ok ]; then RESULT=FAIL DETAIL="guest 1 ping of guest 2: ${ping1:-no result}"
  elif [ "$ping2" != ok ]; then RESULT=FAIL DETAIL="guest 2 ping of guest 1: ${ping2:-no result}"
  elif [ -z "$sent1" ] || [ "$recv2" != "$sent1 1048576" ]; then RESULT=FAIL DETAIL="1 MiB guest 1 -> 2 over TCP: sent $sent1, received '$recv2'"
  elif [ -z "$sent2" ] || [ "$recv1" != "$sent2 1048576" ]; then RESULT=FAIL DETAIL="1 MiB guest 2 -> 1 over TCP: sent $sent2, received '$recv1'"
  else RESULT=PASS DETAIL=""; return; fi
  show $o1; show $o2
}

# virtio-mmio: the virtio test's checks with every virtio device on
# virtio-mmio, found through the DSDT (LNRO0005), plus: 4 bound devices,
# /dev/vda on an LNRO0005 platform device, no ACPI errors in the log.
t_virtio_mmio() {
  fresh_disks
  guest vmmio /etc/qvm/virtio-mmio.qvmconf 240 vcon
  o=/tmp/vmmio.out
  sum=$(sed -n 's/^QVM-BLK-SYNCED \([0-9a-f]*\).*/\1/p' $o | head -n1)
  back=$(sed -n 's/^QVM-BLK-READBACK //p' $o | head -n1)
  ro=$(sed -n 's/^QVM-BLK-RO //p' $o | head -n1)
  rng=$(sed -n 's/^QVM-RNG //p' $o | head -n1)
  rh=${rng#* }
  ndev=$(sed -n 's/^QVM-VMMIO-DEVS //p' $o | head -n1)
  vda=$(sed -n 's/^QVM-VMMIO-VDA //p' $o | head -n1)
  acpi=$(sed -n 's/^QVM-ACPI-ERRORS //p' $o | head -n1)
  host=$(host_md5)
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0"
  elif [ "$ndev" != 4 ]; then RESULT=FAIL DETAIL="virtio-mmio bound ${ndev:-no} LNRO0005 devices, expected 4"
  elif [ "${vda#*LNRO0005}" = "$vda" ]; then RESULT=FAIL DETAIL="/dev/vda is not on an LNRO0005 device: '$vda'"
  elif [ "$acpi" != 0 ]; then RESULT=FAIL DETAIL="the guest logged ${acpi:-?} ACPI errors/warnings"
  elif [ -z "$sum" ]; then RESULT=FAIL DETAIL="no checksum from the guest (virtio-blk write failed or no /dev/vda)"
  elif [ "$back" != "$sum" ]; then RESULT=FAIL DETAIL="guest read-back $back != written $sum"
  elif [ "$host" != "$sum" ]; then RESULT=FAIL DETAIL="host file md5 $host != guest's $sum"
  elif [ "$ro" != "refused 1 id=disk.img" ]; then RESULT=FAIL DETAIL="read-only disk / GET_ID: got '$ro'"
  elif [ "${rng%% *}" != virtio_rng.0 ] || [ ${#rh} -ne 64 ] || [ "$rh" = 0000000000000000000000000000000000000000000000000000000000000000 ]; then
    RESULT=FAIL DETAIL="virtio-rng: got '$rng'"
  elif ! grep -q '^QVM-VCON-OUT hello' $o; then RESULT=FAIL DETAIL="no line from the guest's /dev/hvc0"
  elif ! grep -q '^QVM-VCON-IN ping-from-host' $o; then RESULT=FAIL DETAIL="the guest did not read the host's line on /dev/hvc0"
  else RESULT=PASS DETAIL=""; return; fi
  show $o
}

# intx: PCI virtio-blk + virtio-entropy with the guest booted pci=nomsi:
# block read-back checked against the host file, hwrng bytes, and the
# virtio lines of /proc/interrupts must be IO-APIC lines that counted.
t_intx() {
  fresh_disks
  guest intx /etc/qvm/intx.qvmconf 240 plain
  o=/tmp/intx.out
  sum=$(sed -n 's/^QVM-BLK-SYNCED \([0-9a-f]*\).*/\1/p' $o | head -n1)
  back=$(sed -n 's/^QVM-BLK-READBACK //p' $o | head -n1)
  rng=$(sed -n 's/^QVM-RNG //p' $o | head -n1)
  rh=${rng#* }
  host=$(host_md5)
  irqs=$(grep '^QVM-IRQ [0-9]' $o)
  nio=$(echo "$irqs" | grep -c 'IO-APIC.*virtio')
  nmsi=$(echo "$irqs" | grep -c 'MSI')
  # lines with a non-zero count in the CPU0 column: "QVM-IRQ N: COUNT ..."
  ncount=$(echo "$irqs" | awk '$3 > 0 && /IO-APIC/' | wc -l)
  if [ "$RC" != 0 ]; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0"
  elif [ -z "$sum" ]; then RESULT=FAIL DETAIL="no checksum from the guest (virtio-blk write failed or no /dev/vda)"
  elif [ "$back" != "$sum" ]; then RESULT=FAIL DETAIL="guest read-back $back != written $sum"
  elif [ "$host" != "$sum" ]; then RESULT=FAIL DETAIL="host file md5 $host != guest's $sum"
  elif [ "${rng%% *}" != virtio_rng.0 ] || [ ${#rh} -ne 64 ]; then RESULT=FAIL DETAIL="virtio-rng: got '$rng'"
  elif [ "$nmsi" != 0 ]; then RESULT=FAIL DETAIL="virtio uses MSI despite pci=nomsi"
  elif [ "$nio" -lt 2 ]; then RESULT=FAIL DETAIL="$nio IO-APIC virtio lines in /proc/interrupts, expected 2"
  elif [ "$ncount" -lt 2 ]; then RESULT=FAIL DETAIL="only $ncount virtio IO-APIC lines counted interrupts"
  else RESULT=PASS DETAIL=""; return; fi
  show $o
}

# microguests: every row of test/microguests/tests.tsv (installed in /mg
# with the images and configs) run as test/microguests/run.sh runs them
# natively: exit code, strings the output must / must not contain, log size
# cap. One QVMTEST line per guest (mg-NAME); the test fails if any does.
t_microguests() {
  if [ ! -f /mg/tests.tsv ]; then RESULT=FAIL DETAIL="no /mg/tests.tsv in the lane image"; return; fi
  tab=$(printf '\t')
  npass=0 nfail=0 first=""
  while IFS="$tab" read -r name config want contains absent maxlog; do
    case "$name" in ''|'#'*) continue ;; esac
    log=/tmp/mg-$name.log
    now_ms; t0=$ms
    ( cd /mg && timeout -s KILL 60 qvm @/mg/$config </dev/null >$log 2>$log.err )
    rc=$?
    cat $log.err >>$log; rm -f $log.err
    now_ms
    why=""
    if [ "$rc" = 137 ]; then why="killed after 60 s (hang)"
    elif [ "$rc" != "$want" ]; then why="exit $rc, expected $want"; fi
    if [ -z "$why" ] && [ -n "$contains" ] && [ "$contains" != - ]; then
      oldifs=$IFS; IFS='|'; set -f
      for s in $contains; do
        grep -q -F -- "$s" $log || { why="output lacks \"$s\""; break; }
      done
      IFS=$oldifs; set +f
    fi
    if [ -z "$why" ] && [ -n "$absent" ] && [ "$absent" != - ]; then
      oldifs=$IFS; IFS='|'; set -f
      for s in $absent; do
        grep -q -F -- "$s" $log && { why="output contains \"$s\""; break; }
      done
      IFS=$oldifs; set +f
    fi
    if [ -z "$why" ] && [ -n "$maxlog" ] && [ "$maxlog" != - ]; then
      size=$(wc -c <$log)
      [ "$size" -gt "$maxlog" ] && why="log is $size bytes, limit $maxlog"
    fi
    if [ -z "$why" ]; then
      npass=$((npass + 1)); echo "QVMTEST PASS mg-$name"
    else
      nfail=$((nfail + 1)); [ -z "$first" ] && first=$name
      l=$(grep -o -m1 -E 'FAIL [^ ]+ check [0-9]+:.*' $log | tr -d '\r' | cut -c1-160)
      echo "QVMTEST FAIL mg-$name $why${l:+ (log: $l)} [$((ms - t0)) ms]"
      show $log
    fi
  done </mg/tests.tsv
  if [ $npass = 0 ] && [ $nfail = 0 ]; then RESULT=FAIL DETAIL="no rows in /mg/tests.tsv"
  elif [ $nfail = 0 ]; then RESULT=PASS DETAIL="$npass micro-guests"
  else RESULT=FAIL DETAIL="$nfail of $((npass + nfail)) micro-guests failed (first: $first)"; fi
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
