#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reload latency: from rename() of a new settings file into place to the
first NOTIFY answered under the new settings, over N changes.

The settings alternate between challenge_checksync on and off, and the
NOTIFY names a user that has no identity, so the answer tells the settings
apart without any D-Bus call: 401 (challenge on) or 404 (challenge off).
A client sends a NOTIFY, waits for its answer, and sends the next one at
once, until the answer shows the new settings.

Usage: bench/reload_latency.py [--changes 100] [--daemon PATH] [--standin PATH]
Prints p50, p90 and max in milliseconds.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))

import harness  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    harness.add_binary_arguments(parser)
    args = parser.parse_args()
    harness.use_binaries(args.daemon, args.standin)

    env = harness.Env("reload-bench")
    client = None
    try:
        env.write_settings(harness.settings_xml(challenge="off"))
        env.start_standin()
        env.start_daemon()
        client = harness.SipClient("127.0.0.1", env.port)
        ruri = client.uri("nobody")

        latencies = []
        state = "off"
        for _ in range(args.changes):
            state = "on" if state == "off" else "off"
            want = 401 if state == "on" else 404
            text = harness.settings_xml(challenge=state)
            tmp = env.settings_path + ".new"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o600)
            # Drain the sd_notify socket (RELOADING=1/READY=1 per reload), as
            # systemd would: a full socket would block the daemon's sd_notify.
            env.poll_notes()
            start = time.monotonic()
            os.rename(tmp, env.settings_path)
            deadline = start + 2.0
            while time.monotonic() < deadline:
                resp, _, _ = client.request(ruri=ruri, timeout=1.0)
                if resp is not None and resp.status == want:
                    latencies.append((time.monotonic() - start) * 1000.0)
                    break
            else:
                print(f"no answer under the new settings within 2 s (wanted {want}); "
                      f"daemon log:\n{harness.tail(env.daemon_log_path, 15)}")
                return 1

        latencies.sort()
        p90 = latencies[max(0, int(len(latencies) * 0.9) - 1)]
        print(f"reload latency over {len(latencies)} changes (rename -> first NOTIFY answered "
              f"under the new settings):")
        print(f"  p50 {statistics.median(latencies):.1f} ms, p90 {p90:.1f} ms, "
              f"max {latencies[-1]:.1f} ms, min {latencies[0]:.1f} ms")
        return 0
    finally:
        if client:
            client.close()
        env.close()


if __name__ == "__main__":
    sys.exit(main())
