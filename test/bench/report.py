#!/usr/bin/env python3
"""Turns bench.sh's samples into the printed table and results.json.

samples.tsv: ITEM PEER LANE RUN "key=value ..." (one qvm-bench-run line)
notes.tsv:   ITEM PEER LANE TEXT (a cell without a number, and why)
"""
import os
import argparse
import json
import statistics
import sys
import time

EXPECTED_RC = {"qvm": "1", "raw-kvm": "0", "qemu-pc": "1", "qemu-microvm": "1"}
PEER_ORDER = ["qvm", "raw-kvm", "qemu-microvm", "qemu-pc"]


def parse_kv(text):
    out = {}
    for tok in text.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def num(kv, key):
    try:
        v = int(kv.get(key, "-1"))
    except ValueError:
        return None
    return v if v >= 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--notes", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--quick", default="0")
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--nbase", type=int, default=10)
    ap.add_argument("--native", default="native")
    ap.add_argument("--lane", default="x86_64 TCG+SVM")
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--qemu-version", default="")
    a = ap.parse_args()

    raw = {}  # (item, peer, lane) -> {run: kv}
    with open(a.samples) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            item, peer, lane, run, text = parts
            raw.setdefault((item, peer, lane), {})[run] = parse_kv(text)
    notes = {}
    with open(a.notes) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4:
                notes[(parts[0], parts[1], parts[2])] = parts[3]

    rows = []  # dicts

    def add(item, title, lane, unit, peer, values, failed, note=None):
        rows.append({"item": item, "title": title, "lane": lane, "unit": unit,
                     "peer": peer, "values": values, "failed": failed,
                     "note": note})

    def rc_ok(peer, kv, allow=()):
        return kv.get("rc") == EXPECTED_RC.get(peer) or kv.get("rc") in allow

    peers_seen = sorted({k[1] for k in raw} | {k[1] for k in notes},
                        key=lambda p: PEER_ORDER.index(p) if p in PEER_ORDER else 99)

    # 1. launch latency
    for key, title in (("first_ns", "launch: start -> first serial byte"),
                       ("exit_ns", "launch: start -> exit after poweroff")):
        item = "launch-first" if key == "first_ns" else "launch-exit"
        for p in peers_seen:
            if p == "raw-kvm":
                continue
            runs = raw.get(("launch", p, a.native), {})
            vals, bad = [], 0
            for kv in runs.values():
                v = num(kv, key)
                if rc_ok(p, kv) and v is not None:
                    vals.append(v / 1e6)
                else:
                    bad += 1
            if runs or (item, p, a.native) in notes:
                add(item, title, a.native, "ms", p, vals, bad, notes.get((item, p, a.native)))

    # 2. memory
    for p in peers_seen:
        if p == "raw-kvm":
            continue
        runs = raw.get(("memory", p, a.native), {})
        vals, uvals, bad = [], [], 0
        for kv in runs.values():
            rss, guest, size = num(kv, "rss_kb"), num(kv, "guest_kb"), num(kv, "guest_size_kb")
            uss, guss = num(kv, "uss_kb"), num(kv, "guest_uss_kb")
            if kv.get("rc") == "killed" and rss and size:
                vals.append((rss - guest) / 1024.0)
                if uss:
                    uvals.append((uss - (guss or 0)) / 1024.0)
            else:
                bad += 1
        if runs or ("memory", p, a.native) in notes:
            add("memory", "VMM-own RSS, 256 MiB guest idle", a.native, "MiB", p, vals, bad,
                notes.get(("memory", p, a.native)))
            # private pages only (no shared library text from the page cache)
            add("memory-private", "VMM-own private memory (USS), 256 MiB guest idle", a.native,
                "MiB", p, uvals, bad, notes.get(("memory", p, a.native)))

    # 3. exit cost: per run, (T(N) - T(NBASE)) / (N - NBASE)
    for kind, title in (("pio", "exit: port write (ns/exit)"), ("mmio", "exit: MMIO write (ns/exit)")):
        item = "exit-" + kind
        for p in peers_seen:
            big = raw.get((f"exit-{kind}-{a.n}", p, a.native), {})
            small = raw.get((f"exit-{kind}-{a.nbase}", p, a.native), {})
            vals, bad = [], 0
            for run, kv in big.items():
                kb = small.get(run, {})
                # first serial byte (loop start) -> process exit
                tb, ts = num(kv, "exit_ns"), num(kb, "exit_ns")
                fb, fs = num(kv, "first_ns"), num(kb, "first_ns")
                if None not in (tb, ts, fb, fs):
                    tb, ts = tb - fb, ts - fs
                else:
                    tb = ts = None
                if rc_ok(p, kv) and rc_ok(p, kb) and tb is not None and ts is not None:
                    vals.append((tb - ts) / (a.n - a.nbase))
                else:
                    bad += 1
            if big or (item, p, a.native) in notes:
                add(item, title, a.native, "ns", p, vals, bad, notes.get((item, p, a.native)))

    # 3b. density (higher is better, so qvm/peer > 1 means qvm fits or
    # cycles more): VMs started and stopped per second; idle 256 MiB VMs
    # per GiB of host RAM beyond their guest memory (the Pss of DENS_VMS
    # VMs at once, density.py)
    for p in peers_seen:
        for item, title, unit in (("density-rate", "density: VMs started+stopped per second", "VMs/s"),
                                  ("density-idle", "density: idle 256 MiB VMs per GiB beyond guest RAM",
                                   "VMs")):
            runs = raw.get((item, p, a.native), {})
            vals, bad = [], 0
            for kv in runs.values():
                if item == "density-rate":
                    n, ns = num(kv, "vms"), num(kv, "ns")
                    if n and ns:
                        vals.append(n / (ns / 1e9))
                    else:
                        bad += 1
                else:
                    fit = num(kv, "vms_per_gib")
                    if fit and "started" not in kv:
                        vals.append(float(fit))
                    else:
                        bad += 1
            if runs or (item, p, a.native) in notes:
                add(item, title, a.native, unit, p, vals, bad, notes.get((item, p, a.native)))

    # 4. full boot in the lane
    for key, title in (("first_ns", "boot: start -> QVM-GUEST-INIT"),
                       ("exit_ns", "boot: start -> exit after poweroff")):
        item = "boot-init" if key == "first_ns" else "boot-exit"
        for p in ("qvm", "qemu-microvm", "qemu-pc"):
            runs = raw.get(("boot", p, a.lane), {})
            note = notes.get(("boot", p, a.lane)) or notes.get(("boot-incomplete", p, a.lane))
            vals, bad, killed = [], 0, 0
            for kv in runs.values():
                v = num(kv, key)
                if kv.get("rc") == "killed" and key == "exit_ns":
                    killed += 1
                    continue
                if kv.get("rc") in ("0", "killed") and v is not None:
                    vals.append(v / 1e6)
                else:
                    bad += 1
            if killed and not vals:
                note = "n/a (the guest's poweroff did not end the process; killed 5 s after the marker)"
            if runs or note:
                add(item, title, a.lane, "ms", p, vals, bad, note)

    # 5. block I/O in the lane's guest (qvm-blkbench; higher is better, so
    # qvm/peer > 1 means qvm is faster here)
    for key, title, unit in (("seqw", "block: seq write O_DIRECT 1M", "MiB/s"),
                             ("seqr", "block: seq read O_DIRECT 1M", "MiB/s"),
                             ("randr", "block: 4K random read", "IOPS")):
        for p in ("qvm", "qvm-exit", "qemu-pc"):
            runs = raw.get(("block", p, a.lane), {})
            vals, bad = [], 0
            for kv in runs.values():
                try:
                    v = float(kv.get(key, "-1"))
                except ValueError:
                    v = -1
                if kv.get("rc") == "0" and v >= 0:
                    vals.append(v)
                else:
                    bad += 1
            note = None if runs else (
                "n/a (lane not run: QVM_BENCH_LANE=0)" if os.environ.get("QVM_BENCH_LANE", "1") == "0"
                else "n/a (no block runs: lane did not reach them)")
            add("block-" + key, title, a.lane, unit, p, vals, bad, note)

    # Statistics and ratios (qvm median / peer median, same item and lane).
    for r in rows:
        v = r["values"]
        r["runs"] = len(v)
        r["min"] = min(v) if v else None
        r["median"] = statistics.median(v) if v else None
        r["max"] = max(v) if v else None
    med = {(r["item"], r["lane"], r["peer"]): r["median"] for r in rows}
    for r in rows:
        q = med.get((r["item"], r["lane"], "qvm"))
        r["ratio"] = (q / r["median"]) if (r["peer"] != "qvm" and q is not None
                                           and r["median"]) else None

    def fmt(x, unit):
        if x is None:
            return "-"
        if unit == "ns":
            return f"{x:.0f}"
        if unit == "MiB":
            return f"{x:.2f}"
        return f"{x:.1f}" if x < 1000 else f"{x:.0f}"

    hdr = ("item", "lane", "peer", "runs", "min", "median", "max", "unit", "qvm/peer")
    table = []
    for r in rows:
        if r["note"] and not r["values"]:
            table.append((r["title"], r["lane"], r["peer"], "0", r["note"], "", "", "", ""))
            continue
        runs = str(r["runs"]) + (f" ({r['failed']} failed)" if r["failed"] else "")
        table.append((r["title"], r["lane"], r["peer"], runs, fmt(r["min"], r["unit"]),
                      fmt(r["median"], r["unit"]), fmt(r["max"], r["unit"]), r["unit"],
                      f"{r['ratio']:.3g}" if r["ratio"] is not None else ""))
    widths = [max([len(hdr[i])] + [len(t[i]) for t in table if not (t[5] == "" and i >= 4)])
              for i in range(len(hdr))]
    def line(cols):
        if cols[5] == "" and cols[4] and cols[4].startswith("n/a"):
            head = "  ".join(c.ljust(widths[i]) for i, c in enumerate(cols[:4]))
            return head + "  " + cols[4]
        return "  ".join(c.ljust(widths[i]) if i < 3 else c.rjust(widths[i])
                         for i, c in enumerate(cols)).rstrip()
    print()
    print(f"qvm bench ({'QUICK' if a.quick == '1' else 'full'}; {a.seconds} s; {a.qemu_version})")
    print(line(hdr))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for t in table:
        print(line(t))
    notes_text = [
        f"lanes: '{a.native}' = this machine's /dev/kvm (software KVM: guest kernel code is emulated);"
        f" '{a.lane}' = inside a host booted under QEMU TCG with emulated SVM+NPT (kvm_amd nested)."
        " Absolute times there are not hardware times; compare ratios.",
        "qvm/peer = ratio of medians (< 1: qvm is faster/smaller). Peers alternate run by run.",
        "micro-guests (test/bench/guest.s): one assembly source per variant, linked once as a Multiboot ELF"
        " that qvm (`load NAME.elf`) and QEMU (-kernel) both boot through their Multiboot loaders; the raw KVM"
        " loop runs the objcopy'd flat image of the same code.",
        "QEMU: -accel kvm -nodefaults -no-user-config -display none, default CPU model"
        " (-cpu host aborts on kvm_pvm), -device isa-debug-exit at 0xf4; -M pc runs SeaBIOS first.",
        f"exit cost: (T({a.n} writes) - T({a.nbase} writes)) / {a.n - a.nbase} per run, T = the guest's first"
        " serial byte (written just before the loop) -> process exit, so process start and firmware are excluded;"
        " port 0x3ff = the 16550's scratch register (a device under qvm and QEMU); MMIO 0xd0000007 = SCR of"
        " qvm's ser8250 at mem:0xd0000000, unassigned under QEMU and the raw loop. raw-kvm = a minimal"
        " KVM_RUN loop (test/bench/kvmloop.c): the floor.",
        "density: the launch guest started and stopped back to back (VMs/s); 8 idle 256 MiB VMs at once,"
        " the sum of their Pss minus their guest-RAM mappings' (what they cost the host together beyond"
        " guest memory), 1 GiB divided by that per VM. Higher is better: qvm/peer > 1 favours qvm.",
        "memory: Rss of the process minus Rss of the 256 MiB guest-RAM mapping (/proc/PID/smaps, mapping"
        " found by size), 300 ms after the guest's first serial byte, guest idling in HLT. Rss counts"
        " the clean pages of shared libraries (libc's text) that every process shares; USS (Private_Clean"
        " + Private_Dirty, minus the guest mapping's) counts only the VMM's own pages.",
        "boot: the x86_64 lane's test guest (build/guest/vmlinuz + initramfs, 2 vCPUs, 256M,"
        " console=ttyS0 quiet qvm.test=poweroff); emulated host boot excluded.",
    ]
    print()
    for n in notes_text:
        print("note: " + n)

    result = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": a.quick == "1",
        "seconds": a.seconds,
        "qemu_version": a.qemu_version,
        "lanes": {"native": a.native, "x86_64": a.lane},
        "exit_writes": {"n": a.n, "baseline": a.nbase},
        "rows": [{k: r[k] for k in ("item", "title", "lane", "peer", "unit", "runs", "failed",
                                   "min", "median", "max", "ratio", "note", "values")}
                 for r in rows],
        "notes": notes_text,
    }
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nresults: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
