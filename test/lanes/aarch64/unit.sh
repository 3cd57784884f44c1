#!/usr/bin/env bash
# The cross-built Catch2 suites (make ARCH=aarch64: build/aarch64/bin/*-tests)
# run under qemu-aarch64-static (binfmt is not registered: called
# explicitly). One line per test case:
#   RESULT PASS|FAIL|SKIP aarch64-unit/<binary>/<case>
# KVM test cases skip themselves there (KVM_GET_API_VERSION fails under
# qemu-user). Cases that check x86_64 layouts are reported SKIP (listed
# below with the reason). Exit status 0 when nothing failed.
set -u
top=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$top"
logdir=build/test-logs
mkdir -p "$logdir"
# "binary|case name prefix|reason"
x86_only=(
  "qvm-unit-tests|guest dump: ELF64 core with per-vCPU PRSTATUS|expects the x86_64 PRSTATUS layout"
)
rc=0
for bin in build/aarch64/bin/*-tests; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  xml=$logdir/aarch64-$name.xml
  QVM_VDEV_DIR=build/aarch64/lib/qvm timeout 600 qemu-aarch64-static "$bin" -r junit -o "$xml" \
    >/dev/null 2>"$logdir/aarch64-$name.stderr"
  if [ ! -s "$xml" ]; then
    echo "RESULT FAIL aarch64-unit/$name/run binary gave no report"; rc=1; continue
  fi
  python3 - "$xml" "$name" "${x86_only[@]}" <<'PY' || rc=1
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
name = sys.argv[2]
skips = [s.split('|', 2) for s in sys.argv[3:]]
bad = 0
for tc in root.iter('testcase'):
    case = tc.get('name', '?')
    failed = tc.find('failure') is not None or tc.find('error') is not None
    reason = next((r for b, p, r in skips if b == name and case.startswith(p)), None)
    label = case.replace(' ', '_')
    if reason:
        print(f"RESULT SKIP aarch64-unit/{name}/{label} {reason}")
    elif failed:
        print(f"RESULT FAIL aarch64-unit/{name}/{label}")
        bad = 1
    else:
        print(f"RESULT PASS aarch64-unit/{name}/{label}")
sys.exit(bad)
PY
done
exit $rc
