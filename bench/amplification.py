#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Bytes out per byte in toward a spoofed victim (docs/security.md,
"Amplification"), against the real daemon on loopback.

Part 1, sizes: for each settings case and each request shape, one NOTIFY
from a source that has not proven itself (a fresh /24 each) and one from a
source that has (it answered a challenge before); prints the request's
and the answer's UDP payload and their ratio, also with the 28 bytes of
IPv4 and UDP header each way ("on the wire").

Part 2, rate: a spoofed flood, --rate NOTIFYs a second for --seconds, at
one victim /24 and spread over --prefixes /24s; prints answers and bytes
sent back per second, against what arrived.

  bench/amplification.py [--rate 5000] [--seconds 5] [--prefixes 256]
                         [--daemon PATH] [--standin PATH]

Every address is on 127.0.0.0/8; nothing leaves the machine.
"""

import argparse
import os
import secrets
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))

import harness  # noqa: E402

WIRE = 28  # IPv4 and UDP headers

CASES = {
    "default (one realm, MD5)": dict(),
    "3 identities, 3 PBXs, 3 algorithms": dict(
        algorithms="SHA-512-256,SHA-256,MD5",
        identities=[dict(idx=i, user_name=harness.DEFAULT_USER,
                         user_host=f"pbx{i}.example.net", user_pass=harness.DEFAULT_PASS)
                    for i in range(1, 4)]),
    "12 realms, 3 algorithms": dict(
        algorithms="SHA-512-256,SHA-256,MD5",
        identities=[dict(idx=i, user_name=harness.DEFAULT_USER,
                         user_host=f"pbx{i}.example.net", user_pass=harness.DEFAULT_PASS)
                    for i in range(1, 13)]),
}


def shapes(port, source, source_port):
    """(name, request bytes) for the request shapes measured."""
    hostport = f"{source}:{source_port}"
    tiny = (f"NOTIFY sip:340899@127.0.0.1 SIP/2.0\r\n"
            f"v: SIP/2.0/UDP {hostport};branch=z9hG4bK1\r\n"
            "f: <sip:p@a>;tag=1\r\nt: <sip:340899@a>\r\ni: x\r\nCSeq: 1 NOTIFY\r\n"
            "o: check-sync\r\n\r\n")
    finding = (f"NOTIFY sip:340899@127.0.0.1:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {hostport};branch=z9hG4bK2\r\n"
               "From: <sip:a@b>;tag=1\r\nTo: <sip:340899@c>\r\nCall-ID: x@y\r\n"
               "CSeq: 1 NOTIFY\r\nEvent: check-sync\r\n\r\n")
    seed = (f"NOTIFY sip:340899@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {hostport};branch=z9hG4bK.2cee14c0;rport;alias\r\n"
            f"To: sip:340899@127.0.0.1:{port}\r\nFrom: sip:sipsak@127.0.0.1\r\n"
            "CSeq: 10 NOTIFY\r\nCall-ID: 1234@192.168.137.1\r\n"
            "Event: check-sync;reboot=false\r\n\r\n")
    asterisk = (f"NOTIFY sip:340899@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {hostport};rport;branch=z9hG4bKPj{secrets.token_hex(16)}\r\n"
                f"From: <sip:asterisk@{source}>;tag={secrets.token_hex(16)}\r\n"
                f"To: <sip:340899@127.0.0.1;ob>\r\n"
                f"Contact: <sip:asterisk@{hostport}>\r\n"
                f"Call-ID: {secrets.token_hex(16)}\r\nCSeq: 4811 NOTIFY\r\n"
                "Event: check-sync;reboot=false\r\nSubscription-State: terminated\r\n"
                "Max-Forwards: 70\r\nUser-Agent: Asterisk PBX 20.6.0\r\n"
                "Content-Length:  0\r\n\r\n")
    return [("compact names", tiny), ("the finding's, ~167 B", finding),
            ("sipsak's seed NOTIFY", seed), ("Asterisk res_pjsip_notify", asterisk)]


def exchange(sock, port, data, timeout=0.5):
    sock.sendto(data, ("127.0.0.1", port))
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return b""


def prove(sock, port, source):
    """Answer one challenge with a wrong password: the source is proven."""
    c = harness.SipClient("127.0.0.1", port, source=source)
    c.sock.close()
    c.sock = sock
    first, _, _ = c.request(timeout=2)
    if first is None or first.status != 401:
        return False
    auth = harness.authorization(first.all("www-authenticate")[0], harness.DEFAULT_USER,
                                 "not-the-password", "NOTIFY", c.uri())
    resp, _, _ = c.request(cseq=2, auth=auth, timeout=2)
    return resp is not None


def sizes(net):
    print("Part 1: one NOTIFY each, challenge on; payload bytes (and on the wire)")
    print(f"  {'settings':<36} {'request':<28} {'in':>5} {'unproven':>16} {'proven':>16}")
    for case, settings in CASES.items():
        env = harness.Env("amplification-sizes")
        try:
            env.write_settings(harness.settings_xml(challenge="on", **settings))
            env.start_standin()
            env.start_daemon(extra=("--log-level", "info"))
            proven = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            proven.bind(("127.0.200.1", 0))
            env.sockets.append(proven)
            prove(proven, env.port, "127.0.200.1")
            for name, text in shapes(env.port, "127.0.0.1", 5060):
                net += 1
                source = f"127.{net // 250}.{net % 250}.1"
                fresh = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                fresh.bind((source, 0))
                env.sockets.append(fresh)
                request = text.replace("127.0.0.1:5060", f"{source}:{fresh.getsockname()[1]}")
                data = request.encode()
                out_unproven = len(exchange(fresh, env.port, data))
                data_p = request.replace(f"{source}:{fresh.getsockname()[1]}",
                                         f"127.0.200.1:{proven.getsockname()[1]}").encode()
                out_proven = len(exchange(proven, env.port, data_p))

                def ratio(out, inn):
                    if not out:
                        return "silence"
                    return (f"{out} x{out / inn:.2f} (x{(out + WIRE) / (inn + WIRE):.2f})")
                print(f"  {case:<36} {name:<28} {len(data):>5} "
                      f"{ratio(out_unproven, len(data)):>16} "
                      f"{ratio(out_proven, len(data_p)):>16}")
        finally:
            env.stop_daemon()
            env.close()
    return net


def flood(args, spread):
    env = harness.Env("amplification-flood")
    try:
        env.write_settings(harness.settings_xml(challenge="on"))
        env.start_standin()
        env.start_daemon(extra=("--log-level", "info"))
        prefixes = args.prefixes if spread else 1
        socks = []
        for i in range(prefixes):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((f"127.{100 + i // 250}.{i % 250}.1", 0))
            s.setblocking(False)
            socks.append(s)
            env.sockets.append(s)
        payloads = []
        for s in socks:
            host, port = s.getsockname()
            payloads.append(shapes(env.port, host, port)[3][1].encode())  # Asterisk's
        sent = sent_bytes = got = got_bytes = 0
        interval = 1.0 / args.rate
        start = time.monotonic()
        next_send = start
        while time.monotonic() - start < args.seconds:
            now = time.monotonic()
            while next_send <= now:
                i = sent % len(socks)
                socks[i].sendto(payloads[i], ("127.0.0.1", env.port))
                sent += 1
                sent_bytes += len(payloads[i])
                next_send += interval
            for s in socks:
                while True:
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        break
                    got += 1
                    got_bytes += len(data)
        time.sleep(0.3)
        for s in socks:
            while True:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    break
                got += 1
                got_bytes += len(data)
        elapsed = time.monotonic() - start
        what = f"over {prefixes} /24s" if spread else "at one /24"
        print(f"  {what:<16} sent {sent / elapsed:7.0f}/s ({sent_bytes / elapsed / 1024:7.1f} "
              f"KiB/s), answered {got / elapsed:6.1f}/s "
              f"({got_bytes / elapsed / 1024:6.1f} KiB/s): x{got_bytes / sent_bytes:.3f} "
              "of the bytes")
    finally:
        env.stop_daemon()
        env.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--prefixes", type=int, default=256)
    harness.add_binary_arguments(parser)
    args = parser.parse_args()
    harness.use_binaries(args.daemon, args.standin)
    sizes(0)
    print(f"Part 2: a spoofed flood of Asterisk-shaped NOTIFYs, {args.rate}/s for "
          f"{args.seconds:.0f} s, challenge on")
    flood(args, spread=False)
    flood(args, spread=True)


if __name__ == "__main__":
    main()
