# SPDX-License-Identifier: MIT
"""Event dialects (checksync_events, issue 10): every PBX's remote
provisioning NOTIFY, as its sender puts it on the wire, is served when its
package is enabled and refused 489 when it is not; Allow-Events names
exactly the enabled packages; Kamailio's uac_req_send answers the digest
challenge with its own client.

The request texts below follow the senders' code header for header (names,
order, forms, empty bodies); only addresses, ports, tags, branches and
Call-IDs are this test's own. The PBX is 127.0.0.2, the phone 127.0.0.1.
"""

import glob
import os
import re
import secrets
import shutil
import signal
import subprocess
import time

import harness
from base import DaemonTest
from harness import (DEFAULT_PASS, DEFAULT_USER, authorization, settings_xml,
                     sipsak_summary)

PBX = "127.0.0.2"
ALL_EVENTS = "check-sync,resync,reboot,reboot_now,restart_now"
ALL_ALLOW = "check-sync, resync, reboot, reboot_now, restart_now"


# ---------------------------------------------------------------------------
# The senders' NOTIFYs

# Asterisk res_pjsip_notify (res/res_pjsip_notify.c, notify_contact():
# ast_sip_create_request("NOTIFY") out of dialog, then
# ast_sip_add_header(tdata, "Subscription-State", "terminated") and the
# headers of the configs/samples/pjsip_notify.conf.sample section, no body).
# PJSIP writes "Content-Length:  0" with two blanks and rport before branch.
ASTERISK = (
    "NOTIFY {ruri} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP {local};rport;branch=z9hG4bKPj{branch}\r\n"
    "From: <sip:asterisk@{pbx}>;tag={tag}\r\n"
    "To: <{ruri}>\r\n"
    "Contact: <sip:asterisk@{local}>\r\n"
    "Call-ID: {call_id}\r\n"
    "CSeq: 29538 NOTIFY\r\n"
    "Subscription-State: terminated\r\n"
    "Event: {event}\r\n"
    "{auth}"
    "Max-Forwards: 70\r\n"
    "User-Agent: Asterisk PBX 20.5.0\r\n"
    "Content-Length:  0\r\n"
    "\r\n")

# FreeSWITCH mod_sofia (src/mod/endpoints/mod_sofia/sofia_reg.c,
# sofia_reg_send_reboot(): Event by User-Agent, "check-sync;reboot=true" for
# snom, "reboot_now" for linksys, "reboot" for spa; Content-Type
# application/simple-message-summary with an empty payload; From and To
# both sip:USER@DOMAIN; sent by nua_notify() with NUTAG_NEWSUB(1)).
# Subscription-State: sofia_glue_send_notify() of current releases sets
# "terminated;reason=noresource"; the first releases set none; nua's own
# notifier state gives "active". FusionPBX's event_notify
# (app/scripts/resources/scripts/app/event_notify) fires FreeSWITCH's
# NOTIFY event with the same Content-Type and "resync" for Grandstream,
# Fanvil and Htek: the same request.
FREESWITCH = (
    "NOTIFY {ruri} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP {local};rport;branch=z9hG4bK{branch}\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:340899@ser.berlin.snom.com>;tag={tag}\r\n"
    "To: <sip:340899@ser.berlin.snom.com>\r\n"
    "Call-ID: {call_id}\r\n"
    "CSeq: 108374659 NOTIFY\r\n"
    "Contact: <sip:mod_sofia@{local}>\r\n"
    "User-Agent: FreeSWITCH-mod_sofia/1.10.10-release~64bit\r\n"
    "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, "
    "NOTIFY, PUBLISH, SUBSCRIBE\r\n"
    "Supported: timer, path, replaces\r\n"
    "Event: {event}\r\n"
    "Allow-Events: talk, hold, conference, presence, as-feature-event, dialog, line-seize, "
    "call-info, sla, include-session-description, presence.winfo, message-summary, refer\r\n"
    "{substate}"
    "{auth}"
    "Content-Type: application/simple-message-summary\r\n"
    "Content-Length: 0\r\n"
    "\r\n")


def build(template, c, event, auth=None, substate=None, call_id=None):
    """(request text, branch) of a sender's NOTIFY from client c."""
    branch = secrets.token_hex(12)
    text = template.format(
        ruri=c.uri(), local=c.local_hostport, pbx=c.source, branch=branch,
        tag=secrets.token_hex(8), call_id=call_id or secrets.token_hex(16),
        event=event, auth=f"Authorization: {auth}\r\n" if auth else "",
        substate=f"Subscription-State: {substate}\r\n" if substate else "")
    return text, re.search(r";branch=([^;\r]+)", text).group(1)


class SenderShapeTest(DaemonTest):
    """The exact NOTIFYs of Asterisk, FreeSWITCH/FusionPBX and sipsak."""

    def exchange(self, template, event, method, challenge="off", substate=None, events=ALL_EVENTS):
        self.start(challenge=challenge, extra=[("checksync_events", events)])
        c = self.client(source=PBX)
        call_id = secrets.token_hex(16) + "@" + PBX
        text, branch = build(template, c, event, substate=substate, call_id=call_id)
        c.send(text)
        resp = c.recv(branch)
        authenticated = challenge == "on"
        if authenticated:
            self.assertStatus(resp, 401, f"first NOTIFY Event: {event}")
            auth = authorization(self.challenge_of(resp), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                                 c.uri())
            text, branch = build(template, c, event, auth=auth, substate=substate,
                                 call_id=call_id)
            c.send(text)
            resp = c.recv(branch)
        self.assertStatus(resp, 200, f"NOTIFY Event: {event}")
        calls = self.assertCalls([method])
        details = calls[0]["details"]
        self.assertEqual(details["event"], event, "the D-Bus details carry another event")
        self.assertEqual(details["authenticated"], authenticated)
        self.assertEqual(details["remote"], f"udp:{PBX}:{c.local_port}")
        self.assertEqual(details["call_id"], call_id)
        self.assertEqual(details["identity"], 1)
        return details

    # Asterisk: every section of pjsip_notify.conf.sample that asks a phone
    # to resync or reboot.
    def test_asterisk_snom_check_cfg_resyncs(self):
        self.exchange(ASTERISK, "check-sync;reboot=false", "Resync")

    def test_asterisk_snom_reboot_reboots(self):
        self.exchange(ASTERISK, "check-sync;reboot=true", "Reboot")

    def test_asterisk_cisco_polycom_digium_aastra_check_cfg_reboots(self):
        # The bare check-sync: what Snom phones do with it.
        self.exchange(ASTERISK, "check-sync", "Reboot")

    def test_asterisk_sipura_check_cfg_resyncs(self):
        self.exchange(ASTERISK, "resync", "Resync")

    def test_asterisk_linksys_cold_restart_reboots(self):
        self.exchange(ASTERISK, "reboot_now", "Reboot")

    def test_asterisk_linksys_warm_restart_reboots(self):
        self.exchange(ASTERISK, "restart_now", "Reboot")

    def test_asterisk_sipura_check_cfg_with_digest_resyncs_authenticated(self):
        self.exchange(ASTERISK, "resync", "Resync", challenge="on")

    def test_asterisk_linksys_cold_restart_with_digest_reboots_authenticated(self):
        self.exchange(ASTERISK, "reboot_now", "Reboot", challenge="on")

    # FreeSWITCH sofia_reg_send_reboot, each User-Agent's Event, with each
    # Subscription-State its releases send.
    def test_freeswitch_snom_reboot_without_subscription_state(self):
        self.exchange(FREESWITCH, "check-sync;reboot=true", "Reboot")

    def test_freeswitch_linksys_reboot_now_with_terminated(self):
        self.exchange(FREESWITCH, "reboot_now", "Reboot", substate="terminated;reason=noresource")

    def test_freeswitch_spa_reboot_with_active(self):
        self.exchange(FREESWITCH, "reboot", "Reboot", substate="active")

    def test_freeswitch_spa_reboot_with_digest_reboots_authenticated(self):
        self.exchange(FREESWITCH, "reboot", "Reboot", challenge="on",
                      substate="terminated;reason=noresource")

    def test_fusionpbx_grandstream_fanvil_htek_resync(self):
        self.exchange(FREESWITCH, "resync", "Resync", substate="terminated;reason=noresource")

    def test_fusionpbx_check_sync_reboot_false_with_digest(self):
        self.exchange(FREESWITCH, "check-sync;reboot=false", "Resync", challenge="on",
                      substate="terminated;reason=noresource")

    # sipsak -f with the seed's message (the Snom/Yealink documentation's
    # NOTIFY: no From tag, no Contact, no Max-Forwards), digest by sipsak.
    def sipsak_exchange(self, event, method):
        self.start(challenge="on", extra=[("checksync_events", ALL_EVENTS)])
        rc, out, responses = self.sipsak(password=DEFAULT_PASS, event=event)
        self.assertEqual(rc, 0, "sipsak did not get a 2xx:\n" + sipsak_summary(out))
        self.assertEqual([r.status for r in responses], [401, 200], sipsak_summary(out))
        calls = self.assertCalls([method])
        self.assertEqual(calls[0]["details"]["event"], event)
        self.assertTrue(calls[0]["details"]["authenticated"])

    def test_sipsak_resync_with_digest(self):
        self.sipsak_exchange("resync", "Resync")

    def test_sipsak_restart_now_with_digest(self):
        self.sipsak_exchange("restart_now", "Reboot")

    def test_sipsak_resync_reboot_true_with_digest_reboots(self):
        self.sipsak_exchange("resync;reboot=true", "Reboot")


# ---------------------------------------------------------------------------
# Enabled, disabled, Allow-Events

class DialectTest(DaemonTest):
    def started(self, events=None, **kw):
        extra = [("checksync_events", events)] if events is not None else []
        self.start(challenge=kw.pop("challenge", "off"), extra=extra, **kw)
        return self.client(source=PBX)

    def test_by_default_only_check_sync_is_honoured(self):
        c = self.started()
        for event in ("resync", "reboot", "reboot_now", "restart_now", "resync;reboot=true"):
            resp, _, _ = c.request(event=event)
            self.assertStatus(resp, 489, f"NOTIFY Event: {event} by default")
            self.assertEqual(resp.get("allow-events"), "check-sync", resp.raw)
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "OPTIONS")
        self.assertEqual(resp.get("allow-events"), "check-sync", resp.raw)
        self.assertCalls([])

    def test_allow_events_names_every_enabled_package_in_canonical_order(self):
        c = self.started(events="restart_now, REBOOT_NOW,reboot ,resync,check-sync")
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "OPTIONS")
        self.assertEqual(resp.get("allow-events"), ALL_ALLOW, resp.raw)
        resp, _, _ = c.request(event="presence")
        self.assertStatus(resp, 489, "NOTIFY Event: presence")
        self.assertEqual(resp.get("allow-events"), ALL_ALLOW, resp.raw)
        self.assertCalls([])

    def test_a_package_left_out_gets_489_naming_exactly_the_enabled_ones(self):
        c = self.started(events="reboot_now,resync")
        for event in ("check-sync;reboot=false", "check-sync", "reboot", "restart_now", "report"):
            resp, _, _ = c.request(event=event)
            self.assertStatus(resp, 489, f"NOTIFY Event: {event} with resync,reboot_now")
            self.assertEqual(resp.get("allow-events"), "resync, reboot_now", resp.raw)
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertEqual(resp.get("allow-events"), "resync, reboot_now", resp.raw)
        self.assertCalls([])
        resp, _, _ = c.request(event="resync")
        self.assertStatus(resp, 200, "NOTIFY Event: resync")
        resp, _, _ = c.request(event="reboot_now")
        self.assertStatus(resp, 200, "NOTIFY Event: reboot_now")
        calls = self.assertCalls(["Resync", "Reboot"])
        self.assertEqual([c["details"]["event"] for c in calls], ["resync", "reboot_now"])

    def test_package_names_compare_in_any_case_and_the_raw_header_is_passed_on(self):
        c = self.started(events="resync,reboot_now")
        resp, _, _ = c.request(event="ReSync;Reboot=FALSE")
        self.assertStatus(resp, 200, "NOTIFY Event: ReSync;Reboot=FALSE")
        resp, _, _ = c.request(event="REBOOT_NOW")
        self.assertStatus(resp, 200, "NOTIFY Event: REBOOT_NOW")
        calls = self.assertCalls(["Resync", "Reboot"])
        self.assertEqual([c["details"]["event"] for c in calls],
                         ["ReSync;Reboot=FALSE", "REBOOT_NOW"])

    def test_the_compact_form_works_for_every_dialect(self):
        c = self.started(events="resync,restart_now")
        text, branch = c.build(event=None, extra=["o: resync"])
        c.send(text)
        self.assertStatus(c.recv(branch), 200, "NOTIFY o: resync")
        text, branch = c.build(event=None, extra=["o: restart_now"])
        c.send(text)
        self.assertStatus(c.recv(branch), 200, "NOTIFY o: restart_now")
        text, branch = c.build(event=None, extra=["o: reboot"])
        c.send(text)
        resp = c.recv(branch)
        self.assertStatus(resp, 489, "NOTIFY o: reboot")
        self.assertEqual(resp.get("allow-events"), "resync, restart_now", resp.raw)
        calls = self.assertCalls(["Resync", "Reboot"])
        self.assertEqual([c["details"]["event"] for c in calls], ["resync", "restart_now"])

    def test_resync_with_reboot_true_reboots_and_a_bad_value_gets_400(self):
        c = self.started(events="resync")
        resp, _, _ = c.request(event="resync;reboot=maybe")
        self.assertStatus(resp, 400, "NOTIFY Event: resync;reboot=maybe")
        resp, _, _ = c.request(event="resync;reboot=true")
        self.assertStatus(resp, 200, "NOTIFY Event: resync;reboot=true")
        self.assertCalls(["Reboot"])

    def test_challenge_reboot_challenges_the_dialects_that_reboot(self):
        c = self.started(events=ALL_EVENTS, challenge_reboot="on")
        for event in ("reboot", "reboot_now", "restart_now", "resync;reboot=true"):
            resp, _, _ = c.request(event=event)
            self.assertStatus(resp, 401, f"NOTIFY Event: {event} with challenge_reboot on")
        resp, _, _ = c.request(event="resync")
        self.assertStatus(resp, 200, "NOTIFY Event: resync with challenge_reboot on")
        calls = self.assertCalls(["Resync"])
        self.assertFalse(calls[0]["details"]["authenticated"])

    def test_checksync_action_sync_turns_a_reboot_now_into_an_unchallenged_resync(self):
        c = self.started(events="reboot_now", challenge_reboot="on", action="sync")
        resp, _, _ = c.request(event="reboot_now")
        self.assertStatus(resp, 200, "NOTIFY Event: reboot_now with checksync_action sync")
        calls = self.assertCalls(["Resync"])
        self.assertEqual(calls[0]["details"]["event"], "reboot_now")

    def test_checksync_action_reboot_turns_a_resync_into_a_reboot(self):
        c = self.started(events="resync", action="reboot")
        resp, _, _ = c.request(event="resync")
        self.assertStatus(resp, 200, "NOTIFY Event: resync with checksync_action reboot")
        self.assertCalls(["Reboot"])

    def test_a_live_settings_change_enables_a_dialect(self):
        c = self.started()
        resp, _, _ = c.request(event="resync")
        self.assertStatus(resp, 489, "NOTIFY Event: resync by default")
        harness.write_private(self.env.settings_path, settings_xml(
            challenge="off", extra=[("checksync_events", "check-sync,resync")]))
        deadline = time.monotonic() + 3.0
        while True:
            resp, _, _ = c.request(method="OPTIONS", event=None)
            if resp is not None and resp.get("allow-events") == "check-sync, resync":
                break
            self.assertLess(time.monotonic(), deadline,
                            f"Allow-Events did not follow the settings: {resp and resp.raw}")
            time.sleep(0.05)
        resp, _, _ = c.request(event="resync")
        self.assertStatus(resp, 200, "NOTIFY Event: resync after the change")
        self.assertCalls(["Resync"])


# ---------------------------------------------------------------------------
# --check-config

class DialectConfigTest(DaemonTest):
    def check_config(self):
        proc = subprocess.run([harness.CONFIG["daemon"], "--settings", self.env.settings_path,
                               "--check-config"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=15)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def test_check_config_shows_the_enabled_packages(self):
        self.env.write_settings(settings_xml(extra=[("checksync_events", "reboot_now, resync")]))
        rc, out, err = self.check_config()
        self.assertEqual(rc, 0, self.env.redact(err))
        self.assertIn("checksync_events = resync,reboot_now (file)\n", self.env.redact(out))

    def test_check_config_refuses_an_unknown_package_with_file_and_line(self):
        xml = settings_xml(extra=[("checksync_events", "resync,reboot-now")])
        line = next(i for i, l in enumerate(xml.split("\n"), 1) if "checksync_events" in l)
        self.env.write_settings(xml)
        rc, out, err = self.check_config()
        self.assertEqual(rc, 1, self.env.redact(out + err))
        self.assertIn(f'{self.env.settings_path}:{line}: checksync_events: unknown event package '
                      f'"reboot-now"', self.env.redact(err))

    def test_check_config_refuses_an_empty_list_with_file_and_line(self):
        xml = settings_xml(extra=[("checksync_events", "")])
        line = next(i for i, l in enumerate(xml.split("\n"), 1) if "checksync_events" in l)
        self.env.write_settings(xml)
        rc, out, err = self.check_config()
        self.assertEqual(rc, 1, self.env.redact(out + err))
        self.assertIn(f"{self.env.settings_path}:{line}: checksync_events: empty",
                      self.env.redact(err))


# ---------------------------------------------------------------------------
# Kamailio as the PBX

KAMAILIO_CFG = """#!KAMAILIO
#
# A PBX that asks the phone at {phone} to resync, then to reboot, with
# uac_req_send, answering the phone's 401 with its own digest client
# ($uac_req(auser) / $uac_req(apasswd)). Written by test_dialects.py.

debug=2
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "uac.so"
loadmodule "rtimer.so"

# uac_req_send only: no dialog restoring, so no rr module.
modparam("uac", "restore_mode", "none")
modparam("pv", "shvset", "sent=i:0")
# One second after start the timer process sends both NOTIFYs, once.
modparam("rtimer", "timer", "name=notify;interval=1;mode=1;")
modparam("rtimer", "exec", "timer=notify;route=NOTIFY")

route[NOTIFY] {{
	if ($shv(sent) != 0) {{
		exit;
	}}
	$shv(sent) = 1;
	$uac_req(method) = "NOTIFY";
	$uac_req(ruri) = "sip:{user}@{phone}";
	$uac_req(furi) = "sip:kamailio@{pbx}";
	$uac_req(turi) = "sip:{user}@{phone}";
	$uac_req(auser) = "{user}";
	$uac_req(apasswd) = "{password}";
	$uac_req(evroute) = 1;
	$uac_req(hdrs) = "Event: resync\\r\\nSubscription-State: terminated\\r\\n";
	$uac_req(evparam) = "resync";
	uac_req_send();
	$uac_req(hdrs) = "Event: reboot_now\\r\\nSubscription-State: terminated\\r\\n";
	$uac_req(evparam) = "reboot_now";
	uac_req_send();
}}

event_route[uac:reply] {{
	xlog("L_NOTICE", "checksync-test: $uac_req(evparam) answered $uac_req(evcode)\\n");
}}

request_route {{
	drop;
}}
"""


def kamailio_modules():
    """Debian's Kamailio module directory (its path names the architecture)."""
    for path in sorted(glob.glob("/usr/lib/*/kamailio/modules/uac.so")):
        return os.path.dirname(path)
    return None


class KamailioTest(DaemonTest):
    def start_kamailio(self, phone_port):
        kamailio = shutil.which("kamailio") or (
            "/usr/sbin/kamailio" if os.access("/usr/sbin/kamailio", os.X_OK) else None)
        self.assertIsNotNone(kamailio, "kamailio is not installed (tools/install-deps)")
        modules = kamailio_modules()
        self.assertIsNotNone(modules, "the Kamailio modules are not installed")
        run = os.path.join(self.env.dir, "kamailio")
        os.mkdir(run)
        cfg = os.path.join(run, "kamailio.cfg")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(KAMAILIO_CFG.format(phone=f"127.0.0.1:{phone_port}", pbx=PBX,
                                        user=DEFAULT_USER, password=DEFAULT_PASS))
        self.kamailio_port = harness.free_port(PBX)
        self.kamailio_log = os.path.join(run, "kamailio.log")
        log = open(self.kamailio_log, "wb")
        self.addCleanup(log.close)
        # Its own process group: Kamailio forks workers, and the cleanup
        # ends exactly the processes this test started.
        proc = subprocess.Popen(
            [kamailio, "-DD", "-E", "-f", cfg, "-L", modules,
             "-l", f"udp:{PBX}:{self.kamailio_port}", "-P", os.path.join(run, "kamailio.pid"),
             "-Y", run, "-w", run, "-m", "32", "-M", "4"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        self.addCleanup(self.stop_kamailio, proc)
        return proc

    def stop_kamailio(self, proc):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # workers left behind, if any
        except ProcessLookupError:
            pass
        proc.wait()

    def test_kamailio_uac_req_send_resync_and_reboot_now_answer_the_challenge(self):
        self.start(challenge="on", extra=[("checksync_events", "check-sync,resync,reboot_now")])
        started = time.monotonic()
        proc = self.start_kamailio(self.env.port)
        calls = self.env.wait_calls(2, timeout=15)
        elapsed = time.monotonic() - started
        log = harness.tail(self.kamailio_log, 40)
        self.assertIsNone(proc.poll(), f"kamailio exited {proc.returncode}:\n{log}")
        self.assertEqual(sorted(c["method"] for c in calls), ["Reboot", "Resync"],
                         f"stand-in calls after {elapsed:.1f} s: {calls}\nkamailio:\n{log}")
        by_method = {c["method"]: c["details"] for c in calls}
        for method, event in (("Resync", "resync"), ("Reboot", "reboot_now")):
            details = by_method[method]
            self.assertEqual(details["event"], event)
            self.assertTrue(details["authenticated"], f"{method}: {details}")
            self.assertEqual(details["remote"], f"udp:{PBX}:{self.kamailio_port}")
            self.assertEqual(details["identity"], 1)
            self.assertTrue(details["user_agent"].startswith("kamailio ("), details)
        # Kamailio's own view: both final answers were 200.
        deadline = time.monotonic() + 5
        while True:
            text = harness.tail(self.kamailio_log, 200)
            # Each first NOTIFY was challenged, each answer served.
            done = all(f"checksync-test: {e} answered {status}" in text
                       for e in ("resync", "reboot_now") for status in (401, 200))
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertTrue(done, f"Kamailio did not see a 401 and a 200 for each NOTIFY:\n{log}")
        # No third call: each NOTIFY was served once.
        self.assertCalls([c["method"] for c in calls])
