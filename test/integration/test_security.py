# SPDX-License-Identifier: MIT
"""Digest authentication that holds on the open internet (issue 3):
algorithms, downgrade, qop, -sess/auth-int, brute-force lockout, spoofing,
and a flood of check-syncs that still makes at most one D-Bus call per 5 s."""

import re

from base import DaemonTest
from harness import (DEFAULT_HOST, DEFAULT_PASS, DEFAULT_USER, authorization, digest_ha1,
                     digest_response, parse_challenge)


class AlgorithmTest(DaemonTest):
    def answer_with(self, algorithm, algorithms):
        self.start(challenge="on", algorithms=algorithms)
        # Over TCP: a source that cannot be spoofed gets every challenge.
        c = self.client(transport="tcp")
        first, _, _ = c.request()
        self.assertStatus(first, 401, "unauthenticated NOTIFY")
        auth = authorization(self.challenge_of(first, algorithm), DEFAULT_USER, DEFAULT_PASS,
                             "NOTIFY", c.uri())
        second, _, _ = c.request(auth=auth, cseq=2)
        return first, second

    def test_one_challenge_per_algorithm_in_the_configured_order(self):
        self.start(challenge="on", algorithms="SHA-512-256,SHA-256,MD5")
        c = self.client(transport="tcp")
        resp, _, _ = c.request()
        self.assertStatus(resp, 401)
        algorithms = [parse_challenge(v)[1].get("algorithm") for v in resp.all("www-authenticate")]
        self.assertEqual(algorithms, ["SHA-512-256", "SHA-256", "MD5"], resp.raw)
        for value in resp.all("www-authenticate"):
            self.assertEqual(parse_challenge(value)[1].get("qop"), "auth", value)

    def test_sha256_answer_is_accepted(self):
        _, resp = self.answer_with("SHA-256", "SHA-256,MD5")
        self.assertStatus(resp, 200, "SHA-256 answer")
        calls = self.assertCalls(["Resync"])
        self.assertTrue(calls[0]["details"]["authenticated"])

    def test_sha512_256_answer_is_accepted(self):
        _, resp = self.answer_with("SHA-512-256", "SHA-512-256")
        self.assertStatus(resp, 200, "SHA-512-256 answer")
        self.assertCalls(["Resync"])

    def test_md5_answer_to_a_sha256_nonce_is_refused(self):
        self.start(challenge="on", algorithms="SHA-256,MD5")
        c = self.client()
        first, _, _ = c.request()
        _, sha, _ = parse_challenge(self.challenge_of(first, "SHA-256"))
        # Answer the SHA-256 nonce, but with an MD5 digest.
        _, params, _ = parse_challenge(self.challenge_of(first, "SHA-256"))
        nonce = params["nonce"]
        cnonce, nc = "0a4f113b", "00000001"
        response = digest_response("MD5", DEFAULT_USER, DEFAULT_HOST, DEFAULT_PASS, "NOTIFY",
                                   c.uri(), nonce, "auth", nc, cnonce)
        auth = (f'Digest username="{DEFAULT_USER}", realm="{DEFAULT_HOST}", nonce="{nonce}", '
                f'uri="{c.uri()}", response="{response}", algorithm=MD5, qop=auth, '
                f'nc={nc}, cnonce="{cnonce}"')
        resp, _, _ = c.request(auth=auth, cseq=2)
        self.assertStatus(resp, 401, "MD5 answer to a SHA-256 nonce")
        self.assertNotIn("stale=true", resp.raw)
        self.assertCalls([])
        self.assertIn('reason=algorithm-mismatch', self.env.daemon_log())

    def test_an_identity_with_only_an_ha1_is_offered_md5_only(self):
        ha1 = digest_ha1("MD5", DEFAULT_USER, DEFAULT_HOST, DEFAULT_PASS)
        ids = [dict(idx=1, user_name=DEFAULT_USER, user_host=DEFAULT_HOST, user_hash=ha1)]
        self.start(challenge="on", algorithms="SHA-256,MD5", identities=ids)
        c = self.client()
        first, _, _ = c.request()
        self.assertStatus(first, 401)
        values = first.all("www-authenticate")
        self.assertEqual([parse_challenge(v)[1].get("algorithm") for v in values], ["MD5"])
        auth = authorization(values[0], DEFAULT_USER, DEFAULT_PASS, "NOTIFY", c.uri())
        resp, _, _ = c.request(auth=auth, cseq=2)
        self.assertStatus(resp, 200, "MD5 answer checked against user_hash")
        self.assertCalls(["Resync"])


class QopTest(DaemonTest):
    def first_challenge(self, **kw):
        self.start(challenge="on", **kw)
        c = self.client()
        first, _, _ = c.request()
        self.assertStatus(first, 401)
        return c, parse_challenge(first.all("www-authenticate")[0])[1]

    def test_answer_without_qop_is_refused_when_qop_was_offered(self):
        c, params = self.first_challenge()
        response = digest_response("MD5", DEFAULT_USER, DEFAULT_HOST, DEFAULT_PASS, "NOTIFY",
                                   c.uri(), params["nonce"])
        auth = (f'Digest username="{DEFAULT_USER}", realm="{DEFAULT_HOST}", '
                f'nonce="{params["nonce"]}", uri="{c.uri()}", response="{response}", '
                'algorithm=MD5')
        resp, _, _ = c.request(auth=auth, cseq=2)
        self.assertStatus(resp, 401, "answer without qop")
        self.assertCalls([])
        self.assertIn("reason=bad-qop", self.env.daemon_log())

    def test_bad_nonce_count_is_refused(self):
        c, params = self.first_challenge()
        response = digest_response("MD5", DEFAULT_USER, DEFAULT_HOST, DEFAULT_PASS, "NOTIFY",
                                   c.uri(), params["nonce"], "auth", "1", "abc")
        auth = (f'Digest username="{DEFAULT_USER}", realm="{DEFAULT_HOST}", '
                f'nonce="{params["nonce"]}", uri="{c.uri()}", response="{response}", '
                'algorithm=MD5, qop=auth, nc=1, cnonce="abc"')
        resp, _, _ = c.request(auth=auth, cseq=2)
        self.assertStatus(resp, 401, "nc=1")
        self.assertCalls([])

    def test_sess_and_auth_int_are_refused_cleanly(self):
        c, params = self.first_challenge()
        for algorithm, qop in (("MD5-sess", "auth"), ("MD5", "auth-int")):
            auth = (f'Digest username="{DEFAULT_USER}", realm="{DEFAULT_HOST}", '
                    f'nonce="{params["nonce"]}", uri="{c.uri()}", response="{"a" * 32}", '
                    f'algorithm={algorithm}, qop={qop}, nc=00000001, cnonce="abc"')
            resp, _, _ = c.request(auth=auth, cseq=2)
            self.assertStatus(resp, 401, f"algorithm={algorithm} qop={qop}")
        # Still alive and serving.
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "OPTIONS after the refusals")
        self.assertCalls([])


class BruteForceTest(DaemonTest):
    def test_five_failures_lock_the_address_out_while_others_are_served(self):
        self.start(challenge="on")
        attacker = self.client()
        for i in range(5):
            self.assertStatus(self.wrong_answer(attacker), 401, f"wrong answer {i + 1}")
        locked, _, _ = attacker.request()
        self.assertStatus(locked, 403, "NOTIFY from the locked-out address")
        log = self.env.daemon_log()
        self.assertEqual(log.count('authentication failed: source=127.0.0.1 user="340899" '
                                   'reason=wrong-digest'), 5, log[-2000:])
        self.assertIn("too many authentication failures: source=127.0.0.1", log)

        # 127.0.0.2 is another address: still challenged and served.
        pbx = self.client(source="127.0.0.2")
        first, _, _ = pbx.request()
        self.assertStatus(first, 401, "NOTIFY from 127.0.0.2")
        auth = authorization(self.challenge_of(first), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                             pbx.uri())
        resp, _, _ = pbx.request(auth=auth, cseq=2)
        self.assertStatus(resp, 200, "authenticated NOTIFY from 127.0.0.2")
        calls = self.assertCalls(["Resync"])
        self.assertTrue(calls[0]["details"]["remote"].startswith("udp:127.0.0.2:"))

    def test_answers_with_foreign_nonces_never_lock_an_address_out(self):
        # A spoofer cannot get our nonce for the victim's address, so such
        # refusals must not count toward the lockout.
        self.start(challenge="on")
        c = self.client()
        for i in range(8):
            auth = (f'Digest username="{DEFAULT_USER}", realm="{DEFAULT_HOST}", '
                    f'nonce="b5e73bf9ef0fc8b2", uri="{c.uri()}", '
                    f'response="f10d6c2cc255089c948c58c14ed0b44f", algorithm=MD5, qop=auth, '
                    f'nc=00000001, cnonce="abc{i}"')
            resp, _, _ = c.request(auth=auth)
            self.assertStatus(resp, 401, f"answer {i + 1} with a foreign nonce")
        resp, _, _ = c.request()
        self.assertStatus(resp, 401, "plain NOTIFY after the foreign nonces")
        log = self.env.daemon_log()
        self.assertNotIn("authentication failed", log)
        self.assertIn("credentials refused: source=127.0.0.1", log)


class FloodTest(DaemonTest):
    def test_a_burst_of_plain_check_syncs_makes_at_most_two_calls_and_others_are_served(self):
        self.start(challenge="off")
        c = self.client()
        sent = []
        answered = {}
        # 400 check-syncs, up to 20 outstanding at a time (more would only
        # overflow this client's own socket buffer).
        for i in range(400):
            text, branch = c.build(cseq=i + 1)
            c.send(text)
            sent.append(branch)
            while len(sent) - len(answered) >= 20:
                resp = c.recv(timeout=6.0)
                if resp is None:
                    break
                answered[resp.branch] = resp.status
        while len(answered) < len(sent):
            resp = c.recv(timeout=6.0)
            if resp is None:
                break
            answered[resp.branch] = resp.status
        self.assertEqual(len(answered), len(sent),
                         f"{len(sent) - len(answered)} of {len(sent)} check-syncs unanswered")
        statuses = sorted(set(answered.values()))
        self.assertEqual(statuses, [200], f"statuses seen: {statuses}")
        # A check-sync from another address is served as usual meanwhile.
        other = self.client(source="127.0.0.2")
        resp, _, _ = other.request()
        self.assertStatus(resp, 200, "check-sync from 127.0.0.2 after the burst")
        # One call at once, one trailing call 5 s later: never more.
        self.env.wait_calls(2, timeout=8.0)
        self.settle(0.5)
        calls = self.env.calls()
        self.assertEqual([x["method"] for x in calls], ["Resync", "Resync"], calls)
        self.assertTrue(calls[1]["details"]["remote"].startswith("udp:127.0.0.2:"),
                        "the trailing call carries the newest request's details")

    def test_a_retransmission_answered_statelessly_gets_the_same_answer_and_no_call(self):
        self.start(challenge="off")
        c = self.client()
        first, _, _ = c.request()
        self.assertStatus(first, 200, "first check-sync")
        # Inside the 5 s spacing: answered at once (trailing call promised).
        text, branch = c.build(cseq=2)
        c.send(text)
        second = c.recv(branch)
        self.assertStatus(second, 200, "second check-sync")
        for _ in range(3):
            c.send(text)
            again = c.recv(branch)
            self.assertStatus(again, 200, "retransmission")
            self.assertEqual(again.to_tag, second.to_tag, "retransmission got another To tag")
        self.env.wait_calls(2, timeout=8.0)
        self.settle(1.0)
        self.assertEqual(len(self.env.calls()), 2, self.env.calls())
        # The retransmissions were not taken for new requests.
        self.assertEqual(len(re.findall(r"200 OK \(Resync\)", self.env.daemon_log())), 2)
