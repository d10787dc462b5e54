# SPDX-License-Identifier: MIT
"""The transports: OPTIONS over IPv6 loopback, a check-sync over TCP.
"""

from base import DaemonTest


# ---------------------------------------------------------------------------
# 17-18. Transports

class TransportTest(DaemonTest):
    def test_ipv6_loopback_answers_options(self):
        self.start(challenge="off", host="::1")
        c = self.client(host="::1")
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "OPTIONS over UDP to [::1]")
        self.assertEqual(resp.get("allow-events"), "check-sync", resp.raw)

    def test_check_sync_over_tcp_resyncs_with_a_tcp_remote(self):
        self.start(challenge="off")
        c = self.client(transport="tcp")
        resp, _, _ = c.request()
        self.assertStatus(resp, 200, "NOTIFY over TCP")
        calls = self.assertCalls(["Resync"])
        remote = calls[0]["details"]["remote"]
        self.assertTrue(remote.startswith("tcp:127.0.0.1:"), remote)
        self.assertEqual(remote, f"tcp:127.0.0.1:{c.local_port}")
