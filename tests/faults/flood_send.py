#!/usr/bin/env python3
"""Flood sender for tests/faults: sends pre-built UDP datagrams as fast as it can.

usage: flood_send.py FILE DST SECONDS [SRC]

FILE holds datagrams, each as a 4-octet big-endian length and the octets. They are
sent round-robin to DST:910 for SECONDS. With SRC, they go through a raw socket
with an IPv4 header whose source is SRC (spoofed, as any host on the path can);
without, from an ordinary UDP socket. Prints "sent N" at the end. Root only with SRC;
run it inside a test's own network namespace.
"""
import socket
import struct
import sys
import time


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> None:
    path, dst, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    src = sys.argv[4] if len(sys.argv) > 4 else None
    data = open(path, "rb").read()
    grams, i = [], 0
    while i + 4 <= len(data):
        (n,) = struct.unpack("!I", data[i : i + 4])
        grams.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    if src:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        pkts = []
        for k, g in enumerate(grams):
            sport = 910
            udp_len = 8 + len(g)
            pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, udp_len)
            udp = struct.pack("!HHHH", sport, 910, udp_len, 0) + g
            c = csum(pseudo + udp) or 0xFFFF
            udp = udp[:6] + struct.pack("!H", c) + udp[8:]
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, k & 0xFFFF, 0, 64, 17, 0,
                             socket.inet_aton(src), socket.inet_aton(dst))
            pkts.append(ip + udp)
        send = lambda p: s.sendto(p, (dst, 0))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
        pkts = grams
        send = lambda p: s.sendto(p, (dst, 910))
    sent, end, k = 0, time.monotonic() + seconds, 0
    while True:
        for _ in range(256):
            try:
                send(pkts[k])
                sent += 1
            except OSError:
                pass  # buffer full / too big: keep going
            k = (k + 1) % len(pkts)
        if time.monotonic() >= end:
            break
    print("sent %d" % sent, flush=True)


main()
