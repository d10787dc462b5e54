# SPDX-License-Identifier: MIT
"""The provisioning process in trouble (failing, absent, slow: 503 with
Retry-After) and a burst of check-syncs coalesced into one call now and
one trailing call.
"""

import re
import time

from base import DaemonTest
from harness import RECV_TIMEOUT


# ---------------------------------------------------------------------------
# 10. Provisioning process trouble

class ProvisioningTroubleTest(DaemonTest):
    def assert503(self, resp, what):
        self.assertStatus(resp, 503, what)
        retry = resp.get("retry-after")
        self.assertIsNotNone(retry, f"503 without Retry-After:\n{resp.raw}")
        self.assertRegex(retry, r"^\d+", resp.raw)
        self.assertGreaterEqual(int(re.match(r"\d+", retry).group(0)), 1, resp.raw)

    def test_failing_provisioning_gives_503_with_retry_after(self):
        self.start(challenge="off", fail="all")
        resp, _, _ = self.client().request()
        self.assert503(resp, "NOTIFY with a failing stand-in")
        calls = self.assertCalls(["Resync"])
        self.assertEqual(calls[0]["result"], "failed")

    def test_absent_provisioning_gives_503_with_retry_after(self):
        self.start(challenge="off", standin=False)
        resp, _, _ = self.client().request()
        self.assert503(resp, "NOTIFY without a provisioning process")

    def test_slow_provisioning_gives_503(self):
        self.start(challenge="off", delay_ms=3000)
        resp, _, _ = self.client().request(timeout=RECV_TIMEOUT)
        self.assert503(resp, "NOTIFY with a stand-in answering after 3 s")


# ---------------------------------------------------------------------------
# 14. Action coalescing

class CoalescingTest(DaemonTest):
    def test_burst_of_check_syncs_gives_one_call_now_and_one_trailing_call(self):
        self.start(challenge="off", delay_ms=500)
        c = self.client()
        t0 = time.monotonic()
        branches = []
        for i in range(1, 6):
            text, branch = c.build(call_id=f"burst-{i}@127.0.0.1")
            c.send(text)
            branches.append(branch)
        for i, branch in enumerate(branches, 1):
            resp = c.recv(branch)
            self.assertStatus(resp, 200, f"check-sync {i} of 5")
        calls = self.env.calls()
        self.assertEqual(len(calls), 1, f"expected 1 call after the burst, got {calls}")
        self.assertEqual(calls[0]["method"], "Resync")
        self.assertEqual(calls[0]["details"]["call_id"], "burst-1@127.0.0.1")
        calls = self.env.wait_calls(2, timeout=max(0.5, t0 + 8.0 - time.monotonic()))
        t_trailing = time.monotonic() - t0
        self.assertEqual(len(calls), 2, f"no trailing call within 8 s: {calls}")
        self.assertGreaterEqual(t_trailing, 4.0,
                                f"trailing call after {t_trailing:.1f} s, before the 5 s spacing")
        self.assertEqual(calls[1]["method"], "Resync")
        self.assertEqual(calls[1]["details"]["call_id"], "burst-5@127.0.0.1",
                         "the trailing call does not carry the last request")
        self.settle(1.0)
        calls = self.env.calls()
        self.assertEqual(len(calls), 2, f"more than 2 calls: {calls}")
