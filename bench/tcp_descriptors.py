#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""SIP over TCP at the descriptor limit: the daemon's CPU, memory and
descriptors before, during and after more TCP connections than its
descriptor limit allows.

The daemon runs under `prlimit --nofile=N` (default 64, the limit the issue
reproduced the spin with) at log level info, challenge off. Phases:

  idle   nothing but the probes;
  held   90 connections from 15 loopback sources, opened at once, never
         sending a byte, held open by the client (the daemon keeps at most
         limit - 32 of them, and closes those 10 s after they opened);
  churn  on top of those, 200 new silent connections a second from 50
         more sources (the client drops what the daemon closed);
  after  every client connection closed.

Through every phase a UDP OPTIONS is sent every 0.5 s and must be answered
within 1 s (the "UDP keeps being served" promise). Each phase prints the
daemon's CPU share of one core, its VmRSS (max and at the end), its open
descriptors (max) and the probes answered.

Usage: bench/tcp_descriptors.py [--nofile 64] [--seconds 10] [--daemon PATH]
                                [--standin PATH]
"""

import argparse
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))
sys.path.insert(0, HERE)

import benchlib  # noqa: E402
import harness  # noqa: E402
from test_tcp import closed_by_peer, open_idle  # noqa: E402

HELD = 90
HELD_SOURCES = [f"127.0.0.{i}" for i in range(20, 35)]
CHURN_PER_SECOND = 200
CHURN_SOURCES = [f"127.0.2.{i}" for i in range(1, 51)]
PROBE_INTERVAL = 0.5


class LimitedEnv(harness.Env):
    """The integration tests' environment, with the daemon under prlimit and
    at log level info (what ships)."""

    nofile = 64

    def daemon_args(self, listen=None, extra=()):
        return ["prlimit", f"--nofile={self.nofile}", "--", harness.CONFIG["daemon"],
                "--settings", self.settings_path, "--listen", listen,
                "--bus", self.bus_address, "--log-level", "info", *extra]


class Sampler(threading.Thread):
    """Samples the daemon every 0.1 s: (time, cpu ticks, VmRSS kB, fds)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            proc = benchlib.read_proc(self.pid)
            try:
                fds = len(os.listdir(f"/proc/{self.pid}/fd"))
            except OSError:
                fds = 0
            if proc:
                self.samples.append((time.monotonic(), proc[2], proc[0], fds))
            self.stop.wait(0.1)

    def between(self, start, end):
        return [s for s in self.samples if start <= s[0] <= end]


def probe(client):
    resp, _, _ = client.request(method="OPTIONS", event=None, timeout=1.0)
    return resp is not None and resp.status == 200


def run_phase(name, seconds, client, step=None):
    """Run step() every 50 ms and a UDP probe every PROBE_INTERVAL for
    seconds; returns (name, start, end, probes sent, probes answered)."""
    start = time.monotonic()
    end = start + seconds
    next_probe = start
    sent = answered = 0
    while time.monotonic() < end:
        if step:
            step()
        if time.monotonic() >= next_probe:
            next_probe += PROBE_INTERVAL
            sent += 1
            answered += probe(client)
        time.sleep(0.05)
    return name, start, time.monotonic(), sent, answered


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nofile", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    harness.add_binary_arguments(parser)
    args = parser.parse_args()
    harness.use_binaries(args.daemon, args.standin)
    LimitedEnv.nofile = args.nofile

    env = LimitedEnv("tcp-descriptors-bench")
    held, churned = [], []
    sampler = None
    try:
        env.write_settings(harness.settings_xml(challenge="off"))
        env.start_standin()
        env.start_daemon()
        pid = env.daemon.pid
        sampler = Sampler(pid)
        sampler.start()
        client = harness.SipClient("127.0.0.1", env.port)
        env.sockets.append(client.sock)
        port = env.port

        phases = [run_phase("idle", args.seconds, client)]

        held += open_idle("127.0.0.1", port, HELD_SOURCES, HELD)
        phases.append(run_phase("held", args.seconds, client))

        per_step = max(1, CHURN_PER_SECOND // 20)
        counter = [0]

        def churn():
            for _ in range(per_step):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((CHURN_SOURCES[counter[0] % len(CHURN_SOURCES)], 0))
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                churned.append(s)
                counter[0] += 1
            for s in [s for s in churned if closed_by_peer(s)]:
                churned.remove(s)
                s.close()

        phases.append(run_phase("churn", args.seconds, client, churn))
        opened = counter[0]

        for s in held + churned:
            s.close()
        held.clear()
        churned.clear()
        phases.append(run_phase("after", args.seconds, client))
        sampler.stop.set()
        sampler.join()

        print(f"checksyncd under prlimit --nofile={args.nofile}: {HELD} held silent TCP "
              f"connections, then {opened} more in {args.seconds:.0f} s ({CHURN_PER_SECOND}/s); "
              f"UDP OPTIONS every {PROBE_INTERVAL} s")
        print(f"{'phase':<6} {'CPU % of a core':>16} {'VmRSS max kB':>13} {'VmRSS end kB':>13} "
              f"{'fds max':>8} {'UDP answered':>13}")
        for name, start, end, sent, answered in phases:
            rows = sampler.between(start, end)
            if len(rows) < 2:
                print(f"{name:<6} (no samples)")
                continue
            ticks = rows[-1][1] - rows[0][1]
            cpu = 100.0 * ticks / benchlib.CLK_TCK / (rows[-1][0] - rows[0][0])
            print(f"{name:<6} {cpu:>16.1f} {max(r[2] for r in rows):>13} {rows[-1][2]:>13} "
                  f"{max(r[3] for r in rows):>8} {answered:>6}/{sent:<6}")
        return 0
    finally:
        if sampler:
            sampler.stop.set()
        for s in held + churned:
            s.close()
        env.close()


if __name__ == "__main__":
    sys.exit(main())
