#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Measure checksyncd's footprint (run by bench/footprint.sh; see docs/footprint.md).

  footprint.py (--deb DEB | --daemon BIN) --standin BIN [--emulator 'qemu-aarch64-static -L ROOT']
               [--label NAME] [--checksyncs 10000] [--loads 2] [--rate 120] [--idle 60]
               [--expire 35] [--markdown FILE] [--verbose]

Starts a private dbus-daemon, the provisioning stand-in and the daemon (with
an sd_notify socket, challenge_checksync on, on 127.0.0.1) and prints:

  - the stripped binary's size and the package's Installed-Size (--deb: the
    binary measured is the one in the package, already stripped by dh_strip;
    without --deb a stripped copy of --daemon is measured);
  - the time from starting the process to READY=1 on the notify socket;
  - private memory (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup)
    idle, right after --checksyncs authenticated check-syncs (sipp, the
    scenario test/integration/notify_auth.xml), and once the nonces of that
    load have expired (--expire s later), --loads times, each split into
    the clean pages of shared libraries (shared with every other process
    that maps the same library: on this host few do, on a phone the SIP
    stack and others do) and the daemon's own: every dirty page (heap,
    stack, the libraries' relocated data) and its own binary's pages;
  - context switches (wake-ups) per minute of the daemon's thread over
    --idle seconds of idleness (no watchdog: systemd's WatchdogSec=30s adds
    a ping every 15 s).

With --emulator the daemon runs under qemu-user: the process measured is
qemu's, so only the file-backed mappings of the target binary and its
libraries mean anything (qemu's own code, heap and translation cache are in
the rest); the script says so in the table.

Only loopback addresses are used. Every process started is stopped on exit.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))

import harness  # noqa: E402

KiB = 1024


class FootprintEnv(harness.Env):
    """The integration tests' environment, with the daemon at log level info
    (what ships) and optionally behind an emulator."""

    emulator = []

    def daemon_args(self, listen=None, extra=()):
        return [*self.emulator, harness.CONFIG["daemon"], "--settings", self.settings_path,
                "--listen", listen, "--bus", self.bus_address, "--log-level", "info", *extra]


def smaps(pid, binary):
    """Private clean/dirty kB per class of mapping of process pid."""
    classes = {}
    current = None
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) > 5 else ""
                perms = fields[1]
                if path and os.path.basename(path) == os.path.basename(binary):
                    current = "binary"
                elif re.search(r"\.so(\.[0-9.]+)?$", path):
                    current = "lib-code" if "x" in perms or "w" not in perms else "lib-data"
                elif path == "[heap]":
                    current = "heap"
                elif path.startswith("[stack"):
                    current = "stack"
                elif path.startswith("/"):
                    current = "other-file"
                else:
                    current = "anon"
                classes.setdefault(current, {"clean": 0, "dirty": 0, "libs": {}})
                lib = os.path.basename(path)
            else:
                key, _, value = line.partition(":")
                if key in ("Private_Clean", "Private_Dirty") and current:
                    kb = int(value.split()[0])
                    which = "clean" if key == "Private_Clean" else "dirty"
                    classes[current][which] += kb
                    if current.startswith("lib") and kb:
                        per = classes[current]["libs"].setdefault(lib, {"clean": 0, "dirty": 0})
                        per[which] += kb
    return classes


def rollup(pid):
    values = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Private_Clean", "Private_Dirty", "Rss", "Pss"):
                values[key] = int(value.split()[0])
    return values


def switches(pid):
    """Voluntary + involuntary context switches of the main thread of pid
    (the daemon's only thread; under qemu-user, the emulated one)."""
    total = 0
    with open(f"/proc/{pid}/task/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def memory(pid, binary):
    r = rollup(pid)
    c = smaps(pid, binary)
    lib_clean = c.get("lib-code", {}).get("clean", 0) + c.get("lib-data", {}).get("clean", 0)
    total = r["Private_Clean"] + r["Private_Dirty"]
    return {"total": total, "clean": r["Private_Clean"], "dirty": r["Private_Dirty"],
            "lib_clean": lib_clean, "own": total - lib_clean, "classes": c}


def mib(kb):
    return f"{kb / 1024:.2f} MiB"


def run_sipp(env, calls, rate, scenario):
    stat = os.path.join(env.dir, "sipp-stat.csv")
    args = ["sipp", "-sf", scenario, "-m", str(calls), "-r", str(rate), "-l", "50",
            "-i", "127.0.0.1", "-p", str(harness.free_port()), "-s", harness.DEFAULT_USER,
            "-auth_uri", f"{harness.DEFAULT_USER}@127.0.0.1:{env.port}",
            "-nostdin", "-timeout", f"{int(calls / rate) + 120}s", "-timeout_error",
            "-trace_stat", "-stf", stat, "-fd", "1",
            f"127.0.0.1:{env.port}"]
    t0 = time.monotonic()
    proc = subprocess.run(args, cwd=env.dir, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.monotonic() - t0
    ok = failed = None
    try:
        with open(stat, encoding="utf-8", errors="replace") as f:
            rows = [r.split(";") for r in f.read().splitlines() if r]
        header, last = rows[0], rows[-1]
        ok = int(last[header.index("SuccessfulCall(C)")])
        failed = int(last[header.index("FailedCall(C)")])
    except (OSError, ValueError, IndexError):
        pass
    return proc.returncode, ok, failed, elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--daemon", help="the daemon binary (not needed with --deb)")
    p.add_argument("--standin", required=True)
    p.add_argument("--deb")
    p.add_argument("--emulator", default="", help="command prefix, e.g. 'qemu-aarch64-static -L ROOT'")
    p.add_argument("--strip", default="strip", help="strip program for a --daemon without --deb")
    p.add_argument("--label", default=os.uname().machine)
    p.add_argument("--checksyncs", type=int, default=10000)
    p.add_argument("--loads", type=int, default=2, help="how many times to send --checksyncs")
    p.add_argument("--rate", type=int, default=120,
                   help="check-syncs per second")
    p.add_argument("--idle", type=int, default=60, help="seconds of idleness to count wake-ups")
    p.add_argument("--expire", type=int, default=35, help="seconds after the load until the "
                   "last sample (nonces live 30 s)")
    p.add_argument("--markdown", help="append the table to this file as markdown")
    p.add_argument("--verbose", action="store_true", help="print private memory per library")
    args = p.parse_args()

    work = tempfile.mkdtemp(prefix="csd-footprint-")
    rows = []  # (figure, value, goal)

    if not args.deb and not args.daemon:
        p.error("--deb or --daemon is needed")
    daemon = os.path.abspath(args.daemon or "")
    if args.deb:
        subprocess.run(["dpkg-deb", "-x", args.deb, os.path.join(work, "pkg")], check=True)
        os.sync()  # pages of a file not yet written back count as Private_Dirty
        packaged = os.path.join(work, "pkg", "usr", "sbin", "checksyncd")
        installed = subprocess.run(["dpkg-deb", "-f", args.deb, "Installed-Size"],
                                   capture_output=True, text=True, check=True).stdout.strip()
        rows.append(("stripped binary (the package's /usr/sbin/checksyncd)",
                     f"{os.path.getsize(packaged) / KiB:.0f} KiB", "<= 300 KiB"))
        rows.append(("installed package size (Installed-Size)", f"{installed} KiB", ""))
        rows.append((".deb file size", f"{os.path.getsize(args.deb) / KiB:.0f} KiB", ""))
        daemon = packaged
    else:
        stripped = os.path.join(work, "checksyncd.stripped")
        subprocess.run([args.strip, "-o", stripped, daemon], check=True)
        rows.append(("stripped binary", f"{os.path.getsize(stripped) / KiB:.0f} KiB", "<= 300 KiB"))
    harness.use_binaries(daemon, args.standin)
    FootprintEnv.emulator = shlex.split(args.emulator)
    emulated = bool(FootprintEnv.emulator)

    env = FootprintEnv("footprint")
    try:
        env.write_settings(harness.settings_xml(challenge="on"))
        env.start_bus()
        env.start_standin()
        t0 = time.monotonic()
        note = env.start_daemon()
        ready_ms = (note["time"] - t0) * 1000
        pid = env.daemon.pid
        rows.append(("start to READY=1", f"{ready_ms:.0f} ms", ""))

        time.sleep(2)
        idle = memory(pid, daemon)

        before = switches(pid)
        time.sleep(args.idle)
        woke = switches(pid) - before
        rows.append((f"wake-ups while idle ({args.idle} s, no watchdog)",
                     f"{woke * 60 / args.idle:.1f} /min", "0"))

        samples = [("idle", idle)]
        for n in range(1, args.loads + 1):
            rc, ok, failed, elapsed = run_sipp(env, args.checksyncs, args.rate,
                                               os.path.join(HERE, "..", "test", "integration",
                                                            "notify_auth.xml"))
            rows.append((f"load {n}: authenticated check-syncs (sipp, {args.rate}/s)",
                         f"{ok} ok, {failed} failed in {elapsed:.0f} s (sipp exit {rc})", ""))
            time.sleep(2)
            samples.append((f"after load {n}", memory(pid, daemon)))
            time.sleep(args.expire)
            samples.append((f"{args.expire} s after load {n}", memory(pid, daemon)))
            if env.daemon.poll() is not None:
                raise RuntimeError(f"checksyncd exited with {env.daemon.returncode} "
                                   "during the load")

        goal = "" if emulated else "<= 2 MiB"
        for name, m in samples:
            c = m["classes"]
            if emulated:
                lib_clean = c.get("lib-code", {}).get("clean", 0) + c.get("lib-data", {}).get("clean", 0)
                lib_dirty = c.get("lib-code", {}).get("dirty", 0) + c.get("lib-data", {}).get("dirty", 0)
                binary = c.get("binary", {})
                rows.append((f"target binary + libraries, {name}",
                             f"binary {binary.get('clean', 0) + binary.get('dirty', 0)} KiB; "
                             f"libraries {lib_clean} KiB clean + {lib_dirty} KiB dirty", ""))
                continue
            rows.append((f"private memory {name} (Private_Clean + Private_Dirty)",
                         f"{mib(m['total'])} = {mib(m['clean'])} + {mib(m['dirty'])}", ""))
            rows.append(("  clean pages of shared libraries (shared on a phone)",
                         mib(m["lib_clean"]), ""))
            rows.append(("  the daemon's own: dirty pages + its binary", mib(m["own"]), goal))
        loaded = samples[-1][1]
        if args.verbose or not emulated:
            for name, m in (("idle", idle), ("at the end", loaded)):
                c = m["classes"]
                parts = ", ".join(f"{k} {v['clean']}+{v['dirty']}"
                                  for k, v in sorted(c.items()))
                print(f"footprint: {args.label} {name}: clean+dirty kB by class: {parts}")
            if args.verbose:
                libs = {}
                for cls in ("lib-code", "lib-data"):
                    for lib, v in idle["classes"].get(cls, {}).get("libs", {}).items():
                        e = libs.setdefault(lib, [0, 0])
                        e[0] += v["clean"]
                        e[1] += v["dirty"]
                for lib, (clean, dirty) in sorted(libs.items(), key=lambda kv: -sum(kv[1])):
                    print(f"footprint: {args.label} idle {lib}: clean {clean} kB, dirty {dirty} kB")
    finally:
        env.close()
        shutil.rmtree(work, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"\nfootprint of checksyncd, {args.label}" + (" (under qemu-user)" if emulated else ""))
    for figure, value, goal in rows:
        print(f"  {figure:<{width}}  {value}" + (f"   (goal {goal})" if goal else ""))
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as f:
            f.write(f"\n| {args.label} | value | goal |\n|---|---|---|\n")
            for figure, value, goal in rows:
                f.write(f"| {figure.strip()} | {value} | {goal} |\n")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
