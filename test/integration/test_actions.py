# SPDX-License-Identifier: MIT
"""Everything a PBX may ask of a phone, against the real daemon: Snom's
checksync_action values (reregister, delete-contacts, factory-reset) through
the stand-in; the rule that what destroys data is served only to a digest
(challenged with challenge_checksync on and off, refused 403 where no
password can answer); Cisco's service-control NOTIFY as Asterisk's
res_pjsip_cisco_service_control puts it on the wire, byte for byte, every
action and the malformed ones; Cisco SPA's Event: report.

The request texts follow the senders' code header for header; only
addresses, ports, tags, branches and Call-IDs are this test's own. The PBX
is 127.0.0.2, the phone 127.0.0.1.
"""

import os
import secrets
import subprocess
import time
import xml.etree.ElementTree as ET

import harness
import test_handoff
from base import DaemonTest
from harness import (DEFAULT_HOST, DEFAULT_PASS, DEFAULT_USER, authorization, digest_ha1,
                     settings_xml)
from test_dialects import ASTERISK
from test_status import StatusBase

PBX = "127.0.0.2"
ZERO_STAMP = "{00000000-0000-0000-0000-000000000000}"
PROVISIONING_XML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc",
                                "org.checksyncd.Provisioning1.xml")

# ---------------------------------------------------------------------------
# Cisco service-control as Asterisk sends it

# asterisk-pjsip-cisco, res/res_pjsip_cisco_service_control.c,
# sc_send_notify(): ast_sip_create_request("NOTIFY") to the contact, the
# From URI's user part cleared (Cisco firmware answers 400 to a From with
# one), then ast_sip_add_header() of Event: service-control and
# Subscription-State: active, and a text/plain body. PJSIP prints the
# headers it adds itself (Max-Forwards, User-Agent) after those, the body's
# Content-Type and Content-Length (with two blanks) last, and rport before
# branch.
ASTERISK_SERVICE_CONTROL = (
    "NOTIFY {ruri} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP {local};rport;branch=z9hG4bKPj{branch}\r\n"
    "From: <sip:{pbx}>;tag={tag}\r\n"
    "To: <{ruri}>\r\n"
    "Contact: <sip:asterisk@{local}>\r\n"
    "Call-ID: {call_id}\r\n"
    "CSeq: 41220 NOTIFY\r\n"
    "Event: service-control\r\n"
    "Subscription-State: active\r\n"
    "{auth}"
    "Max-Forwards: 70\r\n"
    "User-Agent: Asterisk PBX 22.9.0\r\n"
    "Content-Type: {content_type}\r\n"
    "Content-Length:  {length}\r\n"
    "\r\n"
    "{body}")


def asterisk_body(action, register_call_id):
    """The body of sc_send_notify(): restart and reset with the three
    all-zero version stamps, prt-report with action and RegisterCallId
    only; CRLF after every line."""
    body = f"action={action}\r\nRegisterCallId={{{register_call_id}}}\r\n"
    if action != "prt-report":
        body += (f"ConfigVersionStamp={ZERO_STAMP}\r\n"
                 f"DialplanVersionStamp={ZERO_STAMP}\r\n"
                 f"SoftkeyVersionStamp={ZERO_STAMP}\r\n")
    return body


# Cisco Unified CME's check-version (its System Administrator Guide shows the
# text/plain part of the bulk REFER): LF line ends, real stamps, an empty
# one, a blank after the last value.
CME_CHECK_VERSION = ("action=check-version\n"
                     "RegisterCallId={001b2a89-3698011e-280209a4-567e339c@127.0.0.1}\n"
                     "ConfigVersionStamp={0106514225374329}\n"
                     "DialplanVersionStamp={}\n"
                     "SoftkeyVersionStamp={0106514225374329} \n")


def service_control(c, body, auth=None, call_id=None, content_type="text/plain"):
    """(request bytes, branch) of Asterisk's service-control NOTIFY."""
    data = body.encode("latin-1") if isinstance(body, str) else body
    branch = secrets.token_hex(12)
    head = ASTERISK_SERVICE_CONTROL.format(
        ruri=c.uri(), local=c.local_hostport, pbx=c.source, branch=branch,
        tag=secrets.token_hex(8), call_id=call_id or secrets.token_hex(16) + "@" + PBX,
        auth=f"Authorization: {auth}\r\n" if auth else "", content_type=content_type,
        length=len(data), body="")
    return head.encode("utf-8") + data, "z9hG4bKPj" + branch


def send_bytes(c, data):
    c.sock.sendto(data, (c.host, c.port))


class ServiceControlTest(DaemonTest):
    def started(self, events="check-sync,service-control", **kw):
        self.start(challenge=kw.pop("challenge", "off"),
                   extra=[("checksync_events", events)] + kw.pop("extra", []), **kw)
        return self.client(source=PBX)

    def exchange(self, c, body, **kw):
        data, branch = service_control(c, body, **kw)
        send_bytes(c, data)
        return c.recv(branch)

    def served(self, action, method, kind, challenge="off", body=None):
        c = self.started(challenge=challenge)
        call_id = secrets.token_hex(16) + "@" + PBX
        body = body or asterisk_body(action, secrets.token_hex(8) + "@127.0.0.1")
        resp = self.exchange(c, body, call_id=call_id)
        if challenge == "on":
            self.assertStatus(resp, 401, f"service-control {action}")
            auth = authorization(self.challenge_of(resp), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                                 c.uri())
            resp = self.exchange(c, body, call_id=call_id, auth=auth)
        self.assertStatus(resp, 200, f"service-control {action}")
        details = self.assertCalls([method])[0]["details"]
        self.assertEqual(details["event"], "service-control")
        self.assertEqual(details["call_id"], call_id)
        self.assertEqual(details["remote"], f"udp:{PBX}:{c.local_port}")
        self.assertEqual(details["identity"], 1)
        self.assertEqual(details["user_agent"], "Asterisk PBX 22.9.0")
        self.assertEqual(details["authenticated"], challenge == "on")
        if kind is None:
            self.assertNotIn("kind", details)
        else:
            self.assertEqual(details["kind"], kind)
        return details

    # Every action, as Asterisk sends it.
    def test_asterisk_restart_is_a_soft_reboot(self):
        self.served("restart", "Reboot", "soft")

    def test_asterisk_reset_is_a_hard_reboot(self):
        self.served("reset", "Reboot", "hard")

    def test_asterisk_prt_report_reports(self):
        self.served("prt-report", "Report", None)

    def test_cme_check_version_with_bare_lf_resyncs(self):
        self.served("check-version", "Resync", None, body=CME_CHECK_VERSION)

    def test_asterisk_restart_with_digest_reboots_authenticated(self):
        self.served("restart", "Reboot", "soft", challenge="on")

    def test_asterisk_prt_report_with_digest_reports_authenticated(self):
        self.served("prt-report", "Report", None, challenge="on")

    def test_on_the_port_the_register_call_id_is_ignored(self):
        # Nothing on the port knows the UA's REGISTER: any value, or none.
        c = self.started()
        resp = self.exchange(c, asterisk_body("prt-report", "not-ours@192.0.2.99"))
        self.assertStatus(resp, 200, "a RegisterCallId of someone else")
        resp = self.exchange(c, "action=check-version\r\n")
        self.assertStatus(resp, 200, "no RegisterCallId")
        self.assertCalls(["Report", "Resync"])

    def test_challenge_reboot_challenges_restart_and_reset_only(self):
        c = self.started(challenge_reboot="on")
        for action in ("restart", "reset"):
            resp = self.exchange(c, asterisk_body(action, "r@127.0.0.1"))
            self.assertStatus(resp, 401, f"{action} with challenge_reboot on")
        resp = self.exchange(c, asterisk_body("prt-report", "r@127.0.0.1"))
        self.assertStatus(resp, 200, "prt-report with challenge_reboot on")
        self.assertCalls(["Report"])

    def test_a_reset_inside_the_spacing_is_the_trailing_call_and_says_hard(self):
        # Restart and reset share the Reboot method's gate: the reset is
        # answered at once and made the trailing call, with its own kind.
        c = self.started()
        t0 = time.monotonic()
        resp = self.exchange(c, asterisk_body("restart", "r@127.0.0.1"), call_id="first@pbx")
        self.assertStatus(resp, 200, "restart")
        resp = self.exchange(c, asterisk_body("reset", "r@127.0.0.1"), call_id="second@pbx")
        self.assertStatus(resp, 200, "reset inside the 5 s")
        calls = self.env.calls()
        self.assertEqual([(x["method"], x["details"]["kind"]) for x in calls],
                         [("Reboot", "soft")], calls)
        calls = self.env.wait_calls(2, timeout=8.0)
        self.assertGreaterEqual(time.monotonic() - t0, 4.0, "the trailing call came early")
        self.assertEqual([(x["method"], x["details"]["kind"], x["details"]["call_id"])
                          for x in calls],
                         [("Reboot", "soft", "first@pbx"), ("Reboot", "hard", "second@pbx")])

    def test_malformed_bodies_get_400_with_a_reason_and_no_call(self):
        c = self.started()
        cases = [
            ("action=shutdown\r\n", 400, "Unknown service-control action"),
            ("action=REBOOT\r\nRegisterCallId={r@127.0.0.1}\r\n", 400,
             "Unknown service-control action"),
            ("RegisterCallId={r@127.0.0.1}\r\n", 400, "Missing service-control action"),
            ("", 400, "Missing service-control action"),
            ("action=restart\r\naction=prt-report\r\n", 400, "Duplicate service-control key"),
            ("action=restart\r\nRegisterCallId={a}\r\nREGISTERCALLID={a}\r\n", 400,
             "Duplicate service-control key"),
            ("action=restart\rRegisterCallId={a}\r\n", 400, "Bad service-control body"),
            ("action restart\r\n", 400, "Bad service-control body"),
            ("action=restart\r\nRegisterCallId=a@127.0.0.1\r\n", 400,
             "Bad service-control body"),
            (b"action=restart\r\nRegisterCallId={caf\xe9@pbx}\r\n", 400,
             "Bad service-control body"),
            ("action=restart\r\nRegisterCallId={caf\u00e9@pbx}\r\n".encode("utf-8"), 400,
             "Bad service-control body"),
            ("action=restart\r\nRegisterCallId={" + "c" * 255 + "}\r\n", 400,
             "Bad service-control body"),
            ("action=restart\r\n" + "".join(f"S{i}={{}}\r\n" for i in range(16)), 400,
             "Bad service-control body"),
        ]
        for body, status, reason in cases:
            resp = self.exchange(c, body)
            self.assertStatus(resp, status, f"body {body!r}")
            self.assertEqual(resp.reason, reason, f"body {body!r}")
        self.assertCalls([])

    def test_a_body_over_1024_bytes_gets_413_and_one_of_1024_is_read(self):
        c = self.started()
        fits = "action=prt-report\r\n"
        fits += "\r\n" * ((1024 - len(fits)) // 2)
        self.assertEqual(len(fits), 1023)
        resp = self.exchange(c, fits + "\n")
        self.assertStatus(resp, 200, "a 1024-byte body")
        resp = self.exchange(c, fits + "\r\n")
        self.assertStatus(resp, 413, "a 1025-byte body")
        self.assertCalls(["Report"])

    def test_another_media_type_gets_415_with_accept(self):
        c = self.started()
        for content_type in ("application/x-www-form-urlencoded", "text/html"):
            resp = self.exchange(c, asterisk_body("restart", "r@127.0.0.1"),
                                 content_type=content_type)
            self.assertStatus(resp, 415, content_type)
            self.assertEqual(resp.get("accept"), "text/plain", resp.raw)
        self.assertCalls([])

    def test_disabled_by_default_and_listed_in_allow_events_when_enabled(self):
        self.start(challenge="off")
        c = self.client(source=PBX)
        resp = self.exchange(c, asterisk_body("restart", "r@127.0.0.1"))
        self.assertStatus(resp, 489, "service-control by default")
        self.assertEqual(resp.get("allow-events"), "check-sync", resp.raw)
        self.assertCalls([])

    def test_options_and_489_name_the_new_dialects_in_canonical_order(self):
        c = self.started(events="report,service-control,resync")
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "OPTIONS")
        self.assertEqual(resp.get("allow-events"), "resync, service-control, report", resp.raw)
        resp, _, _ = c.request(event="check-sync")
        self.assertStatus(resp, 489, "check-sync left out")
        self.assertEqual(resp.get("allow-events"), "resync, service-control, report", resp.raw)
        self.assertCalls([])


# ---------------------------------------------------------------------------
# Cisco SPA: Event: report

def report_notify(c, auth=None, event="report"):
    """What an admin's PBX sends for an SPA report: Asterisk's
    res_pjsip_notify with a pjsip_notify.conf section of Event=>report (the
    same request as its other sections, test_dialects.ASTERISK)."""
    branch = secrets.token_hex(12)
    text = ASTERISK.format(ruri=c.uri(), local=c.local_hostport, pbx=c.source, branch=branch,
                           tag=secrets.token_hex(8), call_id=secrets.token_hex(16),
                           event=event, auth=f"Authorization: {auth}\r\n" if auth else "")
    return text, "z9hG4bKPj" + branch


class ReportTest(DaemonTest):
    def test_spa_report_with_digest_reports(self):
        # Cisco's provisioning guide: the device asks the server for
        # authentication before it reports; challenge_checksync does that.
        self.start(challenge="on", extra=[("checksync_events", "check-sync,report")])
        c = self.client(source=PBX)
        text, branch = report_notify(c)
        c.send(text)
        resp = c.recv(branch)
        self.assertStatus(resp, 401, "Event: report")
        auth = authorization(self.challenge_of(resp), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                             c.uri())
        text, branch = report_notify(c, auth=auth)
        c.send(text)
        self.assertStatus(c.recv(branch), 200, "Event: report answered")
        details = self.assertCalls(["Report"])[0]["details"]
        self.assertEqual(details["event"], "report")
        self.assertTrue(details["authenticated"])

    def test_report_is_refused_489_unless_listed(self):
        self.start(challenge="off")
        c = self.client(source=PBX)
        text, branch = report_notify(c)
        c.send(text)
        resp = c.recv(branch)
        self.assertStatus(resp, 489, "Event: report by default")
        self.assertEqual(resp.get("allow-events"), "check-sync", resp.raw)
        self.assertCalls([])


# ---------------------------------------------------------------------------
# Snom's checksync_action values, and what destroys data

NO_PASSWORD = [dict(idx=1, user_active="on", user_name=DEFAULT_USER, user_host=DEFAULT_HOST)]


class SnomActionTest(DaemonTest):
    def digest(self, c, resp, password=DEFAULT_PASS, **kw):
        auth = authorization(self.challenge_of(resp), DEFAULT_USER, password, "NOTIFY", c.uri())
        resp, _, _ = c.request(auth=auth, cseq=2, **kw)
        return resp

    def test_reregister_is_served_like_a_resync(self):
        self.start(challenge="off", action="reregister")
        c = self.client(source=PBX)
        resp, _, _ = c.request(event="check-sync;reboot=true", call_id="rereg@pbx")
        self.assertStatus(resp, 200, "check-sync with checksync_action reregister")
        details = self.assertCalls(["Reregister"])[0]["details"]
        self.assertFalse(details["authenticated"])
        self.assertEqual(details["call_id"], "rereg@pbx")
        self.assertEqual(details["event"], "check-sync;reboot=true")

    def test_reregister_with_the_challenge_on_is_authenticated(self):
        self.start(challenge="on", action="reregister")
        c = self.client(source=PBX)
        resp, _, _ = c.request(call_id="rr@pbx")
        self.assertStatus(resp, 401, "first check-sync")
        self.assertStatus(self.digest(c, resp, call_id="rr@pbx"), 200, "answered")
        self.assertTrue(self.assertCalls(["Reregister"])[0]["details"]["authenticated"])

    def destroys(self, action, method, challenge):
        self.start(challenge=challenge, action=action)
        c = self.client(source=PBX)
        resp, _, _ = c.request(call_id=f"{action}@pbx")
        self.assertStatus(resp, 401, f"{action} with challenge_checksync {challenge}")
        self.assertCalls([])
        resp = self.digest(c, resp, call_id=f"{action}@pbx")
        self.assertStatus(resp, 200, f"{action} answered")
        details = self.assertCalls([method])[0]["details"]
        self.assertTrue(details["authenticated"])
        self.assertEqual(details["identity"], 1)
        self.assertEqual(details["call_id"], f"{action}@pbx")

    def test_factory_reset_is_challenged_with_the_challenge_off(self):
        self.destroys("factory-reset", "FactoryReset", "off")

    def test_factory_reset_is_challenged_with_the_challenge_on(self):
        self.destroys("factory-reset", "FactoryReset", "on")

    def test_delete_contacts_is_challenged_with_the_challenge_off(self):
        self.destroys("delete-contacts", "DeleteContacts", "off")

    def test_delete_contacts_is_challenged_with_the_challenge_on(self):
        self.destroys("delete-contacts", "DeleteContacts", "on")

    def test_a_wrong_password_never_resets(self):
        self.start(challenge="off", action="factory-reset")
        c = self.client(source=PBX)
        resp = self.wrong_answer(c)
        self.assertStatus(resp, 401, "wrong password")
        self.assertTrue(self.env.wait_log("authentication failed: source=127.0.0.2"),
                        "no fail2ban line")
        self.assertCalls([])

    def test_whatever_asked_a_forced_factory_reset_is_challenged(self):
        # A Cisco restart, an SPA report: checksync_action decides the
        # action, and the action decides the challenge.
        self.start(challenge="off", action="factory-reset",
                   extra=[("checksync_events", "service-control,report")])
        c = self.client(source=PBX)
        data, branch = service_control(c, asterisk_body("prt-report", "r@127.0.0.1"))
        send_bytes(c, data)
        self.assertStatus(c.recv(branch), 401, "service-control prt-report")
        text, branch = report_notify(c)
        c.send(text)
        self.assertStatus(c.recv(branch), 401, "Event: report")
        self.assertCalls([])

    def no_password(self, challenge):
        self.start(challenge=challenge, action="factory-reset", identities=NO_PASSWORD)
        c = self.client(source=PBX)
        for i in range(3):
            resp, _, _ = c.request(call_id=f"np-{i}@pbx")
            self.assertStatus(resp, 403, f"factory-reset without a password ({i})")
            self.assertEqual(resp.all("www-authenticate"), [], resp.raw)
        self.assertTrue(self.env.wait_log("refused FactoryReset from udp:127.0.0.2:"),
                        self.env.daemon_log())
        log = self.env.daemon_log()
        # Said once, not once per request.
        self.assertEqual(log.count("refused FactoryReset"), 1, log)
        self.assertIn("no user_pass or user_hash for identity 1", log)
        self.assertCalls([])

    def test_without_a_password_a_factory_reset_is_403_and_logged_challenge_off(self):
        self.no_password("off")

    def test_without_a_password_a_factory_reset_is_403_and_logged_challenge_on(self):
        self.no_password("on")

    def test_an_unknown_user_gets_the_401_every_user_gets(self):
        self.start(challenge="off", action="factory-reset", identities=NO_PASSWORD)
        c = self.client(source=PBX)
        resp, _, _ = c.request(ruri=c.uri("nobody"))
        self.assertStatus(resp, 401, "an unknown user")
        self.assertCalls([])

    def test_an_ha1_is_a_password_to_answer_with(self):
        ha1 = digest_ha1("MD5", DEFAULT_USER, DEFAULT_HOST, DEFAULT_PASS)
        self.start(challenge="off", action="delete-contacts",
                   identities=[dict(idx=1, user_active="on", user_name=DEFAULT_USER,
                                    user_host=DEFAULT_HOST, user_hash=ha1)])
        c = self.client(source=PBX)
        resp, _, _ = c.request(call_id="ha1@pbx")
        self.assertStatus(resp, 401, "delete-contacts with user_hash")
        self.assertStatus(self.digest(c, resp, call_id="ha1@pbx"), 200, "answered")
        self.assertTrue(self.assertCalls(["DeleteContacts"])[0]["details"]["authenticated"])

    def test_a_burst_gives_one_call_now_and_one_trailing_call(self):
        self.start(challenge="off", action="reregister", delay_ms=300)
        c = self.client(source=PBX)
        t0 = time.monotonic()
        branches = []
        for i in range(1, 5):
            text, branch = c.build(call_id=f"burst-{i}@pbx")
            c.send(text)
            branches.append(branch)
        for i, branch in enumerate(branches, 1):
            self.assertStatus(c.recv(branch), 200, f"check-sync {i} of 4")
        calls = self.env.calls()
        self.assertEqual([x["details"]["call_id"] for x in calls], ["burst-1@pbx"], calls)
        calls = self.env.wait_calls(2, timeout=8.0)
        self.assertGreaterEqual(time.monotonic() - t0, 4.0, "the trailing call came early")
        self.assertEqual([(x["method"], x["details"]["call_id"]) for x in calls],
                         [("Reregister", "burst-1@pbx"), ("Reregister", "burst-4@pbx")])
        self.settle(1.0)
        self.assertEqual(len(self.env.calls()), 2)

    def test_a_failed_factory_reset_is_503_and_the_gate_holds_the_next(self):
        self.start(challenge="off", action="factory-reset", fail="FactoryReset")
        c = self.client(source=PBX)
        resp, _, _ = c.request(call_id="f1@pbx")
        self.assertStatus(self.digest(c, resp, call_id="f1@pbx"), 503, "refused by the process")
        resp, _, _ = c.request(call_id="f2@pbx", cseq=3)
        self.assertStatus(resp, 401, "the next one")
        resp = self.digest(c, resp, call_id="f2@pbx")
        self.assertStatus(resp, 503, "inside the 5 s after a failure")
        self.assertIsNotNone(resp.get("retry-after"), resp.raw)
        self.assertCalls(["FactoryReset"])


class ActionStatusTest(StatusBase):
    def test_last_check_sync_names_the_new_actions(self):
        self.start(challenge="off", action="factory-reset")
        c = self.client(source=PBX)
        resp, _, _ = c.request(call_id="st@pbx")
        self.assertStatus(resp, 401)
        self.assertLast(self.properties()["LastCheckSync"], sip_status=401,
                        action="FactoryReset", provisioning="not-asked")
        auth = authorization(self.challenge_of(resp), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                             c.uri())
        resp, _, _ = c.request(call_id="st@pbx", cseq=2, auth=auth)
        self.assertStatus(resp, 200)
        self.assertCalls(["FactoryReset"])
        self.assertLast(self.properties()["LastCheckSync"], sip_status=200,
                        action="FactoryReset", authenticated=True, provisioning="accepted")

    def test_a_service_control_reset_shows_as_a_reboot(self):
        self.start(challenge="off", extra=[("checksync_events", "service-control")])
        c = self.client(source=PBX)
        data, branch = service_control(c, asterisk_body("reset", "r@127.0.0.1"))
        send_bytes(c, data)
        self.assertStatus(c.recv(branch), 200)
        self.assertCalls(["Reboot"])
        self.assertLast(self.properties()["LastCheckSync"], sip_status=200, action="Reboot",
                        event="service-control", provisioning="accepted")

    def test_the_stand_in_serves_every_method_of_the_shipped_interface_xml(self):
        self.start(challenge="off")
        live = ET.fromstring(self.busctl("introspect", "--xml-interface",
                                         "org.checksyncd.Provisioning1",
                                         "/org/checksyncd/Provisioning1").stdout)
        shipped = ET.parse(PROVISIONING_XML).getroot()

        def methods(root):
            iface = next(i for i in root.iter("interface")
                         if i.get("name") == "org.checksyncd.Provisioning1")
            return {m.get("name"): [(a.get("type"), a.get("direction", "in"))
                                    for a in m.iter("arg")] for m in iface.iter("method")}

        self.assertEqual(methods(live), methods(shipped))
        self.assertEqual(sorted(methods(shipped)),
                         sorted(["Resync", "Reboot", "Reregister", "DeleteContacts",
                                 "FactoryReset", "Report", "Provision"]))


class ActionConfigTest(DaemonTest):
    def check_config(self):
        proc = subprocess.run([harness.CONFIG["daemon"], "--settings", self.env.settings_path,
                               "--check-config"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=15)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def test_check_config_shows_each_value(self):
        for value in ("reregister", "delete-contacts", "factory-reset"):
            self.env.write_settings(settings_xml(action=value.upper()))
            rc, out, err = self.check_config()
            self.assertEqual(rc, 0, err)
            self.assertIn(f"checksync_action = {value} (file)\n", out)
            self.assertNotIn("warning", (out + err).lower())

    def test_check_config_warns_of_a_reset_no_password_can_answer(self):
        self.env.write_settings(settings_xml(action="factory-reset", identities=NO_PASSWORD))
        rc, out, err = self.check_config()
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out + err, r"identity 1 has neither user_pass nor user_hash: "
                                    r"checksync_action factory-reset destroys data")

    def test_check_config_names_every_value_when_one_is_wrong(self):
        xml = settings_xml(action="factory_reset")
        line = next(i for i, l in enumerate(xml.split("\n"), 1) if "checksync_action" in l)
        self.env.write_settings(xml)
        rc, out, err = self.check_config()
        self.assertEqual(rc, 1, out + err)
        self.assertIn(f'{self.env.settings_path}:{line}: checksync_action: invalid value '
                      f'"factory_reset" (expected sync, reboot, reregister, delete-contacts, '
                      f'factory-reset or empty)', err)

    def test_check_config_lists_the_new_dialects(self):
        self.env.write_settings(settings_xml(extra=[("checksync_events",
                                                     "Report, service-control, check-sync")]))
        rc, out, err = self.check_config()
        self.assertEqual(rc, 0, err)
        self.assertIn("checksync_events = check-sync,service-control,report (file)\n", out)


# ---------------------------------------------------------------------------
# service-control handed over by the phone's UA: RegisterCallId

def handed_over_service_control(body, call_id=None, auth=None,
                                remote=test_handoff.PBX + ":5060"):
    """(bytes, Request-URI) of Asterisk's service-control NOTIFY as the UA
    received it over its TCP flow to the PBX."""
    ruri = f"sip:{DEFAULT_USER}@{test_handoff.PHONE}:5060"
    host, _ = remote.rsplit(":", 1)
    head = ASTERISK_SERVICE_CONTROL.format(
        ruri=ruri, local=remote, pbx=host, branch=secrets.token_hex(12),
        tag=secrets.token_hex(8), call_id=call_id or secrets.token_hex(16) + "@" + host,
        auth=f"Authorization: {auth}\r\n" if auth else "", content_type="text/plain",
        length=len(body.encode()), body=body)
    return head.replace("SIP/2.0/UDP", "SIP/2.0/TCP").encode(), ruri


class HandedOverServiceControlTest(DaemonTest):
    OURS = "a84b4c76e66710@" + test_handoff.PHONE

    # HandleRequest called as test_handoff calls it (its tests not inherited).
    busctl = test_handoff.HandoffTest.busctl
    handle_args = test_handoff.HandoffTest.handle_args
    hand_over = test_handoff.HandoffTest.hand_over
    assertHygiene = test_handoff.HandoffTest.assertHygiene

    def started(self, challenge="off"):
        self.start(challenge=challenge, extra=[("checksync_events", "service-control")])

    def over_flow(self, body, register_call_id=OURS, **kw):
        request, ruri = handed_over_service_control(body, **kw)
        ctx = test_handoff.context("tcp", registrar_flow=True, identity=1)
        if register_call_id is not None:
            ctx["register_call_id"] = register_call_id
        return self.hand_over(request, ctx), ruri

    def test_a_register_call_id_that_is_not_the_uas_gets_400(self):
        self.started()
        for body in (asterisk_body("restart", "someone-else@192.0.2.77"),
                     asterisk_body("reset", self.OURS.upper()),
                     "action=prt-report\r\n"):
            answer, _ = self.over_flow(body)
            self.assertEqual((answer.status, answer.reason),
                             (400, "RegisterCallId does not match"), body)
            self.assertHygiene(answer)
        self.assertCalls([])

    def test_the_uas_own_register_call_id_is_served(self):
        self.started()
        answer, _ = self.over_flow(asterisk_body("reset", self.OURS), call_id="ho-1@pbx")
        self.assertEqual(answer.status, 200, answer)
        details = self.assertCalls(["Reboot"])[0]["details"]
        self.assertEqual((details["kind"], details["call_id"], details["event"]),
                         ("hard", "ho-1@pbx", "service-control"))

    def test_without_the_uas_register_call_id_the_body_is_not_checked(self):
        self.started()
        answer, _ = self.over_flow(asterisk_body("prt-report", "anything@192.0.2.77"),
                                   register_call_id=None)
        self.assertEqual(answer.status, 200, answer)
        self.assertCalls(["Report"])

    def test_a_matching_register_call_id_is_no_credential(self):
        self.started(challenge="on")
        body = asterisk_body("restart", self.OURS)
        challenged, ruri = self.over_flow(body, call_id="ho-2@pbx")
        self.assertEqual(challenged.status, 401, challenged)
        self.assertCalls([])
        # A mismatch is refused before the challenge.
        refused, _ = self.over_flow(asterisk_body("restart", "other@pbx"), call_id="ho-3@pbx")
        self.assertEqual(refused.status, 400, refused)
        [challenge] = challenged.all("WWW-Authenticate")
        auth = authorization(challenge, DEFAULT_USER, DEFAULT_PASS, "NOTIFY", ruri)
        answer, _ = self.over_flow(body, call_id="ho-2@pbx", auth=auth)
        self.assertEqual(answer.status, 200, answer)
        details = self.assertCalls(["Reboot"])[0]["details"]
        self.assertTrue(details["authenticated"])
        self.assertEqual(details["kind"], "soft")
