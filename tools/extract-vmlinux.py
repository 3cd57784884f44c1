#!/usr/bin/env python3
"""Extract the uncompressed vmlinux (an ELF with a PVH entry note) from a
Linux bzImage, for qvm's PVH boot path (no decompression in the guest).

  extract-vmlinux.py BZIMAGE OUT

The setup header's payload_offset/payload_length (boot protocol >= 2.08)
locate the compressed kernel; its format is recognised by magic and
decompressed with Debian's command-line tools (gzip, xz, lz4, zstd, bzip2).
Every offset is checked against the file; errors name the file."""
import os
import struct
import subprocess
import sys
import tempfile


def fail(msg):
    sys.exit(f"extract-vmlinux: {msg}")


def main():
    if len(sys.argv) != 3:
        fail("usage: extract-vmlinux.py BZIMAGE OUT")
    src, out = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        fail(f"{src}: not a bzImage (no HdrS)")
    version = struct.unpack_from("<H", data, 0x206)[0]
    if version < 0x208:
        fail(f"{src}: boot protocol {version:#x} has no payload fields")
    setup_sects = data[0x1f1] or 4
    pm_start = (setup_sects + 1) * 512
    off, length = struct.unpack_from("<II", data, 0x248)
    start = pm_start + off
    if start + length > len(data) or length < 16:
        fail(f"{src}: payload {start:#x}+{length:#x} outside the file ({len(data):#x})")
    payload = data[start:start + length]
    tools = [
        (b"\x1f\x8b", ["gzip", "-dc"]),
        (b"\xfd7zXZ", ["xz", "-dc"]),
        (b"\x02\x21\x4c\x18", ["lz4", "-dc"]),
        (b"\x28\xb5\x2f\xfd", ["zstd", "-dc"]),
        (b"BZh", ["bzip2", "-dc"]),
    ]
    for magic, cmd in tools:
        if payload.startswith(magic):
            break
    else:
        fail(f"{src}: unknown payload compression (magic {payload[:4].hex()})")
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(os.path.abspath(out)) or ".",
                                     delete=False) as tmp:
        # Decompressors may complain about the kernel's trailing size word;
        # the ELF check below decides.
        subprocess.run(cmd, input=payload, stdout=tmp, stderr=subprocess.DEVNULL)
        name = tmp.name
    with open(name, "rb") as f:
        head = f.read(4)
    if head != b"\x7fELF":
        os.unlink(name)
        fail(f"{src}: decompressed payload is not an ELF image")
    os.replace(name, out)


main()
