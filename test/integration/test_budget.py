# SPDX-License-Identifier: MIT
"""The guess budget never locks the real PBX out (docs/security.md, "Brute
force"): four attacker addresses, five wrong answers each, spend the 20
guesses a minute; a PBX that knows the password is still served when the
source filter names it, and when it authenticated before the daemon
restarted (the reboot a check-sync asks for), through the state file in
$STATE_DIRECTORY."""

import os
import threading
import time

from base import DaemonTest
from harness import DEFAULT_PASS, DEFAULT_USER, RECV_TIMEOUT, SipClient, authorization

PBX = "127.0.0.10"
NEWCOMER = "127.0.0.11"  # knows the password, never authenticated, not named
ATTACKERS = [f"127.0.0.{i}" for i in range(2, 6)]
GUESSES_EACH = 5  # each attacker is locked out after these (FailureTable::kMaxFailures)
BUDGET = 20  # failed answers heard a minute over all sources (kGuessBudget)
STATE_FILE = "known-sources"


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class BudgetTest(DaemonTest):
    def source(self, address):
        c = SipClient("127.0.0.1", self.env.port, source=address)
        self.clients.append(c)
        self.env.sockets.append(c.sock)
        return c

    def answer(self, c, password, timeout=RECV_TIMEOUT):
        """A NOTIFY, then its 401 answered with `password`: the answer's
        response (None without one)."""
        first, _, _ = c.request(cseq=1, timeout=timeout)
        if first is None or first.status != 401:
            return first
        auth = authorization(self.challenge_of(first), DEFAULT_USER, password, "NOTIFY",
                             c.uri())
        resp, _, _ = c.request(cseq=2, auth=auth, timeout=timeout)
        return resp

    def spend_the_budget(self):
        """Four attackers, five wrong answers each: each one heard (401),
        and the budget spent with the last."""
        for address in ATTACKERS:
            c = self.source(address)
            for i in range(GUESSES_EACH):
                self.assertStatus(self.answer(c, "guess"), 401, f"guess {i + 1} from {address}")

    def assertBudgetSpent(self):
        """A source that knows the password but never authenticated and is
        not named waits for the budget: what the PBX got before the fix."""
        resp = self.answer(self.source(NEWCOMER), DEFAULT_PASS)
        self.assertStatus(resp, 503, "the newcomer's right answer with the budget spent")
        self.assertIsNotNone(resp.get("retry-after"), resp.raw)

    def assertPbxServed(self, what):
        self.assertStatus(self.answer(self.source(PBX), DEFAULT_PASS), 200, what)


class RestartTest(BudgetTest):
    def setUp(self):
        super().setUp()
        self.state = os.path.join(self.env.dir, "state")
        os.mkdir(self.state, 0o700)
        self.env.daemon_env["STATE_DIRECTORY"] = self.state
        self.path = os.path.join(self.state, STATE_FILE)

    def test_a_pbx_that_authenticated_before_a_restart_is_served_with_the_budget_spent(self):
        self.start(challenge="on")
        self.assertPbxServed("the PBX before the restart")
        self.assertCalls(["Resync"])

        # The attackers keep going while the daemon restarts (the reboot
        # the check-sync asked for): their guesses before it, the ones
        # unanswered while it is down, and the ones after it.
        stop = threading.Event()
        statuses = []

        def attack():
            clients = [SipClient("127.0.0.1", self.env.port, source=a) for a in ATTACKERS]
            try:
                while not stop.is_set():
                    for c in clients:
                        resp = self.answer(c, "guess", timeout=0.5)
                        statuses.append(resp.status if resp else None)
            finally:
                for c in clients:
                    c.close()
        attacker = threading.Thread(target=attack)
        attacker.start()
        try:
            self.assertTrue(wait_until(lambda: statuses.count(401) >= 4),
                            f"the attackers were not heard before the restart: {statuses}")
            mark = len(self.env.daemon_log())
            self.env.restart_daemon()
            # After the restart the attackers spend the budget anew: 20
            # failures, and then each of them is locked out.
            self.assertTrue(wait_until(lambda: self.env.daemon_log()[mark:].count(
                "authentication failed:") >= BUDGET, timeout=30),
                f"the attackers did not spend the budget after the restart: {statuses}")
        finally:
            stop.set()
            attacker.join()
        self.assertBudgetSpent()
        self.assertPbxServed("the PBX that authenticated before the restart, the budget spent")
        self.assertCalls(["Resync", "Resync"])
        self.assertIn(None, statuses, "no guess went unanswered: was the daemon restarted?")
        # What carried the PBX over: the file the first run wrote at its
        # stop, read by the second at its start.
        with open(self.path, encoding="utf-8") as f:
            self.assertEqual(f.read(), f"checksyncd known-sources 1\n{PBX}\n")
        self.assertIn(f"{self.path}: 1 source that authenticated before",
                      self.env.daemon_log()[mark:])


class NamedSourceTest(BudgetTest):
    """The PBX has not authenticated since the daemon started, and there is
    no state file: the source filter naming it is what gets it through."""

    def run_attack_then_pbx(self, expected, **settings):
        self.start(challenge="on", **settings)
        self.spend_the_budget()
        self.assertBudgetSpent()
        self.assertStatus(self.answer(self.source(PBX), DEFAULT_PASS), expected,
                          "the PBX, never authenticated since the start, the budget spent")

    def test_a_checksync_trusted_address_is_outside_the_budget(self):
        # The attackers pass the filter (the /24 is trusted too), the PBX
        # is named by its own address.
        self.run_attack_then_pbx(200, extra=[("checksync_trusted", f"127.0.0.0/24, {PBX}")])
        self.assertCalls(["Resync"])

    def test_the_registrar_is_outside_the_budget_with_filter_registrar_on(self):
        self.run_attack_then_pbx(200, identities=[REGISTRAR_PBX], extra=[
            ("filter_registrar", "on"), ("checksync_trusted", "127.0.0.0/24")])
        self.assertCalls(["Resync"])

    def test_a_registrar_written_as_an_address_is_outside_the_budget_with_the_filter_off(self):
        # The default: no filter, and no DNS traffic for it; an address
        # needs no lookup.
        self.run_attack_then_pbx(200, identities=[REGISTRAR_PBX])
        self.assertNotIn("source filter on", self.env.daemon_log())
        self.assertCalls(["Resync"])

    def test_a_wide_trusted_prefix_names_a_network_not_a_pbx(self):
        # Everyone in the /24 passes the filter, and spends the budget as
        # everyone does: a botnet inside a trusted network gets no more.
        self.run_attack_then_pbx(503, extra=[("checksync_trusted", "127.0.0.0/24")])
        self.assertCalls([])


# An identity whose registrar is the PBX's address (the digest realm is
# that address too).
REGISTRAR_PBX = dict(idx=1, user_name=DEFAULT_USER, user_host=PBX, user_pass=DEFAULT_PASS)
