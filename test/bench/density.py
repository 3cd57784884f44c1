#!/usr/bin/env python3
"""Memory of several idle VMs together, for `make bench`'s density item.

  density.py GUEST_MIB PID...

Prints one key=value line: n (processes read), pss_kb (the sum of their
Proportional Set Size: shared pages divided among the processes that map
them, so the sum is what they cost the host together), guest_pss_kb (the
same for each one's guest-RAM mapping: the mapping whose Size is closest to
GUEST_MIB MiB, at least that and at most 8 MiB more), own_kb = pss_kb -
guest_pss_kb (what the VMMs cost beyond their guests' memory) and
vms_per_gib = 1 GiB / (own_kb / n). A process that is gone is skipped.
"""
import re
import sys


def read(pid, guest_kib):
    pss = guest = 0
    best = None  # (diff, pss) of the guest-RAM candidate
    size = 0
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    size = 0
                    continue
                k, _, v = line.partition(":")
                if k == "Size":
                    size = int(v.split()[0])
                elif k == "Pss":
                    p = int(v.split()[0])
                    pss += p
                    if guest_kib <= size <= guest_kib + 8192:
                        cand = (size - guest_kib, -p)
                        if best is None or cand < best:
                            best = cand
    except OSError:
        return None
    if best is not None:
        guest = -best[1]
    return pss, guest


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    guest_kib = int(sys.argv[1]) * 1024
    n = pss = guest = 0
    for pid in sys.argv[2:]:
        r = read(pid, guest_kib)
        if r is None:
            continue
        n += 1
        pss += r[0]
        guest += r[1]
    own = pss - guest
    per = own / n if n else 0
    fit = int(1024 * 1024 / per) if per > 0 else 0
    print(f"n={n} pss_kb={pss} guest_pss_kb={guest} own_kb={own} vms_per_gib={fit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
