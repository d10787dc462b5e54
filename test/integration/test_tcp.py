# SPDX-License-Identifier: MIT
"""SIP over TCP on the open internet (issue 9, finding 3): inbound
connections are bounded in total and per source; silent, trickling, stalled
and idle ones are closed; and running out of descriptors never makes the
loop spin; UDP keeps being served meanwhile."""

import os
import select
import signal
import socket
import time

from base import DaemonTest
from harness import RECV_TIMEOUT, SipClient

CLK_TCK = os.sysconf("SC_CLK_TCK")

# The descriptor limit the daemon runs under in the exhaustion test: as low
# as the reproduction. The daemon itself needs about a dozen.
LOW_NOFILE = 64
# More idle connections than that limit allows, from several sources.
IDLE_CONNECTIONS = 90
IDLE_SOURCES = [f"127.0.0.{i}" for i in range(20, 35)]

# What the daemon is documented to allow (docs/security.md,
# daemon/sip/tcp_guard.hpp).
TOTAL = 64
PER_SOURCE = 8
IDLE_S = 30
FIRST_REQUEST_S = 10
STALLED_REQUEST_S = 5


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_share(pid, seconds):
    """The share of one core a process used over the next `seconds`."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def open_idle(host, port, sources, count):
    """count TCP connections to host:port, round-robin over sources, that
    never send anything. Non-blocking connects: a daemon that stopped
    accepting must not hang the test (the kernel completes the handshake
    from the listen queue anyway)."""
    conns = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((sources[i % len(sources)], 0))
        s.setblocking(False)
        s.connect_ex((host, port))
        conns.append(s)
    # Wait until every handshake completed (writable) or failed.
    deadline = time.monotonic() + RECV_TIMEOUT
    pending = list(conns)
    while pending and time.monotonic() < deadline:
        _, writable, _ = select.select([], pending, [], 0.2)
        pending = [s for s in pending if s not in writable]
    return conns


def wait_closed(socks, count, timeout=RECV_TIMEOUT):
    """Wait until at least count of socks were closed by the daemon; returns
    the closed ones, in the order of socks."""
    deadline = time.monotonic() + timeout
    while True:
        closed = [s for s in socks if closed_by_peer(s)]
        if len(closed) >= count or time.monotonic() >= deadline:
            return closed
        time.sleep(0.05)


def closed_by_peer(sock, timeout=0.0):
    """Whether the daemon closed this connection (EOF or reset)."""
    poller = select.poll()  # not select(): benches hold more than 1024
    poller.register(sock, select.POLLIN)
    if not poller.poll(timeout * 1000):
        return False
    try:
        return sock.recv(4096, socket.MSG_PEEK) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False


class TcpTest(DaemonTest):
    def start_limited(self, nofile, **settings_kw):
        """start(), with the daemon under `prlimit --nofile=N` (soft and hard)."""
        env = self.env
        plain_args = env.daemon_args
        env.daemon_args = lambda listen=None, extra=(): (
            ["prlimit", f"--nofile={nofile}", "--"] + plain_args(listen, extra))
        return self.start(**settings_kw)

    def idle(self, sources, count):
        conns = open_idle("127.0.0.1", self.env.port, sources, count)
        self.env.sockets += conns
        return conns

    def assertUdpServed(self):
        c = self.client()
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "UDP OPTIONS")
        resp, _, _ = c.request()
        self.assertStatus(resp, 200, "UDP check-sync")

    # -- descriptors --------------------------------------------------------

    def test_idle_connections_past_the_descriptor_limit_do_not_spin_and_udp_is_served(self):
        self.start_limited(LOW_NOFILE, challenge="off")
        pid = self.env.daemon.pid
        self.idle(IDLE_SOURCES, IDLE_CONNECTIONS)
        time.sleep(1.0)  # let the daemon deal with the whole listen queue
        # Not a timing assertion: a loop that spins on a readable listening
        # socket uses a whole core (~100 %), one that waits uses next to
        # nothing. 20 % of one core over 3 s tells the two apart with a wide
        # margin on a loaded machine; it says nothing about speed.
        share = cpu_share(pid, 3.0)
        self.assertLess(share, 0.20, f"the daemon used {share:.0%} of a core while "
                        f"{IDLE_CONNECTIONS} idle connections were open under "
                        f"nofile={LOW_NOFILE}")
        self.assertUdpServed()
        self.assertCalls(["Resync"])
        # The daemon's own descriptors still work: a reload reads the
        # settings file, and a new TCP peer is served.
        since = len(self.env.daemon_log())
        self.env.signal_daemon(signal.SIGHUP)
        self.assertTrue(self.env.wait_log(": unchanged", since=since),
                        "no reload after SIGHUP at the descriptor limit")
        self.assertTcpServed("127.0.0.3")

    # -- limits ---------------------------------------------------------------

    def assertTcpServed(self, source):
        c = self.client(transport="tcp", source=source)
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, f"OPTIONS over TCP from {source}")
        return c

    def test_a_source_over_its_cap_loses_its_oldest_connections_and_others_still_connect(self):
        self.start(challenge="off")
        extra = 4
        conns = self.idle(["127.0.0.2"], PER_SOURCE + extra)
        closed = wait_closed(conns, extra)
        self.assertEqual(closed, conns[:extra],
                         f"expected the {extra} oldest of {len(conns)} connections from "
                         f"127.0.0.2 closed, got {len(closed)} closed")
        time.sleep(0.3)  # and no more than those
        self.assertEqual(wait_closed(conns, len(conns), timeout=0), conns[:extra])
        # The newest from 127.0.0.2 is served; so is another source.
        newest = SipClient("127.0.0.1", self.env.port, "tcp", source="127.0.0.2")
        self.clients.append(newest)
        self.env.sockets.append(newest.sock)
        resp, _, _ = newest.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "OPTIONS on the newest connection from 127.0.0.2")
        self.assertTrue(wait_closed(conns[extra:extra + 1], 1),
                        "a further connection from 127.0.0.2 did not close its oldest")
        self.assertTcpServed("127.0.0.3")

    def test_a_full_table_makes_room_for_a_newcomer_at_the_largest_holders_expense(self):
        self.start(challenge="off")
        sources = [f"127.0.1.{i}" for i in range(1, TOTAL // PER_SOURCE + 1)]
        conns = []
        for source in sources:
            conns += self.idle([source], PER_SOURCE)
        self.assertEqual(wait_closed(conns, 1, timeout=0.5), [], "closed below the limit")
        # Two more for 64 places, from a source holding none: each closes
        # the oldest connection of a source that holds the most (eight),
        # oldest first: 127.0.1.1's first, then 127.0.1.2's first.
        small = self.idle(["127.0.1.100"], 2)
        self.assertEqual(wait_closed(conns, 2), [conns[0], conns[PER_SOURCE]])
        # A newcomer is served, at the expense of 127.0.1.3's oldest, never
        # of the small holder.
        self.assertTcpServed("127.0.0.3")
        expected = [conns[0], conns[PER_SOURCE], conns[2 * PER_SOURCE]]
        self.assertEqual(wait_closed(conns, 3), expected)
        time.sleep(0.3)
        self.assertEqual(wait_closed(conns, len(conns), timeout=0), expected)
        self.assertEqual(wait_closed(small, 1, timeout=0), [])

    # -- timers ---------------------------------------------------------------

    def test_a_stalled_request_is_answered_400_and_closed(self):
        self.start(challenge="off")
        # Not self.client(): the 400 is nta's own answer to a request it
        # could not finish, given before the daemon sees the request, so
        # the daemon's User-Agent and To tag rules do not apply to it.
        c = SipClient("127.0.0.1", self.env.port, "tcp")
        self.env.sockets.append(c.sock)
        c.sock.sendall(b"NOTIFY sip:340899@127.0.0.1 SIP/2.0\r\n"
                       b"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKstalled\r\n"
                       b"Call-ID: stalled@127.0.0.1\r\n")
        # tport gives the request up kStalledRequestMs after its last byte;
        # the idle time is six times that, so closing at all within 15 s
        # shows the stalled-request rule at work.
        resp = c.recv(timeout=STALLED_REQUEST_S + 10)
        self.assertIsNotNone(resp, f"no answer {STALLED_REQUEST_S + 10} s into a stalled request")
        self.assertStatus(resp, 400, "stalled request")
        self.assertTrue(wait_closed([c.sock], 1, timeout=2.0), "not closed after the 400")
        self.assertCalls([])

    def test_a_connection_without_a_complete_request_is_closed_soon_after_opening(self):
        self.start(challenge="off")
        silent = self.idle(["127.0.0.2"], 1)[0]  # never sends a byte
        trickle = self.idle(["127.0.0.3"], 1)[0]  # a byte a second, never done
        prompt = self.assertTcpServed("127.0.0.4")  # an OPTIONS at once
        request = (b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                   b"Via: SIP/2.0/TCP 127.0.0.3:5060;branch=z9hG4bKtrickle\r\n")
        started = time.monotonic()
        closed = []
        for i, byte in enumerate(request):
            elapsed = time.monotonic() - started
            if elapsed > FIRST_REQUEST_S + 5:
                break
            if elapsed < FIRST_REQUEST_S - 5:
                # Not a timing assertion: shows that it is this rule, not
                # another one, that closes them (the next is 30 s away).
                self.assertEqual(wait_closed([silent, trickle], 1, timeout=0), [],
                                 "closed long before the first-request time")
            try:
                trickle.send(bytes([byte]))  # keeps tport's stalled-request timer away
            except OSError:
                pass  # closed: the loop ends below
            closed = wait_closed([silent, trickle], 2, timeout=1.0)
            if len(closed) == 2:
                break
        self.assertEqual(closed, [silent, trickle],
                         f"not closed {FIRST_REQUEST_S + 5} s after opening without a request")
        self.assertFalse(closed_by_peer(prompt.sock), "the connection that sent a request was closed")

    def test_idle_connections_are_closed_and_busy_ones_kept(self):
        self.start(challenge="off")
        used = self.assertTcpServed("127.0.0.3")  # one OPTIONS, then idle
        busy = self.client(transport="tcp", source="127.0.0.4")
        started = time.monotonic()
        # busy sends an OPTIONS every 10 s; used must be closed once IDLE_S
        # passed (a wide margin: this waits for an event, it does not time
        # it).
        deadline = started + IDLE_S + 10
        while time.monotonic() < deadline:
            resp, _, _ = busy.request(method="OPTIONS", event=None)
            self.assertStatus(resp, 200, "OPTIONS on the busy connection")
            if time.monotonic() - started < IDLE_S - 10:
                self.assertEqual(wait_closed([used.sock], 1, timeout=0), [],
                                 "closed long before the idle time")
            if wait_closed([used.sock], 1, timeout=10):
                break
        self.assertTrue(wait_closed([used.sock], 1, timeout=0),
                        f"an idle connection still open {IDLE_S + 10} s after its last request")
        self.assertFalse(closed_by_peer(busy.sock), "the busy connection was closed")

    # -- churn ----------------------------------------------------------------

    def churn(self, count, request):
        """count connections from as many sources (127.0.2.x, one each, as a
        PBX holds one), opened one after the other and left open; with
        `request`, each sends an OPTIONS first. Returns the sockets."""
        conns = []
        for i in range(count):
            source = f"127.0.2.{1 + i}"
            if request:
                c = SipClient("127.0.0.1", self.env.port, "tcp", source=source)
                self.env.sockets.append(c.sock)
                # No answer when a later one has pushed it out meanwhile.
                c.request(method="OPTIONS", event=None, timeout=2.0)
                conns.append(c.sock)
            else:
                conns += self.idle([source], 1)
        return conns

    def assertOutlastsTheChurn(self, pbx, churned, check_sync):
        """More connections than the table holds came after the PBX's: they
        made room among themselves, and the PBX is served on the connection
        it had."""
        # Room for the last of them: made by closing one of theirs (or the
        # PBX's).
        made = len(churned) - TOTAL + 1
        closed = wait_closed(churned + [pbx.sock], made)
        time.sleep(0.3)  # and no more than that
        self.assertFalse(closed_by_peer(pbx.sock), "the PBX's connection was pushed out")
        self.assertEqual(len(wait_closed(churned, made, timeout=0)), made, closed)
        check_sync()

    def test_a_churning_attacker_cannot_push_out_an_authenticated_pbxs_connection(self):
        self.start(challenge="on")
        pbx = self.client(transport="tcp", source="127.0.0.10")
        self.authenticated_notify(pbx, "before@pbx")
        # Requests on every churned connection: they rank as the PBX's
        # would without its authentication.
        churned = self.churn(TOTAL + 40, request=True)
        self.assertOutlastsTheChurn(pbx, churned,
                                    lambda: self.authenticated_notify(pbx, "after@pbx"))
        self.assertCalls(["Resync", "Resync"])

    def test_a_connection_that_carried_a_request_outlasts_silent_churn(self):
        # The challenge off and no filter: what the PBX has over a churn of
        # silent connections is the request it sent.
        self.start(challenge="off")
        pbx = self.client(transport="tcp", source="127.0.0.10")
        resp, _, _ = pbx.request()
        self.assertStatus(resp, 200, "the PBX's check-sync")
        churned = self.churn(TOTAL + 40, request=False)

        def check_sync():
            resp, _, _ = pbx.request(call_id="after@pbx")
            self.assertStatus(resp, 200, "the PBX's next check-sync on its connection")
        self.assertOutlastsTheChurn(pbx, churned, check_sync)
        self.assertCalls(["Resync", "Resync"])

    def test_a_source_the_filter_names_outlasts_a_churn_the_filter_lets_in(self):
        # The churn comes from a trusted network, and sends requests; the
        # PBX is named by its address (and never authenticated).
        self.start(challenge="off",
                   extra=[("checksync_trusted", "127.0.0.10, 127.0.2.0/24")])
        pbx = self.client(transport="tcp", source="127.0.0.10")
        resp, _, _ = pbx.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "the PBX's OPTIONS")
        churned = self.churn(TOTAL + 40, request=True)

        def check_sync():
            resp, _, _ = pbx.request()
            self.assertStatus(resp, 200, "the PBX's check-sync on its connection")
        self.assertOutlastsTheChurn(pbx, churned, check_sync)
        self.assertCalls(["Resync"])
