#!/usr/bin/env python3
"""Talks to an emulated host's QEMU through its QMP Unix socket.

  qmp.py SOCKET stop|cont             pause / resume the emulated CPUs
  qmp.py SOCKET hmp 'info registers'  a human-monitor command, its text out
  qmp.py SOCKET hmps CMD...           several, on one connection, each
                                      after a line `--- monitor: CMD`

Used by test/lanes/lib/driver.sh (stall diagnosis, the kick of a silent
host, the stall self-test).
Exit status 0 when QEMU answered, 1 otherwise (the error on stderr). Every
wait is bounded (the QEMU it talks to may be wedged).
"""
import json
import socket
import sys

TIMEOUT = 10.0


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.buf = b""
        self.reply()  # the greeting
        self.command("qmp_capabilities")

    def reply(self):
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("QMP connection closed")
                self.buf += chunk
                if len(self.buf) > (16 << 20):
                    raise OSError("QMP reply too large")
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "event" not in msg:  # events are not answers
                return msg

    def command(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        msg = self.reply()
        if "error" in msg:
            raise OSError(f"{name}: {msg['error'].get('desc', msg['error'])}")
        return msg.get("return")


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in ("stop", "cont", "hmp", "hmps") or \
            (sys.argv[2] == "hmp" and len(sys.argv) != 4) or \
            (sys.argv[2] == "hmps" and len(sys.argv) < 4):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        q = Qmp(sys.argv[1])
        if sys.argv[2] == "hmp":
            sys.stdout.write(q.command("human-monitor-command", **{"command-line": sys.argv[3]}))
        elif sys.argv[2] == "hmps":
            for cmd in sys.argv[3:]:
                sys.stdout.write(f"--- monitor: {cmd}\n")
                sys.stdout.write(q.command("human-monitor-command", **{"command-line": cmd}))
                sys.stdout.flush()
        else:
            q.command(sys.argv[2])
    except (OSError, ValueError) as e:
        print(f"qmp: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
