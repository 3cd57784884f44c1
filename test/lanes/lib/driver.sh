# shellcheck shell=bash
# The lanes' host-side driver (bash), sourced by test/lanes/<arch>/run.sh
# after it has described its architecture:
#   LANE_ARCH            x86_64 | aarch64 (RESULT lines say LANE_ARCH/<test>)
#   LANE_SCRIPT          the in-host startup script; its TESTS="..." line is
#                        the default plan
#   LANE_TESTS           (optional) the lane's default tests instead of
#                        LANE_SCRIPT's TESTS line (another lane on the
#                        same image: x86_64/pass-run.sh)
#   LANE_TIMEOUT         default of QVM_LANE_TIMEOUT (s)
#   LANE_CONSOLE         the emulated host's console device (console=...)
#   LANE_APPEND          extra host kernel arguments
#   LANE_QEMU            array: QEMU and its machine, CPU, memory, kernel and
#                        initrd options (the driver adds the console, the QMP
#                        socket, -append and -no-reboot)
#   LANE_STATE           array: monitor commands that describe a stalled
#                        host (info registers, info lapic, ...)
#   LANE_SYSRQ           array (optional): monitor `sendkey` key combinations
#                        sent to a stalled host after LANE_STATE (magic
#                        SysRq through the emulated keyboard); what the host
#                        kernel prints in the next seconds goes to the
#                        stall log: whether it still takes interrupts, and
#                        its blocked tasks, CPUs and timers
#   LANE_KICK            (optional) a monitor command that raises an
#                        interrupt in the emulated host from outside and
#                        does nothing else there (x86_64: a Shift key press
#                        on the emulated keyboard). Sent, with LANE_KICK_STATE
#                        recorded first, whenever the host has been silent
#                        for QVM_LANE_KICK s (stall/8): QEMU's TCG can lose
#                        the delivery of a pending local-APIC interrupt and
#                        the next interrupt from outside delivers it (see
#                        test/lanes/README.md, "Kicks")
#   LANE_KICK_STATE      array: monitor commands recorded before each kick
#   LANE_MEDIANS         QVMTIME labels whose median the summary prints
#   lane_build           function: builds the host image (output is logged)
#   QVM_LANE_BUILD_ONLY  1: only build the image (lane_build), then exit
#   LANE_NOLOCK          1: do not wait for /tmp/qvm-lane.lock (a lane
#                        without QEMU: lib/fake-lane.sh)
# and then calls lane_main. The driver boots the host under QEMU, turns its
# console reports (test/lanes/lib/host.sh) into the test runner's lines
#   RESULT PASS|FAIL|SKIP <arch>/<test> [detail]
#   TIME <arch>/<test> <ms> ms, QVMTIME/QVMBLK/QVMNET/QVMGDB/QVMSHM figure lines
# and a summary, and watches the host for stalls: no console output for
# QVM_LANE_STALL s while QEMU's CPU time stood still, or once the host's
# heartbeat has begun, no heartbeat for QVM_LANE_STALL s, or (in the host's
# boot) no output at all for QVM_LANE_SILENCE s. A stall is diagnosed from
# outside (QMP human-monitor commands, QEMU's /proc stat and wchan, the last
# console lines, in build/test-logs/<arch>-lane-stall-N.log), QEMU is
# killed, and the remaining tests run in a freshly booted host; the stalled
# test is rerun there once when the stall is proven (it happened in a test
# and none of the test's qvm runs had hit its kill timeout). At most
# QVM_LANE_BOOTS hosts per lane; QVM_LANE_TIMEOUT bounds the lane (time
# lost in stalled tests does not count). Before a silence becomes a stall
# the driver kicks the host (LANE_KICK) every QVM_LANE_KICK s and logs each
# kick, the state before it and whether the host spoke again, in
# build/test-logs/<arch>-lane-kicks.log. Exit status 0 when every planned
# test passed.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$top" || exit 1

lane_log() { echo "$LANE_ARCH lane: $*"; }

# Seconds since the epoch and QEMU's CPU time (utime + stime, clock ticks,
# from /proc/PID/stat) into $now / $cpu, without forking.
now_s() { now=$EPOCHSECONDS; }
qemu_cpu() {
  local st="" f
  read -r st 2>/dev/null <"/proc/$1/stat"
  read -r -a f <<<"${st##*) }"   # fields from 3 (state) on
  cpu=$(( ${f[11]:-0} + ${f[12]:-0} ))
}

# lane_state N TEST WHY: the stall report (monitor, /proc, console tail).
lane_state() {
  local out=$logdir/$LANE_ARCH-lane-stall-$1.log c t st f
  {
    echo "$LANE_ARCH lane: emulated host stalled in ${2:-its boot} (host boot $boots): $3"
    echo "QEMU pid $qpid, command: ${LANE_QEMU[*]}"
    echo "--- last console lines"
    printf '%s\n' "${tail_lines[@]}"
    [[ -n $partial ]] && echo "(unfinished line) $partial"
    echo "--- /proc/$qpid/stat"
    cat "/proc/$qpid/stat" 2>&1
    echo "--- /proc/$qpid/wchan: $(cat "/proc/$qpid/wchan" 2>&1)"
    echo "--- threads: tid comm state wchan utime stime"
    for t in /proc/"$qpid"/task/*; do
      read -r st 2>/dev/null <"$t/stat" || continue
      read -r -a f <<<"${st##*) }"
      echo "${t##*/} $(cat "$t/comm" 2>/dev/null) ${f[0]} $(cat "$t/wchan" 2>/dev/null) ${f[11]} ${f[12]}"
    done
    for c in "${LANE_STATE[@]}"; do
      echo "--- monitor: $c"
      timeout -k 5 20 python3 test/lanes/lib/qmp.py "$qmp" hmp "$c" 2>&1
    done
  } >"$out" 2>&1
  echo "$out"
}

# lane_sysrq: sends LANE_SYSRQ to the stalled host and copies what its
# console says in the following seconds (until 3 s of silence, at most 20 s).
lane_sysrq() {
  ((${#LANE_SYSRQ[@]})) || return 0
  local k part end quiet_end
  echo "--- magic SysRq: ${LANE_SYSRQ[*]}"
  for k in "${LANE_SYSRQ[@]}"; do
    timeout -k 5 20 python3 test/lanes/lib/qmp.py "$qmp" hmp "sendkey $k" 2>&1
  done
  echo "--- host console after SysRq"
  end=$((EPOCHSECONDS + 20)) quiet_end=$((EPOCHSECONDS + 3))
  while ((EPOCHSECONDS < end && EPOCHSECONDS < quiet_end)); do
    if IFS= read -r -t 1 -u "$cfd" part; then
      printf '%s\n' "${part%$'\r'}"; quiet_end=$((EPOCHSECONDS + 3))
    fi
  done
  echo "--- (end of console)"
}

# lane_kick SILENCE: records LANE_KICK_STATE in the kick log, then sends
# LANE_KICK (one QMP connection, bounded).
lane_kick() {
  kicks=$((kicks + 1))
  {
    echo "=== kick $kicks: host boot $boots, ${current:-no test}, no console output for $1 s (QEMU's CPU time +$(( (cpu - cpu_mark) * 1000 / clk )) ms in it)"
    timeout -k 5 20 python3 test/lanes/lib/qmp.py "$qmp" hmps "${LANE_KICK_STATE[@]}" "$LANE_KICK" 2>&1
    echo "--- sent: $LANE_KICK"
  } >>"$kicklog" 2>&1
  kicked_at=$EPOCHSECONDS
}

# Appends a RESULT line (and records it) for a host report.
report() {  # verdict test detail
  local note=""
  # A name reported again (a rerun test's own rows, such as the
  # micro-guests', or a test planned twice): shown, not counted twice.
  if [[ -n ${result[$2]:-} ]]; then
    lane_log "$2 reported again${rerun:+ in the rerun of $rerun} (counted once): $1${3:+ $3}"
    return
  fi
  [[ $2 == "$rerun" && -n $rerun_log ]] && note="rerun after emulated-host stall: $rerun_log"
  result[$2]=$1
  local d=$3
  [[ $1 == PASS ]] && d=""  # a pass is just that (the log has its details)
  [[ -n $note ]] && d="${d:+$d }($note)"
  echo "RESULT $1 $LANE_ARCH/$2${d:+ $d}"
}

# run_host TESTS: boots one emulated host that runs TESTS (space-separated)
# and reads its console until it ends, stalls or the lane's budget is
# spent. Sets outcome (done|died|stalled|budget), current (the test it was
# in, or ""), stall_why, proven (1: the CPU stood still or the heartbeat
# stopped, and no qvm timeout fired in the test), qemu_rc.
run_host() {
  local tests=$1 append fifo cfd line part rc silence cpu1 cpu_mark
  # loglevel=4: the host kernel's errors reach the log (hung tasks, RCU
  # stalls, soft lockups: what a stalled host says about itself)
  append="console=$LANE_CONSOLE quiet loglevel=4 panic=-1 qvmlane.reps=$reps qvmlane.tests=${tests// /,} qvmlane.heartbeat=$heartbeat"
  [[ -n $rerun ]] && append+=" qvmlane.rerun=$rerun"
  [[ -n ${QVM_LANE_VERBOSE:-} ]] && append+=" qvmlane.verbose=1"
  [[ -n ${LANE_APPEND:-} ]] && append+=" $LANE_APPEND"
  fifo=$tmp/console-$boots
  qmp=$tmp/qmp-$boots.sock
  mkfifo "$fifo"
  "${LANE_QEMU[@]}" -display none -monitor none -serial stdio -no-reboot \
    -qmp "unix:$qmp,server=on,wait=off" -append "$append" \
    </dev/null >"$fifo" 2>>"$qemuerr" &
  qpid=$!
  exec {cfd}<"$fifo"
  rm -f "$fifo"
  outcome="" current="" stall_why="" proven=0 qemu_rc="" partial="" timeout_fired=0 selftest_stop=0 heartbeats=0
  kicked_at=0 next_kick=0
  tail_lines=()
  now_s; qemu_cpu $qpid
  last_out=$now cpu_mark=$cpu test_start=$now
  while :; do
    IFS= read -r -t 1 -u "$cfd" part
    rc=$?
    now_s
    if ((rc == 0)); then
      line=$partial$part partial=""
      qemu_cpu $qpid; last_out=$now cpu_mark=$cpu
      kick_spoke
      handle "${line%$'\r'}"
    elif ((rc <= 128)); then  # end of file: QEMU closed the console
      [[ -n $partial$part ]] && handle "$partial$part"
      break
    elif [[ -n $part ]]; then
      partial+=$part
      qemu_cpu $qpid; last_out=$now cpu_mark=$cpu
      kick_spoke
    fi
    if ((selftest_stop == 1)); then  # the stall self-test: stop the CPUs
      selftest_stop=2
      timeout -k 5 20 python3 test/lanes/lib/qmp.py "$qmp" stop >>"$qemuerr" 2>&1 ||
        lane_log "QMP stop for the stall self-test failed (see $qemuerr)"
      # QEMU's CPU time counts from the stop (on a loaded machine the stop
      # can take seconds to arrive: CPU the host used before it is no part
      # of the stall)
      qemu_cpu $qpid; cpu_mark=$cpu
    fi
    if ((now >= deadline)); then outcome=budget; break; fi
    silence=$((now - last_out))
    # A silent host is kicked (an interrupt from outside) every kick_after
    # s before its silence can become a stall; only once its test loop has
    # begun (its heartbeat), not in its boot (a key press while the
    # keyboard controller is probed).
    if [[ -n ${LANE_KICK:-} ]] && ((heartbeats && silence >= kick_after && now >= next_kick)) &&
       ((stall - silence >= 2)); then
      qemu_cpu $qpid
      lane_kick "$silence"
      next_kick=$((EPOCHSECONDS + kick_after))
    fi
    if ((silence >= stall)); then
      qemu_cpu $qpid; cpu1=$cpu
      # negligible: under 2% of one CPU over the silent window
      if (( (cpu1 - cpu_mark) * 100 < silence * clk * 2 )); then
        outcome=stalled proven=$((timeout_fired == 0))
        stall_why="no console output for $silence s and QEMU's CPU time +$(( (cpu1 - cpu_mark) * 1000 / clk )) ms in it"
        break
      fi
      # Once the test loop runs, the host prints a heartbeat every
      # stall/8 s whatever the test does (qvm's output goes to files, not
      # the console): a whole stall window without it is a host that no
      # longer runs its user space, however much CPU QEMU still burns
      # (seen in CI: +11.8 s of CPU in 480 s, no heartbeat). A qvm that
      # hangs cannot silence it; its kill timeout ends the test instead.
      if ((heartbeats)); then
        outcome=stalled proven=$((timeout_fired == 0))
        stall_why="no heartbeat for $silence s (QEMU's CPU time +$(( (cpu1 - cpu_mark) * 1000 / clk )) ms in it: the host's user space stopped)"
        break
      fi
      if ((silence >= silent)); then
        outcome=stalled proven=0
        stall_why="no console output for $silence s (QEMU's CPU time +$(( (cpu1 - cpu_mark) * 1000 / clk )) ms in it: a host busy but silent)"
        break
      fi
    fi
  done
  if [[ -z $outcome ]]; then
    wait "$qpid"; qemu_rc=$?
    if ((done_seen)); then outcome="done"; else outcome=died; fi
  else
    if [[ $outcome == stalled ]]; then
      stalls=$((stalls + 1))
      stall_log=$(lane_state "$stalls" "$current" "$stall_why")
      lane_sysrq >>"$stall_log" 2>&1
    fi
    kill -TERM "$qpid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$qpid" 2>/dev/null
    wait "$qpid" 2>/dev/null; qemu_rc=killed
  fi
  exec {cfd}<&-
  rm -f "$qmp"
}

# kick_spoke: the host printed something; after a kick, log how soon.
kick_spoke() {
  ((kicked_at)) || return 0
  echo "--- the host spoke again $((now - kicked_at)) s after kick $kicks" >>"$kicklog"
  ((now - kicked_at <= 5)) && kick_revived=$((kick_revived + 1))
  kicked_at=0 next_kick=0
}

# handle LINE: one console line of the host.
# A protocol line with another one glued to its end (a loaded aarch64 lane
# once gave "QVMTEST PASS mg-uart-nofifoQVMTIME test-mg-uart-nofifo 1000":
# a line end lost between two console lines): handled as the two lines.
proto_re='^(QVM[A-Z]+ .*[^ ])(QVM(TEST|TIME|LANE|RUN|REPS) .*)$'
handle() {
  if [[ $1 =~ $proto_re ]]; then
    local first=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
    lane_log "two console lines glued together; taken apart: '$first' and '$rest'"
    handle "$first"
    handle "$rest"
    return
  fi
  local line=$1 r name detail label ms
  # heartbeats are not logged; from the first one on, silence is a stall
  [[ $line == "QVMLANE ALIVE" ]] && { heartbeats=1; return; }
  printf '%s\n' "$line" >>"$log"
  tail_lines+=("$line")
  ((${#tail_lines[@]} > 30)) && tail_lines=("${tail_lines[@]:1}")
  case $line in
    "QVMLANE PLAN "*) ((boots == 1)) && [[ -z $only ]] && plan=${line#QVMLANE PLAN } ;;
    "QVMLANE host "*|"QVMLANE idle "*) echo "$line" ;;
    "QVMLANE DONE") done_seen=1 ;;
    "QVMLANE SELFTEST-STOP "*)
      # only for the lane's own self-tests, and only when planned
      [[ " $plan " == *" ${line#QVMLANE SELFTEST-STOP } "* && $current == selftest-* ]] && selftest_stop=1 ;;
    "QVMTEST START "*)
      current=${line#QVMTEST START } timeout_fired=0 test_start=$EPOCHSECONDS started=1
      lane_log "$current ..." ;;
    "QVMRUN "*) [[ ${line##* } == 137 ]] && timeout_fired=1 ;;
    "QVMTEST PASS "* | "QVMTEST FAIL "* | "QVMTEST SKIP "*)
      read -r _ r name detail <<<"$line"
      report "$r" "$name" "$detail"
      [[ $name == "$current" ]] && current="" ;;
    "QVMTIME test-"*) read -r _ label ms <<<"$line"; echo "TIME $LANE_ARCH/${label#test-} $ms ms" ;;
    "QVMTIME "*)
      echo "$line"
      read -r _ label ms <<<"$line"
      [[ " ${LANE_MEDIANS:-} " == *" $label "* ]] && figures[$label]+=" $ms" ;;
    "QVMBLK "* | "QVMNET "* | "QVMPASS "* | "QVMGDB "* | "QVMSHM "*) echo "$line" ;;  # blk-perf / net-perf / passthrough / gdb-kernel / shm-linux figures
    "QVMREPS "*) read -r _ label n m <<<"$line"; lane_log "$label passed $n of $m runs" ;;
    "  | "* | "  : "* | "  ! "*) echo "$line" ;;  # output of a failed (or, verbose, every) run
  esac
}

lane_main() {
  logdir=build/test-logs
  # QVM_LANE_BUILD_ONLY=1: build the lane's image and stop (no lock: no
  # QEMU runs). `make test` builds the aarch64 lane's image this way while
  # the x86_64 lane runs; the lane itself then finds it built.
  if [[ -n ${QVM_LANE_BUILD_ONLY:-} ]]; then
    mkdir -p "$logdir"
    lane_build >"$logdir/$LANE_ARCH-lane-prebuild.log" 2>&1
    exit
  fi
  # One emulated-host lane at a time on this machine (two share 2 cores
  # badly and the logs): wait for any other lane run to finish. (Not for
  # a lane without QEMU: LANE_NOLOCK=1.)
  exec 9>"${TMPDIR:-/tmp}/qvm-lane.lock"
  if [[ -z ${LANE_NOLOCK:-} ]] && ! flock -n 9; then
    lane_log "waiting for another lane run to finish"
    flock 9
  fi
  mkdir -p "$logdir"
  log=$logdir/$LANE_ARCH-lane.log
  buildlog=$logdir/$LANE_ARCH-lane-build.log
  qemuerr=$logdir/$LANE_ARCH-lane-qemu.stderr
  rm -f "$logdir/$LANE_ARCH"-lane-stall-*.log "$logdir/$LANE_ARCH-lane-kicks.log"
  kicklog=$logdir/$LANE_ARCH-lane-kicks.log kicks=0 kick_revived=0
  lane_timeout=${QVM_LANE_TIMEOUT:-$LANE_TIMEOUT}
  stall=${QVM_LANE_STALL:-120}
  silent=${QVM_LANE_SILENCE:-$((stall * 4))}
  max_boots=${QVM_LANE_BOOTS:-3}
  # the host's heartbeat every stall/24 s (5 s); a host silent for
  # QVM_LANE_KICK s (stall/8: 15 s, three heartbeats) is kicked
  heartbeat=$((stall / 24)); ((heartbeat < 1)) && heartbeat=1
  kick_after=${QVM_LANE_KICK:-$((stall / 8))}; ((kick_after < 2)) && kick_after=2
  reps=${QVM_LANE_REPS:-5}
  only=${QVM_LANE_TESTS:-}
  clk=$(getconf CLK_TCK)
  # the lane script's default list, or the run script's own (LANE_TESTS: a
  # second lane on the same image, such as x86_64/pass-run.sh)
  plan=${LANE_TESTS:-$(sed -n 's/^TESTS="\(.*\)"$/\1/p' "$LANE_SCRIPT")}
  [[ -n $only ]] && plan=$only
  t_begin=$(date +%s%N)
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/qvm-lane.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  declare -gA result=() figures=()

  lane_log "building the lane image"
  if ! lane_build >"$buildlog" 2>&1; then
    tail -n 20 "$buildlog" | sed 's/^/  | /'
    for t in $plan; do echo "RESULT FAIL $LANE_ARCH/$t lane image build failed (see $buildlog)"; done
    exit 1
  fi
  t_built=$(date +%s%N)
  lane_log "image built in $(( (t_built - t_begin) / 1000000 )) ms; booting the emulated host (timeout ${lane_timeout} s, stall ${stall} s)"

  : >"$log"
  : >"$qemuerr"
  deadline=$((EPOCHSECONDS + lane_timeout))
  boots=0 stalls=0 reruns=0 rerun="" rerun_log="" rerun_names="" host_failures=0
  local todo=$plan t why where left
  while :; do
    boots=$((boots + 1)) done_seen=0 started=0
    ((boots > 1)) && echo "=== fresh emulated host $boots: $todo${rerun:+ (rerun: $rerun)}" >>"$log"
    run_host "$todo"
    # What is left: the planned tests without a result, in plan order.
    left=""
    for t in $plan; do [[ -n ${result[$t]:-} ]] || left+=" $t"; done
    left=${left# }
    [[ -z $left || $outcome == "done" ]] && break
    # A host that died before its first test never ran qvm (a kernel that
    # panicked in its boot, say): boot a fresh one for the same tests
    # (counted in the summary, the console in the log).
    if [[ $outcome == died ]] && ((!started)) && ((boots < max_boots)); then
      host_failures=$((host_failures + 1))
      lane_log "emulated host $boots died before its first test (qemu exit ${qemu_rc:-?}; see $log); booting a fresh host"
      continue
    fi
    if [[ $outcome == stalled ]]; then
      where=${current:-no test (the host boot, or between tests)}
      lane_log "emulated host stalled in $where: $stall_why; state in $stall_log"
      local next="" seen=0
      if [[ -n $current ]]; then
        # the stalled test: rerun once when the stall is proven, else failed
        if ((proven)) && [[ $current != "$rerun" ]] && ((boots < max_boots)); then
          next=$current
        else
          why="emulated host stalled ($stall_why; state: $stall_log)"
          ((proven)) || why+="; not rerun: not proven a host stall (a qvm run of the test hit its kill timeout, or the host was silent but busy before its heartbeat began)"
          [[ $current == "$rerun" ]] && why+="; not rerun again"
          ((proven && boots >= max_boots)) && [[ $current != "$rerun" ]] && why+="; not rerun: no fresh host left (QVM_LANE_BOOTS=$max_boots)"
          report FAIL "$current" "$why"
        fi
        # time spent in the stalled test does not count against the budget
        deadline=$((deadline + EPOCHSECONDS - test_start))
      fi
      # the tests after the stalled one (those without a result)
      for t in $left; do
        [[ $t == "$current" ]] && { seen=1; continue; }
        [[ -n $current ]] && ((!seen)) && continue
        next+=" $t"
      done
      next=${next# }
      if [[ -n $next ]] && ((boots < max_boots)); then
        if [[ -n $current && ${next%% *} == "$current" ]]; then
          rerun=$current rerun_log=$stall_log reruns=$((reruns + 1)) rerun_names+=" $current"
        else
          rerun="" rerun_log=""
        fi
        lane_log "booting a fresh emulated host for: $next"
        todo=$next
        continue
      fi
      [[ -n $next ]] && why="emulated host stalled in $where; no fresh host left (QVM_LANE_BOOTS=$max_boots)"
      break
    fi
    break
  done

  # Tests no host reported.
  case $outcome in
    budget) why="lane timed out after ${lane_timeout} s" ;;
    died) why="emulated host stopped early (qemu exit ${qemu_rc:-?}; see $log)" ;;
    stalled) ;;
    *) why="not reported by the lane" ;;
  esac
  where=${current:-before the first test}
  for t in $plan; do
    [[ -n ${result[$t]:-} ]] && continue
    if [[ $t == "$current" && $outcome != stalled ]]; then echo "RESULT FAIL $LANE_ARCH/$t hung or died here ($why)"
    elif [[ $outcome == stalled ]]; then echo "RESULT FAIL $LANE_ARCH/$t not reached ($why)"
    else echo "RESULT FAIL $LANE_ARCH/$t not reached ($why in $where)"; fi
    result[$t]=FAIL
  done

  t_end=$(date +%s%N)
  lane_log "wall time $(( (t_end - t_begin) / 1000000 )) ms (boot and tests $(( (t_end - t_built) / 1000000 )) ms); log $log"
  lane_log "$boots host boot(s), $stalls emulated-host stall(s), $host_failures host(s) died before their first test, $reruns rerun(s)${rerun_names:+ (${rerun_names# })}"
  [[ -n ${LANE_KICK:-} ]] &&
    lane_log "$kicks kick(s) of a host silent for ${kick_after} s, $kick_revived followed by console output within 5 s$( ((kicks)) && echo " (log: $kicklog)")"
  local label sorted
  for label in ${LANE_MEDIANS:-}; do
    [[ -n ${figures[$label]:-} ]] || continue
    sorted=($(printf '%s\n' ${figures[$label]} | sort -n))
    lane_log "$label qvm start -> QVM-GUEST-INIT: median ${sorted[$(( ${#sorted[@]} / 2 ))]} ms of ${#sorted[@]} (${sorted[*]})"
  done
  for t in $plan; do [[ ${result[$t]} == PASS ]] || exit 1; done
  exit 0
}
