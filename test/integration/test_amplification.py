# SPDX-License-Identifier: MIT
"""401 amplification toward spoofed victims (docs/security.md,
"Amplification"): what a source that has not proven itself is sent, in
real bytes on the port. An answer to it is at most twice its request, its
4xx/5xx answers come at a bounded rate per /24 and in total, and past
that it gets silence, counted in `silenced`; a source that answered a
challenge, or one over TCP, gets every answer at any rate."""

import json
import socket
import subprocess
import time

from base import DaemonTest
from harness import DEFAULT_PASS, DEFAULT_USER, RECV_TIMEOUT, authorization, settings_xml

TWELVE_REALMS = [dict(idx=i, user_name=DEFAULT_USER, user_host=f"pbx{i}.example.net",
                      user_pass=DEFAULT_PASS) for i in range(1, 13)]


def tiny_notify(port, source_port):
    """As small as a NOTIFY gets: compact names, short values (125 bytes)."""
    return (f"NOTIFY sip:{DEFAULT_USER}@127.0.0.1 SIP/2.0\r\n"
            f"v: SIP/2.0/UDP 127.0.0.1:{source_port};branch=z9hG4bK1\r\n"
            "f: <sip:p@a>;tag=1\r\nt: <sip:340899@a>\r\ni: x\r\nCSeq: 1 NOTIFY\r\n"
            "o: check-sync\r\n\r\n").encode()


class AmplificationTest(DaemonTest):
    def socket(self, source="127.0.0.1"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((source, 0))
        self.env.sockets.append(sock)
        return sock

    def exchange(self, sock, data, timeout=RECV_TIMEOUT):
        """Send one datagram; the answer's bytes, or None."""
        sock.sendto(data, ("127.0.0.1", self.env.port))
        sock.settimeout(timeout)
        try:
            return sock.recv(65536)
        except socket.timeout:
            return None

    def counters(self):
        proc = subprocess.run(
            ["busctl", f"--address={self.env.bus_address}", "--json=short", "get-property",
             "org.checksyncd.CheckSync1", "/org/checksyncd/CheckSync1",
             "org.checksyncd.CheckSync1", "Counters"],
            stdout=subprocess.PIPE, check=True, timeout=10)
        return json.loads(proc.stdout)["data"]

    def test_a_tiny_spoofable_notify_gets_no_401_at_all(self):
        self.start(challenge="on")
        sock = self.socket()
        request = tiny_notify(self.env.port, sock.getsockname()[1])
        # Its 401 would be more than three times its size.
        self.assertIsNone(self.exchange(sock, request, timeout=1.0))
        self.assertEqual(self.counters()["silenced"], 1)
        self.assertTrue(self.env.wait_log("answers to sources that have not proven themselves "
                                          "held back"), self.env.daemon_log())

    def test_every_401_to_an_unproven_source_is_at_most_twice_its_request(self):
        self.start(settings=settings_xml(challenge="on", algorithms="SHA-512-256,SHA-256,MD5",
                                         identities=TWELVE_REALMS))
        ratios = []
        for pad in range(0, 3001, 250):
            c = self.client(source=f"127.0.{pad // 250 + 10}.1")
            text, branch = c.build(extra=[f"X-Pad: {'p' * pad}"] if pad else [])
            c.send(text)
            resp = c.recv(branch, timeout=1.0)
            if resp is None:
                continue
            ratios.append(len(resp.raw.encode()) / len(text.encode()))
            self.assertLessEqual(len(resp.raw.encode()), 2 * len(text.encode()),
                                 f"{len(resp.raw)} bytes for {len(text)}")
            self.assertEqual(resp.status, 401)
        # The bigger requests were challenged, with ever more realms.
        self.assertGreaterEqual(len(ratios), 10, ratios)

    def test_a_source_that_answered_a_challenge_gets_every_challenge(self):
        self.start(settings=settings_xml(challenge="on", algorithms="SHA-512-256,SHA-256,MD5",
                                         identities=TWELVE_REALMS))
        c = self.client()
        first, _, _ = c.request()
        self.assertStatus(first, 401)
        self.assertLess(len(first.all("www-authenticate")), 36)
        # An answer with a nonce of ours proves the address (even a wrong one).
        auth = authorization(first.all("www-authenticate")[0], DEFAULT_USER, "wrong",
                             "NOTIFY", c.uri())
        wrong, _, _ = c.request(cseq=2, auth=auth)
        self.assertStatus(wrong, 401)
        resp, _, _ = c.request()
        self.assertStatus(resp, 401)
        self.assertEqual(len(resp.all("www-authenticate")), 36)
        # And over TCP from the start.
        tcp = self.client(transport="tcp", source="127.0.0.9")
        resp, _, _ = tcp.request()
        self.assertEqual(len(resp.all("www-authenticate")), 36)

    def test_answers_to_an_unproven_slash24_come_at_a_bounded_rate(self):
        self.start(challenge="on")
        c = self.client(source="127.0.0.5")
        branches = []
        for i in range(100):
            text, branch = c.build(call_id=f"spoof-{i}@victim")
            c.send(text)
            branches.append(branch)
        deadline = time.monotonic() + 2.0
        answered = 0
        while time.monotonic() < deadline:
            if c.recv(timeout=max(0.0, deadline - time.monotonic())) is None:
                break
            answered += 1
        # The burst of 20, and about 10 a second after it.
        self.assertGreaterEqual(answered, 20)
        self.assertLessEqual(answered, 30)
        self.assertGreaterEqual(self.counters()["silenced"], 100 - answered)
        # A source that proved itself is not held back.
        pbx = self.client(source="127.0.1.1")
        self.assertStatus(self.wrong_answer(pbx), 401)
        for i in range(50):
            resp, _, _ = pbx.request(call_id=f"proven-{i}@pbx")
            self.assertStatus(resp, 401, f"request {i} of a proven source")
