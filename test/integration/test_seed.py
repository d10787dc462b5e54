# SPDX-License-Identifier: MIT
"""The seed's flows (shared/seed/challenge_checksync.txt) against the real
daemon: the tests' own digest helper against the reference vectors, the
flows with sipsak without and with a digest challenge, and which action a
check-sync asks for (reboot=, checksync_action, challenge_reboot).
"""

import re
import unittest

import harness
from base import SEED_401_RE, SERVER, DaemonTest, sipsak_rport
from harness import (DEFAULT_HOST, DEFAULT_PASS, SEED_CALL_ID, authorization, digest_ha1,
                     digest_response, parse_challenge, sipsak_summary)


# ---------------------------------------------------------------------------
# 0. The digest helper itself

class DigestHelperTest(unittest.TestCase):
    def test_python_digest_helper_matches_the_reference_vectors(self):
        # The phone documentation's own flow (password 1234).
        self.assertEqual(digest_response("MD5", "340899", "ser.berlin.snom.com", "1234",
                                         "NOTIFY", "sip:340899@192.168.137.181:5305",
                                         "b5e73bf9ef0fc8b2"),
                         "f10d6c2cc255089c948c58c14ed0b44f")
        # Section 2: RFC 2617 3.5.
        self.assertEqual(digest_ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life"),
                         "939e7578ed9e3c518a452acee763bce9")
        self.assertEqual(harness.H("MD5", "GET:/dir/index.html"),
                         "39aff3a2bab6126f332b942af96d3366")
        self.assertEqual(digest_response("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life",
                                         "GET", "/dir/index.html",
                                         "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                         "auth", "00000001", "0a4f113b"),
                         "6629fae49393a05397450978507c4ef1")
        # Section 3: RFC 7616 3.9.1.
        rfc7616 = ("Mufasa", "http-auth@example.org", "Circle of Life", "GET",
                   "/dir/index.html", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "auth",
                   "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
        self.assertEqual(digest_response("MD5", *rfc7616), "8ca523f5e9506fed4657c9700eebdbec")
        self.assertEqual(digest_response("SHA-256", *rfc7616),
                         "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        # Section 4: RFC 7616 3.9.2 with erratum 4897 (true SHA-512/256).
        args = ("Jäsøn Doe", "api@example.org", "Secret, or not?", "GET", "/doe.json",
                "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", "auth", "00000001",
                "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v")
        self.assertEqual(digest_ha1("SHA-512-256", args[0], args[1], args[2]),
                         "2d3d9f12c9f3d30011259dc5fecee005ae24de40e3e1f61806d03e65f1e6024f")
        self.assertEqual(harness.H("SHA-512-256", "GET:/doe.json"),
                         "1734b070bafdeb53ae52f93659427bb4bc545e2ef4d5e74ba247dad4861b4634")
        self.assertEqual(digest_response("SHA-512-256", *args),
                         "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5")
        # Section 5: SIP NOTIFY vectors.
        sip = ("alice", "notify.example.com", "s3cr3t", "NOTIFY", "sip:device@192.0.2.10:5060",
               "testnonce-0001")
        table = {
            "MD5": ("0b059f51c0e88be1aa4106790e31944a", "c2602c129760ec58e71a95c0bf50efb3",
                    "7c71a33c87286c9b68dd2fa8b80ab4dc"),
            "SHA-256": ("ebdf4e4172e4612f0ab1dc20c3d56eeac4fd8f879d65fa9b784d654c607619e9",
                        "82650a3345929a7698d6c473eea204b752e3915dc4d804ad184208e728e412fd",
                        "7b7e9fe6184f59b3ced46cee9bb0f040ab8662c8796719d61df95ae3319afb1e"),
            "SHA-512-256": ("6a451caa38d7a3ebc5656ca9fe50cba1877687210a18fd97c55e4109b9264c50",
                            "503eb8bc7870e8007fbdac50b2b66f826a826f577aa02b821093a23a166d9de4",
                            "468e2713997f41189da92b019f0268936dccff576eb6294430df8a6a8676470c"),
        }
        for algorithm, (ha1, with_qop, without_qop) in table.items():
            with self.subTest(algorithm=algorithm):
                self.assertEqual(digest_ha1(algorithm, *sip[:3]), ha1)
                self.assertEqual(digest_response(algorithm, *sip, "auth", "00000001",
                                                 "0a4f113b"), with_qop)
                self.assertEqual(digest_response(algorithm, *sip), without_qop)

    def test_challenge_parser_and_authorization_builder_agree_with_the_seed(self):
        value = 'Digest realm="ser.berlin.snom.com", nonce="b5e73bf9ef0fc8b2", algorithm=MD5'
        scheme, params, quoted = parse_challenge(value)
        self.assertEqual(scheme, "Digest")
        self.assertEqual(params, {"realm": "ser.berlin.snom.com", "nonce": "b5e73bf9ef0fc8b2",
                                  "algorithm": "MD5"})
        self.assertEqual(quoted, {"realm": True, "nonce": True, "algorithm": False})
        auth = authorization(value, "340899", "1234", "NOTIFY",
                             "sip:340899@192.168.137.181:5305")
        self.assertIn('response="f10d6c2cc255089c948c58c14ed0b44f"', auth)
        self.assertNotIn("qop", auth)


# ---------------------------------------------------------------------------
# 1-3. The seed's flows with sipsak

class SeedFlowTest(DaemonTest):
    def test_seed_flow_without_challenge_resyncs(self):
        self.start(challenge="off")
        rc, out, responses = self.sipsak()
        self.assertEqual(rc, 0, "sipsak did not get a 2xx:\n" + sipsak_summary(out))
        finals = [r for r in responses if r.status >= 200]
        self.assertTrue(finals, "sipsak printed no response:\n" + sipsak_summary(out))
        ok = finals[-1]
        self.assertEqual(ok.status, 200, ok.raw)
        self.assertEqual([r.status for r in finals], [200], sipsak_summary(out))
        self.assertEqual(ok.get("server"), SERVER, ok.raw)
        self.assertIsNone(ok.get("user-agent"), ok.raw)
        self.assertTrue(ok.to_tag, f"200 without To tag:\n{ok.raw}")
        port = sipsak_rport(ok)
        self.assertIsNotNone(port, f"no rport in the 200's Via:\n{ok.raw}")
        calls = self.assertCalls(["Resync"])
        self.assertEqual(calls[0]["details"], {
            "identity": 1, "remote": f"udp:127.0.0.1:{port}", "authenticated": False,
            "call_id": SEED_CALL_ID, "event": "check-sync;reboot=false", "user_agent": ""})
        self.assertEqual(calls[0]["result"], "accepted")

    def test_seed_flow_with_challenge_resyncs_after_digest(self):
        self.start(challenge="on")
        rc, out, responses = self.sipsak(password=DEFAULT_PASS)
        self.assertEqual(rc, 0, "sipsak did not get a 2xx:\n" + sipsak_summary(out))
        self.assertEqual([r.status for r in responses], [401, 200], sipsak_summary(out))
        unauthorized, ok = responses
        challenges = unauthorized.all("www-authenticate")
        self.assertEqual(len(challenges), 1, unauthorized.raw)
        scheme, params, quoted = parse_challenge(challenges[0])
        self.assertEqual(scheme, "Digest")
        self.assertEqual(params.get("realm"), DEFAULT_HOST)
        self.assertTrue(params.get("nonce"), challenges[0])
        self.assertTrue(quoted.get("nonce") and quoted.get("realm"), challenges[0])
        self.assertEqual(params.get("algorithm"), "MD5")
        self.assertEqual(params.get("qop"), "auth")
        self.assertTrue(quoted.get("qop"), f'qop must be quoted: {challenges[0]}')
        self.assertNotIn("stale", params)
        for resp in responses:
            self.assertEqual(self.hygiene_problems(resp), [])
        port = sipsak_rport(ok)
        calls = self.assertCalls(["Resync"])
        self.assertEqual(calls[0]["details"], {
            "identity": 1, "remote": f"udp:127.0.0.1:{port}", "authenticated": True,
            "call_id": SEED_CALL_ID, "event": "check-sync;reboot=false", "user_agent": ""})

    def test_qop_none_sends_the_seeds_exact_challenge_and_sipsak_succeeds(self):
        self.start(challenge="on", qop="none")
        rc, out, responses = self.sipsak(password=DEFAULT_PASS)
        self.assertEqual(rc, 0, "sipsak did not get a 2xx:\n" + sipsak_summary(out))
        self.assertEqual([r.status for r in responses], [401, 200], sipsak_summary(out))
        challenges = responses[0].all("www-authenticate")
        self.assertEqual(len(challenges), 1, responses[0].raw)
        self.assertRegex(challenges[0], SEED_401_RE)
        # sipsak then answers without qop, like the seed.
        self.assertRegex(out, r"Authorization: Digest [^\n]*response=")
        auth_lines = re.findall(r"Authorization: Digest[^\n]*", out)
        self.assertTrue(auth_lines and all("qop" not in a for a in auth_lines), auth_lines)
        calls = self.assertCalls(["Resync"])
        self.assertTrue(calls[0]["details"]["authenticated"])


# ---------------------------------------------------------------------------
# 4. Which action

class ActionTest(DaemonTest):
    def notify(self, event, expect=200, **settings_kw):
        self.start(**settings_kw)
        resp, _, _ = self.client().request(event=event)
        self.assertStatus(resp, expect, f"NOTIFY Event: {event}")
        return resp

    def test_reboot_true_reboots(self):
        self.notify("check-sync;reboot=true", challenge="off")
        calls = self.assertCalls(["Reboot"])
        self.assertEqual(calls[0]["details"]["event"], "check-sync;reboot=true")

    def test_check_sync_without_reboot_parameter_reboots(self):
        self.notify("check-sync", challenge="off")
        self.assertCalls(["Reboot"])

    def test_checksync_action_sync_resyncs_even_when_reboot_is_asked(self):
        self.notify("check-sync;reboot=true", challenge="off", action="sync")
        self.assertCalls(["Resync"])

    def test_checksync_action_reboot_reboots_even_when_resync_is_asked(self):
        self.notify("check-sync;reboot=false", challenge="off", action="reboot")
        self.assertCalls(["Reboot"])

    def test_challenge_reboot_challenges_reboots_only(self):
        self.start(challenge="off", challenge_reboot="on")
        c = self.client()
        resp, _, _ = c.request(event="check-sync;reboot=true")
        self.assertStatus(resp, 401, "NOTIFY reboot=true with challenge_reboot on")
        self.assertTrue(resp.all("www-authenticate"), resp.raw)
        resp, _, _ = c.request(event="check-sync;reboot=false")
        self.assertStatus(resp, 200, "NOTIFY reboot=false with challenge_reboot on")
        calls = self.assertCalls(["Resync"])
        self.assertFalse(calls[0]["details"]["authenticated"])
