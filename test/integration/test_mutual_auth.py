# SPDX-License-Identifier: MIT
"""Mutual authentication and RFC 7616 on the answer side, against the real
daemon: the 200 to an authenticated check-sync carries Authentication-Info
(rspauth checked here with an independent computation, nextnonce usable for
the next check-sync without a 401), its retransmission the same rspauth;
userhash=true with the echoed opaque (checksync_auth_userhash); username*
for a name that is not ASCII."""

import hashlib
import secrets

from base import DaemonTest
from harness import (DEFAULT_HOST, DEFAULT_PASS, DEFAULT_USER, H, parse_challenge,
                     settings_xml)


def auth_info(value):
    """'nextnonce="a", qop=auth, rspauth="b", ...' as a dict."""
    _, params, _ = parse_challenge("X " + value)
    return params


def answer(challenge, uri, password, username=DEFAULT_USER, name_param=None, nonce=None,
           cnonce=None, extra=""):
    """A qop=auth answer to `challenge` (or to `nonce` in its realm)."""
    _, params, _ = parse_challenge(challenge)
    algorithm = params.get("algorithm", "MD5")
    realm = params["realm"]
    nonce = nonce or params["nonce"]
    cnonce = cnonce or secrets.token_hex(8)
    ha1 = H(algorithm, f"{username}:{realm}:{password}")
    response = H(algorithm, f"{ha1}:{nonce}:00000001:{cnonce}:auth:" +
                 H(algorithm, f"NOTIFY:{uri}"))
    name_param = name_param or f'username="{username}"'
    return (f'Digest {name_param}, realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm={algorithm}, qop=auth, nc=00000001, '
            f'cnonce="{cnonce}"{extra}')


def rspauth(challenge, uri, password, cnonce, username=DEFAULT_USER, nonce=None):
    """RFC 7616 3.5, computed here: the digest over A2 = ":" uri."""
    _, params, _ = parse_challenge(challenge)
    algorithm = params.get("algorithm", "MD5")
    ha1 = H(algorithm, f"{username}:{params['realm']}:{password}")
    return H(algorithm, f"{ha1}:{nonce or params['nonce']}:00000001:{cnonce}:auth:" +
             H(algorithm, f":{uri}"))


class AuthenticationInfoTest(DaemonTest):
    def test_the_200_proves_the_phone_knows_the_password(self):
        self.start(challenge="on", algorithms="SHA-256,MD5")
        c = self.client()
        first, _, _ = c.request(call_id="mutual@pbx", cseq=1)
        self.assertStatus(first, 401)
        challenge = self.challenge_of(first, "SHA-256")
        cnonce = "c0ffee" + secrets.token_hex(4)
        text, branch = c.build(call_id="mutual@pbx", cseq=2,
                               auth=answer(challenge, c.uri(), DEFAULT_PASS, cnonce=cnonce))
        c.send(text)
        ok = c.recv(branch)
        self.assertStatus(ok, 200)
        info = ok.get("authentication-info")
        self.assertIsNotNone(info, ok.raw)
        params = auth_info(info)
        self.assertEqual(params["rspauth"], rspauth(challenge, c.uri(), DEFAULT_PASS, cnonce))
        self.assertEqual((params["qop"], params["nc"], params["cnonce"]),
                         ("auth", "00000001", cnonce))
        self.assertCalls(["Resync"])
        # The retransmission: the same 200, the same rspauth.
        c.send(text)
        again = c.recv(branch)
        self.assertStatus(again, 200)
        self.assertEqual(again.to_tag, ok.to_tag)
        self.assertEqual(auth_info(again.get("authentication-info"))["rspauth"],
                         params["rspauth"])
        # A 200 to an unauthenticated request carries none (challenge off
        # for the Reboot below would be another test: here a 401 has none).
        self.assertIsNone(first.get("authentication-info"))

        # nextnonce: the next check-sync from this source answers it at
        # once, without a 401 first (one round trip less).
        nextnonce = params["nextnonce"]
        resp, _, _ = c.request(call_id="next@pbx", cseq=1, event="check-sync;reboot=true",
                               auth=answer(challenge, c.uri(), DEFAULT_PASS,
                                           nonce=nextnonce))
        self.assertStatus(resp, 200)
        self.assertCalls(["Resync", "Reboot"])
        # It is used up: the same nonce again is stale.
        resp, _, _ = c.request(call_id="again@pbx", cseq=1,
                               auth=answer(challenge, c.uri(), DEFAULT_PASS,
                                           nonce=nextnonce))
        self.assertStatus(resp, 401)
        self.assertIn("stale=true", self.challenge_of(resp, "SHA-256"))

    def test_a_nextnonce_is_bound_to_its_source(self):
        self.start(challenge="on")
        c = self.client()
        _, _, ok = self.authenticated_notify(c, "bound@pbx")
        nextnonce = auth_info(ok.get("authentication-info"))["nextnonce"]
        other = self.client(source="127.0.0.2")
        first, _, _ = other.request()
        resp, _, _ = other.request(cseq=2, auth=answer(self.challenge_of(first), other.uri(),
                                                       DEFAULT_PASS, nonce=nextnonce))
        self.assertStatus(resp, 401)
        self.assertCalls(["Resync"])


class UserhashTest(DaemonTest):
    def test_a_hashed_username_with_the_echoed_opaque_authenticates(self):
        self.start(challenge="on", extra=[("checksync_auth_userhash", "on")])
        c = self.client()
        first, _, _ = c.request(call_id="uh@pbx", cseq=1)
        self.assertStatus(first, 401)
        challenge = self.challenge_of(first)
        _, params, _ = parse_challenge(challenge)
        self.assertEqual(params.get("userhash"), "true")
        opaque = params["opaque"]
        hashed = hashlib.md5(f"{DEFAULT_USER}:{DEFAULT_HOST}".encode()).hexdigest()
        resp, _, _ = c.request(call_id="uh@pbx", cseq=2, auth=answer(
            challenge, c.uri(), DEFAULT_PASS, name_param=f'username="{hashed}", userhash=true',
            extra=f', opaque="{opaque}"'))
        self.assertStatus(resp, 200)
        self.assertCalls(["Resync"])
        # Without the opaque it is refused.
        again, _, _ = c.request(call_id="uh2@pbx", cseq=1)
        resp, _, _ = c.request(call_id="uh2@pbx", cseq=2, auth=answer(
            self.challenge_of(again), c.uri(), DEFAULT_PASS,
            name_param=f'username="{hashed}", userhash=true'))
        self.assertStatus(resp, 401)
        self.assertCalls(["Resync"])

    def test_userhash_is_off_by_default(self):
        self.start(challenge="on")
        first, _, _ = self.client().request()
        self.assertStatus(first, 401)
        self.assertNotIn("userhash", self.challenge_of(first))
        self.assertNotIn("opaque", self.challenge_of(first))


class Utf8UserTest(DaemonTest):
    USER = "J\u00e4s\u00f8n Doe"

    def test_username_star_authenticates_a_name_that_is_not_ascii(self):
        self.start(settings=settings_xml(challenge="on", identities=[dict(
            idx=1, user_name=DEFAULT_USER, user_host=DEFAULT_HOST, user_pname=self.USER,
            user_pass=DEFAULT_PASS)]))
        c = self.client()
        first, _, _ = c.request(call_id="utf8@pbx", cseq=1)
        self.assertStatus(first, 401)
        challenge = self.challenge_of(first)
        self.assertIn(", charset=UTF-8", challenge)
        resp, _, _ = c.request(call_id="utf8@pbx", cseq=2, auth=answer(
            challenge, c.uri(), DEFAULT_PASS, username=self.USER,
            name_param="username*=UTF-8''J%C3%A4s%C3%B8n%20Doe"))
        self.assertStatus(resp, 200)
        self.assertCalls(["Resync"])
