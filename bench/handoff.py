#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cost of a hand-over from the UA: HandleRequest round trips and rate
from a client, and checksyncd's (and the bus daemon's) CPU per hand-over
against the same request on checksyncd's own UDP port.

The request is a NOTIFY check-sync with challenge_checksync on, so every
one is answered 401 without a provisioning call (the provisioning process
sees one call per 5 s whatever the rate: not a per-request cost). Each has a
Call-ID of its own. The hand-overs come from bench/handoff_client.cpp
(sd-bus, built as build/bench/handoff-bench-client); the port requests from
one UDP socket that sends the next NOTIFY when the 401 of the last arrived.
CPU is the scheduler's run time of the process (/proc/PID/schedstat).

Usage: bench/handoff.py [--calls 20000] [--parallel 16] [--daemon PATH]
                        [--standin PATH] [--client PATH]
"""

import argparse
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))

import harness  # noqa: E402


def run_ns(pid):
    """The scheduler's run time of a process so far, in ns."""
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
        return int(f.read().split()[0])


def client_line(args, bus, calls, parallel):
    out = subprocess.run([args.client, "--bus", bus, "--calls", str(calls), "--parallel",
                          str(parallel)], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"handoff-bench-client failed: {out.stdout}{out.stderr}")
    return dict(item.split("=", 1) for item in out.stdout.split())


def port_requests(port, calls):
    """`calls` NOTIFYs to 127.0.0.1:port, each after the last one's answer;
    returns the statuses seen."""
    statuses = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        local = s.getsockname()[1]
        for n in range(calls):
            text = (f"NOTIFY sip:340899@127.0.0.1:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKport{n}\r\n"
                    f"From: <sip:pbx@127.0.0.1>;tag=p{n}\r\nTo: <sip:340899@127.0.0.1>\r\n"
                    f"Call-ID: port-{n}@127.0.0.1\r\nCSeq: 1 NOTIFY\r\nMax-Forwards: 70\r\n"
                    "Event: check-sync;reboot=false\r\nSubscription-State: terminated\r\n"
                    "Content-Length: 0\r\n\r\n")
            s.sendto(text.encode(), ("127.0.0.1", port))
            status = s.recv(65536).split(b" ", 2)[1].decode()
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--client", default=os.path.join(harness.BUILD, "bench",
                                                         "handoff-bench-client"))
    harness.add_binary_arguments(parser)
    args = parser.parse_args()
    harness.use_binaries(args.daemon, args.standin)

    env = harness.Env("handoff-bench")
    try:
        env.write_settings(harness.settings_xml(challenge="on"))
        env.start_standin()
        env.start_daemon()
        daemon, bus = env.daemon.pid, env.bus.pid
        client_line(args, env.bus_address, 500, 1)  # warm up
        port_requests(env.port, 500)

        rows = []
        for label, parallel in (("hand-over, one at a time", 1),
                                (f"hand-over, {args.parallel} in flight", args.parallel)):
            d0, b0 = run_ns(daemon), run_ns(bus)
            line = client_line(args, env.bus_address, args.calls, parallel)
            d1, b1 = run_ns(daemon), run_ns(bus)
            rows.append((label, line["calls_per_s"], line["mean_us"], line["p50_us"],
                         line["p99_us"], (d1 - d0) / 1000 / args.calls,
                         (b1 - b0) / 1000 / args.calls, f"{line['first_status']} "
                         f"({line['ok']} answered, {line['errors']} errors)"))
        d0 = run_ns(daemon)
        statuses = port_requests(env.port, args.calls)
        d1 = run_ns(daemon)
        rows.append(("UDP port, one at a time", "-", "-", "-", "-", (d1 - d0) / 1000 / args.calls,
                     0.0, " ".join(f"{k} x{v}" for k, v in sorted(statuses.items()))))

        print(f"{args.calls} NOTIFY check-syncs per row, challenge on (every answer a 401)")
        print(f"{'path':<28} {'calls/s':>8} {'mean µs':>8} {'p50 µs':>7} {'p99 µs':>7} "
              f"{'checksyncd CPU µs':>18} {'dbus-daemon CPU µs':>19}  answers")
        for label, rate, mean, p50, p99, cpu, bus_cpu, answers in rows:
            print(f"{label:<28} {rate:>8} {mean:>8} {p50:>7} {p99:>7} {cpu:>18.1f} "
                  f"{bus_cpu:>19.1f}  {answers}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
