#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers for bench/compare-kamailio.sh (python3 standard library only).

  benchlib.py monitor --pid PID --out FILE [--interval 0.05] [--max-seconds N]
      Every interval, for PID and all its descendants: VmRSS, Pss (from
      /proc/PID/smaps_rollup), utime+stime (clock ticks) and the scheduler's
      run time (/proc/PID/schedstat, ns). One CSV row per sample, summed over
      the processes. Runs until SIGTERM/SIGINT or --max-seconds.

  benchlib.py client --server HOST:PORT --bind ADDR --mode flood|auth|plain
                     --interval S --duration S --out FILE [--retransmit]
      A SIP client that sends one check-sync every interval and records, per
      check-sync, whether it was answered as expected and how long the whole
      exchange took (first NOTIFY sent -> final answer received):
        flood: NOTIFY -> 401
        auth : NOTIFY -> 401, NOTIFY with a digest answer -> 200
        plain: NOTIFY -> 200
      --until-ok stops at the first expected answer (exit 1 when none came).
      --retransmit resends a NOTIFY after 0.5 s and 1.5 s (RFC 3261 timer A)
      and gives up after 3.5 s, as a real PBX would; without it one datagram
      is sent and the client waits 1 s.

  benchlib.py summarize --runs DIR --csv FILE --md FILE
      Reads every run directory under DIR and prints the comparison table.
"""

import argparse
import csv
import glob
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------- monitor


def _children_map():
    kids = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: split after the last ')'.
        rest = text[text.rfind(")") + 2:].split()
        pid = int(stat.split("/")[2])
        kids.setdefault(int(rest[1]), []).append(pid)
    return kids


def process_tree(root):
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def read_proc(pid):
    """(rss_kb, pss_kb, cpu_ticks, cpu_ns, anon_kb, shmem_kb, anonymous_kb) of one
    process, or None. anon_kb is RssAnon (/proc/PID/status, the kernel's
    per-process counter), anonymous_kb smaps_rollup's Anonymous (the page
    tables walked: exact)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
        rest = text[text.rfind(")") + 2:].split()
        ticks = int(rest[11]) + int(rest[12])  # utime + stime
        ns = 0
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except OSError:
            pass
        rss = pss = anon = shmem = anonymous = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith("RssShmem:"):
                    shmem = int(line.split()[1])
                    break
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Anonymous:"):
                    anonymous = int(line.split()[1])
                    break
        return rss, pss, ticks, ns, anon, shmem, anonymous
    except (OSError, ValueError, IndexError):
        return None


def cmd_monitor(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    pids = process_tree(args.pid)
    tree_at = time.monotonic()
    deadline = time.monotonic() + args.max_seconds
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        # anon: private anonymous memory (heap, stacks), summed; shmem: the
        # largest shared-memory RSS of one process (Kamailio's shm pool is
        # mapped by all its processes: count it once).
        w.writerow(["t", "nprocs", "rss_kb", "pss_kb", "cpu_ticks", "cpu_ns", "anon_kb", "shmem_kb",
                    "anonymous_kb"])
        while not stop and time.monotonic() < deadline:
            now = time.monotonic()
            if now - tree_at > 1.0:  # Kamailio forks only at start
                pids = process_tree(args.pid)
                tree_at = now
            rows = [r for r in (read_proc(p) for p in pids) if r]
            if not rows and not os.path.exists(f"/proc/{args.pid}"):
                break
            w.writerow([f"{time.time():.3f}", len(rows),
                        sum(r[0] for r in rows), sum(r[1] for r in rows),
                        sum(r[2] for r in rows), sum(r[3] for r in rows),
                        sum(r[4] for r in rows), max((r[5] for r in rows), default=0),
                        sum(r[6] for r in rows)])
            f.flush()
            time.sleep(max(0.0, args.interval - (time.monotonic() - now)))


# ----------------------------------------------------------------- client


def _hash(algorithm, text):
    name = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}[algorithm]
    return hashlib.new(name, text.encode()).hexdigest()


def _params(value):
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in re.finditer(r'([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', value)}


class SipClient:
    def __init__(self, server, bind, user, password):
        host, port = server.rsplit(":", 1)
        self.server = (host, int(port))
        self.user, self.password = user, password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, 0))
        self.local = self.sock.getsockname()
        self.uri = f"sip:{user}@{host}:{port}"
        self.sent = 0  # datagrams sent, retransmissions included

    def request(self, call_id, cseq, tag, authorization=None):
        branch = "z9hG4bK-%016x" % random.getrandbits(64)
        lines = [
            f"NOTIFY {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local[0]}:{self.local[1]};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:probe@{self.local[0]}:{self.local[1]}>;tag={tag}",
            f"To: <{self.uri}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} NOTIFY",
            "Event: check-sync;reboot=false",
            "Subscription-State: terminated",
        ]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def exchange(self, data, call_id, cseq, retransmit):
        """Send data; return (status, headers) of the final answer, or None."""
        start = time.monotonic()
        schedule = [0.5, 1.5, 3.5] if retransmit else [1.0]
        self.sock.sendto(data, self.server)
        self.sent += 1
        for i, until in enumerate(schedule):
            while True:
                left = start + until - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([self.sock], [], [], left)
                if not ready:
                    break
                msg = self.sock.recv(65535).decode("utf-8", "replace")
                head = msg.split("\r\n\r\n", 1)[0].split("\r\n")
                m = re.match(r"SIP/2\.0 (\d{3})", head[0])
                if not m:
                    continue
                headers = []
                for line in head[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers.append((k.strip().lower(), v.strip()))
                h = dict(headers)
                if h.get("call-id", h.get("i")) != call_id:
                    continue  # a late answer to an earlier check-sync
                if not h.get("cseq", "").startswith(f"{cseq} "):
                    continue
                status = int(m.group(1))
                if status >= 200:
                    return status, headers
            if i + 1 < len(schedule):
                self.sock.sendto(data, self.server)
                self.sent += 1
        return None

    def authorization(self, challenges):
        for _, value in challenges:
            if not value.lower().startswith("digest"):
                continue
            p = _params(value[6:])
            algorithm = p.get("algorithm", "MD5").upper()
            if algorithm not in ("MD5", "SHA-256", "SHA-512-256"):
                continue
            realm, nonce = p.get("realm", ""), p.get("nonce", "")
            qop = "auth" if "auth" in [q.strip() for q in p.get("qop", "").split(",")] else ""
            ha1 = _hash(algorithm, f"{self.user}:{realm}:{self.password}")
            ha2 = _hash(algorithm, f"NOTIFY:{self.uri}")
            cnonce = "%016x" % random.getrandbits(64)
            if qop:
                resp = _hash(algorithm, f"{ha1}:{nonce}:00000001:{cnonce}:{qop}:{ha2}")
            else:
                resp = _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
            parts = [f'Digest username="{self.user}"', f'realm="{realm}"', f'nonce="{nonce}"',
                     f'uri="{self.uri}"', f'response="{resp}"', f"algorithm={algorithm}"]
            if qop:
                parts += [f"qop={qop}", "nc=00000001", f'cnonce="{cnonce}"']
            if "opaque" in p:
                parts.append(f'opaque="{p["opaque"]}"')
            return ", ".join(parts)
        return None

    def checksync(self, mode, retransmit):
        """One check-sync; returns (ok, final_status, seconds)."""
        call_id = "%016x@%s" % (random.getrandbits(64), self.local[0])
        tag = "%08x" % random.getrandbits(32)
        start = time.monotonic()
        answer = self.exchange(self.request(call_id, 1, tag), call_id, 1, retransmit)
        if answer is None:
            return False, 0, time.monotonic() - start
        status, headers = answer
        if mode == "flood":
            return status == 401, status, time.monotonic() - start
        if mode == "plain" or status != 401:
            return status == 200, status, time.monotonic() - start
        auth = self.authorization([h for h in headers if h[0] == "www-authenticate"])
        if not auth:
            return False, status, time.monotonic() - start
        answer = self.exchange(self.request(call_id, 2, tag, auth), call_id, 2, retransmit)
        if answer is None:
            return False, 0, time.monotonic() - start
        return answer[0] == 200, answer[0], time.monotonic() - start


def _exit(*_):
    raise SystemExit(0)


def cmd_client(args):
    signal.signal(signal.SIGTERM, _exit)
    client = SipClient(args.server, args.bind, args.user, args.password)
    begin = time.monotonic()
    count = int(args.duration / args.interval) + 1
    try:
        with open(args.out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t", "ok", "status", "latency_ms", "datagrams"])
            for i in range(count):
                if time.monotonic() - begin > args.duration + 5:
                    break
                due = begin + i * args.interval
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                t = time.time()
                sent = client.sent
                ok, status, seconds = client.checksync(args.mode, args.retransmit)
                w.writerow([f"{t:.3f}", int(ok), status, f"{seconds * 1000:.3f}", client.sent - sent])
                f.flush()
                if ok and args.until_ok:
                    return 0
    finally:
        # Every datagram sent, including those of a check-sync cut short.
        with open(args.out + ".sent", "w") as f:
            f.write(f"{client.sent}\n")
    return 1 if args.until_ok else 0


# -------------------------------------------------------------- summarize


def _percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _read_csv(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def _sipp_stats(run):
    """Final cumulative counters of sipp's -trace_stat file."""
    rows = []
    try:
        with open(os.path.join(run, "sipp-stat.csv")) as f:
            rows = [line.rstrip("\n").split(";") for line in f if line.strip()]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    head, last = rows[0], rows[-1]
    stats = dict(zip(head, last))
    out = {}
    try:  # "2026-01-01\t12:00:00.000000\t1767268800.000000"
        out["seconds"] = (float(stats["CurrentTime"].split()[-1])
                          - float(stats["StartTime"].split()[-1]))
    except (KeyError, ValueError, IndexError):
        pass
    for key in ("OutgoingCall(C)", "SuccessfulCall(C)", "FailedCall(C)"):
        try:
            out[key] = int(stats.get(key, "0"))
        except ValueError:
            out[key] = 0
    return out


def _sent(path):
    try:
        with open(path + ".sent") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _statuses(rows):
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return " ".join(f"{k}:{v}" for k, v in sorted(counts.items()))


def _busy(meta):
    """Share of all CPUs busy during the load, in percent."""
    try:
        (b0, i0), (b1, i1) = meta["machine_before"], meta["machine_after"]
        return round(100.0 * (b1 - b0) / max((b1 - b0) + (i1 - i0), 1), 1)
    except (KeyError, ValueError, TypeError):
        return None


def summarize_run(run):
    with open(os.path.join(run, "meta.json")) as f:
        meta = json.load(f)
    scenario = meta["scenario"]
    samples = _read_csv(os.path.join(run, "monitor.csv"))
    t0, t1 = meta["load_start"], meta["load_end"]
    before = [s for s in samples if float(s["t"]) < t0] or samples[:1]
    during = [s for s in samples if float(s["t"]) >= t0] or samples[-1:]
    idle, last = before[-1], samples[-1]
    # CPU: from the last sample before the load to the last sample, taken
    # after the settle time, so the requests still queued are included.
    cpu_ns = int(last["cpu_ns"]) - int(idle["cpu_ns"])
    cpu_ticks = int(last["cpu_ticks"]) - int(idle["cpu_ticks"])
    cpu_ms = cpu_ns / 1e6 if cpu_ns > 0 else cpu_ticks * 1000.0 / CLK_TCK

    sipp = _sipp_stats(run)
    sipp_calls = sipp.get("OutgoingCall(C)", 0)
    sipp_ok = sipp.get("SuccessfulCall(C)", 0)
    sampler_path = os.path.join(run, "sampler.csv")
    probe_path = os.path.join(run, "probe.csv")
    sampler, probe = _read_csv(sampler_path), _read_csv(probe_path)
    ok_sampler = [float(r["latency_ms"]) for r in sampler if r["ok"] == "1"]
    ok_probe = [float(r["latency_ms"]) for r in probe if r["ok"] == "1"]
    # The load lasts from sipp's first call to its exit (its own clock);
    # the script's timestamps around sipp add its start-up.
    duration = max(sipp.get("seconds", t1 - t0), 1e-3)
    drops = meta["drops_after"] - meta["drops_before"]

    auth = scenario.startswith("auth")
    if auth or scenario == "plain-rate":
        # A bounded number in flight, nothing dropped: sipp's count is
        # exact. An authenticated check-sync is two requests.
        served = sipp_ok + len(ok_sampler)
        requests = 2 * served if auth else served
        offered = sipp_calls
    else:
        # Open loop: sipp cannot read every answer at this rate (its own
        # socket overflows), so count on the server side: every datagram
        # sent to the server's socket and not dropped there was read and
        # answered. sipp sends one datagram per call (-nr).
        sent = sipp_calls + _sent(sampler_path) + _sent(probe_path)
        served = max(sent - drops, 0)
        requests = served
        offered = sipp_calls
    return {
        "server": meta["server"],
        "scenario": scenario,
        "round": meta.get("round", 1),
        "seconds": round(duration, 2),
        "sipp_calls": sipp_calls,
        "sipp_ok": sipp_ok,
        "sipp_failed": sipp.get("FailedCall(C)", 0),
        "offered_per_s": round(offered / duration, 1),
        "server_socket_drops": drops,
        "served_checksyncs": served,
        "served_per_s": round(served / duration, 1),
        "sip_requests_per_s": round(requests / duration, 1),
        "p50_ms": _percentile(ok_sampler, 0.5),
        "p99_ms": _percentile(ok_sampler, 0.99),
        "latency_samples": len(sampler),
        "latency_lost": len(sampler) - len(ok_sampler),
        "sampler_statuses": _statuses(sampler),
        "cpu_ms": round(cpu_ms, 1),
        "cpu_ms_per_1000": round(cpu_ms * 1000.0 / served, 2) if served else None,
        "cpu_share": round(cpu_ms / 1000.0 / duration, 2),
        "rss_idle_kb": int(idle["rss_kb"]),
        "rss_peak_kb": max(int(s["rss_kb"]) for s in during),
        "rss_final_kb": int(last["rss_kb"]),
        "pss_idle_kb": int(idle["pss_kb"]),
        "pss_peak_kb": max(int(s["pss_kb"]) for s in during),
        "pss_final_kb": int(last["pss_kb"]),
        "anon_idle_kb": int(idle.get("anon_kb") or 0),
        "anon_peak_kb": max(int(s.get("anon_kb") or 0) for s in during),
        "anon_final_kb": int(last.get("anon_kb") or 0),
        "anonymous_idle_kb": int(idle.get("anonymous_kb") or 0),
        "anonymous_peak_kb": max(int(s.get("anonymous_kb") or 0) for s in during),
        "anonymous_final_kb": int(last.get("anonymous_kb") or 0),
        "shmem_peak_kb": max(int(s.get("shmem_kb") or 0) for s in during),
        "nprocs": int(idle["nprocs"]),
        "dbus_calls": meta.get("dbus_calls", 0),
        "probe_sent": len(probe),
        "probe_answered": len(ok_probe),
        "probe_statuses": _statuses(probe),
        "probe_p50_ms": _percentile(ok_probe, 0.5),
        "probe_max_ms": max(ok_probe) if ok_probe else None,
        "sipp_rc": meta.get("sipp_rc"),
        "machine_busy_pct": _busy(meta),
    }


SCENARIO_NAMES = {
    "flood": "(a) unauthenticated flood -> 401",
    "auth": "(b) authenticated check-sync -> 401, 200, fixed rate",
    "auth-max": "(b') the same, as fast as the server answers",
    "plain": "(c) plain check-sync, challenge off -> 200",
    "plain-rate": "(c') the same at the rate of (b)",
}


def _fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mb(kb):
    return f"{kb / 1024:.1f}"


def cmd_summarize(args):
    runs = sorted(d for d in glob.glob(os.path.join(args.runs, "*"))
                  if os.path.isfile(os.path.join(d, "meta.json")))
    results = [summarize_run(d) for d in runs]
    order = {"flood": 0, "auth": 1, "auth-max": 2, "plain": 3, "plain-rate": 4}
    servers = {"checksyncd": 0, "kamailio": 1, "kamailio-tlsf": 2}
    results.sort(key=lambda r: (order.get(r["scenario"], 9), r["round"],
                                servers.get(r["server"], 9), r["server"]))
    rounds = len({r["round"] for r in results})
    if not results:
        print("no runs found", file=sys.stderr)
        return 1
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(results[0].keys()))
        w.writeheader()
        w.writerows(results)

    header = ["server", "scenario"] + (["round"] if rounds > 1 else []) + ["offered/s", "served/s", "p50 ms", "p99 ms", "lost",
              "CPU ms/1000", "CPU share", "RSS idle/peak/final MB", "Pss idle/peak/final MB",
              "legit from 127.0.0.2"]
    table = []
    for r in results:
        probe = "-"
        if r["probe_sent"]:
            probe = f"{r['probe_answered']}/{r['probe_sent']}"
            if r["probe_answered"]:
                probe += f", p50 {_fmt(r['probe_p50_ms'], 1)} max {_fmt(r['probe_max_ms'], 1)} ms"
        table.append([r["server"], r["scenario"]] + ([r["round"]] if rounds > 1 else []) + [
            _fmt(r["offered_per_s"], 0), _fmt(r["served_per_s"], 0),
            _fmt(r["p50_ms"], 2), _fmt(r["p99_ms"], 2),
            f"{r['latency_lost']}/{r['latency_samples']}",
            _fmt(r["cpu_ms_per_1000"], 1), _fmt(r["cpu_share"], 2),
            f"{_mb(r['rss_idle_kb'])}/{_mb(r['rss_peak_kb'])}/{_mb(r['rss_final_kb'])}",
            f"{_mb(r['pss_idle_kb'])}/{_mb(r['pss_peak_kb'])}/{_mb(r['pss_final_kb'])}",
            probe,
        ])
    ratios = {}
    by = {(r["server"], r["scenario"], r["round"]): r for r in results}
    for other in ("kamailio", "kamailio-tlsf"):
        for scenario in SCENARIO_NAMES:
            values = []
            for n in sorted({r["round"] for r in results}):
                a, b = by.get(("checksyncd", scenario, n)), by.get((other, scenario, n))
                if a and b and a["cpu_ms_per_1000"] and b["cpu_ms_per_1000"]:
                    values.append(a["cpu_ms_per_1000"] / b["cpu_ms_per_1000"])
            if len(values) == 1:
                ratios.setdefault(other, []).append(f"{scenario} {values[0]:.2f}")
            elif values:
                ratios.setdefault(other, []).append(
                    f"{scenario} {_percentile(values, 0.5):.2f} (rounds: "
                    + " ".join(f"{v:.2f}" for v in values)
                    + f"; {min(values):.2f}-{max(values):.2f})")

    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [header, ["-" * w for w in widths]] + table]
    notes = [
        "",
        "scenarios: " + "; ".join(f"{k} = {v}" for k, v in SCENARIO_NAMES.items()),
        "kamailio: Debian's defaults (q_malloc, its debugging allocator); kamailio-tlsf: the same with -x tlsf -X tlsf",
        "offered/s: check-syncs sipp started per second of load",
        "served/s: check-syncs the server answered per second of load (auth: counted by sipp, 2 requests each;"
        " flood/plain: datagrams sent to the server minus its socket's receive drops)",
        "p50/p99, lost: latency sampler (python on 127.0.0.1, one check-sync every "
        f"{meta_value(args.runs, 'sampler_interval')} s, no retransmission, whole exchange);"
        " lost = no expected answer within 1 s",
        "CPU ms/1000: server CPU time (all its processes, scheduler run time) per 1000 check-syncs served;"
        " CPU share: CPU seconds per second of load",
        "RSS: VmRSS, summed over Kamailio's processes (counts the shared memory and libraries once per process);"
        " Pss: proportional set size (smaps_rollup), summed: a page shared by n processes counts 1/n"
        " (so Kamailio's shm counts once; library pages shared with unrelated processes make it move a little)."
        " idle = before the load, peak = during it, final = after the settle time",
        "legit: check-syncs once a second from 127.0.0.2 with retransmissions (0.5 s, 1.5 s, give up at 3.5 s)",
    ]
    for other, values in ratios.items():
        notes.append(f"CPU per check-sync served, checksyncd / {other}: " + ", ".join(values))
    text = "\n".join(lines + notes)
    print(text)

    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(c) for c in row) + " |" for row in table]
    with open(args.md, "w") as f:
        f.write("\n".join(md + [""] + [n for n in notes if n] + [""]))
    return 0


def meta_value(runs, key):
    for path in glob.glob(os.path.join(runs, "*", "meta.json")):
        with open(path) as f:
            value = json.load(f).get(key)
        if value is not None:
            return value
    return "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("monitor")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--max-seconds", type=float, default=120)
    p = sub.add_parser("client")
    p.add_argument("--server", required=True)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--mode", choices=["flood", "auth", "plain"], required=True)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--retransmit", action="store_true")
    p.add_argument("--until-ok", action="store_true", help="stop at the first expected answer; exit 1 if none")
    p.add_argument("--user", default="340899")
    p.add_argument("--password", default="1234")
    p.add_argument("--out", required=True)
    p = sub.add_parser("summarize")
    p.add_argument("--runs", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--md", required=True)
    args = parser.parse_args()
    return {"monitor": cmd_monitor, "client": cmd_client, "summarize": cmd_summarize}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
