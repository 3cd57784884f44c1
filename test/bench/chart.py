#!/usr/bin/env python3
"""Draws `make bench`'s results as one SVG a reader takes in at a glance.

  chart.py RESULTS.json OUT.svg [TIMELINE_A.log TIMELINE_B.log]

Left: one row per item and peer, a bar from 1 to qvm/peer (the ratio of
medians) on a logarithmic axis from 1/32 to 32, green where qvm is ahead
(lower time or memory; higher bandwidth, IOPS or density), red where it is
behind, with a whisker for the spread (qvm's min and max against the peer's
median). Items without a ratio (a peer that did not run) are listed with
their note. Right (with two kernel logs, as timeline.py reads them): the
milestones of a qvm boot and a peer's boot on one time axis. Figures only;
exit status 0 unless the inputs cannot be read.
"""
import html
import json
import math
import sys

HIGHER_IS_BETTER = ("block-", "density-")
LO, HI = 1 / 32, 32.0


def better(item, ratio):
    up = item.startswith(HIGHER_IS_BETTER)
    return ratio > 1 if up else ratio < 1


def xpos(ratio, x0, w):
    r = min(max(ratio, LO), HI)
    return x0 + (math.log2(r) - math.log2(LO)) / (math.log2(HI) - math.log2(LO)) * w


def milestones(path):
    """(name, seconds) of timeline.py's milestones in one boot's log, by time."""
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    import timeline  # the same parsing and milestones as the text report
    found = timeline.milestones(timeline.parse(path))
    return sorted(found.items(), key=lambda kv: kv[1])


def main():
    if len(sys.argv) not in (3, 5):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        res = json.load(f)
    rows = res.get("rows", [])
    qvm = {(r["item"], r["lane"]): r for r in rows if r["peer"] == "qvm"}
    bars = []  # (label, item, ratio, lo, hi, note)
    for r in rows:
        if r["peer"] == "qvm":
            continue
        q = qvm.get((r["item"], r["lane"]))
        label = f"{r['title']} · {r['lane'].split()[0]} · vs {r['peer']}"
        if r.get("ratio") and q and r.get("median"):
            lo = q["min"] / r["median"] if q.get("min") is not None else r["ratio"]
            hi = q["max"] / r["median"] if q.get("max") is not None else r["ratio"]
            bars.append((label, r["item"], r["ratio"], lo, hi, None))
        else:
            bars.append((label, r["item"], None, None, None, r.get("note") or "no figure"))
    tl = []
    if len(sys.argv) == 5:
        tl = [(sys.argv[3], milestones(sys.argv[3])), (sys.argv[4], milestones(sys.argv[4]))]
        tl = [(p, m) for p, m in tl if m]
    rowh, top, lw, bw = 18, 60, 430, 360
    width = lw + bw + 40 + (440 if tl else 0)
    height = top + rowh * len(bars) + 60
    if tl:
        height = max(height, top + 60 + 40 * len(tl) + 20 * 9)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'font-family="sans-serif" font-size="11">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="10" y="20" font-size="14" font-weight="bold">qvm against its peers: '
         f'qvm/peer, ratio of medians ({html.escape(res.get("generated", ""))}'
         f'{", QUICK" if res.get("quick") else ""})</text>',
         '<text x="10" y="38" fill="#555">green: qvm ahead (less time or memory; more '
         'bandwidth, IOPS or VMs). Whisker: qvm min..max over the peer\'s median. Log axis.</text>']
    x0 = lw
    for k in range(-5, 6):
        x = xpos(2.0 ** k, x0, bw)
        o.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{top + rowh * len(bars)}" '
                 f'stroke="{"#000" if k == 0 else "#ddd"}"/>')
        lab = f"{2 ** k:g}" if k >= 0 else f"1/{2 ** -k}"
        o.append(f'<text x="{x:.1f}" y="{top - 9}" text-anchor="middle" fill="#555">{lab}</text>')
    for i, (label, item, ratio, lo, hi, note) in enumerate(bars):
        y = top + i * rowh
        o.append(f'<text x="{lw - 6}" y="{y + 12}" text-anchor="end">{html.escape(label)}</text>')
        if ratio is None:
            o.append(f'<text x="{x0 + 4}" y="{y + 12}" fill="#888">{html.escape(note[:70])}</text>')
            continue
        xa, xb = sorted((xpos(1.0, x0, bw), xpos(ratio, x0, bw)))
        col = "#2a9d3a" if better(item, ratio) else "#c0392b"
        o.append(f'<rect x="{xa:.1f}" y="{y + 3}" width="{max(xb - xa, 1):.1f}" height="{rowh - 6}" '
                 f'fill="{col}"/>')
        wa, wb = sorted((xpos(lo, x0, bw), xpos(hi, x0, bw)))
        o.append(f'<line x1="{wa:.1f}" y1="{y + rowh / 2}" x2="{wb:.1f}" y2="{y + rowh / 2}" '
                 f'stroke="#333"/>')
        o.append(f'<text x="{x0 + bw + 4}" y="{y + 12}">{ratio:.3g}</text>')
    if tl:
        tx, tw = lw + bw + 60, 380
        tmax = max(t for _, m in tl for _, t in m) or 1.0
        o.append(f'<text x="{tx}" y="{top - 20}" font-weight="bold">boot timeline (guest kernel '
                 f'time, s)</text>')
        for j, (path, ms) in enumerate(tl):
            y = top + j * 40 + 10
            name = path.rsplit("/", 1)[-1].replace("timeline-", "").replace(".log", "")
            o.append(f'<text x="{tx}" y="{y}">{html.escape(name)}</text>')
            o.append(f'<line x1="{tx}" y1="{y + 10}" x2="{tx + tw}" y2="{y + 10}" stroke="#999"/>')
            for n, (mname, t) in enumerate(ms):
                x = tx + t / tmax * tw
                o.append(f'<circle cx="{x:.1f}" cy="{y + 10}" r="3" fill="#1f5fa8"/>')
        ly = top + len(tl) * 40 + 20
        for n, (mname, _) in enumerate(tl[0][1]):
            times = "  ".join(f"{dict(m).get(mname, float('nan')):.3f}" for _, m in tl)
            o.append(f'<text x="{tx}" y="{ly + n * 16}">{html.escape(mname)}: {times}</text>')
    o.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(o) + "\n")
    print(f"chart: {sys.argv[2]} ({len(bars)} rows{', boot timeline' if tl else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
