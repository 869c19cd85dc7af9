#!/usr/bin/env python3
"""Holds COUNT idle HTTP/1.1 keep-alive connections open to HOST:PORT (loopback only).

Each connection sends one complete GET and reads its whole response (Content-Length or chunked),
then stays idle (keep-alive) and sends nothing more; bytes that arrive afterwards are counted as
unexpected_data (samples in STATUS_FILE.unexpected). Sockets are bound to SRC (another 127.x address) with IP_BIND_ADDRESS_NO_PORT
so that the idle pool does not eat the ephemeral ports wrk and the proxies need on 127.0.0.1.

Prints one line `READY open=N failed=F` on stdout once every connection is set up (or failed),
then keeps a status line in STATUS_FILE: `open=N closed_by_peer=C failed=F` (updated every second).
Exits on SIGTERM/SIGINT or after MAX_SECONDS, whichever comes first (bounded in time).
"""
import argparse
import errno
import os
import selectors
import signal
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24


def response_complete(buf):
    """Length of the first complete HTTP response in buf, or None while incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").lower().split("\r\n")
    body_start = end + 4
    for line in head[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name == "content-length":
            total = body_start + int(value)
            return total if len(buf) >= total else None
        if name == "transfer-encoding" and "chunked" in value:
            term = buf.find(b"\r\n0\r\n\r\n", body_start - 2)
            return term + 7 if term >= 0 else None
    return body_start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--src", default="127.0.0.2")
    ap.add_argument("--path", default="/")
    ap.add_argument("--batch", type=int, default=256, help="connections set up concurrently")
    ap.add_argument("--setup-timeout", type=float, default=60.0)
    ap.add_argument("--max-seconds", type=float, default=1800.0)
    ap.add_argument("--status-file", required=True)
    a = ap.parse_args()

    for addr in (a.host, a.src):
        if not addr.startswith("127."):
            sys.exit("idle_conns: only loopback addresses are allowed, got " + addr)

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: sluice-bench-idle\r\n\r\n"
               % (a.path, a.host, a.port)).encode()
    sel = selectors.DefaultSelector()
    started = time.monotonic()
    deadline = started + a.setup_timeout
    pending = {}   # sock -> state: "connecting" | "reading"
    got = {}       # sock -> response bytes so far
    extra_setup = [0]
    idle = set()
    failed = 0
    errors = {}
    launched = 0

    def fail(sock, why):
        nonlocal failed
        failed += 1
        errors[why] = errors.get(why, 0) + 1
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        pending.pop(sock, None)
        sock.close()

    def launch():
        nonlocal launched
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        except OSError:
            pass
        s.setblocking(False)
        launched += 1
        try:
            s.bind((a.src, 0))
            rc = s.connect_ex((a.host, a.port))
        except OSError as e:
            failed_local = errno.errorcode.get(e.errno, str(e.errno))
            s.close()
            return failed_local
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            return errno.errorcode.get(rc, str(rc))
        pending[s] = "connecting"
        sel.register(s, selectors.EVENT_WRITE)
        return None

    # Set-up phase: at most `batch` connections in flight (connect + one request/response).
    while (launched < a.count or pending) and not stop["flag"] and time.monotonic() < deadline:
        while launched < a.count and len(pending) < a.batch:
            why = launch()
            if why:
                failed += 1
                errors[why] = errors.get(why, 0) + 1
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
            state = pending.get(s)
            if state == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(s, errno.errorcode.get(err, str(err)))
                    continue
                try:
                    s.send(request)
                except OSError as e:
                    fail(s, "send:" + errno.errorcode.get(e.errno, str(e.errno)))
                    continue
                pending[s] = "reading"
                sel.modify(s, selectors.EVENT_READ)
            elif state == "reading":
                try:
                    data = s.recv(65536)
                except OSError as e:
                    fail(s, "recv:" + errno.errorcode.get(e.errno, str(e.errno)))
                    continue
                if not data:
                    fail(s, "closed during set-up")
                    continue
                got[s] = got.get(s, b"") + data
                done = response_complete(got[s])
                if done is None:
                    continue  # head or body still incomplete (it may come in several segments)
                buf = got.pop(s)
                if not buf.startswith(b"HTTP/1.1 200"):
                    fail(s, "status " + buf[:12].decode("latin-1", "replace"))
                    continue
                if done < len(buf):
                    extra_setup[0] += 1  # more bytes than one response: counted, connection kept
                pending.pop(s)
                idle.add(s)
    for s in list(pending):
        fail(s, "set-up timeout")

    detail = " ".join("%s:%d" % (k.replace(" ", "_"), v) for k, v in sorted(errors.items()))
    print("READY open=%d failed=%d%s %s" % (len(idle), failed,
          (" extra_bytes_after_response=%d" % extra_setup[0]) if extra_setup[0] else "", detail), flush=True)

    closed = 0
    unexpected = 0

    def write_status():
        tmp = a.status_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("open=%d closed_by_peer=%d failed=%d unexpected_data=%d\n"
                    % (len(idle), closed, failed, unexpected))
        os.replace(tmp, a.status_file)

    write_status()
    end = started + a.max_seconds
    last = 0.0
    while not stop["flag"] and time.monotonic() < end:
        for key, ev in sel.select(timeout=1.0):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                # An idle keep-alive connection must receive nothing; keep a sample for the report.
                unexpected += 1
                if unexpected <= 5:
                    with open(a.status_file + ".unexpected", "a") as f:
                        f.write("%.1fs %r\n" % (time.monotonic() - started, data[:200]))
                continue
            sel.unregister(s)
            idle.discard(s)
            s.close()
            closed += 1
        now = time.monotonic()
        if now - last >= 1.0:
            write_status()
            last = now
    write_status()
    for s in idle:
        s.close()


if __name__ == "__main__":
    main()
