# SPDX-License-Identifier: MIT
"""Failed, replayed and retransmitted authentication (refused and logged
without the password, stale, the same 200 again, no second call), and
which identity a request is for (unknown users, a Request-URI without a
user).
"""

import os
import re

from base import DISTINCT_PASS, DaemonTest
from harness import (DEFAULT_HOST, DEFAULT_PASS, DEFAULT_USER, authorization, parse_challenge,
                     settings_xml, sipsak_summary)


# ---------------------------------------------------------------------------
# 5-6. Failed and replayed authentication

class AuthFailureTest(DaemonTest):
    def test_wrong_password_is_refused_logged_and_makes_no_call(self):
        xml = settings_xml(challenge="on", identities=[dict(
            idx=1, user_name=DEFAULT_USER, user_host=DEFAULT_HOST, user_pass=DISTINCT_PASS)])
        self.start(settings=xml)
        rc, out, responses = self.sipsak(password="wrong")
        self.assertNotEqual(rc, 0, "sipsak reported success with a wrong password:\n"
                            + sipsak_summary(out))
        statuses = [r.status for r in responses]
        self.assertNotIn(200, statuses, sipsak_summary(out))
        self.assertTrue(statuses and statuses[-1] == 401,
                        f"final answer should be 401, got {statuses}\n" + sipsak_summary(out))
        self.assertCalls([])
        line = 'authentication failed: source=127.0.0.1 user="340899" reason=wrong-digest'
        self.assertTrue(self.env.wait_log(line), f"no log line containing {line!r}")
        self.env.stop_daemon()
        log = self.env.daemon_log()
        # assertFalse, not assertNotIn: the message must not carry the log.
        self.assertFalse(DISTINCT_PASS in log, "the configured password appears in the daemon log")

    def test_replayed_authenticated_notify_gets_stale_401_and_no_second_call(self):
        self.start(challenge="on")
        c = self.client()
        text, branch, ok = self.authenticated_notify(c, "replay-test@127.0.0.1")
        self.assertCalls(["Resync"])
        # A real replay: the captured request again, in a new transaction.
        replay = text.replace(branch, "z9hG4bK" + os.urandom(8).hex())
        self.assertNotEqual(replay, text)
        c.send(replay)
        again = c.recv(parse_branch(replay))
        self.assertStatus(again, 401, "replayed authenticated NOTIFY")
        challenges = again.all("www-authenticate")
        self.assertTrue(challenges, again.raw)
        for value in challenges:
            _, params, _ = parse_challenge(value)
            self.assertEqual(params.get("stale", "").lower(), "true",
                             f"replay 401 without stale=true: {value}")
        calls = self.assertCalls(["Resync"])
        self.assertTrue(calls[0]["details"]["authenticated"])

    def test_retransmitted_authenticated_notify_gets_the_same_200_and_no_second_call(self):
        self.start(challenge="on")
        c = self.client()
        text, branch, ok = self.authenticated_notify(c, "retransmit-test@127.0.0.1")
        self.assertCalls(["Resync"])
        c.send(text)  # a retransmission: same bytes, same branch
        ok2 = c.recv(branch)
        self.assertStatus(ok2, 200, "retransmitted authenticated NOTIFY")
        self.assertEqual(ok2.to_tag, ok.to_tag, "the retransmission got a different To tag")
        self.assertCalls(["Resync"])


def parse_branch(text):
    return re.search(r"branch=([^;\s]+)", text).group(1)


# ---------------------------------------------------------------------------
# 8-9. Identities

class IdentityTest(DaemonTest):
    def test_unknown_user_without_challenge_gets_404(self):
        self.start(challenge="off")
        c = self.client()
        resp, _, _ = c.request(ruri=c.uri("999"))
        self.assertStatus(resp, 404, "NOTIFY for user 999")
        self.assertCalls([])

    def test_unknown_user_with_challenge_gets_the_same_401_and_never_200(self):
        self.start(challenge="on")
        c = self.client()
        known, _, _ = c.request(ruri=c.uri(DEFAULT_USER))
        unknown, _, _ = c.request(ruri=c.uri("999"))
        self.assertStatus(known, 401, "NOTIFY for 340899")
        self.assertStatus(unknown, 401, "NOTIFY for 999")
        self.assertEqual(sorted(unknown.names()), sorted(known.names()),
                         "the 401 for an unknown user has other headers than for a known one")
        known_ch = [parse_challenge(v) for v in known.all("www-authenticate")]
        unknown_ch = [parse_challenge(v) for v in unknown.all("www-authenticate")]
        self.assertEqual(len(unknown_ch), len(known_ch))
        for (ks, kp, kq), (us, up, uq) in zip(known_ch, unknown_ch):
            self.assertEqual(us, ks)
            self.assertEqual(list(up.keys()), list(kp.keys()))
            self.assertEqual(uq, kq)
            for key in kp:
                if key != "nonce":
                    self.assertEqual(up[key], kp[key], f"parameter {key} differs")
            self.assertEqual(len(up["nonce"]), len(kp["nonce"]))
        self.assertEqual(unknown_ch[0][1]["realm"], DEFAULT_HOST)
        # Answering the challenge as user 999 with the known password fails.
        auth = authorization(self.challenge_of(unknown), "999", DEFAULT_PASS, "NOTIFY",
                             c.uri("999"))
        resp, _, _ = c.request(ruri=c.uri("999"), auth=auth, cseq=2)
        self.assertIsNotNone(resp, "no answer to the authenticated NOTIFY for 999")
        self.assertNotEqual(resp.status, 200, "an unknown user authenticated")
        self.assertEqual(resp.status, 401, resp.raw)
        self.assertCalls([])

    def test_request_uri_without_user_uses_identity_1(self):
        self.start(challenge="off")
        c = self.client()
        resp, _, _ = c.request(ruri=c.uri(None))
        self.assertStatus(resp, 200, "NOTIFY sip:127.0.0.1:PORT")
        calls = self.assertCalls(["Resync"])
        self.assertEqual(calls[0]["details"]["identity"], 1)

    def test_request_uri_without_user_uses_the_lowest_identity(self):
        ids = [dict(idx=5, user_active="on", user_name="555", user_host="five.example.com",
                    user_pass="pw5"),
               dict(idx=2, user_active="on", user_name="222", user_host="two.example.com",
                    user_pass="pw2")]
        self.start(challenge="off", identities=ids)
        c = self.client()
        resp, _, _ = c.request(ruri=c.uri(None))
        self.assertStatus(resp, 200, "NOTIFY sip:127.0.0.1:PORT")
        calls = self.assertCalls(["Resync"])
        self.assertEqual(calls[0]["details"]["identity"], 2)
