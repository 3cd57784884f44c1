#!/usr/bin/env bash
# The cross-built Catch2 suites (make ARCH=aarch64: build/aarch64/bin/*-tests)
# run under qemu-aarch64-static (binfmt is not registered: called
# explicitly). One line per test case:
#   RESULT PASS|FAIL|SKIP aarch64-unit/<binary>/<case>
# KVM test cases skip themselves there (KVM_GET_API_VERSION fails under
# qemu-user). Cases that can only hold on an x86_64 host would be reported
# SKIP (listed below with the reason; none today: the guest-dump cases pick
# the layout they check explicitly). Exit status 0 when nothing failed.
set -u
top=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$top"
logdir=build/test-logs
mkdir -p "$logdir"
# "binary|case name prefix|reason"
x86_only=()
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

# The arm64 device tree as the cross-built qvm writes it (`dryrun`, no KVM
# needed, under qemu-aarch64-static), decoded by dtc: syntax, the nodes the
# guest needs, and no dtc warnings.
fdt_check() {
  local name=aarch64-unit/fdt-dtc dir=$logdir/aarch64-fdt
  if ! command -v dtc >/dev/null; then echo "RESULT SKIP $name dtc not installed"; return 0; fi
  if [ ! -x build/aarch64/bin/qvm ]; then echo "RESULT FAIL $name no build/aarch64/bin/qvm"; return 1; fi
  rm -rf "$dir" && mkdir -p "$dir"
  head -c 8192 /dev/zero >"$dir/kernel.bin"
  head -c 5000 /dev/zero >"$dir/initrd"
  if ! QVM_VDEV_PATH=build/aarch64/lib/qvm timeout 120 qemu-aarch64-static build/aarch64/bin/qvm \
       ram 128M cpu cpu load "$dir/kernel.bin" initrd load "$dir/initrd" \
       cmdline "console=ttyAMA0 root=/dev/vda" vdev pl011 vdev wdt-sp805 frequency 32768 \
       set fdt-dump-file "$dir/qvm.dtb" dryrun >"$dir/dryrun.out" 2>&1; then
    echo "RESULT FAIL $name qvm dryrun failed (see $dir/dryrun.out)"; return 1
  fi
  if ! dtc -I dtb -O dts -o "$dir/qvm.dts" "$dir/qvm.dtb" 2>"$dir/dtc.stderr"; then
    echo "RESULT FAIL $name dtc cannot decode the blob (see $dir/dtc.stderr)"; return 1
  fi
  if [ -s "$dir/dtc.stderr" ]; then
    echo "RESULT FAIL $name dtc warnings: $(head -n 3 "$dir/dtc.stderr" | tr '\n' ' ')"; return 1
  fi
  local want missing=""
  for want in 'bootargs = "console=ttyAMA0 root=/dev/vda";' 'stdout-path = "/pl011@1c090000";' \
      'linux,initrd-start' 'memory@80000000 {' 'cpu@1 {' 'enable-method = "psci";' \
      'method = "hvc";' 'compatible = "arm,armv8-timer";' 'compatible = "arm,gic-v3";' \
      'watchdog@1c0f0000 {' 'compatible = "arm,sp805\0arm,primecell";' \
      'clock-names = "wdog_clk\0apb_pclk";' 'clock-32768 {' 'clock-frequency = <0x8000>;' \
      'interrupts = <0x00 0x00 0x04>;' 'clock-names = "uartclk\0apb_pclk";'; do
    grep -qF -- "$want" "$dir/qvm.dts" || missing+=" [$want]"
  done
  if [ -n "$missing" ]; then echo "RESULT FAIL $name missing in the decoded tree:$missing"; return 1; fi
  echo "RESULT PASS $name"
}
fdt_check || rc=1
exit $rc
