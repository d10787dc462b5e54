# SPDX-License-Identifier: MIT
"""Plug and play: the daemon multicasts a ua-profile SUBSCRIBE and
hands the provisioning URL of a PnP server's NOTIFY to the provisioning
process (Provision).

Every test makes its own network of four network namespaces: the phone's
(the daemon runs there, through `ip netns exec`), the LAN's (a bridge and
the PnP servers: sockets of this process, made inside it), a router's (the
phone's default gateway) and a far host's, off the phone's link and
reached only through the router. Nothing is ever sent on the host's
network. Needs root and iproute2.
"""

import ctypes
import itertools
import json
import os
import re
import secrets
import select
import shutil
import socket
import struct
import subprocess
import time
import unittest

from base import DaemonTest
from harness import CONFIG, Env, settings_xml

GROUP = "224.0.1.75"
PHONE_IP = "10.213.0.1"
SERVER_IP = "10.213.0.2"
ROGUE_IP = "10.213.0.3"
ROUTER_IP = "10.213.0.254"
PREFIX = 24
# Behind the router: the far host's own network.
FAR_ROUTER_IP = "10.214.0.1"
FAR_IP = "10.214.0.2"
# The kernel's default ip_local_port_range: where the round's port is.
EPHEMERAL_PORTS = range(32768, 61000)
# Linux values the socket module does not name.
IP_RECVTTL = 12
IP_TTL = 2
SO_TIMESTAMP = 29  # SCM_TIMESTAMP: the kernel's receive time, a struct timeval
CLONE_NEWNET = 0x40000000

URL = "https://prov.example.com/snom/{mac}.xml"
EVIL = "https://evil.example/provision.xml"
EXPECTED_HEADERS = ["via", "max-forwards", "from", "to", "call-id", "cseq", "contact",
                    "expires", "accept", "event", "content-length"]

_libc = ctypes.CDLL(None, use_errno=True)
_ids = itertools.count(1)


def ip(*args):
    subprocess.run(["ip", *args], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_up(ns, dev, timeout=5.0):
    """Until the kernel has seen dev's carrier: its link watch does that up
    to a second after the link comes up, and a bridge forwards nothing by
    a port before it has."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["ip", "-n", ns, "-o", "link", "show", "dev", dev],
                             capture_output=True, text=True, check=True).stdout
        if " state UP " in out:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{dev} in {ns} is not up: {out}")
        time.sleep(0.05)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


# ---------------------------------------------------------------------------
# The network

class Network:
    """The phone's namespace, the LAN's, the router's and the far host's.

    phone pv0 -- pv1 [br0 in the LAN] rl1 -- rl0 router ro0 -- fo0 far

    The LAN's bridge br0 holds the PnP server at 10.213.0.2 and a second
    address, 10.213.0.3, for a rogue server. The router is 10.213.0.254 on
    the LAN (the phone's default gateway) and 10.214.0.1 towards the far
    host, 10.214.0.2, which is off the phone's link: what it sends reaches
    the phone only through the router."""

    def __init__(self, phone_address=True):
        tag = f"{os.getpid()}-{next(_ids)}"
        self.phone = f"pnp-phone-{tag}"
        self.lan = f"pnp-lan-{tag}"
        self.router = f"pnp-router-{tag}"
        self.far = f"pnp-far-{tag}"
        self.namespaces = []
        try:
            for ns in (self.phone, self.lan, self.router, self.far):
                ip("netns", "add", ns)
                self.namespaces.append(ns)
                ip("-n", ns, "link", "set", "lo", "up")
            # Made inside the namespaces: no name is ever taken on the host.
            ip("-n", self.phone, "link", "add", "pv0", "type", "veth", "peer", "name", "pv1",
               "netns", self.lan)
            ip("-n", self.router, "link", "add", "rl0", "type", "veth", "peer", "name", "rl1",
               "netns", self.lan)
            ip("-n", self.router, "link", "add", "ro0", "type", "veth", "peer", "name", "fo0",
               "netns", self.far)
            # No IGMP snooping: the bridge floods the group to every port
            # and to the LAN's own sockets, as a plain switch does.
            ip("-n", self.lan, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            for dev in ("pv1", "rl1"):
                ip("-n", self.lan, "link", "set", dev, "master", "br0")
            devices = ((self.phone, "pv0"), (self.lan, "pv1"), (self.lan, "rl1"),
                       (self.lan, "br0"), (self.router, "rl0"), (self.router, "ro0"),
                       (self.far, "fo0"))
            for ns, dev in devices:
                ip("-n", ns, "link", "set", dev, "multicast", "on", "up")
            ip("-n", self.lan, "addr", "add", f"{SERVER_IP}/{PREFIX}", "dev", "br0")
            ip("-n", self.lan, "addr", "add", f"{ROGUE_IP}/{PREFIX}", "dev", "br0")
            ip("-n", self.lan, "route", "add", "224.0.0.0/4", "dev", "br0")
            ip("-n", self.router, "addr", "add", f"{ROUTER_IP}/{PREFIX}", "dev", "rl0")
            ip("-n", self.router, "addr", "add", f"{FAR_ROUTER_IP}/24", "dev", "ro0")
            subprocess.run(["ip", "netns", "exec", self.router, "sysctl", "-qw",
                            "net.ipv4.ip_forward=1"], check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            ip("-n", self.far, "addr", "add", f"{FAR_IP}/24", "dev", "fo0")
            ip("-n", self.far, "route", "add", "default", "via", FAR_ROUTER_IP)
            if phone_address:
                self.connect_phone()
            for ns, dev in devices:
                wait_up(ns, dev)
        except BaseException:
            self.close()
            raise

    def connect_phone(self, address=f"{PHONE_IP}/{PREFIX}"):
        """The phone's address and routes, as a DHCP client sets them."""
        ip("-n", self.phone, "addr", "add", address, "dev", "pv0")
        # onlink: the gateway is on pv0 even when the address connects no
        # prefix (a /32).
        ip("-n", self.phone, "route", "add", "default", "via", ROUTER_IP, "dev", "pv0",
           "onlink")
        ip("-n", self.phone, "route", "add", "224.0.0.0/4", "dev", "pv0")

    def phone_mac(self):
        out = subprocess.run(["ip", "-n", self.phone, "-o", "link", "show", "pv0"], check=True,
                             capture_output=True, text=True).stdout
        return re.search(r"link/ether ([0-9a-f:]{17})", out).group(1).replace(":", "").upper()

    def socket_in(self, ns):
        """A UDP socket of namespace ns (a socket keeps the namespace it was
        made in; only this thread switches, and switches back)."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            _setns(there)
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            finally:
                _setns(here)
        finally:
            os.close(here)
            os.close(there)

    def socket_in_lan(self):
        return self.socket_in(self.lan)

    def close(self):
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------------------
# SIP text

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
            "l": "content-length", "c": "content-type", "o": "event"}


class Message:
    """A SIP request or response as it came off the wire."""

    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first = lines[0]
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            self.headers.append((_COMPACT.get(name, name), value.strip()))
        m = re.match(r"SIP/2\.0 (\d{3})", self.first)
        self.status = int(m.group(1)) if m else None
        self.method = None if m else self.first.split(" ", 1)[0]

    def get(self, name):
        values = [v for n, v in self.headers if n == name]
        return values[0] if values else None

    def all(self, name):
        return [v for n, v in self.headers if n == name]

    def names(self):
        return [n for n, _ in self.headers]

    def __repr__(self):
        return f"<{self.first}>"


def tag_of(value):
    m = re.search(r";\s*tag=([^;\s]+)", value or "")
    return m.group(1) if m else None


def uri_in(value):
    m = re.search(r"<([^>]+)>", value)
    return m.group(1) if m else value.split(";")[0]


def response_to(request, status, reason, to_tag=None, source=None):
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {v}" for v in request.all("via")]
    lines.append(f"From: {request.get('from')}")
    to = request.get("to")
    lines.append(f"To: {to};tag={to_tag}" if to_tag and not tag_of(to) else f"To: {to}")
    lines += [f"Call-ID: {request.get('call-id')}", f"CSeq: {request.get('cseq')}",
              "Content-Length: 0"]
    return "\r\n".join(lines) + "\r\n\r\n"


def notify_text(ruri, via, from_, to, call_id, cseq=1, body=URL, event="ua-profile",
                content_type="application/url", extra=()):
    lines = [f"NOTIFY {ruri} SIP/2.0", f"Via: {via}", "Max-Forwards: 70", f"From: {from_}",
             f"To: {to}", f"Call-ID: {call_id}", f"CSeq: {cseq} NOTIFY"]
    if event is not None:
        lines.append(f"Event: {event}")
    lines.append("Subscription-State: terminated;reason=timeout")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines += list(extra)
    lines.append(f"Content-Length: {len(body.encode('utf-8'))}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


# ---------------------------------------------------------------------------
# The LAN's side

class Listener:
    """A member of 224.0.1.75 on the LAN, port 5060: sees every SUBSCRIBE
    with the TTL it arrived with."""

    def __init__(self, net):
        self.sock = net.socket_in_lan()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 5060))
        mreq = socket.inet_aton(GROUP) + socket.inet_aton(SERVER_IP)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        self.sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
        # (time it arrived, by the kernel's clock; Message; source; TTL)
        self.seen = []

    def poll(self, timeout):
        """Read what arrives within timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return
            data, ancillary, _, source = self.sock.recvmsg(
                65536, socket.CMSG_SPACE(4) + socket.CMSG_SPACE(16))
            ttl = None
            arrived = time.time()
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_TTL:
                    ttl = struct.unpack("i", value[:4])[0]
                elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
                    seconds, micros = struct.unpack("qq", value[:16])
                    arrived = seconds + micros / 1e6
            self.seen.append((arrived, Message(data.decode("utf-8", "replace")), source, ttl))

    def subscribes(self):
        return [(t, m, s, ttl) for t, m, s, ttl in self.seen if m.method == "SUBSCRIBE"]

    def wait_subscribe(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.subscribes() and time.monotonic() < deadline:
            self.poll(min(0.2, max(0.0, deadline - time.monotonic())))
        subs = self.subscribes()
        return subs[0] if subs else None


class Server:
    """A PnP server: a unicast socket at address:port on the LAN (or in
    another namespace, ns)."""

    def __init__(self, net, address=SERVER_IP, port=5060, ns=None):
        self.sock = net.socket_in(ns or net.lan)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.address, self.port = address, port
        self.received = []

    @property
    def remote(self):
        return f"udp:{self.address}:{self.port}"

    def via(self, branch=None):
        return (f"SIP/2.0/UDP {self.address}:{self.port};"
                f"branch={branch or 'z9hG4bK' + secrets.token_hex(6)}")

    def send(self, text, to):
        self.sock.sendto(text.encode("utf-8"), to)

    def recv(self, timeout=4.0):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        data, source = self.sock.recvfrom(65536)
        message = Message(data.decode("utf-8", "replace"))
        self.received.append((message, source))
        return message

    def answers(self, timeout=4.0):
        """The next response this server gets (requests are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            message = self.recv(left)
            if message is None:
                return None
            if message.status is not None:
                return message


# ---------------------------------------------------------------------------
# Tests

class PnpBase(DaemonTest):
    """A fresh network, bus, stand-in and daemon per test."""

    phone_address = True

    def setUp(self):
        if os.geteuid() != 0 or not shutil.which("ip"):
            self.skipTest("needs root and iproute2 (network namespaces)")
        self.net = Network(phone_address=self.phone_address)
        self.addCleanup(self.net.close)
        self.env = Env(self.id().rsplit(".", 2)[-2] + "." + self._testMethodName,
                       netns=self.net.phone, base=self.quiet_base())
        self.addCleanup(self.env.close)
        self.clients = []
        self.other_responses = []
        self.check_hygiene = True
        self.listener = Listener(self.net)
        self.env.sockets.append(self.listener.sock)

    @staticmethod
    def quiet_base():
        """Where the test's files go. The daemon watches every directory on
        the path of its settings file, so files others make in /tmp wake it
        (on a shared build machine, hundreds a second): /run is as private
        and quiet, so that the daemon's own wake-ups can be counted."""
        return "/run" if os.access("/run", os.W_OK) else None

    def start_pnp(self, fail=None, **pnp):
        extra = [(name, value) for name, value in pnp.items()]
        self.env.write_settings(settings_xml(challenge="off", pnp_config="on", extra=extra))
        self.env.start_bus()
        self.env.start_standin(fail=fail)
        self.env.start_daemon()

    def server(self, address=SERVER_IP, port=5060, ns=None):
        s = Server(self.net, address, port, ns)
        self.env.sockets.append(s.sock)
        return s

    def subscribe(self, timeout=5.0):
        first = self.listener.wait_subscribe(timeout)
        self.assertIsNotNone(first, f"no SUBSCRIBE to {GROUP} within {timeout} s")
        _, message, source, _ = first
        return message, source

    def dialog_notify(self, server, sub, source, body=URL, cseq=1, **kw):
        """The NOTIFY of a server that builds a proper dialog: our Contact as
        Request-URI, its own Via, our From as To, our To (with its tag) as From."""
        to_tag = kw.pop("to_tag", "srv" + secrets.token_hex(3))
        return notify_text(uri_in(sub.get("contact")), server.via(),
                           f"{sub.get('to')};tag={to_tag}", sub.get("from"),
                           sub.get("call-id"), cseq=cseq, body=body, **kw)

    def plug_and_play(self):
        """The PlugAndPlay property of the status object (busctl)."""
        proc = subprocess.run(
            ["busctl", f"--address={self.env.bus_address}", "--timeout=5", "--json=short",
             "get-property", "org.checksyncd.CheckSync1", "/org/checksyncd/CheckSync1",
             "org.checksyncd.CheckSync1", "PlugAndPlay"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode(errors="replace"))
        value = json.loads(proc.stdout)
        self.assertEqual(value["type"], "a{sv}")
        return {key: inner["data"] for key, inner in value["data"].items()}

    def handed_over(self, server, url=URL, dropped=0):
        """The stand-in got exactly one Provision, for this URL and server;
        `dropped` datagrams were dropped as not from the link."""
        calls = self.assertCalls(["Provision"])
        details = calls[0]["details"]
        self.assertEqual(details["url"], url)
        self.assertEqual(details["remote"], server.remote)
        self.assertEqual(calls[0]["result"], "accepted")
        self.assertTrue(self.env.wait_log(f"pnp: provisioning URL handed over: "
                                          f"server={server.remote} url={url}"),
                        "no hand-over line in the log")
        self.assertEqual(self.plug_and_play(), {"state": "url-handed-over",
                                                "last_server": server.remote, "last_url": url,
                                                "dropped_off_link": dropped})
        return details


class PnpTest(PnpBase):
    # -- the SUBSCRIBE on the wire ---------------------------------------------

    def test_subscribe_has_the_snom_shape_ttl_1_and_no_maddr(self):
        self.start_pnp(pnp_vendor="Snom", pnp_model="D785", pnp_version="10.1.54.13")
        sub, source = self.subscribe()
        _, _, _, ttl = self.listener.subscribes()[0]
        mac = self.net.phone_mac()
        self.assertEqual(ttl, 1, "the SUBSCRIBE must not leave the link")
        self.assertEqual(source[0], PHONE_IP)
        port = source[1]
        self.assertEqual(sub.first, f"SUBSCRIBE sip:MAC%3a{mac}@{GROUP} SIP/2.0")
        self.assertEqual(sorted(sub.names()), sorted(EXPECTED_HEADERS), sub.raw)
        self.assertRegex(sub.get("via"),
                         rf"^SIP/2\.0/UDP {re.escape(PHONE_IP)}:{port};rport;branch=z9hG4bK\w+$")
        self.assertRegex(sub.get("from"), rf"^<sip:MAC%3a{mac}@{re.escape(GROUP)}>;tag=\w+$")
        self.assertEqual(sub.get("to"), f"<sip:MAC%3a{mac}@{GROUP}>")
        self.assertEqual(sub.get("cseq"), "1 SUBSCRIBE")
        self.assertEqual(sub.get("event"), 'ua-profile;profile-type="device";vendor="Snom";'
                                            'model="D785";version="10.1.54.13"')
        self.assertEqual(sub.get("expires"), "0")
        self.assertEqual(sub.get("accept"), "application/url")
        self.assertEqual(sub.get("contact"), f"<sip:{PHONE_IP}:{port}>")
        self.assertEqual(sub.get("max-forwards"), "70")
        self.assertEqual(sub.get("content-length"), "0")
        self.assertEqual(sub.body, "")
        self.assertNotIn("maddr", sub.raw)

    def test_default_event_parameters_name_checksyncd_and_its_version(self):
        self.start_pnp()
        sub, _ = self.subscribe()
        version = subprocess.run([CONFIG["daemon"], "--version"], capture_output=True,
                                 text=True).stdout.split()[-1]
        self.assertEqual(sub.get("event"), 'ua-profile;profile-type="device";vendor="checksyncd";'
                                            f'model="generic";version="{version}"')

    def test_pnp_mac_setting_replaces_the_interface_mac(self):
        self.start_pnp(pnp_mac="000413a1b2c3")
        sub, _ = self.subscribe()
        self.assertEqual(sub.first, f"SUBSCRIBE sip:MAC%3a000413A1B2C3@{GROUP} SIP/2.0")

    # -- servers answering the way servers do ------------------------------------

    def test_proper_dialog_hands_the_url_over(self):
        self.start_pnp()
        server = self.server()
        sub, source = self.subscribe()
        to_tag = "srv" + secrets.token_hex(3)
        server.send(response_to(sub, 200, "OK", to_tag=to_tag), source)
        server.send(self.dialog_notify(server, sub, source, to_tag=to_tag,
                                       extra=["User-Agent: pnp-server/1.0"]), source)
        ok = server.answers()
        self.assertIsNotNone(ok, "no answer to the NOTIFY")
        self.assertEqual(ok.status, 200, ok.raw)
        self.assertEqual(ok.get("call-id"), sub.get("call-id"))
        self.assertEqual(tag_of(ok.get("from")), to_tag)
        self.assertEqual(tag_of(ok.get("to")), tag_of(sub.get("from")))
        self.assertEqual(ok.get("cseq"), "1 NOTIFY")
        self.assertEqual(ok.get("server"), "checksyncd")
        details = self.handed_over(server)
        self.assertEqual(details, {"url": URL, "identity": 0, "remote": server.remote,
                                   "authenticated": False, "call_id": sub.get("call-id"),
                                   "event": "ua-profile", "user_agent": "pnp-server/1.0"})
        # The 200 ended the retransmissions: one SUBSCRIBE in 2 s (timer E
        # would have sent three).
        self.listener.poll(2.0)
        self.assertEqual(len(self.listener.subscribes()), 1)

    def test_server_copying_our_via_from_and_to_is_answered_at_its_source(self):
        self.start_pnp()
        server = self.server()
        sub, source = self.subscribe()
        server.send(response_to(sub, 200, "OK", to_tag="c0py"), source)
        # Our own Via, with a maddr on top; our From and To as they were.
        via = sub.get("via") + f";maddr={GROUP}"
        notify = notify_text(sub.first.split(" ")[1], via, sub.get("from"), sub.get("to"),
                             sub.get("call-id"), cseq=2)
        server.send(notify, source)
        ok = server.answers()
        self.assertIsNotNone(ok, "the answer went elsewhere (the Via?)")
        self.assertEqual(ok.status, 200, ok.raw)
        self.assertEqual(ok.all("via"), [via])
        self.assertTrue(tag_of(ok.get("to")), "a final answer carries a To tag")
        self.handed_over(server)

    def test_new_call_id_without_content_type_and_without_a_200_first(self):
        self.start_pnp()
        server = self.server()
        sub, source = self.subscribe()
        call_id = "fresh-" + secrets.token_hex(4)
        notify = notify_text(f"sip:{source[0]}:{source[1]}", server.via(),
                             f"<sip:pnp@{SERVER_IP}>;tag=x1", f"<sip:{source[0]}:{source[1]}>",
                             call_id, body=URL + "\r\n", content_type=None)
        server.send(notify, source)
        ok = server.answers()
        self.assertIsNotNone(ok, "no answer to the NOTIFY")
        self.assertEqual(ok.status, 200, ok.raw)
        details = self.handed_over(server)
        self.assertEqual(details["call_id"], call_id)

    def test_notify_from_another_port_is_answered_at_that_port(self):
        self.start_pnp()
        server = self.server()
        notifier = self.server(port=5080)
        sub, source = self.subscribe()
        server.send(response_to(sub, 200, "OK", to_tag="p1"), source)
        notifier.send(self.dialog_notify(notifier, sub, source, to_tag="p1"), source)
        ok = notifier.answers()
        self.assertIsNotNone(ok, "no answer at the NOTIFY's port")
        self.assertEqual(ok.status, 200, ok.raw)
        self.assertIsNone(server.answers(0.3), "an answer went to the SUBSCRIBE's server")
        self.handed_over(notifier)

    def test_plain_http_is_refused_by_default_and_the_round_keeps_waiting(self):
        self.start_pnp()
        server = self.server()
        sub, source = self.subscribe()
        http = "http://prov.example.com/{mac}.xml"
        server.send(self.dialog_notify(server, sub, source, body=http), source)
        refused = server.answers()
        self.assertIsNotNone(refused, "no answer to the plain-http NOTIFY")
        self.assertEqual(refused.status, 488, refused.raw)
        self.assertTrue(self.env.wait_log(f"pnp: NOTIFY from {server.remote} refused: 488 "
                                          "(scheme http not allowed"))
        self.assertCalls([])
        # The same round takes a good URL after it.
        server.send(self.dialog_notify(server, sub, source, cseq=2), source)
        ok = server.answers()
        self.assertEqual(ok.status if ok else None, 200)
        self.handed_over(server)

    def test_plain_http_is_accepted_when_pnp_url_schemes_allow_it(self):
        self.start_pnp(pnp_url_schemes="https,http")
        server = self.server()
        sub, source = self.subscribe()
        http = "http://prov.example.com/{mac}.xml"
        server.send(self.dialog_notify(server, sub, source, body=http), source)
        ok = server.answers()
        self.assertEqual(ok.status if ok else None, 200)
        self.handed_over(server, http)

    def test_a_rogue_server_answering_later_is_ignored(self):
        self.start_pnp()
        server = self.server()
        rogue = self.server(ROGUE_IP)
        sub, source = self.subscribe()
        server.send(self.dialog_notify(server, sub, source), source)
        ok = server.answers()
        self.assertEqual(ok.status if ok else None, 200)
        self.handed_over(server)
        rogue.send(self.dialog_notify(rogue, sub, source, body="https://evil.example/x"), source)
        late = rogue.answers()
        self.assertIsNotNone(late, "no answer to the late NOTIFY")
        self.assertEqual(late.status, 481, late.raw)
        self.assertTrue(self.env.wait_log(f"pnp: NOTIFY from {rogue.remote} ignored"))
        calls = self.assertCalls(["Provision"])
        self.assertEqual(calls[0]["details"]["url"], URL)

    def test_wrong_event_and_content_type_are_refused_once_each(self):
        self.start_pnp()
        server = self.server()
        sub, source = self.subscribe()
        cases = [
            (dict(event="presence"), 489, "allow-events", "ua-profile"),
            (dict(content_type="text/plain"), 415, "accept", "application/url"),
            (dict(body="https://admin:pw@prov.example.com/x"), 488, None, None),
        ]
        for cseq, (kw, status, header, value) in enumerate(cases, 1):
            text = self.dialog_notify(server, sub, source, cseq=cseq, **kw)
            server.send(text, source)
            resp = server.answers()
            self.assertEqual(resp.status if resp else None, status, kw)
            if header:
                self.assertEqual(resp.get(header), value, resp.raw)
            # A retransmission gets the same answer, and no second log line.
            server.send(text, source)
            again = server.answers()
            self.assertEqual(again.status if again else None, status)
        log = self.env.daemon_log()
        self.assertEqual(len(re.findall(r"pnp: NOTIFY from .* refused", log)), 3, log)
        self.assertNotIn("pw@", log, "the URL's credentials reached the log")
        self.assertCalls([])

    def test_a_failing_provisioning_process_gets_503_and_the_round_waits(self):
        self.start_pnp(fail="Provision")
        server = self.server()
        sub, source = self.subscribe()
        server.send(self.dialog_notify(server, sub, source), source)
        refused = server.answers()
        self.assertEqual(refused.status if refused else None, 503)
        self.assertTrue(refused.get("retry-after"), refused.raw)
        calls = self.assertCalls(["Provision"])
        self.assertEqual(calls[0]["result"], "failed")
        self.assertTrue(self.env.wait_log("pnp: the provisioning process did not take the URL"))

    # -- rounds -------------------------------------------------------------------

    def test_nobody_answers_the_round_ends_quietly_and_the_daemon_sleeps(self):
        self.start_pnp()
        self.subscribe()
        self.assertEqual(self.plug_and_play(), {"state": "round-in-progress",
                                                "last_server": "", "last_url": "",
                                                "dropped_off_link": 0})
        self.listener.poll(5.0)
        subs = self.listener.subscribes()
        # Timer E: at 0, 0.5, 1.5 and 3.5 s; the next (7.5 s) is past 5 s.
        self.assertEqual(len(subs), 4, [round(t - subs[0][0], 2) for t, *_ in subs])
        self.assertEqual({m.raw for _, m, _, _ in subs}, {subs[0][1].raw},
                         "retransmissions are the same datagram")
        gaps = [b[0] - a[0] for a, b in zip(subs, subs[1:])]
        for gap, expected in zip(gaps, (0.5, 1.0, 2.0)):
            self.assertGreater(gap, expected * 0.8, gaps)
        self.assertTrue(self.env.wait_log("pnp: round ended: no provisioning URL within 10 s",
                                          timeout=8.0))
        self.assertCalls([])
        self.assertEqual(self.plug_and_play()["state"], "idle")
        # No busy wake-ups after the round: the daemon's context switches
        # over three seconds.
        # `ip netns exec` execs the daemon: the pid is the daemon's (or,
        # under qemu-user, the emulator's running it).
        pid = self.env.daemon.pid
        self.assertIsNone(self.env.daemon.poll(), "the daemon exited")
        time.sleep(0.5)
        before = context_switches(pid)
        time.sleep(3.0)
        woken = context_switches(pid) - before
        self.assertLessEqual(woken, 3, f"{woken} wake-ups in 3 s after the round")
        self.listener.poll(0.2)
        self.assertEqual(len(self.listener.subscribes()), 4)

    def test_setting_server_stops_the_round_in_progress(self):
        self.start_pnp()
        self.subscribe()
        self.env.write_settings(settings_xml(challenge="off", pnp_config="on",
                                             extra=[("setting_server", "https://prov.example.com/")]))
        self.assertTrue(self.env.wait_log("pnp: round ended: stopped, setting_server is set"))
        count = len(self.listener.subscribes())
        self.listener.poll(4.0)
        self.assertEqual(len(self.listener.subscribes()), count,
                         "retransmissions after setting_server was set")
        self.assertLessEqual(count, 2)

    def test_pnp_config_off_sends_nothing(self):
        self.env.write_settings(settings_xml(challenge="off"))  # the harness default: off
        self.env.start_bus()
        self.env.start_standin()
        self.env.start_daemon()
        self.listener.poll(2.5)
        self.assertEqual(self.listener.subscribes(), [])
        # Turned on: a round starts at once.
        self.env.write_settings(settings_xml(challenge="off", pnp_config="on"))
        self.subscribe(timeout=3.0)


class PnpAddressTest(PnpBase):
    """The phone has no address at start: no round; the address, when it
    comes, starts one (the first round: rounds are a minute apart)."""

    phone_address = False

    def test_a_new_address_starts_a_round(self):
        self.start_pnp()
        self.assertTrue(self.env.wait_log("pnp: no round"), "no word on the missing network")
        self.listener.poll(1.5)
        self.assertEqual(self.listener.subscribes(), [])
        self.net.connect_phone()
        sub, source = self.subscribe(timeout=5.0)
        self.assertEqual(source[0], PHONE_IP)
        self.assertIn("a new IPv4 address", self.env.daemon_log())


class PnpOffLinkTest(PnpBase):
    """Only the round's own link is heard. The far host is off the phone's
    link, reached through the router (the phone's default gateway): what it
    sends to the round's port is dropped unanswered and counted, whatever
    it carries; the server on the link is heard as before."""

    def spray(self, far, body):
        """A NOTIFY at every port of the phone's ephemeral range, as an
        attacker that does not know the round's port sends them."""
        for port in EPHEMERAL_PORTS:
            ruri = f"sip:{PHONE_IP}:{port}"
            far.send(notify_text(ruri, far.via(), f"<sip:pnp@{FAR_IP}>;tag=f{port}",
                                 f"<{ruri}>", f"spray-{port}", body=body), (PHONE_IP, port))

    def test_notifies_and_a_2xx_from_off_the_link_are_dropped_unanswered_and_counted(self):
        self.start_pnp()
        server = self.server()
        far = self.server(FAR_IP, ns=self.net.far)
        sub, source = self.subscribe()
        first = self.listener.subscribes()[0][0]
        self.assertIn(source[1], EPHEMERAL_PORTS)
        # A 2xx to the SUBSCRIBE (with its Call-ID, as if the far host knew
        # it), then NOTIFYs at every port.
        far.send(response_to(sub, 200, "OK", to_tag="far"), source)
        started = time.monotonic()
        self.spray(far, EVIL)
        sprayed = time.monotonic() - started
        self.assertCalls([], f"(a spray of {len(EPHEMERAL_PORTS)} NOTIFYs in {sprayed:.2f} s)")
        self.assertIsNone(far.answers(0.3), "the far host got an answer")
        self.assertTrue(self.env.wait_log(
            f"pnp: dropped a datagram from udp:{FAR_IP}:5060 unanswered: off the link (the "
            f"round's link is pv0 ({PHONE_IP}/{PREFIX}))"), "no word of the drop")
        # The far host's 200 did not end the retransmissions (timer E: at
        # 0, 0.5, 1.5 and 3.5 s).
        self.listener.poll(max(0.0, first + 4.0 - time.time()))
        self.assertEqual(len(self.listener.subscribes()), 4, "retransmissions")
        self.assertEqual(self.plug_and_play(), {"state": "round-in-progress",
                                                "last_server": "", "last_url": "",
                                                "dropped_off_link": 2})
        # The server on the link is heard as ever.
        server.send(self.dialog_notify(server, sub, source), source)
        ok = server.answers()
        self.assertEqual(ok.status if ok else None, 200)
        self.handed_over(server, dropped=2)
        # One line for the drops of a round, and one when it ends for the rest.
        self.assertTrue(self.env.wait_log("pnp: 1 more datagrams not from the round's link "
                                          "dropped in that round", timeout=10.0))
        self.assertEqual(self.env.daemon_log().count("pnp: dropped a datagram"), 1)
        self.assertNotIn("evil", self.env.daemon_log())

    def test_the_round_follows_the_phones_addresses(self):
        self.start_pnp()
        sub, source = self.subscribe()
        # A second prefix on the LAN that is not the phone's (yet).
        other_ip = "172.16.9.2"
        ip("-n", self.net.lan, "addr", "add", f"{other_ip}/24", "dev", "br0")
        other = self.server(other_ip)
        other.send(self.dialog_notify(other, sub, source), source)
        self.assertIsNone(other.answers(0.5), "answered a source off the link")
        self.assertCalls([])
        self.assertTrue(self.env.wait_log(f"pnp: dropped a datagram from udp:{other_ip}:5060 "
                                          "unanswered: off the link"))
        # The phone gains an address in that prefix: now it is the link.
        ip("-n", self.net.phone, "addr", "add", "172.16.9.1/24", "dev", "pv0")
        self.assertTrue(self.env.wait_log(
            f"pnp: the round's link is now pv0 ({PHONE_IP}/{PREFIX}, 172.16.9.1/24)"))
        other.send(self.dialog_notify(other, sub, source, cseq=2), source)
        ok = other.answers()
        self.assertEqual(ok.status if ok else None, 200)
        self.handed_over(other, dropped=1)

    def test_the_round_ends_when_its_address_goes(self):
        self.start_pnp()
        self.subscribe()
        ip("-n", self.net.phone, "addr", "del", f"{PHONE_IP}/{PREFIX}", "dev", "pv0")
        self.assertTrue(self.env.wait_log(
            f"pnp: round ended: stopped, its address {PHONE_IP} is gone"))
        self.assertEqual(self.plug_and_play()["state"], "idle")
        count = len(self.listener.subscribes())
        self.listener.poll(2.0)
        self.assertEqual(len(self.listener.subscribes()), count, "retransmissions")


class PnpNoPrefixTest(PnpBase):
    """An address that connects no prefix (a /32, the gateway reached by an
    explicit route): no PnP server can be on the link, so no round runs."""

    phone_address = False

    def test_an_address_without_a_prefix_starts_no_round(self):
        self.net.connect_phone(f"{PHONE_IP}/32")
        self.start_pnp()
        self.assertTrue(self.env.wait_log(f"pnp: no round (start): pv0 ({PHONE_IP}/32) connects "
                                          "no prefix, so no PnP server can be on the link"))
        self.listener.poll(1.5)
        self.assertEqual(self.listener.subscribes(), [])


def context_switches(pid):
    total = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


class PnpCheckConfigTest(unittest.TestCase):
    def test_check_config_shows_the_plug_and_play_settings(self):
        env = Env(self._testMethodName)
        self.addCleanup(env.close)
        env.write_settings(settings_xml(challenge="off", extra=[
            ("setting_server", "https://prov:Zx9-secret@prov.example.com/")]))
        proc = subprocess.run([CONFIG["daemon"], "--settings", env.settings_path, "--check-config"],
                              capture_output=True, text=True, timeout=15)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("pnp_config = off (file)\n", proc.stdout)
        self.assertIn("setting_server = https://prov:********@prov.example.com/ (file)\n",
                      proc.stdout)
        self.assertIn("pnp_url_schemes = https (default)\n", proc.stdout)
        self.assertNotIn("Zx9-secret", proc.stdout + proc.stderr)
