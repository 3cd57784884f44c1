#!/bin/sh
# The micro-guest table runner: runs the rows of a tests.tsv against qvm and
# prints one line per row. POSIX sh, busybox-compatible: the same script runs
# natively (test/microguests/run.sh) and inside the emulated-host lanes
# (test/lanes/lib/host.sh installs it as /mg/table.sh with the images).
#
# Usage: table.sh [-l] TABLE DIR [NAME ...]
#   TABLE  tests.tsv (columns below), DIR the folder holding the configs
#   NAME   run only these rows (default: every row)
#   -l     list the selected row names, run nothing
# Output, one line per row:
#   MGTEST PASS <name>
#   MGTEST FAIL <name> <why> (log: <the guest's verdict or qvm's last line>) [<ms> ms, <log>]
# and, with MG_SHOW=1, the failed run's last 15 output lines as "  | ...".
# Environment: QVM (default qvm), MG_TIMEOUT (s, default 30: a row's own
# secs column wins), MG_SLACK (kill timeouts are MG_SLACK times the row's
# or MG_TIMEOUT's seconds, default 1: the lanes set it), MG_LOGDIR (default /tmp; logs are <name>.log there:
# qvm's stdout, then its stderr), MG_FLOOD (N: rows whose config mentions
# mg.flood run with `cmdline mg.flood=N`: their register floods are N
# times shorter; the lanes set it). Exit status 0 when every row passed.
#
# Table: TAB-separated, '#' comments, columns
#   name config exit contains absent maxlog [secs]
# exit: qvm's expected exit code; contains: strings the log must hold,
# separated by |; absent: strings it must not hold, | separated, or -;
# maxlog: the largest acceptable log in bytes, or -; secs (optional): the
# kill timeout of this row.
list=""
if [ "${1:-}" = -l ]; then list=1; shift; fi
if [ $# -lt 2 ]; then echo "usage: table.sh [-l] TABLE DIR [NAME ...]" >&2; exit 2; fi
table=$1 dir=$2
shift 2
qvm=${QVM:-qvm}
logdir=${MG_LOGDIR:-/tmp}
tab=$(printf '\t')
cr=$(printf '\r')
# GNU grep needs -a to treat a log with binary bytes as text; busybox has
# no -a and never needs it.
ga=""
echo x | grep -a -q x 2>/dev/null && ga=-a

# Milliseconds of uptime (10 ms resolution).
now_ms() { read -r up _ </proc/uptime; ms=$(( ${up%.*} * 1000 + 1${up#*.} * 10 - 1000 )); }

selected() {
  [ $# -eq 1 ] && return 0
  n=$1; shift
  for w in "$@"; do [ "$w" = "$n" ] && return 0; done
  return 1
}

# has LOG STRINGS: 0 when the log holds every |-separated string, else
# 1 with the first missing one in $miss. hasnt: the reverse.
has() {
  oldifs=$IFS; IFS='|'; set -f
  for s in $2; do
    if ! grep $ga -q -F -- "$s" "$1"; then miss=$s; IFS=$oldifs; set +f; return 1; fi
  done
  IFS=$oldifs; set +f; return 0
}
hasnt() {
  oldifs=$IFS; IFS='|'; set -f
  for s in $2; do
    if grep $ga -q -F -- "$s" "$1"; then miss=$s; IFS=$oldifs; set +f; return 1; fi
  done
  IFS=$oldifs; set +f; return 0
}

# The guest's own verdict line, or qvm's last line, to explain a failure.
explain() {
  l=$(grep $ga -o -m1 -E 'FAIL [^ ]+ check [0-9]+:.*' "$1" 2>/dev/null | tr -d "$cr" | cut -c1-200)
  [ -z "$l" ] && l=$(grep $ga -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | tr -d "$cr" | cut -c1-200)
  [ -n "$l" ] && printf ' (log: %s)' "$l"
}

failed=0
while IFS="$tab" read -r name config want contains absent maxlog secs; do
  case "$name" in ''|'#'*) continue ;; esac
  selected "$name" "$@" || continue
  if [ -n "$list" ]; then echo "$name"; continue; fi
  log=$logdir/$name.log
  case "$secs" in ''|*[!0-9]*) secs=${MG_TIMEOUT:-30} ;; esac
  case "${MG_SLACK:-1}" in ''|*[!0-9]*|0) ;; *) secs=$((secs * MG_SLACK)) ;; esac
  why="" ran=""
  if [ ! -f "$dir/$config" ]; then
    why="$dir/$config missing"
  else
    ran=1
    now_ms; t0=$ms
    # Guest output (stdout) and qvm's log (stderr) come from different
    # threads: kept apart so a log line never splits a guest line.
    # MG_FLOOD=N: a guest whose config names mg.flood gets "mg.flood=N"
    # on its command line (it divides its flood counts by N)
    flood=""
    case "${MG_FLOOD:-}" in ''|*[!0-9]*) ;; *) grep -q 'mg\.flood' "$dir/$config" && flood="cmdline mg.flood=$MG_FLOOD" ;; esac
    # shellcheck disable=SC2086  # $flood: two tokens or none
    timeout -s KILL "$secs" "$qvm" "@$dir/$config" $flood </dev/null >"$log" 2>"$log.err"
    rc=$?
    cat "$log.err" >>"$log"; rm -f "$log.err"
    now_ms; took=$((ms - t0))
    if [ "$rc" = 137 ] || [ "$rc" = 124 ]; then why="killed after ${secs} s (hang)"
    elif [ "$rc" != "$want" ]; then
      why="exit $rc, expected $want"
      [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ] && why="$why (killed by signal $((rc - 128)))"
    fi
    if [ -z "$why" ] && [ -n "$contains" ] && [ "$contains" != - ] && ! has "$log" "$contains"; then
      why="output lacks \"$miss\""
    fi
    if [ -z "$why" ] && [ -n "$absent" ] && [ "$absent" != - ] && ! hasnt "$log" "$absent"; then
      why="output contains \"$miss\""
    fi
    if [ -z "$why" ] && [ -n "$maxlog" ] && [ "$maxlog" != - ]; then
      size=$(wc -c <"$log")
      [ "$size" -gt "$maxlog" ] && why="log is $size bytes, limit $maxlog (rate limiting?)"
    fi
  fi
  if [ -z "$why" ]; then
    echo "MGTEST PASS $name"
  else
    failed=1
    if [ -n "$ran" ]; then
      echo "MGTEST FAIL $name $why$(explain "$log") [$took ms, $log]"
      [ -n "${MG_SHOW:-}" ] && tail -n 15 "$log" | tr -d "$cr" | sed 's/^/  | /'
    else
      echo "MGTEST FAIL $name $why"
    fi
  fi
done <"$table"
exit $failed
