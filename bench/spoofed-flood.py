#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A PBX's check-syncs under a flood from spoofed sources, with the source
filter and without it: the daemon's CPU and the PBX's share of
authenticated check-syncs answered 200 within 2 s. Figures are printed,
never asserted.

  bench/spoofed-flood.py --daemon BIN --standin BIN [--seconds 30] [--rate 50000]
                         [--scenario filter|no-filter|all]

Each scenario starts a fresh daemon (private D-Bus, the provisioning
stand-in, listening on 127.0.0.1, the challenge on, log level info) and a
PBX on 127.0.0.2 that authenticates once before the flood (so it is a
source that authenticated before). Then, for SECONDS, a flood process sends
RATE unauthenticated NOTIFYs a second from 1000 addresses in 127.64.0.0/14
(bound UDP sockets on loopback: any source a flood could forge, none the
filter or the daemon knows), while the PBX sends an authenticated
check-sync (NOTIFY -> 401, NOTIFY with the digest -> 200) every
--pbx-interval s, retransmitting after 0.5 s and 1.5 s as RFC 3261's timer
A says. Everything stays on loopback.

  filter     checksync_trusted 127.0.0.2 (drop): the kernel drops the flood
  no-filter  no source filter: the daemon sheds the flood when overloaded

--cpu-limit PERCENT puts the daemon in a CPU cgroup of its own with that
share of one core (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us): a phone's
CPU is several times slower than a development machine's.

Prints per scenario: the flood's rate as sent, the daemon's CPU (scheduler
run time over wall time), the PBX's check-syncs answered 200 within 2 s
(and their latency), and the daemon's counters and socket drops.
"""

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))
sys.path.insert(0, HERE)

import benchlib  # noqa: E402
import harness  # noqa: E402

PBX = "127.0.0.2"


def flood_sources(count):
    return [f"127.{64 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(count)]


def flood(port, rate, seconds, sources, sent, ready):
    """RATE NOTIFYs a second for SECONDS, round robin over SOURCES."""
    socks = []
    for source in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        s.setblocking(False)
        socks.append(s)
    client = benchlib.SipClient(f"127.0.0.1:{port}", "127.0.0.1", "340899", "1234")
    template = client.request("flood@attacker", 1, "f1").decode()
    datagrams = [template.replace("z9hG4bK-", f"z9hG4bK-{i:x}-", 1).encode()
                 for i in range(512)]
    ready.set()
    target = ("127.0.0.1", port)
    start = time.monotonic()
    n = 0
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        due = int((now - start) * rate)
        while n < due:
            try:
                socks[n % len(socks)].sendto(datagrams[n % len(datagrams)], target)
            except (BlockingIOError, ConnectionRefusedError):
                pass
            n += 1
        time.sleep(0.001)
    sent.value = n
    for s in socks:
        s.close()


def pbx(port, seconds, interval, out):
    """Authenticated check-syncs every INTERVAL s for SECONDS: (ok, seconds) each."""
    client = benchlib.SipClient(f"127.0.0.1:{port}", PBX, "340899", "1234")
    results = []
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        due = start + i * interval
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        ok, status, took = client.checksync("auth", retransmit=True)
        results.append((ok and status == 200, took))
        i += 1
    out.put(results)


class CpuLimit:
    """A CPU cgroup of its own for one process, at `percent` of one core."""

    def __init__(self, pid, percent):
        name = f"checksyncd-bench-{os.getpid()}"
        period = 100_000
        quota = int(period * percent / 100)
        v2 = "/sys/fs/cgroup/cgroup.controllers"
        if os.path.exists(v2) and "cpu" in open(v2, encoding="ascii").read().split():
            self.path = f"/sys/fs/cgroup/{name}"
            os.makedirs(self.path, exist_ok=True)
            with open(f"{self.path}/cpu.max", "w", encoding="ascii") as f:
                f.write(f"{quota} {period}\n")
            procs = "cgroup.procs"
        else:
            self.path = f"/sys/fs/cgroup/cpu/{name}"
            os.makedirs(self.path, exist_ok=True)
            with open(f"{self.path}/cpu.cfs_period_us", "w", encoding="ascii") as f:
                f.write(f"{period}\n")
            with open(f"{self.path}/cpu.cfs_quota_us", "w", encoding="ascii") as f:
                f.write(f"{quota}\n")
            procs = "tasks"
        with open(f"{self.path}/{procs}", "w", encoding="ascii") as f:
            f.write(f"{pid}\n")

    def close(self):
        # The process has gone (or goes now); an empty group can be removed.
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


def counters(env):
    proc = subprocess.run(["busctl", f"--address={env.bus_address}", "--timeout=5",
                           "--json=short", "get-property", "org.checksyncd.CheckSync1",
                           "/org/checksyncd/CheckSync1", "org.checksyncd.CheckSync1",
                           "Counters"], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=15, check=False)
    if proc.returncode != 0:
        return {}
    return {k: v for k, v in json.loads(proc.stdout)["data"].items()}


def udp_drops(port):
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want:
                return int(fields[-1])
    return 0


def cpu_ns(pid):
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
        return int(f.read().split()[0])


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def run(name, args):
    extra = [("checksync_trusted", PBX)] if name == "filter" else []
    env = harness.Env(f"bench-spoofed-{name}")
    original = env.daemon_args
    env.daemon_args = lambda listen=None, extra=(): [
        a if a != "debug" else "info" for a in original(listen, extra)]
    limit = None
    try:
        env.write_settings(harness.settings_xml(challenge="on", extra=extra))
        env.start_standin()
        env.start_daemon()
        pid, port = env.daemon.pid, env.port
        if args.cpu_limit:
            limit = CpuLimit(pid, args.cpu_limit)
        # The PBX authenticates once: a source that authenticated before.
        warm = benchlib.SipClient(f"127.0.0.1:{port}", PBX, "340899", "1234")
        ok, status, _ = warm.checksync("auth", retransmit=True)
        if not (ok and status == 200):
            print(f"{name}: the PBX's first check-sync got {status}", flush=True)
        warm.sock.close()

        sent = multiprocessing.Value("q", 0)
        ready = multiprocessing.Event()
        results = multiprocessing.Queue()
        flooder = multiprocessing.Process(
            target=flood, args=(port, args.rate, args.seconds, flood_sources(1000), sent, ready))
        flooder.start()
        ready.wait(30)
        time.sleep(0.5)  # the flood up to speed, the daemon's answer to it settled
        drops0, cpu0, wall0 = udp_drops(port), cpu_ns(pid), time.monotonic()
        prober = multiprocessing.Process(
            target=pbx, args=(port, args.seconds - 1.5, args.pbx_interval, results))
        prober.start()
        outcome = results.get()
        prober.join()
        cpu1, wall1, drops1 = cpu_ns(pid), time.monotonic(), udp_drops(port)
        flooder.join()
        time.sleep(2.5)  # the drop counters read
        final = counters(env)
        log = env.daemon_log()
    finally:
        env.close()
        if limit:
            limit.close()
    served = [took for ok, took in outcome if ok and took <= 2.0]
    late = [took for ok, took in outcome if ok and took > 2.0]
    latencies = [took for ok, took in outcome if ok]
    cpu_share = (cpu1 - cpu0) / 1e9 / (wall1 - wall0)
    print(f"{name}: {sent.value / args.seconds:,.0f} flood datagrams/s sent from 1000 "
          f"sources for {args.seconds} s"
          + (f", the daemon limited to {args.cpu_limit} % of a core" if args.cpu_limit else ""))
    print(f"  daemon CPU {100 * cpu_share:.1f} % (of one core, while the PBX probed)")
    print(f"  PBX: {len(served)}/{len(outcome)} authenticated check-syncs answered 200 within "
          f"2 s ({100 * len(served) / max(1, len(outcome)):.1f} %), {len(late)} later, "
          f"{len(outcome) - len(latencies)} not at all; latency p50 "
          f"{1000 * percentile(latencies, 0.5):.1f} ms, p99 "
          f"{1000 * percentile(latencies, 0.99):.1f} ms, max "
          f"{1000 * max(latencies, default=float('nan')):.1f} ms")
    keys = ("received", "challenged", "served", "dropped_by_filter", "dropped_in_kernel", "shed")
    print("  counters: " + ", ".join(f"{k} {final[k]}" for k in keys if k in final)
          + f"; socket drops while probed {drops1 - drops0}")
    overloads = log.count("overloaded: the kernel now")
    if overloads:
        print(f"  overload entered {overloads} time(s)")
    print(flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_binary_arguments(parser)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=50000)
    parser.add_argument("--pbx-interval", type=float, default=0.1)
    parser.add_argument("--cpu-limit", type=float, default=0,
                        help="the daemon's CPU, in percent of one core")
    parser.add_argument("--scenario", choices=("filter", "no-filter", "all"), default="all")
    args = parser.parse_args()
    harness.use_binaries(args.daemon, args.standin)
    for name in ("filter", "no-filter"):
        if args.scenario in (name, "all"):
            run(name, args)


if __name__ == "__main__":
    main()
