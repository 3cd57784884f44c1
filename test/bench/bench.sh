#!/usr/bin/env bash
# make bench: qvm against its peers, in one invocation, peers alternating run
# by run. Prints a table (report.py) and writes build/bench/results.json.
# Figures only: this never fails on a number (exit status 0 unless the bench
# itself could not run at all). See test/bench/README.md.
# Environment: BUILD (build), QUICK=1 (fewer runs), MAKE, QVM_BENCH_LANE=0
# (skip the x86_64 lane), QVM_BENCH_NATIVE=0 (skip the native lane).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
out=$BUILD/bench
g=$out/guests
bin=$BUILD/bin
mkdir -p "$out"
samples=$out/samples.tsv
notes=$out/notes.tsv
: >"$samples"
: >"$notes"
t_begin=$(date +%s)

if [[ -n ${QUICK:-} && ${QUICK} != 0 ]]; then
  quick=1 R_LAUNCH=5 R_MEM=3 R_EXIT=3 R_BOOT=3 R_DENS=2 R_DENS_S=3
else
  quick=0 R_LAUNCH=15 R_MEM=5 R_EXIT=7 R_BOOT=5 R_DENS=3 R_DENS_S=5
fi
DENS_VMS=8
N=100000 NBASE=10
NATIVE="native kvm_pvm"
[[ -d /sys/module/kvm_pvm ]] || NATIVE="native $(for k in kvm_intel kvm_amd; do [[ -d /sys/module/$k ]] && echo $k; done | head -n1)"
[[ $NATIVE == "native " ]] && NATIVE="native kvm"
LANE="x86_64 TCG+SVM"

# sample ITEM PEER LANE RUN KEY=VALUE...
sample() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$samples"; }
# note ITEM PEER LANE TEXT  (a cell that has no number, and why)
note() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$notes"; }
progress() { echo "bench: $*" >&2; }
# rotate N WORD...: the words rotated left by N (peers alternate run by run)
rotate() { local n=$1; shift; local a=("$@") k=${#a[@]} i; for ((i = 0; i < k; i++)); do printf '%s ' "${a[$(( (i + n) % k ))]}"; done; }

QEMU=$(command -v qemu-system-x86_64 || true)
qemu_cmd() {  # MACHINE RAM KERNEL
  echo "$QEMU -accel kvm -M $1 -nodefaults -no-user-config -display none -m $2" \
       "-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=1 -kernel $3"
}

# ---- native lane ---------------------------------------------------------
native() {
  local peers=(qvm) p why err=$out/native.stderr
  if ! "$bin/qvm-kvm-probe" 2>"$err"; then
    why="no usable /dev/kvm: $(tail -n1 "$err")"
    for p in qvm qemu-microvm qemu-pc raw-kvm; do
      for i in launch-first launch-exit memory exit-pio exit-mmio density-rate density-idle; do note "$i" "$p" "$NATIVE" "n/a ($why)"; done
    done
    return
  fi
  # QEMU machines: keep the ones whose -accel kvm runs the launch guest.
  for m in microvm pc; do
    if [[ -z $QEMU ]]; then
      why="qemu-system-x86_64 not installed (make deps)"
    else
      line=$("$bin/qvm-bench-run" -t 30000 -e "$err" -- $(qemu_cmd $m 16M "$g/launch.elf"))
      if [[ $line == *"rc=1" && $line != *"first_ns=-1"* ]]; then peers+=(qemu-$m); continue; fi
      why="-accel kvm -M $m failed here: ${line##* }; $(grep -v warning "$err" | tail -n1)"
    fi
    progress "qemu -M $m: $why"
    for i in launch-first launch-exit memory exit-pio exit-mmio density-rate density-idle; do note "$i" "qemu-$m" "$NATIVE" "n/a ($why)"; done
  done

  # 1. Launch latency.
  progress "launch latency: ${peers[*]}, $R_LAUNCH runs each"
  for ((r = 1; r <= R_LAUNCH; r++)); do
    for p in $(rotate $r "${peers[@]}"); do
      case $p in
        qvm) cmd="$bin/qvm @$g/launch.qvmconf" ;;
        qemu-*) cmd=$(qemu_cmd ${p#qemu-} 16M "$g/launch.elf") ;;
      esac
      sample launch "$p" "$NATIVE" "$r" "$("$bin/qvm-bench-run" -t 30000 -e "$err" -- $cmd)"
    done
  done

  # 2. VMM-own memory, 256 MiB guest idling in HLT.
  progress "memory: ${peers[*]}, $R_MEM runs each"
  for ((r = 1; r <= R_MEM; r++)); do
    for p in $(rotate $r "${peers[@]}"); do
      case $p in
        qvm) cmd="$bin/qvm @$g/idle.qvmconf" ;;
        qemu-*) cmd=$(qemu_cmd ${p#qemu-} 256M "$g/idle.elf") ;;
      esac
      sample memory "$p" "$NATIVE" "$r" "$("$bin/qvm-bench-run" -t 30000 -r 256 -w 300 -e "$err" -- $cmd)"
    done
  done

  # 3. Exit cost: N and NBASE writes, same process each; raw KVM loop = floor.
  local epeers=(qvm raw-kvm "${peers[@]:1}")
  progress "exit cost: ${epeers[*]}, $R_EXIT runs each of $N and $NBASE port and MMIO writes"
  for ((r = 1; r <= R_EXIT; r++)); do
    for kind in pio mmio; do
      for p in $(rotate $r "${epeers[@]}"); do
        for n in $N $NBASE; do
          case $p in
            qvm) cmd="$bin/qvm @$g/$kind-$n.qvmconf" ;;
            raw-kvm) cmd="$bin/qvm-bench-kvmloop $g/$kind-$n.bin" ;;
            qemu-*) cmd=$(qemu_cmd ${p#qemu-} 16M "$g/$kind-$n.elf") ;;
          esac
          sample "exit-$kind-$n" "$p" "$NATIVE" "$r" "$("$bin/qvm-bench-run" -t 60000 -e "$err" -- $cmd)"
        done
      done
    done
  done

  # 4. Density, beside QEMU microvm (when it runs here).
  local dpeers=(qvm)
  [[ " ${peers[*]} " == *" qemu-microvm "* ]] && dpeers+=(qemu-microvm)
  density "${dpeers[@]}"
}

# ---- density: VMs started and stopped per second, idle VMs per GiB --------
# start_idle PEER I: starts idle VM number I in the background (its console
# into $out/density/PEER-I.out), its pid in $dpid.
start_idle() {
  local cmd
  case $1 in
    qvm)
      # each qvm its own `system` name (its /dev/qvm path)
      sed "s/^system bench-idle\$/system bench-idle-$2/" "$g/idle.qvmconf" >"$g/idle-$2.qvmconf"
      cmd="$bin/qvm @$g/idle-$2.qvmconf" ;;
    qemu-*) cmd=$(qemu_cmd ${1#qemu-} 256M "$g/idle.elf") ;;
  esac
  # shellcheck disable=SC2086  # a command line
  $cmd </dev/null >"$out/density/$1-$2.out" 2>>"$out/density/stderr" &
  dpid=$!
}

density() {
  local peers=("$@") p r i n t0 t1 pids dpid line
  mkdir -p "$out/density"
  : >"$out/density/stderr"
  # 4a. Start and stop: the launch guest (prints a byte, powers off) run back
  # to back for R_DENS_S seconds per peer and round; VMs per second.
  progress "density: start+stop rate of ${peers[*]}, $R_DENS rounds of ${R_DENS_S} s"
  for ((r = 1; r <= R_DENS; r++)); do
    for p in $(rotate $r "${peers[@]}"); do
      n=0 t0=$(date +%s%N)
      while (( $(date +%s%N) - t0 < R_DENS_S * 1000000000 )); do
        case $p in
          qvm) $bin/qvm @$g/launch.qvmconf </dev/null >/dev/null 2>&1 ;;
          qemu-*) $(qemu_cmd ${p#qemu-} 16M "$g/launch.elf") </dev/null >/dev/null 2>&1 ;;
        esac
        n=$((n + 1))
      done
      t1=$(date +%s%N)
      sample density-rate "$p" "$NATIVE" "$r" "vms=$n ns=$((t1 - t0))"
    done
  done
  # 4b. Idle VMs per GiB: DENS_VMS idle 256 MiB guests at once per peer;
  # the sum of their Pss beyond their guest-RAM mappings (density.py).
  progress "density: $DENS_VMS idle 256 MiB VMs at once of ${peers[*]}, $R_DENS rounds"
  for ((r = 1; r <= R_DENS; r++)); do
    for p in $(rotate $r "${peers[@]}"); do
      pids=()
      for ((i = 1; i <= DENS_VMS; i++)); do start_idle "$p" "$i"; pids+=("$dpid"); done
      # every one has printed its byte (bounded: 30 s), then 300 ms idle
      for ((t = 0; t < 300; t++)); do
        n=0
        for ((i = 1; i <= DENS_VMS; i++)); do [[ -s $out/density/$p-$i.out ]] && n=$((n + 1)); done
        ((n == DENS_VMS)) && break
        sleep 0.1
      done
      sleep 0.3
      line=$(python3 test/bench/density.py 256 "${pids[@]}")
      ((n == DENS_VMS)) || line+=" started=$n"
      kill -KILL "${pids[@]}" 2>/dev/null
      wait "${pids[@]}" 2>/dev/null
      sample density-idle "$p" "$NATIVE" "$r" "$line"
    done
  done
  rm -f "$g"/idle-[0-9]*.qvmconf
}

# ---- x86_64 lane: full boot inside the emulated host ---------------------
lane() {
  local img=$BUILD/image/bench-x86_64 log=$out/x86_64-lane.log blog=$out/x86_64-image.log
  local p why
  if ! command -v qemu-system-x86_64 >/dev/null; then
    why="qemu-system-x86_64 not installed (make deps)"
  elif ! ${MAKE:-make} --no-print-directory bench-image >"$blog" 2>&1; then
    tail -n 5 "$blog" | sed 's/^/  | /' >&2
    why="bench image build failed (see $blog)"
  else
    why=""
  fi
  if [[ -n $why ]]; then
    for p in qvm qemu-pc qemu-microvm; do note boot "$p" "$LANE" "n/a ($why)"; done
    return
  fi
  progress "full boot in the x86_64 lane: qvm, qemu-pc, qemu-microvm, $R_BOOT runs each (emulated host boot excluded)"
  local limit=$((90 + R_BOOT * 90 + R_BOOT * 3 * 200)) rc="" done=0
  : >"$log"
  : >"$out/x86_64-qvm-exit-stats.txt"
  while IFS= read -r line; do
    line=${line%$'\r'}
    printf '%s\n' "$line" >>"$log"
    case $line in
      "QVMBENCH boot "*) read -r _ _ p r rest <<<"$line"; sample boot "$p" "$LANE" "$r" "$rest" ;;
      "QVMBENCH block "*) read -r _ _ p r rest <<<"$line"; sample block "$p" "$LANE" "$r" "$rest" ;;
      "QVMBENCH host "* | "QVMBENCH note "* | "QVMBENCH err "*) progress "lane: ${line#QVMBENCH }" ;;
      "QVMBENCH stats "*) printf '%s\n' "${line#QVMBENCH stats }" >>"$out/x86_64-qvm-exit-stats.txt" ;;
      "QVMBENCH done") done=1 ;;
      "QVMQEMU EXIT "*) rc=${line#QVMQEMU EXIT } ;;
    esac
  done < <(timeout -k 10 "$limit" qemu-system-x86_64 -accel tcg -M pc -cpu EPYC,+svm,+npt -smp 1 \
             -m 2048 -nodefaults -display none -monitor none -serial stdio -no-reboot \
             -kernel "$img/bzImage" -initrd "$img/initramfs.cpio.gz" \
             -append "console=ttyS0 quiet loglevel=3 panic=-1 idle=poll qvmbench.reps=$R_BOOT" \
             </dev/null 2>"$out/x86_64-lane-qemu.stderr"
           echo "QVMQEMU EXIT $?")
  if [[ $done != 1 ]]; then
    why="lane did not finish (qemu exit ${rc:-?}, limit ${limit} s; see $log)"
    progress "$why"
    for p in qvm qemu-pc qemu-microvm; do note boot-incomplete "$p" "$LANE" "$why"; done
  fi
}

# QVM_BENCH_TIMELINE=1: the guest's own boot timeline under qvm and under
# QEMU -M pc, with its default CPU model and with -cpu host, in the x86_64
# lane (one boot each, initcall_debug), compared by test/bench/timeline.py;
# nothing else runs.
timeline() {
  local img=$BUILD/image/bench-x86_64 log=$out/timeline-lane.log p
  ${MAKE:-make} --no-print-directory bench-image >"$out/x86_64-image.log" 2>&1 ||
    { progress "bench image build failed (see $out/x86_64-image.log)"; exit 1; }
  progress "guest timeline in the x86_64 lane: one boot each under qvm, qemu-pc, qemu-pc -cpu host"
  timeout -k 10 1800 qemu-system-x86_64 -accel tcg -M pc -cpu EPYC,+svm,+npt -smp 1 \
    -m 2048 -nodefaults -display none -monitor none -serial stdio -no-reboot \
    -kernel "$img/bzImage" -initrd "$img/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 idle=poll qvmbench.timeline=1" \
    </dev/null 2>"$out/x86_64-lane-qemu.stderr" | tr -d '\r' >"$log"
  for p in qvm qemu-pc qemu-pc-host; do
    sed -n "s/^QVMBENCH tl $p //p" "$log" >"$out/timeline-$p.log"
  done
  echo "== qvm vs QEMU -M pc (its default CPU model)"
  python3 test/bench/timeline.py "$out/timeline-qvm.log" "$out/timeline-qemu-pc.log"
  echo "== qvm vs QEMU -M pc -cpu host (the CPUID qvm passes on)"
  python3 test/bench/timeline.py "$out/timeline-qvm.log" "$out/timeline-qemu-pc-host.log"
  exit 0
}
[[ ${QVM_BENCH_TIMELINE:-0} != 0 ]] && timeline

[[ ${QVM_BENCH_NATIVE:-1} != 0 ]] && native
[[ ${QVM_BENCH_LANE:-1} != 0 ]] && lane

python3 test/bench/report.py --samples "$samples" --notes "$notes" \
  --json "$out/results.json" --quick "$quick" --n "$N" --nbase "$NBASE" \
  --native "$NATIVE" --lane "$LANE" --seconds $(( $(date +%s) - t_begin )) \
  --qemu-version "$( [[ -n $QEMU ]] && $QEMU --version | head -n1)"
# The chart (results.json; the boot timelines when QVM_BENCH_TIMELINE=1
# wrote them in this run or an earlier one).
tl=()
[[ -s $out/timeline-qvm.log && -s $out/timeline-qemu-pc.log ]] && tl=("$out/timeline-qvm.log" "$out/timeline-qemu-pc.log")
python3 test/bench/chart.py "$out/results.json" "$out/chart.svg" "${tl[@]}" || echo "bench: no chart" >&2
if [[ -s $out/x86_64-qvm-exit-stats.txt ]]; then
  echo "qvm exit statistics, x86_64 lane, one boot, SIGUSR1 at QVM-GUEST-INIT:"
  sed 's/^/  /' "$out/x86_64-qvm-exit-stats.txt"
fi
exit 0
