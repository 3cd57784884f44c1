#!/bin/sh
# The aarch64 lane's startup script inside its host image (lane.build), in
# QEMU's emulated arm64 host (virt at EL2, KVM built into Debian's arm64
# cloud kernel): the arm64 tests (t_NAME for test NAME) on top of the lanes'
# in-host library /etc/lane/host.sh (test/lanes/lib/host.sh: command line,
# helpers, the test loop and the console protocol). mg-NAME without a
# function is row NAME of the arm64 micro-guest table (mg/tests.tsv).
TESTS="host-kvm bad-config mg-uart mg-uart-nofifo mg-sp805 mg-image-offset mg-psci mg-psci-reset mg-timer mg-timer-host mg-counter boot-1cpu boot-2cpu stress-2cpu mg-gicd-v3 mg-gicd-user mg-gictimer-v3 mg-gictimer-user boot-ugic-1cpu boot-ugic-2cpu reboot virtio-blk virtio-blk-ugic virtio-net boot-fdt-load boot-pmu boot-pmu-ugic gdb-kernel"
# This lane's own command-line knobs: qvmlane.guestlog=1 (the nested
# guests' kernels log at their default level, without `quiet`: segfault
# reports and oopses reach the failure output), qvmlane.stressreps=N.
lane_arg() {
  case "$1" in
    qvmlane.guestlog=1) guestlog=1 ;;
    qvmlane.stressreps=*) stress_reps=${1#qvmlane.stressreps=} ;;
  esac
}
. /etc/lane/host.sh
[ -n "${guestlog:-}" ] && sed -i 's/ quiet / /' /etc/qvm/*.qvmconf
case "${stress_reps:-2}" in *[!0-9]*) stress_reps=2 ;; esac
BOOT_SECS=90
MG_DIR=/etc/qvm

# For selftest-hang: a raw image that spins (b .).
spin_image() { printf '\000\000\000\024' >"$1"; }
SPIN_CONF='system selftesthang
ram 16M
cpu
load /tmp/spin.bin'

# Each test sets RESULT (PASS/FAIL/SKIP) and DETAIL.
t_host_kvm() {
  if [ ! -c /dev/kvm ]; then
    RESULT=FAIL DETAIL="no /dev/kvm"; dmesg | grep -i -E 'kvm' | tail -n 5 | sed 's/^/  | /'; return
  fi
  if dmesg | grep -q -E 'kvm \[1\]: (VHE mode|Hyp mode) initialized'; then RESULT=PASS DETAIL=""
  else RESULT=FAIL DETAIL="KVM did not report its hypervisor mode"; dmesg | grep -i kvm | tail -n 5 | sed 's/^/  | /'; fi
}

t_bad_config() {
  bad_config_check /etc/qvm/bad.qvmconf '/etc/qvm/bad.qvmconf:4:18: vdev gic: bad value `4` for option `version`'
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
  kill_timeout 60 qvm @/etc/qvm/fdt-gen.qvmconf dryrun <&3 >/tmp/fdtgen.out 2>&1
  rc=$?
  if [ $rc -ne 0 ] || [ "$(head -c 4 /tmp/fdtgen.dtb 2>/dev/null | od -An -tx1 | tr -d ' ')" != d00dfeed ]; then
    RESULT=FAIL DETAIL="generating the tree to load: qvm $(rc_text $rc), blob $(ls -l /tmp/fdtgen.dtb 2>&1)"
    show /tmp/fdtgen.out; return
  fi
  if has_str /tmp/fdtgen.dtb qvm.test= || has_str /tmp/fdtgen.dtb linux,initrd-start; then
    RESULT=FAIL DETAIL="the generated tree already has bootargs or an initrd"; return
  fi
  kill_timeout 60 qvm @/etc/qvm/boot-fdt-load.qvmconf dryrun <&3 >/tmp/fdtload-dry.out 2>&1
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

t_boot_2cpu() { boot_reps boot-2cpu /etc/qvm/boot-2cpu.qvmconf 2; }

t_reboot() { reboot_check 120; }

# virtio-blk over virtio-mmio (FDT node virtio,mmio, SPI): the guest writes
# 16 MiB (qvm.blkmib=16) of random data with fsync, drops its caches and
# reads it back; the host file must hold the same md5. blk_check NAME CONF
blk_check() {
  rm -f /tmp/disk.img
  dd if=/dev/zero of=/tmp/disk.img bs=1M count=32 2>/dev/null
  guest "$1" "$2" 180 plain
  o=/tmp/$1.out
  sum=$(sed -n 's/^QVM-BLK-SYNCED \([0-9a-f]*\).*/\1/p' $o | head -n1)
  back=$(sed -n 's/^QVM-BLK-READBACK //p' $o | head -n1)
  host=$(head -c 16777216 /tmp/disk.img | md5sum); host=${host%% *}
  dev=$(sed -n 's/^QVM-BLK-DEV //p' $o | head -n1)
  # "QVM-IRQ N: COUNT GICv3 74 Level virtio0" (GIC-0 on the user-space
  # GICv2): the SPI, level, counted
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
t_virtio_blk() { blk_check vblk /etc/qvm/virtio-blk.qvmconf; }
# virtio-blk-ugic: the same on the user-space GICv2 (`vdev gic mode user`).
t_virtio_blk_ugic() { blk_check vblku /etc/qvm/virtio-blk-ugic.qvmconf; }

# virtio-net over virtio-mmio on a tap qvm creates (qvmtap0): net_check
# (host.sh); eth0 must be the virtio_mmio@1c130000 device's MAC.
t_virtio_net() { net_check vnet /etc/qvm/virtio-net.qvmconf 180 52:54:00:12:34:57 60; }

# mg/psci.s (table row psci) with SYSTEM_RESET (vCPU 1 spinning): the VM resets in place
# and the guest passes again; then a power cut (exit 3). Meanwhile a sampler
# counts qvm's in-kernel vGIC fds: never more than one (a reset in place
# closes the old VM's vGIC with it; a leaked one keeps the old VM alive).
t_mg_psci_reset() {
  rm -f /tmp/mgpscireset.vgic
  ( most=0 seen=0
    for _ in $(seq 20000); do
      p=$(pidof qvm) || { [ $seen = 1 ] && break; sleep 1; continue; }
      seen=1
      # shellcheck disable=SC2010  # ls -l shows the fd links' targets
      n=$(ls -l /proc/"$p"/fd 2>/dev/null | grep -c vgic)
      [ "$n" -gt "$most" ] && most=$n
    done
    echo "$most" >/tmp/mgpscireset.vgic ) &
  tm_sampler=$!
  guest mgpscireset /etc/qvm/mg-psci-reset.qvmconf 40 mgreset
  wait "$tm_sampler"
  tm_oks=$(grep -c '^MG-PSCI-OK' /tmp/mgpscireset.out)
  tm_vgic=$(cat /tmp/mgpscireset.vgic 2>/dev/null)
  if [ "${tm_vgic:-0}" -gt 1 ]; then
    RESULT=FAIL DETAIL="qvm held $tm_vgic vGIC fds at once across a reset in place (expected at most 1)"
  elif [ "$RC" = 3 ] && [ "$tm_oks" -ge 2 ] && ! grep -q MG-PSCI-FAIL /tmp/mgpscireset.out; then
    RESULT=PASS DETAIL=""; return
  else
    RESULT=FAIL DETAIL="qvm $(rc_text "$RC") after $tm_oks passing run(s), expected 2 runs (a reset in place) and exit 3"
  fi
  show /tmp/mgpscireset.out
}

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
stress_once() {
  guest stress /etc/qvm/stress-2cpu.qvmconf 300 plain
  tm_o=/tmp/stress.out
  if grep -q '^QVMPANIC' $tm_o; then RESULT=FAIL DETAIL="guest kernel panic: $(sed -n 's/^QVMPANIC //p' $tm_o | head -n1 | cut -c1-100)"
  elif grep -q QVM-STRESS-CRASH $tm_o; then RESULT=FAIL DETAIL="$(grep -c QVM-STRESS-CRASH $tm_o) crash(es): $(grep QVM-STRESS-CRASH $tm_o | head -n1)"
  elif [ "$RC" != 0 ] || ! grep -q QVM-STRESS-DONE $tm_o; then RESULT=FAIL DETAIL="qvm $(rc_text "$RC"), expected 0 and QVM-STRESS-DONE"
  else RESULT=PASS DETAIL=""; return; fi
  show $tm_o
}
t_stress_2cpu() { repeat_runs stress-2cpu "${stress_reps:-2}" stress_once; }

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

# gdb-kernel: host.sh's gdb_kernel_check (the session is
# test/lanes/lib/gdbcheck.c, cross-built): Debian's arm64 package has no
# System.map, so the addresses come from the kernel's kallsyms in a first
# boot (nokaslr). KVM at EL2 of the emulated host gives the debugger the
# CPU's breakpoint registers and traps brk #0, so no breakpoint is
# excused here: a miss fails.
t_gdb_kernel() {
  # the guest boots this host's own kernel build: its banner is ours
  QVM_GDB_BANNER=$(cat /proc/version); export QVM_GDB_BANNER
  gdb_kernel_check /guest/System.map /etc/qvm/ksyms.qvmconf /etc/qvm/gdb-kernel.qvmconf 300
}

# Debian's kernel on the user-space GICv2: 1 vCPU once, 2 vCPUs `reps` times.
t_boot_ugic_1cpu() {
  boot_check boot-ugic-1cpu /etc/qvm/boot-ugic-1cpu.qvmconf 1
  [ -n "$BOOT" ] && echo "QVMTIME boot-ugic-1cpu $BOOT"
}

t_boot_ugic_2cpu() { boot_reps boot-ugic-2cpu /etc/qvm/boot-ugic-2cpu.qvmconf 2; }

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
  kill_timeout 20 qvm @/etc/qvm/pmu-bad.qvmconf <&3 >/tmp/pmubad.out 2>&1; tm_rc=$?
  if [ $tm_rc -ne 65 ] || ! grep -qF '/etc/qvm/pmu-bad.qvmconf:5:9: `pmu`: bad on/off/auto value `sometimes`' /tmp/pmubad.out; then
    RESULT=FAIL DETAIL="set pmu sometimes: $(rc_text $tm_rc), expected 65 and the message at its token"; show /tmp/pmubad.out; return
  fi
  if dmesg | grep -q 'hw perfevents: enabled'; then tm_cap=1; else tm_cap=0; fi
  kill_timeout 30 qvm @"$tm_conf" set pmu auto dryrun <&3 >/tmp/$tm_name.dry 2>&1
  if grep -q 'PMUv3 (PPI 23)' /tmp/$tm_name.dry; then tm_auto=1; else tm_auto=0; fi
  echo "  | host PMU driver: $tm_cap; qvm's set pmu auto: $tm_auto"
  if [ $tm_cap != $tm_auto ]; then
    RESULT=FAIL DETAIL="set pmu auto ($tm_auto) disagrees with the host's PMU driver ($tm_cap)"
    show /tmp/$tm_name.dry; return
  fi
  if [ $tm_cap = 0 ]; then
    kill_timeout 30 qvm @"$tm_conf" <&3 >$tm_o 2>&1; tm_rc=$?
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

lane_run
