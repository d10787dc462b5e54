# SPDX-License-Identifier: MIT
"""Load with sipp: 300 authenticated check-syncs, every one answered, with
few D-Bus calls.
"""

import os
import shutil
import subprocess
import time

import harness
from base import DaemonTest
from harness import sipp_auth_command, sipp_totals


# ---------------------------------------------------------------------------
# 15. sipp load

class SippTest(DaemonTest):
    CALLS = 300

    def test_sipp_authenticated_flow_300_calls_all_succeed_with_few_d_bus_calls(self):
        self.assertTrue(shutil.which("sipp"), "sipp is not installed")
        self.start(challenge="on")
        env = self.env
        stat = os.path.join(env.dir, "sipp-stat.csv")
        screen = os.path.join(env.dir, "sipp-screen.log")
        errors = os.path.join(env.dir, "sipp-errors.log")
        args = sipp_auth_command(env, self.CALLS, 100, stat, "-trace_err", "-error_file", errors,
                                 "-trace_screen", "-screen_file", screen)
        t0 = time.monotonic()
        proc = subprocess.run(args, cwd=env.dir, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        duration = time.monotonic() - t0
        output = proc.stdout.decode("utf-8", "replace")[-2000:]
        detail = (f"\nsipp output:\n{output}\nscreen:\n{harness.tail(screen, 40)}"
                  f"\nerrors:\n{harness.tail(errors, 30)}")
        self.assertEqual(proc.returncode, 0, f"sipp exited {proc.returncode}" + detail)
        successful, failed = sipp_totals(stat)
        self.assertEqual(successful, self.CALLS, "successful calls" + detail)
        self.assertEqual(failed, 0, "failed calls" + detail)
        bound = 1 + int(duration / 5) + 1
        # Let the trailing call (due 5 s after the last one started) arrive;
        # returns early only when the bound is already exceeded.
        calls = env.wait_calls(bound + 1, timeout=6.0)
        methods = {c["method"] for c in calls}
        self.assertTrue(calls, "the stand-in received no call")
        self.assertLessEqual(len(calls), bound,
                             f"{len(calls)} D-Bus calls in {duration:.1f} s (at most {bound})")
        self.assertEqual(methods, {"Resync"})
        self.assertTrue(all(c["details"]["authenticated"] for c in calls), calls)
