#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Floods against the request guard (docs/security.md), with the daemon's
memory and CPU printed as figures, never asserted.

  bench/guard-floods.py --daemon BIN --standin BIN [--seconds 60]

Scenarios, each on a fresh daemon (private D-Bus, the provisioning stand-in,
loopback only):

  callid   1100 check-syncs with 7000-byte Call-IDs, then 1100 with
           60 000-byte ones (over NTATAG_MAXSIZE), the challenge off: the
           response cache keeps 16-byte keys, so memory stays flat.
  mixed    SECONDS of a flood of unauthenticated NOTIFYs (each answered 401)
           from 127.0.0.2 while a PBX on 127.0.0.3 sends authenticated
           check-syncs as fast as it is answered: RSS and CPU every 5 s.
  served   the same with the challenge off: every flood NOTIFY is a served
           check-sync (answered 200 at once and kept for its
           retransmissions), beside the PBX's plain check-syncs.

Prints, per scenario, the daemon's VmRSS before, during and after, the CPU
it used (utime+stime) and the request rates.
"""

import argparse
import multiprocessing
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test",
                                "integration"))
import harness  # noqa: E402
from harness import (DEFAULT_PASS, DEFAULT_USER, Env, SipClient, authorization,  # noqa: E402
                     settings_xml)

TICK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


def start(name, challenge):
    env = Env(name)
    original = env.daemon_args
    # Info level: debug would log every datagram and measure the logger.
    env.daemon_args = lambda listen=None, extra=(): [
        a if a != "debug" else "info" for a in original(listen, extra)]
    env.write_settings(settings_xml(challenge=challenge))
    env.start_bus()
    env.start_standin()
    env.start_daemon()
    return env


def drain(client, timeout=0.0):
    while client._read_one(timeout) is not None:
        pass


def callid(_args):
    env = start("bench-callid", "off")
    try:
        pid = env.daemon.pid
        c = SipClient("127.0.0.1", env.port)
        c.request()
        print("callid: 1100 check-syncs per row, the challenge off")
        print(f"  {'Call-ID bytes':>14} {'RSS before KiB':>15} {'RSS after KiB':>14} "
              f"{'growth KiB':>11} {'CPU s':>7} {'answers':>8}")
        for size in (7000, 60000):
            before, cpu0 = rss_kib(pid), cpu_s(pid)
            answers = 0
            for i in range(1100):
                text, _ = c.build(call_id=f"{i}-" + "c" * size)
                c.send(text)
                if i % 50 == 49:
                    while c._read_one(0.05) is not None:
                        answers += 1
            time.sleep(1.0)
            while c._read_one(0.1) is not None:
                answers += 1
            after = rss_kib(pid)
            print(f"  {size:>14} {before:>15} {after:>14} {after - before:>11} "
                  f"{cpu_s(pid) - cpu0:>7.2f} {answers:>8}")
    finally:
        env.close()


def mixed(args, challenge="on"):
    env = start("bench-" + ("mixed" if challenge == "on" else "served"), challenge)
    stop = threading.Event()
    flood_stop = multiprocessing.Event()
    flooded = multiprocessing.Value("q", 0)
    counts = {"401": 0, "200": 0}
    try:
        pid = env.daemon.pid

        def flood(port, stop, flooded):
            # A process of its own: the PBX thread must not wait for the
            # flood's interpreter lock.
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.2", 0))
            sock.setblocking(False)
            c = SipClient("127.0.0.1", port, source="127.0.0.2")
            template, _ = c.build(call_id="flood@attacker")
            n = 0
            while not stop.is_set():
                text = template.replace("z9hG4bK", f"z9hG4bK{n}x", 1)
                try:
                    sock.sendto(text.encode(), ("127.0.0.1", port))
                except BlockingIOError:
                    time.sleep(0.001)
                n += 1
                if n % 200 == 0:
                    try:
                        while True:
                            sock.recv(65536)
                            with flooded.get_lock():
                                flooded.value += 1
                    except BlockingIOError:
                        pass
                    time.sleep(0.002)  # about 50 000/s at most
            sock.close()
            c.close()

        def pbx():
            c = SipClient("127.0.0.1", env.port, source="127.0.0.3")
            i = 0
            while not stop.is_set():
                first, _, _ = c.request(call_id=f"pbx-{i}", cseq=1, timeout=2.0)
                i += 1
                if first is not None and first.status == 200:
                    counts["200"] += 1
                if first is None or first.status != 401:
                    continue
                auth = authorization(first.get("www-authenticate"), DEFAULT_USER,
                                     DEFAULT_PASS, "NOTIFY", c.uri())
                ok, _, _ = c.request(call_id=f"pbx-{i}", cseq=2, auth=auth, timeout=2.0)
                if ok is not None and ok.status == 200:
                    counts["200"] += 1
                c.pending.clear()
                c.responses.clear()
            c.close()

        flooder = multiprocessing.Process(target=flood, args=(env.port, flood_stop, flooded))
        threads = [threading.Thread(target=pbx)]
        base_rss, base_cpu = rss_kib(pid), cpu_s(pid)
        if challenge == "on":
            print(f"mixed: {args.seconds} s of unauthenticated NOTIFYs (401) from 127.0.0.2 "
                  "and authenticated check-syncs from 127.0.0.3")
        else:
            print(f"served: {args.seconds} s of plain check-syncs (200 at once) from "
                  "127.0.0.2 and a PBX's from 127.0.0.3, the challenge off")
        flood_label = "401/s" if challenge == "on" else "200/s"
        print(f"  {'t s':>5} {'RSS KiB':>8} {'CPU %':>6} {flood_label:>7} {'PBX 200/s':>9}")
        print(f"  {0:>5} {base_rss:>8} {'':>6} {'':>7} {'':>6}")
        flooder.start()
        for t in threads:
            t.start()
        last_cpu, last = base_cpu, dict(counts)
        peak = base_rss
        for step in range(5, args.seconds + 1, 5):
            time.sleep(5)
            rss, cpu = rss_kib(pid), cpu_s(pid)
            counts["401"] = flooded.value
            peak = max(peak, rss)
            print(f"  {step:>5} {rss:>8} {100 * (cpu - last_cpu) / 5:>6.1f} "
                  f"{(counts['401'] - last['401']) / 5:>7.0f} "
                  f"{(counts['200'] - last['200']) / 5:>9.1f}")
            last_cpu, last = cpu, dict(counts)
        stop.set()
        flood_stop.set()
        flooder.join()
        for t in threads:
            t.join()
        counts["401"] = flooded.value
        time.sleep(1)
        print(f"  RSS before {base_rss} KiB, peak {peak} KiB, after {rss_kib(pid)} KiB; "
              f"{counts['401']} answers to the flood and {counts['200']} 200s to the PBX; "
              f"D-Bus calls: {len(env.calls())}")
    finally:
        stop.set()
        flood_stop.set()
        env.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemon", required=True)
    parser.add_argument("--standin", required=True)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--scenario", choices=("callid", "mixed", "served", "all"),
                        default="all")
    args = parser.parse_args()
    harness.use_binaries(args.daemon, args.standin)
    if args.scenario in ("callid", "all"):
        callid(args)
    if args.scenario in ("mixed", "all"):
        mixed(args, "on")
    if args.scenario in ("served", "all"):
        mixed(args, "off")


if __name__ == "__main__":
    main()
