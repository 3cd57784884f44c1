#!/usr/bin/env python3
"""Runs each configuration of test/qnxcfg/configs through `qvm @FILE dryrun`
and checks the dry run against what the configuration asks for.

Header comments of a configuration (all but `source` optional):
  # source: WHERE IT WAS TRANSCRIBED FROM          (required)
  # arch: x86_64 | aarch64                         (default x86_64)
  # path: /as/written=KIND    KIND: image (a small raw guest), disk (an
                              empty 1 MiB file), dir (a directory)
  # strip: vdev TYPE | pass   a context qvm refuses: the unchanged file must
                              be refused naming it (with `# refused: TEXT`),
                              then the file without that context is checked
  # refused: TEXT             text the refusal must contain
  # expect: TEXT              a line of the dry run must contain TEXT
  # expect-log: TEXT          qvm's log (stderr) must contain TEXT
  # needs-cpus: N             SKIP on a host with fewer CPUs (runmask)
  # env: NAME=FILE            set NAME to FILE of this folder (QVM_IOMEM: the
                              host regions `$asinfo_...{NAME}` reads)
  # boot: MICROGUEST          x86_64: after the dry run, run the file for
                              real with its `image` path naming
                              build/microguests/MICROGUEST.bin and `vdev
                              debug-exit` added on the command line; the
                              guest must pass (qvm exit 1, "PASS MICROGUEST").
                              Reported as qnxcfg/<name>-boot; SKIP when
                              /dev/kvm cannot run guests
Prints RESULT PASS|FAIL|SKIP qnxcfg/<name> [detail].
Usage: check.py QVM_COMMAND_PREFIX... -- ARCH CONFIG...
"""
import os, re, subprocess, sys, tempfile

TOP = {"system", "ram", "rom", "reserve", "cpu", "load", "initrd", "data", "fdt", "acpi",
       "cmdline", "vdev", "module", "pass", "set", "logger", "dump", "unsupported", "dryrun",
       "debug"}


def headers(text):
    h = {}
    for line in text.splitlines():
        m = re.match(r"#\s*([a-z-]+):\s*(.*\S)\s*$", line)
        if m:
            h.setdefault(m.group(1), []).append(m.group(2))
    return h


def strip_context(text, what):
    """Drops the lines of every context that starts with `what` (e.g. `vdev
    shmem`) up to the next line starting with a top-level keyword."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        words = line.split("#", 1)[0].split()
        if words and words[0] in TOP and words[0] != "set":
            skipping = " ".join(words).startswith(what)
        if not skipping:
            out.append(line)
    return "".join(out)


def run(qvm, path, env):
    p = subprocess.run(qvm + ["@" + path, "dryrun"], capture_output=True, text=True,
                       timeout=300, env=env)
    return p.returncode, p.stdout, p.stderr


def main():
    sep = sys.argv.index("--")
    qvm, arch, configs = sys.argv[1:sep], sys.argv[sep + 1], sys.argv[sep + 2:]
    bad = 0
    for cfg in configs:
        name = os.path.basename(cfg).rsplit(".", 1)[0]
        tag = f"qnxcfg/{name}"
        text = open(cfg).read()
        h = headers(text)
        if not h.get("source"):
            print(f"RESULT FAIL {tag} no `# source:` comment"); bad = 1; continue
        if h.get("arch", ["x86_64"])[0] != arch:
            continue
        need = int(h.get("needs-cpus", ["0"])[0])
        if need > (os.cpu_count() or 1):
            print(f"RESULT SKIP {tag} needs {need} host CPUs for its runmask "
                  f"(this host has {os.cpu_count()})")
            continue
        with tempfile.TemporaryDirectory(prefix="qnxcfg-") as tmp:
            env = dict(os.environ, QVM_RESMGR_DIR=tmp)
            for e in h.get("env", []):
                var, f = e.split("=", 1)
                env[var] = os.path.join(os.path.dirname(os.path.abspath(cfg)), f)
            image = os.path.join(tmp, "guest.bin")
            with open(image, "wb") as f:  # hlt; jmp $-1 (x86) / zeros: never run
                f.write((b"\xf4\xeb\xfd" if arch == "x86_64" else b"") + bytes(4093))
            for sub in h.get("path", []):
                written, kind = sub.rsplit("=", 1)
                if kind == "image":
                    target = image
                elif kind == "disk":
                    target = os.path.join(tmp, "disk.img")
                    with open(target, "wb") as f:
                        f.truncate(1 << 20)
                elif kind == "dir":
                    target = tempfile.mkdtemp(dir=tmp)
                else:
                    raise SystemExit(f"{cfg}: bad path kind {kind}")
                text = text.replace(written, target)
            # Expectations may name the substituted paths.
            subst = headers(text)
            h["expect"], h["expect-log"] = subst.get("expect", []), subst.get("expect-log", [])
            problems = []
            for what in h.get("strip", []):
                whole = os.path.join(tmp, "whole.qvmconf")
                open(whole, "w").write(text)
                rc, out, err = run(qvm, whole, env)
                want = h.get("refused", [what])
                if rc != 65 or not all(w in err for w in want):
                    problems.append(f"unchanged: exit {rc}, wanted 65 naming {want}: "
                                    f"{err.strip()[-300:]}")
                text = strip_context(text, what)
            path = os.path.join(tmp, name + ".qvmconf")
            open(path, "w").write(text)
            rc, out, err = run(qvm, path, env)
            if rc != 0:
                problems.append(f"dryrun exit {rc}: {err.strip()[-400:]}")
            else:
                lines = out.splitlines()
                for e in h.get("expect", []):
                    if not any(e in l for l in lines):
                        problems.append(f"no line with `{e}`")
                for e in h.get("expect-log", []):
                    if e not in err:
                        problems.append(f"log lacks `{e}`")
            if problems:
                bad = 1
                print(f"RESULT FAIL {tag} " + "; ".join(problems))
                sys.stderr.write(f"--- {tag} dry run:\n{out}\n--- log:\n{err}\n")
            else:
                n = len(h.get("expect", [])) + len(h.get("expect-log", []))
                print(f"RESULT PASS {tag} {n} checks")
            for mg in h.get("boot", []):
                bad |= boot(qvm, tag, text.replace(image, os.path.abspath(
                    f"build/microguests/{mg}.bin")), mg, tmp, env)
    return bad


def boot(qvm, tag, text, mg, tmp, env):
    """Runs the configuration with micro-guest `mg` as its image."""
    tag += "-boot"
    probe = "build/bin/qvm-kvm-probe"
    if not os.path.exists(f"build/microguests/{mg}.bin"):
        print(f"RESULT FAIL {tag} build/microguests/{mg}.bin not built (make microguests)")
        return 1
    if not os.access(probe, os.X_OK) or subprocess.run([probe], capture_output=True).returncode:
        print(f"RESULT SKIP {tag} no usable /dev/kvm")
        return 0
    path = os.path.join(tmp, "boot.qvmconf")
    open(path, "w").write(text)
    try:
        p = subprocess.run(qvm + ["@" + path, "vdev", "debug-exit"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        print(f"RESULT FAIL {tag} no verdict within 300 s")
        return 1
    if p.returncode == 1 and f"PASS {mg}" in p.stdout:
        print(f"RESULT PASS {tag} micro-guest {mg} passed")
        return 0
    last = (p.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"RESULT FAIL {tag} exit {p.returncode}, expected 1: {last}")
    sys.stderr.write(f"--- {tag}:\n{p.stdout}\n--- log:\n{p.stderr}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
