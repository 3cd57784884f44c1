#!/usr/bin/env python3
"""Compares two boots of the same Linux guest from their kernel logs
(printk.time and initcall_debug on; lines as the console shows them or as
the guest's init prints them after a quiet boot, prefixed QVM-DMESG):
QVM_BENCH_TIMELINE=1 make bench writes
build/bench/timeline-qvm.log and timeline-qemu-pc.log and runs this.

Prints, for each boot, the kernel's time at a few milestones, then the
initcalls whose duration differs most between the two, then each boot's
longest silences (the gap before a line: where the time went that no
initcall accounts for). Figures only; never fails on a number.

Usage: timeline.py A.log B.log   (A is the VMM under study, B the peer)
"""
import re
import sys

STAMP = re.compile(r"^\[\s*(\d+\.\d+)\]\s?(.*)$")
DONE = re.compile(r"initcall (\S+?)\+0x[0-9a-f]+/0x[0-9a-f]+ returned (-?\d+) after (\d+) usecs")
MILESTONES = [
    ("first kernel line", None),
    ("tsc calibrated", re.compile(r"tsc: (Detected|Refined TSC clocksource calibration)")),
    ("clocksource switched", re.compile(r"clocksource: Switched to clocksource")),
    ("second CPU up", re.compile(r"smp: Brought up")),
    ("PCI probed", re.compile(r"PCI: (Using|Fatal|pci_cache_line_size)|pci_bus 0000:00")),
    ("serial registered", re.compile(r"ttyS0 at I/O")),
    ("freeing init memory", re.compile(r"Freeing unused kernel")),
    ("run /init", re.compile(r"Run /init")),
]


def parse(path):
    lines = []  # (seconds, text)
    last = 0.0
    with open(path, errors="replace") as f:
        raw_lines = [r.rstrip("\n") for r in f]
    # the log as the guest's init printed it, when it did: the console's
    # own kernel lines (warnings printed despite quiet) would repeat them
    dump = [r[len("QVM-DMESG "):] for r in raw_lines if r.startswith("QVM-DMESG ")]
    if dump:
        raw_lines = dump
    if True:
        for raw in raw_lines:
            m = STAMP.match(raw)
            if m:
                last = float(m.group(1))
                lines.append((last, m.group(2)))
            elif lines:
                lines.append((last, raw))  # user-space lines: the last kernel time
    return lines


def initcalls(lines):
    out = {}
    for _, text in lines:
        m = DONE.search(text)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(3))
    return out


def milestones(lines):
    found = {}
    for name, rx in MILESTONES:
        for t, text in lines:
            if rx is None or rx.search(text):
                found[name] = t
                break
    return found


def gaps(lines, n=8):
    g = []
    for (t0, _), (t1, text) in zip(lines, lines[1:]):
        if t1 > t0:
            g.append((t1 - t0, t1, text))
    g.sort(reverse=True)
    return g[:n]


def top(calls, n=10):
    return sorted(calls.items(), key=lambda kv: -kv[1])[:n]


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    a_path, b_path = sys.argv[1], sys.argv[2]
    a, b = parse(a_path), parse(b_path)
    if not a or not b:
        print(f"timeline: empty log ({a_path}: {len(a)} lines, {b_path}: {len(b)} lines)")
        return 0
    na, nb = "A=" + a_path.rsplit("/", 1)[-1], "B=" + b_path.rsplit("/", 1)[-1]
    ma, mb = milestones(a), milestones(b)
    print(f"milestones (kernel time, s)        {na:>24} {nb:>24}")
    for name in [m[0] for m in MILESTONES]:
        va, vb = ma.get(name), mb.get(name)
        fa = f"{va:.3f}" if va is not None else "-"
        fb = f"{vb:.3f}" if vb is not None else "-"
        print(f"  {name:32} {fa:>24} {fb:>24}")
    ia, ib = initcalls(a), initcalls(b)
    ta, tb = sum(ia.values()), sum(ib.values())
    print(f"initcalls: {len(ia)} / {len(ib)}, total {ta / 1000:.1f} / {tb / 1000:.1f} ms")
    diff = sorted(set(ia) | set(ib), key=lambda k: -abs(ia.get(k, 0) - ib.get(k, 0)))
    print("initcalls that differ most (ms, A / B / A-B; initcalls under 1 ms may be left out):")
    for k in diff[:15]:
        da, db = ia.get(k, 0) / 1000, ib.get(k, 0) / 1000
        print(f"  {k:40} {da:9.1f} {db:9.1f} {da - db:+9.1f}")
    for label, calls in ((na, ia), (nb, ib)):
        print(f"longest initcalls in {label} (ms):")
        for k, us in top(calls):
            print(f"  {k:40} {us / 1000:9.1f}")
    for label, lines in ((na, a), (nb, b)):
        print(f"longest silences in {label} (s before the line):")
        for d, t, text in gaps(lines):
            print(f"  {d:7.3f} at {t:9.3f}  {text[:100]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
