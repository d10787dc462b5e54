# SPDX-License-Identifier: MIT
"""The base class of the daemon tests: a fresh world per test, and checks
that hold for every test (Server and To tags on every response, a clean
stop with STOPPING=1)."""

import re
import time
import unittest

from harness import (DEFAULT_PASS, DEFAULT_USER, RECV_TIMEOUT, Env, SipClient,  # noqa: F401
                     authorization, parse_challenge, run_sipsak, settings_xml)

SERVER = "checksyncd"
SEED_401_RE = re.compile(r'^Digest realm="ser\.berlin\.snom\.com", nonce="[^"]+", algorithm=MD5$')

# Used where a test must be able to tell the configured password from any
# other text in the daemon's log (1234 also occurs in the seed's Call-ID).
DISTINCT_PASS = "Vq7-pw-k2Lm9xZ"


class DaemonTest(unittest.TestCase):
    """Fresh bus + stand-in + daemon per test; clean stop asserted at the end."""

    def setUp(self):
        self.env = Env(self.id().rsplit(".", 2)[-2] + "." + self._testMethodName)
        self.addCleanup(self.env.close)
        self.clients = []
        self.other_responses = []  # e.g. what sipsak received
        self.check_hygiene = True

    def tearDown(self):
        problems = []
        if self.check_hygiene:
            for client in self.clients:
                for resp in client.responses:
                    problems += self.hygiene_problems(resp)
            for resp in self.other_responses:
                problems += self.hygiene_problems(resp)
        env = self.env
        if env.daemon is not None and not env.daemon_stopped:
            status, stopping = env.stop_daemon()
            if status != 0:
                problems.append(f"checksyncd exited with status {status} after SIGTERM "
                                "(expected 0)")
            if not stopping:
                problems.append("checksyncd sent no STOPPING=1 on the notify socket")
        if problems:
            self.fail("; ".join(problems))

    @staticmethod
    def hygiene_problems(resp):
        problems = []
        # RFC 3261 20.35: Server in responses, and no version for scanners
        # to fingerprint.
        server = resp.get("server")
        if server != SERVER:
            problems.append(f"{resp.status} {resp.reason} has Server {server!r}, "
                            f"expected {SERVER!r}")
        if resp.get("user-agent") is not None:
            problems.append(f"{resp.status} {resp.reason} has a User-Agent header")
        if resp.status >= 200 and not resp.to_tag:
            problems.append(f"final {resp.status} {resp.reason} has no To tag")
        return problems

    # -- helpers ---------------------------------------------------------------

    def start(self, settings=None, standin=True, fail=None, delay_ms=None, host="127.0.0.1",
              write=True, standin_args=(), **settings_kw):
        if write:
            self.env.write_settings(settings if settings is not None
                                    else settings_xml(**settings_kw))
        if self.env.bus is None:
            self.env.start_bus()
        if standin:
            self.env.start_standin(fail=fail, delay_ms=delay_ms, extra=standin_args)
        return self.env.start_daemon(host=host)

    def client(self, transport="udp", host="127.0.0.1", source=None):
        c = SipClient(host, self.env.port, transport, source=source)
        self.clients.append(c)
        self.env.sockets.append(c.sock)
        return c

    def assertStatus(self, resp, status, what="response"):
        self.assertIsNotNone(resp, f"no final {what} within {RECV_TIMEOUT:.0f} s "
                             f"(expected {status})")
        self.assertEqual(resp.status, status, f"{what}: got {resp.status} {resp.reason}, "
                         f"expected {status}\n{resp.raw}")

    def sipsak(self, **kw):
        """run_sipsak, with every response it saw checked in tearDown."""
        rc, out, responses = run_sipsak(self.env, self.env.port, **kw)
        self.other_responses += responses
        return rc, out, responses

    def settle(self, seconds=0.5):
        """Give an (unexpected) D-Bus call time to show up before asserting none."""
        time.sleep(seconds)

    def assertCalls(self, expected_methods, msg=""):
        """Exactly these stand-in calls so far (waits for them, then a little
        longer so that an extra call would show up too)."""
        if expected_methods:
            self.env.wait_calls(len(expected_methods))
            self.settle(0.3)
        else:
            self.settle(0.5)
        calls = self.env.calls()
        self.assertEqual([c.get("method") for c in calls], list(expected_methods),
                         f"stand-in calls: {calls} {msg}")
        return calls

    def authenticated_notify(self, c, call_id):
        """NOTIFY, its 401, then the NOTIFY answering it with the right
        password: returns (text, branch, 200 response) of the second."""
        first, _, _ = c.request(call_id=call_id, cseq=1)
        self.assertStatus(first, 401, "first NOTIFY")
        auth = authorization(self.challenge_of(first), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                             c.uri())
        text, branch = c.build(call_id=call_id, cseq=2, auth=auth)
        c.send(text)
        ok = c.recv(branch)
        self.assertStatus(ok, 200, "authenticated NOTIFY")
        return text, branch, ok

    def wrong_answer(self, c):
        """NOTIFY, its 401, then the NOTIFY answering it with a wrong
        password: returns the answer to the second."""
        first, _, _ = c.request()
        self.assertStatus(first, 401)
        auth = authorization(self.challenge_of(first), DEFAULT_USER, "not-the-password",
                             "NOTIFY", c.uri())
        resp, _, _ = c.request(auth=auth, cseq=2)
        return resp

    def challenge_of(self, resp, algorithm="MD5"):
        for value in resp.all("www-authenticate"):
            _, params, _ = parse_challenge(value)
            if params.get("algorithm", "MD5").upper() == algorithm.upper():
                return value
        self.fail(f"no WWW-Authenticate for {algorithm} in\n{resp.raw}")


def sipsak_rport(resp):
    m = re.search(r";\s*rport=(\d+)", resp.get("via") or "")
    return int(m.group(1)) if m else None
