# SPDX-License-Identifier: MIT
"""Requests handed over by the phone's SIP UA (org.checksyncd.Handoff1,
DESIGN section 5), called the way a UA calls it, with busctl on the test's
private bus: the same rules as on the port (filter, challenge, lockout,
retransmissions), the context checked key by key, who may call, the bound
on calls in flight, and --listen none."""

import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

from base import DaemonTest
import harness
from harness import (DEFAULT_PASS, DEFAULT_USER, authorization, parse_challenge,
                     settings_xml)

SERVICE = "org.checksyncd.CheckSync1"
OBJECT = "/org/checksyncd/CheckSync1"
INTERFACE = "org.checksyncd.Handoff1"
INTERFACE_XML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc",
                             "org.checksyncd.Handoff1.xml")
POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc",
                      "checksyncd-dbus.conf")
NOBODY = 65534
UA_GROUP = "checksyncd-ua"
# Where the PBX is, as the UA saw it: documentation addresses, never sent to
# (the UA's answer travels back over D-Bus).
PBX = "192.0.2.1"
PHONE = "192.0.2.10"


class HandoffError(Exception):
    """HandleRequest answered with a D-Bus error (busctl's message)."""


class Answer:
    def __init__(self, data):
        self.status, self.reason, headers, response = data
        self.headers = [(name, value) for name, value in headers]
        self.response = bytes(response).decode("utf-8", "replace")

    def all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    @property
    def to_tag(self):
        m = re.search(r"(?im)^To:.*;\s*tag=([^;\s]+)", self.response)
        return m.group(1) if m else None

    def __repr__(self):
        return f"<hand-off answer {self.status} {self.reason} {self.headers}>"


def notify(remote=PBX + ":5060", transport="TCP", call_id=None, cseq=1, branch=None,
           event="check-sync;reboot=false", auth=None, user=DEFAULT_USER, extra=()):
    """A check-sync as a PBX sends it to the phone's registered contact."""
    ruri = f"sip:{user}@{PHONE}:5060"
    branch = branch or "z9hG4bK" + secrets.token_hex(8)
    lines = [f"NOTIFY {ruri} SIP/2.0",
             f"Via: SIP/2.0/{transport} {remote};branch={branch};rport",
             "Max-Forwards: 70",
             f"From: <sip:pbx@{remote.rsplit(':', 1)[0]}>;tag={secrets.token_hex(4)}",
             f"To: <{ruri}>",
             f"Call-ID: {call_id or secrets.token_hex(8) + '@pbx'}",
             f"CSeq: {cseq} NOTIFY",
             f"Event: {event}",
             "Subscription-State: terminated"]
    if auth:
        lines.append(f"Authorization: {auth}")
    lines += list(extra)
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), ruri


def context(transport="tcp", remote=PBX + ":5060", **more):
    ctx = {"transport": transport, "remote": remote}
    ctx.update(more)
    return ctx


class HandoffTest(DaemonTest):
    def busctl(self, *args, user=None, groups=None, timeout=5):
        command = ["busctl", f"--address={self.env.bus_address}", f"--timeout={timeout}",
                   *args]
        if user is not None:
            command = ["setpriv", f"--reuid={user}", f"--regid={user}",
                       f"--groups={groups}" if groups else "--clear-groups", *command]
        return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout + 10)

    def handle_args(self, request, ctx):
        args = ["--json=short", "call", SERVICE, OBJECT, INTERFACE, "HandleRequest",
                "aya{sv}", str(len(request)), *map(str, request), str(len(ctx))]
        for key, value in ctx.items():
            if isinstance(value, bool):
                args += [key, "b", "true" if value else "false"]
            elif isinstance(value, int):
                args += [key, "u", str(value)]
            elif isinstance(value, tuple):  # (signature, text): another type
                args += [key, *value]
            else:
                args += [key, "s", value]
        return args

    def hand_over(self, request, ctx, user=None, groups=None):
        """HandleRequest: the Answer, or HandoffError with busctl's message."""
        proc = self.busctl(*self.handle_args(request, ctx), user=user, groups=groups)
        if proc.returncode != 0:
            raise HandoffError(proc.stderr.decode(errors="replace").strip())
        reply = json.loads(proc.stdout)
        self.assertEqual(reply["type"], "qsa(ss)ay")
        return Answer(reply["data"])

    def refused(self, request, ctx, **kw):
        with self.assertRaises(HandoffError) as caught:
            self.hand_over(request, ctx, **kw)
        return str(caught.exception)

    def property(self, name, interface="org.checksyncd.CheckSync1"):
        proc = self.busctl("--json=short", "get-property", SERVICE, OBJECT, interface, name)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        value = json.loads(proc.stdout)
        if value["type"] == "a{sv}":
            return {k: v["data"] for k, v in value["data"].items()}
        return value["data"]

    def assertHygiene(self, answer):
        """What every answer carries: Server, a To tag on a final one, and
        the headers listed are the answer's own (never the request's)."""
        self.assertEqual(answer.all("Server"), ["checksyncd"], answer)
        self.assertTrue(answer.response.startswith(f"SIP/2.0 {answer.status} {answer.reason}"),
                        answer.response)
        self.assertIsNotNone(answer.to_tag, answer.response)
        for name, _ in answer.headers:
            self.assertNotIn(name.lower(), ("via", "from", "to", "call-id", "cseq",
                                            "content-length"), answer)
        for name, value in answer.headers:
            self.assertIn(f"\r\n{name}: {value}\r\n", answer.response)

    # -- the interface ---------------------------------------------------------

    def test_the_interface_is_the_one_shipped(self):
        self.start(challenge="off")
        proc = self.busctl("introspect", "--xml-interface", SERVICE, OBJECT)
        self.assertEqual(proc.returncode, 0, proc.stderr)

        def methods(root):
            iface = next(i for i in root.iter("interface") if i.get("name") == INTERFACE)
            return {m.get("name"): [(a.get("name"), a.get("type"), a.get("direction", "in"))
                                    for a in m.iter("arg")] for m in iface.iter("method")}

        live = methods(ET.fromstring(proc.stdout))
        self.assertEqual(live, methods(ET.parse(INTERFACE_XML).getroot()))
        self.assertEqual(list(live), ["HandleRequest"])

    # -- the same rules as on the port -------------------------------------------

    def test_a_check_sync_over_the_registrar_flow_is_served(self):
        # The filter is on and names only 127.0.0.9: the registrar flow is
        # what lets the PBX at 192.0.2.1 through.
        self.start(challenge="off", extra=[("checksync_trusted", "127.0.0.9")])
        request, _ = notify(call_id="flow-1@pbx")
        answer = self.hand_over(request, context("tcp", registrar_flow=True, identity=1,
                                                 register_call_id="reg-1@phone"))
        self.assertEqual((answer.status, answer.reason), (200, "OK"))
        self.assertHygiene(answer)
        calls = self.assertCalls(["Resync"])
        details = calls[0]["details"]
        self.assertEqual(details["remote"], f"tcp:{PBX}:5060")
        self.assertEqual(details["call_id"], "flow-1@pbx")
        self.assertFalse(details["authenticated"])
        last = self.property("LastCheckSync")
        self.assertEqual((last["remote"], last["transport"], last["handed_over"],
                          last["sip_status"]), (f"tcp:{PBX}:5060", "tcp", True, 200))
        counters = self.property("Counters")
        self.assertEqual((counters["received"], counters["handed_over"], counters["served"]),
                         (1, 1, 1))
        self.assertTrue(self.env.wait_log(
            f'NOTIFY from tcp:{PBX}:5060 (handed over by the UA) for "{DEFAULT_USER}": '
            "200 OK (Resync)"), self.env.daemon_log())

    def test_over_udp_the_remote_address_is_filtered_as_on_the_port(self):
        self.start(challenge="off", extra=[("checksync_trusted", "127.0.0.9")])
        # Over UDP the UA cannot vouch for the source: the flag is ignored.
        request, _ = notify(transport="UDP")
        answer = self.hand_over(request, context("udp", registrar_flow=True))
        self.assertEqual(answer.status, 0, answer)
        self.assertEqual((answer.headers, answer.response), ([], ""))
        # Nor over a connection that is not the registrar's.
        request, _ = notify()
        self.assertEqual(self.hand_over(request, context("tls")).status, 0)
        self.assertEqual(self.property("Counters")["dropped_by_filter"], 2)
        self.assertCalls([])
        # The trusted address is, over either.
        request, _ = notify(remote="127.0.0.9:5060", transport="UDP")
        answer = self.hand_over(request, context("udp", remote="127.0.0.9:5060"))
        self.assertEqual(answer.status, 200, answer)
        self.assertCalls(["Resync"])

    def test_the_challenge_and_its_answer_are_the_ports(self):
        self.start(challenge="on")
        request, ruri = notify(call_id="auth-1@pbx")
        challenged = self.hand_over(request, context("tls", remote=PBX + ":5061"))
        self.assertEqual((challenged.status, challenged.reason), (401, "Unauthorized"))
        self.assertHygiene(challenged)
        [challenge] = challenged.all("WWW-Authenticate")
        _, params, _ = parse_challenge(challenge)
        self.assertEqual(params["realm"], "ser.berlin.snom.com")
        self.assertIn(f"WWW-Authenticate: {challenge}", challenged.response)
        self.assertCalls([])

        auth = authorization(challenge, DEFAULT_USER, DEFAULT_PASS, "NOTIFY", ruri)
        # The nonce is bound to the remote's address: from another one the
        # same answer is refused (and no failure is held against it).
        moved, _ = notify(call_id="auth-1@pbx", cseq=2, auth=auth, remote="192.0.2.2:5061")
        self.assertEqual(self.hand_over(moved, context("tls", remote="192.0.2.2:5061")).status,
                         401)
        self.assertCalls([])
        answered, _ = notify(call_id="auth-1@pbx", cseq=2, auth=auth, remote=PBX + ":5061")
        answer = self.hand_over(answered, context("tls", remote=PBX + ":5061"))
        self.assertEqual(answer.status, 200, answer)
        calls = self.assertCalls(["Resync"])
        self.assertTrue(calls[0]["details"]["authenticated"])
        self.assertEqual(calls[0]["details"]["remote"], f"tls:{PBX}:5061")
        last = self.property("LastCheckSync")
        self.assertEqual((last["transport"], last["handed_over"], last["authenticated"]),
                         ("tls", True, True))

    def test_a_retransmission_handed_over_again_gets_the_same_answer(self):
        self.env.start_bus()
        self.env.start_standin(delay_ms=800)
        self.start(challenge="off", standin=False)
        request, _ = notify(call_id="again@pbx")
        ctx = context("tcp", registrar_flow=True)
        answers = [None, None]

        def call(i):
            answers[i] = self.hand_over(request, ctx)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        threads[0].start()
        time.sleep(0.3)  # the first one waits for the provisioning process
        threads[1].start()
        for t in threads:
            t.join(15)
        self.assertEqual([a.status for a in answers], [200, 200], answers)
        self.assertEqual(answers[0].to_tag, answers[1].to_tag)
        # And once answered, from the guard's memory: the same answer again.
        third = self.hand_over(request, ctx)
        self.assertEqual((third.status, third.to_tag), (200, answers[0].to_tag))
        self.assertCalls(["Resync"])

    def test_lockouts_count_the_remote_of_the_hand_over(self):
        self.start(challenge="on")
        ctx = context("tcp", remote="192.0.2.5:40000")
        for i in range(5):
            first, ruri = notify(remote="192.0.2.5:40000", call_id=f"guess-{i}")
            challenged = self.hand_over(first, ctx)
            self.assertEqual(challenged.status, 401)
            auth = authorization(challenged.all("WWW-Authenticate")[0], DEFAULT_USER, "wrong",
                                 "NOTIFY", ruri)
            wrong, _ = notify(remote="192.0.2.5:40000", call_id=f"guess-{i}", cseq=2, auth=auth)
            self.assertEqual(self.hand_over(wrong, ctx).status, 401)
        request, _ = notify(remote="192.0.2.5:40000")
        self.assertEqual(self.hand_over(request, ctx).status, 403)
        self.assertEqual(list(self.property("LockedOut")), ["192.0.2.5"])
        self.assertTrue(self.env.wait_log("authentication failed: source=192.0.2.5 "
                                          f'user="{DEFAULT_USER}" reason=wrong-digest'),
                        self.env.daemon_log())
        # Another remote, and the port, are not locked out.
        other, _ = notify(remote="192.0.2.6:40000")
        self.assertEqual(self.hand_over(other, context("tcp", remote="192.0.2.6:40000")).status,
                         401)
        port, _, _ = self.client().request()
        self.assertStatus(port, 401)

    def test_other_answers_of_the_table(self):
        self.start(challenge="off")
        request, _ = notify(event="presence")
        answer = self.hand_over(request, context())
        self.assertEqual((answer.status, answer.all("Allow-Events")), (489, ["check-sync"]))
        options = (f"OPTIONS sip:{PHONE} SIP/2.0\r\nVia: SIP/2.0/TCP {PBX}:5060;branch=z9hG4bK1\r\n"
                   f"From: <sip:pbx@{PBX}>;tag=1\r\nTo: <sip:{PHONE}>\r\nCall-ID: o1\r\n"
                   "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
        answer = self.hand_over(options, context())
        self.assertEqual((answer.status, answer.all("Allow")), (200, ["NOTIFY, OPTIONS"]))
        self.assertHygiene(answer)
        # What nta refuses on the port before the daemon sees it.
        bad, _ = notify(extra=["CSeq: x NOTIFY"])
        answer = self.hand_over(bad, context())
        self.assertEqual(answer.status, 400, answer)
        self.assertRegex(answer.reason, r"^Bad .*Header$")
        self.assertCalls([])

    # -- contexts and requests that are refused ---------------------------------

    def test_a_bad_context_is_refused_naming_its_key(self):
        self.start(challenge="off")
        request, _ = notify()
        cases = [
            ({"remote": PBX + ":5060"}, 'context key "transport": missing'),
            ({"transport": "tcp"}, 'context key "remote": missing'),
            (context("sctp"), 'context key "transport": not one of udp, tcp, tls, ws, wss'),
            (context("tcp", remote="pbx.example.com:5060"), 'context key "remote": not'),
            (context("tcp", remote=PBX), 'context key "remote": not'),
            (context("tcp", registrar_flow="yes"),
             'context key "registrar_flow": must be of type b, not s'),
            (context("tcp", identity=("i", "7")), 'context key "identity": must be of type u'),
            (context("tcp", tls_peer_verified=True),
             'context key "tls_peer_verified": true only over tls or wss'),
        ]
        for ctx, message in cases:
            with self.subTest(ctx=ctx):
                self.assertIn(message, self.refused(request, ctx))
        self.assertCalls([])
        self.assertEqual(self.property("Counters")["received"], 0)

    def test_bytes_that_are_no_request_are_refused(self):
        self.start(challenge="off")
        request, _ = notify(extra=[f"X-Padding: {'a' * 8200}"])
        self.assertIn("at most 8192 are taken", self.refused(request, context()))
        self.assertIn("not a SIP request",
                      self.refused(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", context()))
        self.assertIn("not a SIP request", self.refused(b"\x00\x01garbage", context()))
        self.assertCalls([])

    def test_hand_overs_in_flight_are_bounded(self):
        # What waits: a served check-sync while its provisioning call is in
        # flight, and every copy of it handed over meanwhile.
        self.env.start_bus()
        self.env.start_standin(delay_ms=1800)
        self.start(challenge="off", standin=False)
        request, _ = notify(call_id="flood@pbx")
        ctx = context("tcp", registrar_flow=True)
        results = []
        lock = threading.Lock()

        def call():
            try:
                answer = self.hand_over(request, ctx)
                outcome = (answer.status, answer.to_tag)
            except HandoffError as e:
                outcome = str(e)
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=call) for i in range(48)]
        threads[0].start()
        time.sleep(0.3)
        for t in threads[1:]:
            t.start()
        for t in threads:
            t.join(30)
        busy = [r for r in results if isinstance(r, str)]
        served = [r for r in results if not isinstance(r, str)]
        self.assertEqual(len(results), 48, results)
        self.assertGreaterEqual(len(busy), 16, results)
        self.assertLessEqual(len(served), 32, results)
        self.assertEqual(len(set(served)), 1, served)
        self.assertEqual(served[0][0], 200, served)
        for message in busy:
            self.assertIn("hand-overs are in flight already", message)
        self.assertCalls(["Resync"])
        # The daemon is still there and answers the next one at once.
        request, _ = notify()
        self.assertEqual(self.hand_over(request, ctx).status, 200)

    # -- who may call ----------------------------------------------------------------

    def open_bus(self, policy=False):
        """A private bus that lets everyone call everything, or one with the
        project's own policy (etc/checksyncd-dbus.conf) and a system bus's
        defaults, where root may own the names the daemon and the stand-in
        take."""
        config = os.path.join(self.env.dir, "bus.conf")
        if policy:
            rules = f"""  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <policy user="root">
    <allow own="*"/>
  </policy>
  <include>{os.path.abspath(POLICY)}</include>"""
        else:
            rules = """  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>"""
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{"system" if policy else "session"}</type>
  <listen>{self.env.bus_address}</listen>
  <auth>EXTERNAL</auth>
{rules}
</busconfig>
""")
        self.env.start_bus(config=config)
        # The test's folder is private: let the other user reach the socket.
        os.chmod(self.env.dir, 0o711)
        os.chmod(self.env.bus_path, 0o777)

    def ua_group(self):
        """The group checksyncd-ua, made for the test when this system has
        none (and removed again): the daemon looks it up at start."""
        if os.geteuid() != 0:
            self.skipTest("needs root, to call as another user (setpriv)")
        for tool in ("setpriv", "groupadd", "groupdel"):
            if not shutil.which(tool):
                self.fail(f"{tool} is not installed")
        if subprocess.run(["getent", "group", UA_GROUP], stdout=subprocess.DEVNULL).returncode:
            subprocess.run(["groupadd", "--system", UA_GROUP], check=True)
            self.addCleanup(subprocess.run, ["groupdel", UA_GROUP], check=False)
        return UA_GROUP

    def test_the_bus_policy_admits_root_and_the_ua_group_only(self):
        group = self.ua_group()
        self.open_bus(policy=True)
        self.start(challenge="off")
        request, _ = notify()
        ctx = context("tcp", registrar_flow=True)
        # busctl names an AccessDenied error only as "Access denied".
        self.assertIn("Access denied", self.refused(request, ctx, user=NOBODY))
        # Refused by the bus: the daemon never saw the call.
        self.assertNotIn("refused a hand-over", self.env.daemon_log())
        self.assertEqual(self.property("Counters")["received"], 0)
        self.assertCalls([])
        self.assertEqual(self.hand_over(request, ctx, user=NOBODY, groups=group).status, 200)
        self.assertCalls(["Resync"])
        request, _ = notify()
        self.assertEqual(self.hand_over(request, ctx).status, 200)  # root

    def test_the_daemon_checks_the_caller_behind_an_open_bus(self):
        group = self.ua_group()
        self.open_bus(policy=False)
        self.start(challenge="off")
        request, _ = notify()
        ctx = context("tcp", registrar_flow=True)
        self.assertIn("Access denied", self.refused(request, ctx, user=NOBODY))
        # Refused by the daemon, which said so.
        self.assertTrue(self.env.wait_log(f"refused a hand-over from uid {NOBODY}: only root "
                                          "and the group checksyncd-ua may hand requests over"),
                        self.env.daemon_log())
        self.assertEqual(self.property("Counters")["received"], 0)
        self.assertCalls([])
        self.assertEqual(self.hand_over(request, ctx, user=NOBODY, groups=group).status, 200)
        self.assertCalls(["Resync"])

    def test_the_c_example_of_the_readme_hands_over(self):
        """docs/examples/handoff-call.c, which the README quotes, built next
        to the daemon."""
        example = os.path.join(os.path.dirname(harness.CONFIG["daemon"]), "..", "docs",
                               "handoff-call")
        self.assertTrue(os.access(example, os.X_OK), f"{example} was not built")
        self.start(challenge="on")
        request, _ = notify(call_id="c-example@pbx")
        path = os.path.join(self.env.dir, "request.sip")
        with open(path, "wb") as f:
            f.write(request)
        proc = subprocess.run([example, "--bus", self.env.bus_address, path, "tcp",
                               PBX + ":5060", "true"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=15)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        # Bytes: the answer's CRLFs as they are.
        head, _, response = proc.stdout.decode().partition("--\n")
        lines = head.splitlines()
        self.assertEqual(lines[0], "SIP/2.0 401 Unauthorized")
        self.assertIn("Server: checksyncd", lines)
        self.assertTrue(any(line.startswith("WWW-Authenticate: Digest realm=") for line in lines),
                        lines)
        self.assertTrue(response.startswith("SIP/2.0 401 Unauthorized\r\n"), response)
        self.assertIn("Call-ID: c-example@pbx\r\n", response)
        # A D-Bus error comes out as one: a context the daemon refuses.
        proc = subprocess.run([example, "--bus", self.env.bus_address, path, "sctp",
                               PBX + ":5060"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=15)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("org.checksyncd.Handoff1.Error.InvalidContext: context key \"transport\"",
                      proc.stderr)

    # -- --listen none -----------------------------------------------------------

    def test_listen_none_binds_no_port_and_serves_hand_overs(self):
        self.env.write_settings(settings_xml(challenge="on"))
        self.env.start_bus()
        self.env.start_standin()
        note = self.env.start_daemon(listen="none")
        self.assertIn("STATUS=Serving check-syncs handed over by the UA only (--listen none)",
                      note["text"])
        self.assertEqual(self.property("Listening"), [])
        # No socket of the daemon's is bound to an IP address.
        sockets = subprocess.run(["ss", "-H", "-tuanp"], stdout=subprocess.PIPE,
                                 text=True, check=True).stdout
        self.assertNotIn(f"pid={self.env.daemon.pid},", sockets)
        request, ruri = notify(call_id="none-1@pbx")
        challenged = self.hand_over(request, context("tcp", registrar_flow=True))
        self.assertEqual(challenged.status, 401)
        auth = authorization(challenged.all("WWW-Authenticate")[0], DEFAULT_USER, DEFAULT_PASS,
                             "NOTIFY", ruri)
        answered, _ = notify(call_id="none-1@pbx", cseq=2, auth=auth)
        self.assertEqual(self.hand_over(answered, context("tcp", registrar_flow=True)).status,
                         200)
        self.assertCalls(["Resync"])

    def test_listen_none_with_another_listen_is_bad_usage(self):
        self.env.write_settings(settings_xml(challenge="off"))
        proc = subprocess.run(self.env.daemon_args("none", ["--listen", "sip:127.0.0.1:5999"]),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(proc.returncode, 64, proc.stderr)
        self.assertIn(b"--listen none cannot be combined with another --listen", proc.stderr)
