#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""checksyncd integration tests: the real daemon against real peers.

  python3 test/integration/run.py --daemon PATH --standin PATH [-k PATTERN] [-v]

Every test runs its own private D-Bus daemon, provisioning stand-in and
checksyncd (the daemon allows one D-Bus call per method per 5 s, so state
must not leak between tests). SIP peers: sipsak, sipp and a raw Python
client. The last line printed is "integration: N passed, N failed".
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import test_actions  # noqa: E402
import test_amplification  # noqa: E402
import test_budget  # noqa: E402
import test_dialects  # noqa: E402
import test_filter  # noqa: E402
import test_guard  # noqa: E402
import test_handoff  # noqa: E402
import test_mutual_auth  # noqa: E402
import test_pnp  # noqa: E402
import test_reload  # noqa: E402
import test_security  # noqa: E402
import test_status  # noqa: E402
import test_tcp  # noqa: E402
import test_ua  # noqa: E402
from harness import (DEFAULT_HOST, DEFAULT_PASS, DEFAULT_USER, RECV_TIMEOUT,  # noqa: E402
                     SEED_CALL_ID, Env, authorization, digest_ha1, digest_response,
                     parse_challenge, settings_xml, sipp_auth_command, sipp_totals,
                     sipsak_summary)

from base import (DISTINCT_PASS, SEED_401_RE, SERVER, DaemonTest,  # noqa: E402
                  sipsak_rport)


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
# 11-12. Settings at start and reload

class SettingsLifecycleTest(DaemonTest):
    def waiting_then_recovers(self):
        env = self.env
        note = env.start_daemon()
        status = [l for l in note["lines"] if l.startswith("STATUS=")]
        self.assertTrue(status, f"READY=1 without STATUS: {note['text']!r}")
        self.assertRegex(status[0], r"(?i)wait", "STATUS does not say it is waiting")
        c = self.client()
        resp, _, _ = c.request()
        self.assertStatus(resp, 503, "NOTIFY without good settings")
        self.assertIsNotNone(resp.get("retry-after"), f"503 without Retry-After:\n{resp.raw}")
        self.assertCalls([])
        env.write_settings(settings_xml(challenge="off"))
        mark = len(env.notes)
        env.signal_daemon(signal.SIGHUP)
        self.assertIsNotNone(env.wait_note(lambda n: "READY=1" in n["lines"], 5, mark),
                             "no READY=1 after SIGHUP")
        resp, _, _ = c.request()
        self.assertStatus(resp, 200, "NOTIFY after a good file and SIGHUP")
        self.assertCalls(["Resync"])

    def test_missing_settings_file_answers_503_until_a_good_file_and_sighup(self):
        self.env.start_bus()
        self.env.start_standin()
        self.waiting_then_recovers()

    def test_malformed_settings_file_answers_503_until_a_good_file_and_sighup(self):
        self.env.write_settings('<?xml version="1.0"?>\n<settings><phone-settings>\n'
                                    '<challenge_checksync>off</challenge_checksync>\n'
                                    '</settings>\n')
        self.env.start_bus()
        self.env.start_standin()
        self.waiting_then_recovers()

    def test_sighup_reload_turns_the_challenge_on(self):
        self.start(challenge="off")
        env = self.env
        c = self.client()
        resp, _, _ = c.request(event="check-sync;reboot=false")
        self.assertStatus(resp, 200, "NOTIFY with challenge off")
        env.write_settings(settings_xml(challenge="on"))
        mark = len(env.notes)
        env.signal_daemon(signal.SIGHUP)
        reloading = env.wait_note(lambda n: "RELOADING=1" in n["lines"], 5, mark)
        self.assertIsNotNone(reloading, "no RELOADING=1 after SIGHUP")
        at = env.notes.index(reloading)
        self.assertIsNotNone(env.wait_note(lambda n: "READY=1" in n["lines"], 5, at + 1),
                             "no READY=1 after RELOADING=1")
        resp, _, _ = c.request(event="check-sync;reboot=false")
        self.assertStatus(resp, 401, "NOTIFY after reload with challenge on")
        self.assertCalls(["Resync"])


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


# ---------------------------------------------------------------------------
# 16. Command line

class CommandLineTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(self._testMethodName)
        self.addCleanup(self.env.close)

    def run_daemon(self, *args, timeout=15, env_extra=None):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        if env_extra:
            env.update(env_extra)
        try:
            proc = subprocess.run([harness.CONFIG["daemon"], *args], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            self.fail(f"checksyncd {' '.join(args)} did not exit within {timeout} s "
                      f"(stderr: {self.env.redact((e.stderr or b'').decode(errors='replace'))})")
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
                proc.stderr.decode("utf-8", "replace"))

    def test_version_prints_name_and_version(self):
        rc, out, _ = self.run_daemon("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out.strip(), r"^checksyncd \d+\.\d+\.\d+")

    def test_unknown_option_exits_64(self):
        rc, _, err = self.run_daemon("--no-such-option")
        self.assertEqual(rc, 64, err)

    def test_check_config_on_a_good_file_masks_the_password(self):
        xml = settings_xml(challenge="on", identities=[dict(
            idx=1, user_name=DEFAULT_USER, user_host=DEFAULT_HOST, user_pass=DISTINCT_PASS)])
        self.env.write_settings(xml)
        rc, out, err = self.run_daemon("--settings", self.env.settings_path, "--check-config")
        self.assertEqual(rc, 0, self.env.redact(err))
        self.assertIn("user_pass[1] = ********", self.env.redact(out))
        self.assertFalse(DISTINCT_PASS in out + err, "--check-config printed the password")

    def test_check_config_on_a_bad_value_exits_1_with_file_and_line(self):
        xml = settings_xml(challenge="maybe", identities=[dict(
            idx=1, user_name=DEFAULT_USER, user_host=DEFAULT_HOST, user_pass=DISTINCT_PASS)])
        line = next(i for i, l in enumerate(xml.split("\n"), 1) if "challenge_checksync" in l)
        self.env.write_settings(xml)
        rc, out, err = self.run_daemon("--settings", self.env.settings_path, "--check-config")
        self.assertEqual(rc, 1, self.env.redact(out + err))
        self.assertIn(f"{self.env.settings_path}:{line}: ", self.env.redact(err),
                      f"expected FILE:{line}: in stderr")
        self.assertFalse(DISTINCT_PASS in out + err, "--check-config printed the password")

    def daemon_must_fail(self, listen, bus):
        env = self.env
        env.write_settings(settings_xml(challenge="off"))
        rc, _, err = self.run_daemon("--settings", env.settings_path, "--listen", listen,
                                     "--bus", bus, "--log-level", "debug")
        return rc, env.redact(err)

    def test_listen_port_in_use_exits_1(self):
        self.env.start_bus()
        self.env.start_standin()
        port = harness.free_port()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.env.sockets += [udp, tcp]
        udp.bind(("127.0.0.1", port))
        tcp.bind(("127.0.0.1", port))
        tcp.listen(1)
        rc, err = self.daemon_must_fail(f"sip:127.0.0.1:{port}", self.env.bus_address)
        self.assertEqual(rc, 1, err)
        self.assertIn(str(port), err, "the error does not name the address")

    def test_listen_on_a_non_local_address_exits_1(self):
        self.env.start_bus()
        self.env.start_standin()
        rc, err = self.daemon_must_fail("sip:192.0.2.1:5060", self.env.bus_address)
        self.assertEqual(rc, 1, err)
        self.assertIn("192.0.2.1", err, "the error does not name the address")

    def test_unreachable_bus_exits_1(self):
        rc, err = self.daemon_must_fail(f"sip:127.0.0.1:{harness.free_port()}",
                                        "unix:path=/nonexistent")
        self.assertEqual(rc, 1, err)


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


# ---------------------------------------------------------------------------
# Runner

class Result(unittest.TextTestResult):
    """Adds the test environment's logs to every failure and error."""

    def _with_diagnostics(self, test, lst):
        env = getattr(test, "env", None)
        if env is not None and lst and lst[-1][0] is test:
            try:
                lst[-1] = (test, lst[-1][1] + env.diagnostics())
            except Exception as e:  # never lose the failure itself
                lst[-1] = (test, lst[-1][1] + f"\n(diagnostics failed: {e})")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._with_diagnostics(test, self.failures)

    def addError(self, test, err):
        super().addError(test, err)
        self._with_diagnostics(test, self.errors)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemon", required=True, help="the checksyncd binary")
    parser.add_argument("--standin", required=True, help="the provisioning-standin binary")
    parser.add_argument("--nua", help="the checksyncd-nua binary (default: beside the daemon's "
                        "build directory, integrations/sofia-nua/checksyncd-nua)")
    parser.add_argument("-k", dest="patterns", action="append", default=[],
                        help="only run tests whose name contains PATTERN (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    harness.use_binaries(args.daemon, args.standin)
    harness.CONFIG["nua"] = os.path.abspath(args.nua or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(args.daemon))), "integrations",
        "sofia-nua", "checksyncd-nua"))

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in args.patterns]
    suite = loader.loadTestsFromModule(sys.modules[__name__])
    for module in (test_security, test_reload, test_dialects, test_actions, test_guard,
                   test_status, test_tcp, test_filter, test_pnp, test_handoff, test_mutual_auth,
                   test_amplification, test_ua, test_budget):
        suite.addTests(loader.loadTestsFromModule(module))

    problems = []
    for what, path in (("--daemon", args.daemon), ("--standin", args.standin)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            problems.append(f"{what} {path}: not an executable file")
    for tool in ("dbus-daemon", "dbus-send", "busctl", "setpriv", "sipsak", "sipp", "dnsmasq", "ip"):
        if not shutil.which(tool):
            problems.append(f"{tool} is not installed (the tests that need it will fail)")
    for p in problems:
        print(f"integration: warning: {p}", flush=True)

    started = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2 if args.verbose else 1,
                                     resultclass=Result)
    result = runner.run(suite)
    elapsed = time.monotonic() - started

    failed_ids = set()
    for test, _ in result.failures + result.errors + result.skipped:
        failed_ids.add(test.id() if hasattr(test, "id") else str(test))
    for test in result.unexpectedSuccesses:
        failed_ids.add(test.id())
    # A subtest failure is reported against the subtest; count its parent.
    failed_ids = {re.sub(r" \(.*\)$", "", i) for i in failed_ids}
    failed = len(failed_ids)
    passed = max(0, result.testsRun - failed)
    if result.skipped:
        print(f"integration: {len(result.skipped)} test(s) skipped, counted as failed")
    if result.testsRun == 0:
        print("integration: no test matched", flush=True)
    print(f"integration: run time {elapsed:.1f} s", flush=True)
    sys.stderr.flush()
    print(f"integration: {passed} passed, {failed} failed", flush=True)
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
