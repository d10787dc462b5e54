# SPDX-License-Identifier: MIT
"""What is not a check-sync (another event package, no Event, MESSAGE,
OPTIONS, a bad reboot value), and what every response carries: Server
without a version, and a To tag on every final one that a retransmission
gets again.
"""

from base import DaemonTest
from harness import DEFAULT_PASS, DEFAULT_USER, authorization


# ---------------------------------------------------------------------------
# 7. Other requests

class OtherRequestTest(DaemonTest):
    def setUp(self):
        super().setUp()
        self.start(challenge="off")
        self.c = self.client()

    def test_other_event_package_gets_489_with_allow_events(self):
        resp, _, _ = self.c.request(event="presence")
        self.assertStatus(resp, 489, "NOTIFY Event: presence")
        self.assertEqual(resp.get("allow-events"), "check-sync", resp.raw)
        self.assertCalls([])

    def test_notify_without_event_gets_400_missing_event_header(self):
        resp, _, _ = self.c.request(event=None)
        self.assertStatus(resp, 400, "NOTIFY without Event")
        self.assertEqual(resp.reason, "Missing Event header")
        self.assertCalls([])

    def test_message_gets_405_with_allow(self):
        resp, _, _ = self.c.request(method="MESSAGE", event=None)
        self.assertStatus(resp, 405, "MESSAGE")
        self.assertEqual(resp.get("allow"), "NOTIFY, OPTIONS", resp.raw)

    def test_options_gets_200_with_allow_and_allow_events(self):
        resp, _, _ = self.c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "OPTIONS")
        self.assertEqual(resp.get("allow"), "NOTIFY, OPTIONS", resp.raw)
        self.assertEqual(resp.get("allow-events"), "check-sync", resp.raw)
        self.assertCalls([])

    def test_bad_reboot_value_gets_400(self):
        resp, _, _ = self.c.request(event="check-sync;reboot=maybe")
        self.assertStatus(resp, 400, "NOTIFY reboot=maybe")
        self.assertCalls([])


# ---------------------------------------------------------------------------
# 13. Every response: Server (no version) and To tag

class ResponseHygieneTest(DaemonTest):
    def test_every_response_has_server_without_version_and_final_ones_a_to_tag(self):
        self.check_hygiene = False  # asserted here explicitly
        self.start(challenge="on", fail="Reboot")
        c = self.client()
        seen = []
        for kw in (dict(method="OPTIONS", event=None), dict(method="MESSAGE", event=None),
                   dict(event=None), dict(event="presence"),
                   dict(event="check-sync;reboot=maybe"), dict(),
                   dict(ruri=c.uri("999"))):
            resp, _, _ = c.request(**kw)
            self.assertIsNotNone(resp, f"no answer to {kw}")
            seen.append(resp)
        first, _, _ = c.request()
        auth = authorization(self.challenge_of(first), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                             c.uri())
        ok, _, _ = c.request(auth=auth, cseq=2)
        self.assertStatus(ok, 200, "authenticated NOTIFY")
        # A Reboot answered by a failing stand-in: 503.
        first, _, _ = c.request(event="check-sync;reboot=true")
        auth = authorization(self.challenge_of(first), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                             c.uri())
        failed, _, _ = c.request(auth=auth, cseq=2, event="check-sync;reboot=true")
        self.assertStatus(failed, 503, "authenticated reboot with a failing stand-in")
        statuses = sorted({r.status for r in c.responses})
        self.assertEqual(statuses, [200, 400, 401, 405, 489, 503], statuses)
        problems = [p for r in c.responses for p in self.hygiene_problems(r)]
        self.assertEqual(problems, [])

    def test_retransmitted_unauthenticated_notify_gets_401_with_the_same_to_tag(self):
        self.start(challenge="on")
        c = self.client()
        text, branch = c.build(call_id="stateless-401@127.0.0.1")
        c.send(text)
        first = c.recv(branch)
        c.send(text)
        second = c.recv(branch)
        self.assertStatus(first, 401, "NOTIFY")
        self.assertStatus(second, 401, "retransmitted NOTIFY")
        self.assertTrue(first.to_tag, first.raw)
        self.assertEqual(second.to_tag, first.to_tag,
                         "the retransmission's 401 has a different To tag")
