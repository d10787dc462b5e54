#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a request the source filter drops costs the daemon, against one it
serves.

Each scenario starts the daemon (private bus, provisioning stand-in,
listening on 127.0.0.1) with its own settings and sends it N distinct
requests in batches; before the next batch the daemon's UDP receive queue
(/proc/net/udp) must be empty, so the kernel drops nothing and every
request is processed. The daemon's CPU time comes from
/proc/PID/schedstat (nanoseconds on the CPU) before and after; with
--callgrind the daemon runs under valgrind and the instructions it executes
while the requests arrive are counted instead (noise-free, slow).

  dropped     OPTIONS from 127.0.0.3; checksync_trusted 127.0.0.2: no answer;
              the kernel's socket filter drops all but 1 in 128 of them
              before the daemon reads them ("kernel dropped", from the
              socket's drop counter in /proc/net/udp)
  refused     the same with checksync_untrusted refuse: 403
  served      OPTIONS from 127.0.0.2, the trusted source: 200
  unfiltered  OPTIONS from 127.0.0.3, no filter: 200
  challenged  NOTIFY from 127.0.0.2, trusted, challenge on: 401

Usage: bench/filter-drop.py [--requests 20000] [--batch 50] [--callgrind]
                            [--daemon PATH] [--standin PATH] [--only NAME]...
Prints one line per scenario: answers, CPU per 1000 requests (or
instructions per request), and the ratio to the dropped one. On loopback
the kernel's part of receiving a datagram, the socket filter included,
runs on the sender's CPU and is not in these figures.
"""

import argparse
import glob
import os
import secrets
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))

import harness  # noqa: E402

TRUSTED = "127.0.0.2"
STRANGER = "127.0.0.3"

SCENARIOS = {
    # name: (source, method, settings extra, challenge, expected status or None)
    "dropped": (STRANGER, "OPTIONS", [("checksync_trusted", TRUSTED)], "off", None),
    "refused": (STRANGER, "OPTIONS",
                [("checksync_trusted", TRUSTED), ("checksync_untrusted", "refuse")], "off", 403),
    "served": (TRUSTED, "OPTIONS", [("checksync_trusted", TRUSTED)], "off", 200),
    "unfiltered": (STRANGER, "OPTIONS", [], "off", 200),
    "challenged": (TRUSTED, "NOTIFY", [("checksync_trusted", TRUSTED)], "on", 401),
}


def udp_queue(port):
    """(rx_queue bytes, drops) of the socket bound to 127.0.0.1:port."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want:
                rx = int(fields[4].split(":")[1], 16)
                return rx, int(fields[-1])
    raise RuntimeError(f"no UDP socket on 127.0.0.1:{port}")


def wait_drained(port, settle):
    while udp_queue(port)[0] > 0:
        time.sleep(0.001)
    # The last datagram left the queue; let the daemon finish it.
    time.sleep(settle)


def cpu_ns(pid):
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
        return int(f.read().split()[0])


class CallgrindEnv(harness.Env):
    """The daemon under valgrind's callgrind, instrumentation off until asked."""

    def __init__(self, name, outdir):
        super().__init__(name)
        self.outdir = outdir

    def daemon_args(self, listen=None, extra=()):
        args = super().daemon_args(listen, extra)
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--log-file={self.outdir}/valgrind.%p.log",
                f"--callgrind-out-file={self.outdir}/callgrind.out.%p", *args]


def run(name, args):
    source, method, extra, challenge, expected = SCENARIOS[name]
    outdir = None
    if args.callgrind:
        outdir = f"/tmp/checksyncd-filter-drop-{name}-{secrets.token_hex(3)}"
        os.makedirs(outdir)
        env = CallgrindEnv(f"filter-bench-{name}", outdir)
    else:
        env = harness.Env(f"filter-bench-{name}")
    try:
        env.write_settings(harness.settings_xml(
            challenge=challenge, extra=extra,
            identities=[dict(idx=1, user_name=harness.DEFAULT_USER, user_host=TRUSTED,
                             user_pass=harness.DEFAULT_PASS)]))
        env.start_standin()
        # Info, the default level: debug would log every request.
        env.start_daemon(extra=("--log-level", "info"))
        pid = env.daemon.pid
        client = harness.SipClient("127.0.0.1", env.port, source=source)
        env.sockets.append(client.sock)
        # A challenged source first proves it receives our answers (a
        # wrong answer with a nonce of ours): an unproven one gets its 401s
        # only at a bounded rate (docs/security.md, "Amplification").
        if challenge == "on":
            first, _, _ = client.request(method=method)
            auth = harness.authorization(first.all("www-authenticate")[0],
                                         harness.DEFAULT_USER, "not-the-password",
                                         method, client.uri())
            client.request(method=method, auth=auth, cseq=2)
        # Warm up (first-use allocations), outside the measurement.
        for _ in range(20):
            client.send(client.build(method=method, event="check-sync;reboot=false"
                                     if method == "NOTIFY" else None)[0])
        settle = 0.2 if args.callgrind else 0.01
        wait_drained(env.port, settle)
        while client.recv(timeout=0.2):
            pass
        warmup = len(client.responses)
        requests = [client.build(method=method, event="check-sync;reboot=false"
                                 if method == "NOTIFY" else None)[0]
                    for _ in range(args.requests)]
        _, drops_before = udp_queue(env.port)
        if args.callgrind:
            subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        answers = 0
        before = cpu_ns(pid)
        for start in range(0, len(requests), args.batch):
            for text in requests[start:start + args.batch]:
                client.send(text)
            wait_drained(env.port, 0 if not args.callgrind else 0.05)
            while client.recv(timeout=0.001 if expected is None else 0.0005):
                answers += 1
        wait_drained(env.port, settle)
        spent = cpu_ns(pid) - before
        if args.callgrind:
            subprocess.run(["callgrind_control", "-i", "off", str(pid)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while client.recv(timeout=0.2):
            answers += 1
        _, drops_after = udp_queue(env.port)
        statuses = {r.status for r in client.responses[warmup:]}
    finally:
        env.stop_daemon()
        env.close()
    result = {"name": name, "answers": answers, "statuses": statuses, "cpu_ns": spent,
              "kernel_drops": drops_after - drops_before, "expected": expected}
    if args.callgrind:
        total = 0
        for path in glob.glob(f"{outdir}/callgrind.out.*"):
            with open(path, encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("totals:"):
                        total += int(line.split()[1])
        result["instructions"] = total
        result["outdir"] = outdir
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS))
    harness.add_binary_arguments(parser)
    args = parser.parse_args()
    harness.use_binaries(args.daemon, args.standin)
    if args.callgrind:
        harness.START_TIMEOUT = 60.0

    results = [run(name, args) for name in (args.only or SCENARIOS)]
    base = next((r for r in results if r["name"] == "dropped"), results[0])
    print(f"{args.requests} requests per scenario, in batches of {args.batch}"
          + (", under callgrind" if args.callgrind else ""))
    for r in results:
        each_us = r["cpu_ns"] / args.requests / 1000
        statuses = "/".join(map(str, sorted(r["statuses"]))) or "-"
        line = (f"  {r['name']:<11} answers {r['answers']:>6} {statuses:<4} "
                f"CPU {each_us:7.2f} ms/1000 "
                f"(x{r['cpu_ns'] / base['cpu_ns']:.2f})")
        if "instructions" in r:
            line += (f"  {r['instructions'] / args.requests:9.0f} Ir each "
                     f"(x{r['instructions'] / base['instructions']:.2f})")
        if "outdir" in r:
            line += f"  ({r['outdir']})"
        if r["kernel_drops"]:
            line += f"  kernel dropped {r['kernel_drops']}"
        expected = 0 if r["expected"] is None else args.requests
        if r["answers"] != expected:
            line += f"  UNEXPECTED: {r['answers']} answers, expected {expected}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
