#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""checksyncd's load and footprint figures in one run, printed, never
asserted (docs/benchmarks.md, "Load and footprint in one run"):

  1. memory: smaps_rollup's Anonymous of the daemon idle and after SECONDS
     of authenticated check-syncs at RATE (sipp, CONCURRENCY in flight);
  2. CPU per 1000 check-syncs, authenticated (NOTIFY -> 401 -> NOTIFY with
     the digest -> 200) and plain (challenge off, NOTIFY -> 200), at RATE
     with CONCURRENCY in flight, against Kamailio as Debian ships it and with
     tlsf, ROUNDS rounds with the servers alternating within each
     (bench/compare-kamailio.sh);
  3. a datagram the source filter drops against one it serves: CPU and
     instructions (bench/filter-drop.py);
  4. a 50 000/s spoofed flood: the daemon's CPU and the PBX's check-syncs
     answered 200 within 2 s, with the source filter and without it
     (bench/spoofed-flood.py);
  5. the stripped binary as the package builds it (debian/rules' flags).

Usage, as root on Debian 12 (after tools/install-deps; installs kamailio,
sip-tester, valgrind with apt-get where missing):

  bench/load-and-footprint.py [--out DIR] [--source worktree|REV]
      [--daemon BIN --standin BIN] [--rounds 3] [--calls 10000] [--rate 1000]
      [--concurrency 200] [--memory-seconds 60] [--flood-seconds 30]
      [--flood-rate 50000] [--skip memory,cpu,drop,flood,size]

Without --daemon the work tree (or REV) is copied and built from scratch
(bench/build-snapshot.sh, meson's default build: what the other benchmarks
measure). Everything talks to loopback addresses only; every process
started is stopped when its part ends. About 15 minutes on 2 cores.
"""

import argparse
import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PARTS = ("memory", "cpu", "drop", "flood", "size")


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(args, out, timeout, env=None):
    """Run args, its output into the file out; returns (exit code, output)."""
    log("$ " + " ".join(shlex.quote(str(a)) for a in args))
    with open(out, "w") as f:
        try:
            proc = subprocess.run([str(a) for a in args], stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout, check=False,
                                  env=env)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -1
    with open(out) as f:
        return rc, f.read()


def results(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def spread(values, digits=2):
    """'median (min-max)' of values."""
    values = sorted(values)
    if not values:
        return "-"
    mid = values[len(values) // 2] if len(values) % 2 else \
        (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
    if len(values) == 1:
        return f"{mid:.{digits}f}"
    return f"{mid:.{digits}f} ({values[0]:.{digits}f}-{values[-1]:.{digits}f})"


def compare(args, lines, out, scenarios, servers, rounds, calls, extra=()):
    base = [os.path.join(HERE, "compare-kamailio.sh"), "--out", out, "--no-install",
            "--checksyncd", args.daemon, "--standin", args.standin,
            "--scenarios", scenarios, "--servers", servers, "--rounds", rounds,
            "--auth-calls", calls, "--auth-rate", args.rate,
            "--auth-concurrency", args.concurrency, *extra]
    rc, text = run(base, out + ".log", timeout=3600)
    path = os.path.join(out, "results.csv")
    if rc != 0 or not os.path.exists(path):
        lines.append(f"   compare-kamailio.sh failed (exit {rc}); see {out}.log")
        return []
    for line in text.splitlines():
        if line.startswith("machine busy before start"):
            lines.append("   " + line + " (other work on the machine disturbs the figures)")
    return results(path)


def part_memory(args, lines):
    calls = args.rate * args.memory_seconds
    # The latency sampler once a second only: the answers kept for
    # retransmissions of authenticated check-syncs are 32 768 for Timer J's
    # 32 s (1024/s sustained); past that the daemon answers 503 with
    # Retry-After by design, and 1000/s plus the sampler's default 50/s
    # would measure that.
    lines.append(f"1. memory: {calls} authenticated check-syncs at {args.rate}/s "
                 f"({args.memory_seconds} s), {args.concurrency} in flight, and one a second "
                 "from the latency sampler")
    rows = compare(args, lines, os.path.join(args.out, "memory"), "auth", "checksyncd", 1, calls,
                   ("--sampler-interval", "1"))
    for r in rows:
        idle, peak, final = (int(r[k]) for k in (
            "anonymous_idle_kb", "anonymous_peak_kb", "anonymous_final_kb"))
        lines.append(f"   anonymous memory (smaps_rollup Anonymous): idle {idle} KiB, "
                     f"at most {peak} KiB during the load, {final} KiB after it "
                     f"(+{final - idle} KiB)")
        lines.append(f"   sipp: {r['sipp_ok']} of {r['sipp_calls']} check-syncs answered 200, "
                     f"{r['sipp_failed']} failed; sampler: {r['sampler_statuses']}; "
                     f"{r['served_per_s']}/s served; CPU {r['cpu_ms_per_1000']} ms per 1000")


def part_cpu(args, lines):
    lines.append(f"2. CPU per 1000 check-syncs at {args.rate}/s, {args.concurrency} in flight, "
                 f"{args.calls} per run, {args.rounds} rounds (servers alternating); "
                 "median (range)")
    rows = compare(args, lines, os.path.join(args.out, "cpu"), "auth plain-rate",
                   "checksyncd kamailio kamailio-tlsf", args.rounds, args.calls)
    by = {}
    for r in rows:
        by.setdefault((r["scenario"], r["server"]), {})[int(r["round"])] = r
    names = {"auth": "authenticated", "plain-rate": "plain"}
    for scenario in ("auth", "plain-rate"):
        csd = by.get((scenario, "checksyncd"), {})
        cells = []
        for server in ("checksyncd", "kamailio", "kamailio-tlsf"):
            runs = by.get((scenario, server), {})
            cpu = [float(r["cpu_ms_per_1000"]) for r in runs.values() if r["cpu_ms_per_1000"]]
            ok = sum(int(r["sipp_ok"]) for r in runs.values())
            sent = sum(int(r["sipp_calls"]) for r in runs.values())
            cells.append(f"{server} {spread(cpu, 1)} ms ({ok}/{sent} answered 200)")
        lines.append(f"   {names[scenario]}: " + "; ".join(cells))
        for other, label in (("kamailio", "Debian's Kamailio"),
                             ("kamailio-tlsf", "Kamailio with tlsf")):
            theirs = by.get((scenario, other), {})
            ratios = [float(csd[n]["cpu_ms_per_1000"]) / float(theirs[n]["cpu_ms_per_1000"])
                      for n in sorted(csd) if n in theirs
                      and csd[n]["cpu_ms_per_1000"] and theirs[n]["cpu_ms_per_1000"]]
            lines.append(f"     checksyncd / {label}: {spread(ratios)}  rounds: "
                         + " ".join(f"{v:.2f}" for v in ratios))


def filter_drop_lines(text):
    """{scenario: (cpu ms per 1000, instructions or None)} from filter-drop.py."""
    out = {}
    for m in re.finditer(r"^\s+(\w+)\s+answers\s+\d+.*?CPU\s+([\d.]+) ms/1000"
                         r"(?:.*?\s([\d]+) Ir each)?", text, re.M):
        out[m.group(1)] = (float(m.group(2)), int(m.group(3)) if m.group(3) else None)
    return out


def part_drop(args, lines):
    script = os.path.join(HERE, "filter-drop.py")
    common = ["--daemon", args.daemon, "--standin", args.standin,
              "--only", "dropped", "--only", "served"]
    lines.append("3. a datagram the source filter drops against one it serves "
                 "(OPTIONS, bench/filter-drop.py)")
    _, cpu_text = run([sys.executable, script, "--requests", 20000, *common],
                      os.path.join(args.out, "filter-drop-cpu.txt"), timeout=900)
    _, ir_text = run([sys.executable, script, "--requests", 5000, "--callgrind", *common],
                     os.path.join(args.out, "filter-drop-callgrind.txt"), timeout=1800)
    cpu, ir = filter_drop_lines(cpu_text), filter_drop_lines(ir_text)
    if "dropped" in cpu and "served" in cpu:
        lines.append(f"   CPU: dropped {cpu['dropped'][0]:.2f} ms per 1000, served "
                     f"{cpu['served'][0]:.2f}: x{cpu['dropped'][0] / cpu['served'][0]:.3f}")
    else:
        lines.append("   CPU: filter-drop.py failed; see filter-drop-cpu.txt")
    if ir.get("dropped", (0, None))[1] and ir.get("served", (0, None))[1]:
        d, s = ir["dropped"][1], ir["served"][1]
        lines.append(f"   instructions (callgrind): dropped {d} per datagram, served {s}: "
                     f"x{d / s:.4f}")
    else:
        lines.append("   instructions: filter-drop.py --callgrind failed; "
                     "see filter-drop-callgrind.txt")
    for text in (cpu_text, ir_text):
        for line in text.splitlines():
            if "UNEXPECTED" in line or "kernel dropped" in line:
                lines.append("   " + line.strip())


def part_flood(args, lines):
    _, text = run([sys.executable, os.path.join(HERE, "spoofed-flood.py"),
                   "--daemon", args.daemon, "--standin", args.standin,
                   "--seconds", args.flood_seconds, "--rate", args.flood_rate],
                  os.path.join(args.out, "spoofed-flood.txt"), timeout=900)
    lines.append(f"4. {args.flood_rate}/s spoofed NOTIFYs for {args.flood_seconds} s, a PBX that "
                 "authenticated before probing every 0.1 s (bench/spoofed-flood.py)")
    for line in text.splitlines():
        if line.strip():
            lines.append("   " + line.rstrip())


def package_flags():
    """The environment debian/rules gives dpkg-buildflags (its exports)."""
    env = {}
    with open(os.path.join(REPO, "debian", "rules")) as f:
        for line in f:
            m = re.match(r"^export\s+(DEB_\w+)\s*[:?]?=\s*(.*?)\s*$", line)
            if m:
                env[m.group(1)] = m.group(2)
    return env


def part_size(args, lines):
    src = os.path.join(args.out, "package-src")
    build = os.path.join(args.out, "package-build")
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(src)
    if args.source == "worktree":
        files = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others",
                                "--exclude-standard"], capture_output=True, check=True
                               ).stdout.split(b"\0")
        for name in (f.decode() for f in files if f):
            path = os.path.join(REPO, name)
            if os.path.isfile(path):
                os.makedirs(os.path.dirname(os.path.join(src, name)), exist_ok=True)
                shutil.copy2(path, os.path.join(src, name))
    else:
        archive = subprocess.run(["git", "-C", REPO, "archive", args.source],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    maint = package_flags()
    env = dict(os.environ, **maint)
    flags = subprocess.run(["dpkg-buildflags", "--export=sh"], env=env, capture_output=True,
                           text=True, check=True).stdout
    for m in re.finditer(r'^export (\w+)="(.*)"$', flags, re.M):
        env[m.group(1)] = m.group(2)
    # As dh_auto_configure runs meson (buildtype plain: the flags are
    # dpkg-buildflags'), tests off as in a nocheck build.
    rc, _ = run(["meson", "setup", build, src, "--buildtype=plain", "--prefix=/usr",
                 "-Dtests=disabled"], os.path.join(args.out, "package-setup.log"), 600, env)
    if rc == 0:
        rc, _ = run(["ninja", "-C", build, "daemon/checksyncd"],
                    os.path.join(args.out, "package-build.log"), 1800, env)
    lines.append("5. the binary as the package builds it (debian/rules: "
                 + " ".join(f"{k}={v}" for k, v in maint.items()) + ")")
    if rc != 0:
        lines.append("   the build failed; see package-build.log")
        return
    binary = os.path.join(build, "daemon", "checksyncd")
    stripped = binary + ".stripped"
    # dh_strip on an executable.
    subprocess.run(["strip", "--remove-section=.comment", "--remove-section=.note",
                    "-o", stripped, binary], check=True)
    size = os.path.getsize(stripped)
    lines.append(f"   stripped: {size} bytes = {size / 1024:.1f} KiB "
                 f"(unstripped {os.path.getsize(binary) / 1024:.1f} KiB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=time.strftime("/tmp/checksyncd-load-%Y%m%d-%H%M%S"))
    parser.add_argument("--source", default="worktree")
    parser.add_argument("--daemon")
    parser.add_argument("--standin")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--memory-seconds", type=int, default=60)
    parser.add_argument("--flood-seconds", type=int, default=30)
    parser.add_argument("--flood-rate", type=int, default=50000)
    parser.add_argument("--skip", default="", help="comma-separated: " + ",".join(PARTS))
    args = parser.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(PARTS):
        parser.error(f"--skip takes {','.join(PARTS)}")
    for name, value, high in (("--rounds", args.rounds, 20), ("--calls", args.calls, 200000),
                              ("--rate", args.rate, 10000), ("--concurrency", args.concurrency, 1000),
                              ("--memory-seconds", args.memory_seconds, 300),
                              ("--flood-seconds", args.flood_seconds, 120),
                              ("--flood-rate", args.flood_rate, 200000)):
        if not 0 < value <= high:
            parser.error(f"{name} from 1 to {high}")
    if bool(args.daemon) != bool(args.standin):
        parser.error("--daemon and --standin go together")
    os.makedirs(args.out, exist_ok=True)
    args.out = os.path.abspath(args.out)
    started = time.monotonic()

    missing = [p for p in ("kamailio", "sip-tester", "valgrind", "dbus", "dpkg-dev")
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True).stdout != "install ok installed"]
    if missing:
        log("installing " + " ".join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                       env=env, check=True)
    if not args.daemon:
        rc, text = run([os.path.join(HERE, "build-snapshot.sh"),
                        os.path.join(args.out, "build"), args.source],
                       os.path.join(args.out, "build.paths"), 1800)
        paths = [line for line in text.splitlines() if line.startswith("/")]
        if rc != 0 or len(paths) < 2:
            print(text, file=sys.stderr)
            return 1
        args.daemon, args.standin = paths[-2], paths[-1]
    args.daemon, args.standin = os.path.abspath(args.daemon), os.path.abspath(args.standin)
    with open(os.path.join(HERE, "..", "debian", "changelog")) as f:
        version = f.readline().strip()
    try:
        revision = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                                  capture_output=True, text=True).stdout.strip()
    except OSError:
        revision = "?"
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])

    lines = [f"checksyncd load and footprint, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
             f"{os.cpu_count()} CPUs, load average {load} at the start",
             f"daemon: {args.daemon} ({revision}; {version})", ""]
    for part in PARTS:
        if part in skip:
            continue
        log(f"part {part}")
        {"memory": part_memory, "cpu": part_cpu, "drop": part_drop, "flood": part_flood,
         "size": part_size}[part](args, lines)
        lines.append("")
    lines.append(f"total time: {time.monotonic() - started:.0f} s; files in {args.out}")
    text = "\n".join(lines)
    with open(os.path.join(args.out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
