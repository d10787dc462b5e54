# SPDX-License-Identifier: MIT
"""checksyncd-nua end to end: the phone's UA registers with a real
registrar, the PBX sends its check-sync down the registration's own flow,
and the UA hands it over to checksyncd.

Three network namespaces of the test's own: the phone (checksyncd, its
private bus outside, checksyncd-nua, a dnsmasq for the PBX's name), a NAT
router (nftables masquerade, and a forward filter that lets in only what
belongs to a flow the phone opened) and the PBX. Kamailio is registrar
(save("location") with digest authentication of its own) and PBX: a
control request from the test (a MESSAGE from the PBX's own address) makes
it look the phone up (lookup("location")) and send the NOTIFY with
uac_req_send to the received address over the registration's socket,
answering checksyncd's 401 with its uac digest client; it logs the
keepalive OPTIONS it receives. The PBX has no route
to the phone's LAN: nothing reaches the phone but through the flows its
REGISTERs opened. Certificates for TLS are made by the test (openssl).
"""

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
import netns
from base import DISTINCT_PASS, DaemonTest
from harness import CONFIG, DEFAULT_USER, settings_xml, tail
from test_dialects import kamailio_modules

LAN_PHONE, LAN_ROUTER = "10.77.1.2", "10.77.1.1"
WAN_ROUTER, PBX = "10.77.2.1", "10.77.2.2"
PBX_NAME = "pbx.test"
PHONE_UA_PORT = 5062  # the UA's UDP port; checksyncd's own is 5060
START_TIMEOUT = 8.0

KAMAILIO_CFG = """#!KAMAILIO
#
# Registrar and PBX for test_ua.py: REGISTERs are challenged (the
# password is the identity's) and saved with the address they came from
# (fix_nated_register: behind a NAT the Contact is not reachable); a
# MESSAGE from the PBX's own address asks it to send the NOTIFY named in
# its X-Event header to the registered phone, over the registration's
# socket.

debug=2
log_stderror=yes
fork=yes
children=1
tcp_children=1
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
enable_tls=yes
listen=udp:{pbx}:5060
listen=tcp:{pbx}:5060
listen=tls:{pbx}:5061
alias="{name}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "uac.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "nathelper.so"
loadmodule "textops.so"
loadmodule "tls.so"

modparam("tls", "config", "{tls_cfg}")
# A NOTIFY without answer is given up after 2 s (408), not 30.
modparam("tm", "fr_timer", 2000)
modparam("uac", "restore_mode", "none")
modparam("usrloc", "db_mode", 0)
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("registrar", "received_avp", "$avp(RECEIVED)")
modparam("registrar", "min_expires", 0)
modparam("registrar", "max_expires", {max_expires})

request_route {{
	force_rport();
	if (is_method("OPTIONS")) {{
		xlog("L_NOTICE", "checksync-test: OPTIONS from $proto:$si:$sp\n");
		sl_send_reply("200", "OK");
		exit;
	}}
	if (is_method("REGISTER")) {{
		if (!pv_www_authenticate("$td", "{password}", "0")) {{
			www_challenge("$td", "0");
			exit;
		}}
		fix_nated_register();
		if (!save("location")) {{
			sl_reply_error();
		}}
		xlog("L_NOTICE", "checksync-test: registered $ct from $proto:$si:$sp expires $hdr(Expires)\\n");
		exit;
	}}
	if (is_method("MESSAGE") && $si == "{pbx}") {{
		if (!lookup("location", "sip:{user}@{name}")) {{
			sl_send_reply("404", "Not registered");
			exit;
		}}
		xlog("L_NOTICE", "checksync-test: sending $hdr(X-Event) to $ru via $du from $fs\\n");
		$uac_req(method) = "NOTIFY";
		$uac_req(ruri) = $ru;
		$uac_req(ouri) = $du;
		$uac_req(sock) = $fs;
		$uac_req(furi) = "sip:pbx@{name}";
		$uac_req(turi) = "sip:{user}@{name}";
		$uac_req(auser) = "{user}";
		$uac_req(apasswd) = "{password}";
		$uac_req(evroute) = 1;
		$uac_req(evparam) = $hdr(X-Event);
		$uac_req(hdrs) = "Event: " + $hdr(X-Event) + "\\r\\nSubscription-State: terminated\\r\\n";
		# Cisco's service-control: the action, and the RegisterCallId of
		# the registration (as saved) or the one the test names.
		if (is_present_hf("X-Action")) {{
			if ($hdr(X-Register-Call-Id) == "registration") {{
				reg_fetch_contacts("location", "sip:{user}@{name}", "reg");
				$var(rcid) = $ulc(reg=>callid);
			}} else {{
				$var(rcid) = $hdr(X-Register-Call-Id);
			}}
			xlog("L_NOTICE", "checksync-test: RegisterCallId {{$var(rcid)}}\\n");
			$uac_req(hdrs) = $uac_req(hdrs) + "Content-Type: text/plain\\r\\n";
			$uac_req(body) = "action=" + $hdr(X-Action) + "\\r\\nRegisterCallId={{" + $var(rcid) + "}}\\r\\n";
		}}
		uac_req_send();
		sl_send_reply("200", "Sent");
		exit;
	}}
	drop;
}}

event_route[uac:reply] {{
	xlog("L_NOTICE", "checksync-test: $uac_req(evparam) answered $uac_req(evcode)\\n");
}}
"""

TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""

_CERTS = {}


def setUpModule():
    """Certificates for the whole module (a CA, the PBX's certificate for
    its name, and a second CA that signed nothing of the PBX's)."""
    if not shutil.which("openssl"):
        return
    workdir = tempfile.mkdtemp(prefix="csd-ua-certs-")
    _CERTS["dir"] = workdir

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=workdir, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                "-subj", f"/CN=checksyncd test {ca}")
    openssl("req", *ec, "-keyout", "pbx.key", "-out", "pbx.csr", "-subj", f"/CN={PBX_NAME}")
    with open(os.path.join(workdir, "ext"), "w", encoding="ascii") as f:
        f.write(f"subjectAltName=DNS:{PBX_NAME}\n")
    openssl("x509", "-req", "-in", "pbx.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "pbx.pem", "-days", "2", "-extfile", "ext")
    for name in ("ca", "other-ca", "pbx"):
        _CERTS[name] = os.path.join(workdir, f"{name}.pem")
    _CERTS["pbx.key"] = os.path.join(workdir, "pbx.key")


def tearDownModule():
    if "dir" in _CERTS:
        shutil.rmtree(_CERTS["dir"], ignore_errors=True)
    _CERTS.clear()


def _ip(*args):
    subprocess.run(["ip", *args], check=True, stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=10)


class NatLab:
    """phone (LAN 10.77.1.2) -- router (masquerade) -- PBX (WAN 10.77.2.2)."""

    def __init__(self):
        self.namespaces = []
        try:
            self.phone = self._netns("h17ua-phone")
            self.router = self._netns("h17ua-nat")
            self.pbx = self._netns("h17ua-pbx")
            _ip("-n", self.phone.name, "link", "add", "lan0", "type", "veth", "peer", "name",
                "lan1", "netns", self.router.name)
            _ip("-n", self.pbx.name, "link", "add", "wan0", "type", "veth", "peer", "name",
                "wan1", "netns", self.router.name)
            for ns, dev, address in ((self.phone, "lan0", LAN_PHONE),
                                     (self.router, "lan1", LAN_ROUTER),
                                     (self.router, "wan1", WAN_ROUTER),
                                     (self.pbx, "wan0", PBX)):
                _ip("-n", ns.name, "addr", "add", f"{address}/24", "dev", dev)
                _ip("-n", ns.name, "link", "set", dev, "up")
            # The phone's way out; the PBX knows only its own subnet.
            _ip("-n", self.phone.name, "route", "add", "default", "via", LAN_ROUTER)
            subprocess.run([*self.router.exec_prefix(), "sysctl", "-qw",
                            "net.ipv4.ip_forward=1"], check=True, capture_output=True,
                           timeout=10)
            rules = ("table ip nat {\n"
                     "  chain postrouting { type nat hook postrouting priority srcnat;\n"
                     "    oifname \"wan1\" masquerade; }\n"
                     "}\n"
                     "table ip filter {\n"
                     "  chain forward { type filter hook forward priority filter; policy drop;\n"
                     "    ct state established,related accept;\n"
                     "    iifname \"lan1\" oifname \"wan1\" accept; }\n"
                     "}\n")
            subprocess.run([*self.router.exec_prefix(), "nft", "-f", "-"], input=rules.encode(),
                           check=True, capture_output=True, timeout=10)
        except BaseException:
            self.close()
            raise

    def _netns(self, prefix):
        ns = netns.Netns(prefix=prefix)
        self.namespaces.append(ns)
        return ns

    def close(self):
        for ns in reversed(self.namespaces):
            ns.close()


class UaTest(DaemonTest):
    """checksyncd, checksyncd-nua and Kamailio across the NAT lab."""

    def setUp(self):
        super().setUp()
        why = netns.available()
        if why:
            self.fail(f"cannot run the UA tests: {why}")
        for tool in ("kamailio", "nft", "openssl", "dnsmasq"):
            self.assertTrue(shutil.which(tool) or os.access(f"/usr/sbin/{tool}", os.X_OK),
                            f"{tool} is not installed (tools/install-deps)")
        nua = CONFIG.get("nua")
        self.assertTrue(nua and os.access(nua, os.X_OK),
                        f"checksyncd-nua is not built ({nua}); see --nua")
        self.lab = NatLab()
        self.addCleanup(self.lab.close)
        self.env.netns = self.lab.phone
        self.dns = netns.Dnsmasq(self.lab.phone, self.env.dir, "test")
        self.dns.start({PBX_NAME: [PBX]})
        self.addCleanup(self.dns.stop)
        self.kamailio = None
        self.kamailio_log = os.path.join(self.env.dir, "kamailio.log")
        self.ua = None
        self.ua_log = os.path.join(self.env.dir, "checksyncd-nua.log")

    # -- the peers -------------------------------------------------------------

    def start_phone(self, transport, challenge="on", listen="none", events=None, trusted=None):
        """Settings, stand-in and checksyncd in the phone's namespace."""
        port = 5061 if transport == "tls" else 5060
        extra = [("checksync_events", events)] if events else []
        if trusted:
            extra.append(("checksync_trusted", trusted))
        self.start_settings(settings_xml(
            challenge=challenge, extra=extra,
            identities=[dict(idx=1, user_active="on", user_name=DEFAULT_USER,
                             user_host=f"{PBX_NAME}:{port}", user_pass=DISTINCT_PASS)]))
        self.env.start_standin()
        self.env.start_daemon(listen=listen)

    def start_settings(self, xml):
        self.env.write_settings(xml)

    def start_kamailio(self, max_expires=3600):
        modules = kamailio_modules()
        self.assertIsNotNone(modules, "the Kamailio modules are not installed")
        run = os.path.join(self.env.dir, "kamailio")
        os.mkdir(run)
        tls_cfg = os.path.join(run, "tls.cfg")
        with open(tls_cfg, "w", encoding="utf-8") as f:
            f.write(TLS_CFG.format(key=_CERTS["pbx.key"], cert=_CERTS["pbx"]))
        cfg = os.path.join(run, "kamailio.cfg")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(KAMAILIO_CFG.format(pbx=PBX, name=PBX_NAME, user=DEFAULT_USER,
                                        password=DISTINCT_PASS, tls_cfg=tls_cfg,
                                        max_expires=max_expires))
        log = open(self.kamailio_log, "wb")
        self.addCleanup(log.close)
        kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
        # Its own process group: Kamailio forks workers, and the cleanup
        # ends exactly the processes this test started.
        self.kamailio = subprocess.Popen(
            [*self.lab.pbx.exec_prefix(), kamailio, "-DD", "-E", "-f", cfg, "-L", modules,
             "-P", os.path.join(run, "kamailio.pid"), "-Y", run, "-w", run, "-m", "32",
             "-M", "4"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        self.addCleanup(self.stop_group, self.kamailio)
        # Listening once a TCP connection to its SIP port is accepted.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.assertIsNone(self.kamailio.poll(),
                              "kamailio exited:\n" + tail(self.kamailio_log))
            if self.lab.pbx.run(lambda: self._connects(PBX, 5061)):
                return
            self.assertLess(time.monotonic(), deadline,
                            "kamailio does not listen:\n" + tail(self.kamailio_log))
            time.sleep(0.05)

    @staticmethod
    def _connects(host, port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            return s.connect_ex((host, port)) == 0

    def start_ua(self, transport, ca=None, wait_registered=True, extra=()):
        args = [*self.lab.phone.exec_prefix(), CONFIG["nua"], "--settings",
                self.env.settings_path, "--transport", transport, "--bus",
                self.env.bus_address, "--log-level", "debug", *extra]
        if transport == "tls":
            args += ["--ca-file", ca or _CERTS["ca"]]
        if transport == "udp":
            args += ["--bind", f"{LAN_PHONE}:{PHONE_UA_PORT}"]
        log = open(self.ua_log, "ab")
        self.addCleanup(log.close)
        # TPORT_LOG: sofia-sip logs every message sent and received (with
        # --log-level debug): what the UA really answered.
        self.ua = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=dict(os.environ, TPORT_LOG="1"))
        self.addCleanup(harness.stop_process, self.ua)
        if wait_registered:
            self.assertTrue(self.wait_kamailio("checksync-test: registered", START_TIMEOUT),
                            "the UA did not register:\n" + tail(self.ua_log, 30) +
                            "\nkamailio:\n" + tail(self.kamailio_log, 20))

    def stop_group(self, proc):
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

    # -- what happens ----------------------------------------------------------

    def trigger(self, event, headers=""):
        """The control request: Kamailio sends NOTIFY Event: `event` to the
        registered phone (`headers`: X-Action and X-Register-Call-Id for a
        service-control body)."""
        def send():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((PBX, 0))
                s.settimeout(3)
                port = s.getsockname()[1]
                branch = "z9hG4bK" + os.urandom(6).hex()
                s.sendto((f"MESSAGE sip:control@{PBX}:5060 SIP/2.0\r\n"
                          f"Via: SIP/2.0/UDP {PBX}:{port};branch={branch}\r\n"
                          f"From: <sip:test@{PBX}>;tag=t{branch[-6:]}\r\n"
                          f"To: <sip:control@{PBX}>\r\nCall-ID: {branch}@test\r\n"
                          f"CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nX-Event: {event}\r\n{headers}"
                          f"Content-Length: 0\r\n\r\n").encode(), (PBX, 5060))
                return s.recv(4096).decode("utf-8", "replace").split("\r\n", 1)[0]
        status = self.lab.pbx.run(send)
        self.assertEqual(status, "SIP/2.0 200 Sent",
                         "Kamailio did not send the NOTIFY:\n" + tail(self.kamailio_log, 20))

    def kamailio_text(self):
        return tail(self.kamailio_log, 400)

    def wait_kamailio(self, needle, timeout=6.0, count=1):
        deadline = time.monotonic() + timeout
        while True:
            if self.kamailio_text().count(needle) >= count:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def answers(self, event):
        """The statuses Kamailio's uac saw for the NOTIFYs of `event`, in order."""
        prefix = f"checksync-test: {event} answered "
        return [int(line.split(prefix, 1)[1].split()[0])
                for line in self.kamailio_text().splitlines() if prefix in line]

    def assertKamailioSaw(self, event, statuses):
        deadline = time.monotonic() + 8
        while self.answers(event) != statuses and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.answers(event), statuses,
                         f"Kamailio's answers to {event}:\n{self.kamailio_text()[-3000:]}"
                         f"\nchecksyncd-nua:\n{tail(self.ua_log, 30)}")

    def ua_sent_answers(self):
        """The status lines of the answers the UA sent, from its TPORT_LOG:
        each message is logged as "send N bytes to ..." then its lines."""
        answers, sending, first = [], False, False
        with open(self.ua_log, encoding="utf-8", errors="replace") as f:
            for line in f.read().splitlines():
                if "sofia-sip: send " in line or "sofia-sip: recv " in line:
                    sending, first = "sofia-sip: send " in line, True
                elif first and "sofia-sip:    " in line:
                    text = line.split("sofia-sip:    ", 1)[1]
                    if sending and text.startswith("SIP/2.0 "):
                        answers.append(text)
                    first = False
        return answers

    def assertHandedOver(self, transport, method, authenticated):
        calls = self.assertCalls([method])
        details = calls[0]["details"]
        port = 5061 if transport == "tls" else 5060
        self.assertEqual(details["remote"], f"{transport}:{PBX}:{port}", details)
        self.assertEqual(details["identity"], 1, details)
        self.assertIs(details["authenticated"], authenticated, details)
        self.assertTrue(details["user_agent"].startswith("kamailio ("), details)
        return details

    def registered_from(self):
        """proto:address:port of the registration as Kamailio saw it."""
        for line in self.kamailio_text().splitlines():
            if "checksync-test: registered " in line:
                return line.split(" from ", 1)[1].split()[0]
        return None

    def stop_ua(self):
        """SIGTERM the UA; it un-registers and exits 0."""
        self.ua.send_signal(signal.SIGTERM)
        try:
            status = self.ua.wait(8)
        except subprocess.TimeoutExpired:
            status = None
        self.assertEqual(status, 0, "checksyncd-nua did not exit 0 after SIGTERM:\n" +
                         tail(self.ua_log, 20))

    def tearDown(self):
        # The password is in no log line of the UA's.
        if self.ua is not None:
            harness.stop_process(self.ua)
            with open(self.ua_log, encoding="utf-8", errors="replace") as f:
                text = f.read()
            self.assertFalse(DISTINCT_PASS in text, "the password is in checksyncd-nua's log")
        super().tearDown()


class UaFlowTest(UaTest):
    def test_udp_behind_a_nat_the_port_is_unreachable_and_the_hand_off_serves_the_challenged_check_sync(self):
        self.start_phone("udp", challenge="on", listen=f"sip:{LAN_PHONE}:5060")
        self.start_kamailio()
        self.start_ua("udp")
        # Registered through the NAT: the registrar saw the router's address.
        source = self.registered_from()
        self.assertTrue(source and source.startswith(f"udp:{WAN_ROUTER}:"), source)
        # checksyncd's own port cannot be reached from the PBX.
        def unreachable():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.sendto(b"OPTIONS sip:x SIP/2.0\r\n\r\n", (LAN_PHONE, 5060))
                except OSError as e:
                    return e.errno
                return 0
        self.assertEqual(self.lab.pbx.run(unreachable), errno.ENETUNREACH)
        self.trigger("check-sync;reboot=false")
        self.assertKamailioSaw("check-sync;reboot=false", [401, 200])
        self.assertHandedOver("udp", "Resync", authenticated=True)

    def test_udp_behind_a_nat_without_challenge(self):
        self.start_phone("udp", challenge="off", events="check-sync,resync")
        self.start_kamailio()
        self.start_ua("udp")
        self.trigger("resync")
        self.assertKamailioSaw("resync", [200])
        self.assertHandedOver("udp", "Resync", authenticated=False)

    def test_udp_flow_is_kept_with_keepalives_and_refreshed_before_it_expires(self):
        self.start_phone("udp", challenge="off")
        # The registrar grants 10 s whatever is asked for.
        self.start_kamailio(max_expires=10)
        self.start_ua("udp", extra=["--keepalive", "5"])
        registered = time.monotonic()
        self.assertTrue(self.wait_kamailio("checksync-test: OPTIONS from udp:", 8.0),
                        "no keepalive through the NAT:\n" + self.kamailio_text()[-2000:])
        # The refresh: a while after the first registration (not the
        # immediate second REGISTER that nua's NAT detection may send),
        # before the 10 s have run out.
        self.assertTrue(self.wait_kamailio("checksync-test: registered", 10.0, count=2),
                        "no REGISTER refreshing the binding:\n" + self.kamailio_text()[-2000:])
        elapsed = time.monotonic() - registered
        self.assertGreater(elapsed, 2.0, "a second REGISTER at once: " + self.kamailio_text())
        self.assertLess(elapsed, 10.0, "refreshed only after the binding expired")
        # Still reachable down the same binding.
        self.trigger("check-sync;reboot=false")
        self.assertKamailioSaw("check-sync;reboot=false", [200])
        self.assertHandedOver("udp", "Resync", authenticated=False)

    def test_tcp_flow_serves_a_dialect_without_challenge_and_refuses_other_packages(self):
        self.start_phone("tcp", challenge="off", events="check-sync,reboot_now")
        self.start_kamailio()
        self.start_ua("tcp")
        source = self.registered_from()
        self.assertTrue(source and source.startswith(f"tcp:{WAN_ROUTER}:"), source)
        # Over TCP the UA listens on no port: every connection is its own.
        listening = subprocess.run([*self.lab.phone.exec_prefix(), "ss", "-Htlnp"],
                                   capture_output=True, text=True, timeout=10).stdout
        self.assertNotIn("checksyncd-nua", listening)
        self.trigger("reboot_now")
        self.assertKamailioSaw("reboot_now", [200])
        self.assertHandedOver("tcp", "Reboot", authenticated=False)
        self.trigger("presence")
        self.assertKamailioSaw("presence", [489])
        self.assertCalls(["Reboot"])

    def test_a_service_control_carrying_the_registrations_call_id_is_served_another_refused(self):
        self.start_phone("tcp", challenge="off", events="check-sync,service-control")
        self.start_kamailio()
        self.start_ua("tcp")
        self.trigger("service-control", "X-Action: prt-report\r\n"
                     "X-Register-Call-Id: registration\r\n")
        self.assertKamailioSaw("service-control", [200])
        calls = self.assertCalls(["Report"])
        self.assertEqual(calls[0]["details"]["remote"], f"tcp:{PBX}:5060")
        # Another phone's registration: checksyncd refuses it.
        self.trigger("service-control", "X-Action: prt-report\r\n"
                     "X-Register-Call-Id: someone-else@192.0.2.7\r\n")
        self.assertKamailioSaw("service-control", [200, 400])
        self.assertCalls(["Report"])

    def test_tcp_flow_with_challenge(self):
        self.start_phone("tcp", challenge="on")
        self.start_kamailio()
        self.start_ua("tcp")
        self.trigger("check-sync;reboot=true")
        self.assertKamailioSaw("check-sync;reboot=true", [401, 200])
        self.assertHandedOver("tcp", "Reboot", authenticated=True)
        self.assertEqual(self.ua_sent_answers(), ["SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK"])
        # Stopped, it takes its registration back.
        self.stop_ua()
        self.assertTrue(self.wait_kamailio("expires 0", 3.0),
                        "no un-REGISTER:\n" + self.kamailio_text()[-2000:])

    def test_tls_flow_to_a_verified_registrar_with_challenge(self):
        self.start_phone("tls", challenge="on")
        self.start_kamailio()
        self.start_ua("tls")
        source = self.registered_from()
        self.assertTrue(source and source.startswith(f"tls:{WAN_ROUTER}:"), source)
        self.trigger("check-sync;reboot=false")
        self.assertKamailioSaw("check-sync;reboot=false", [401, 200])
        self.assertHandedOver("tls", "Resync", authenticated=True)
        # checksyncd's status shows the hand-over and its transport.
        proc = subprocess.run(["busctl", f"--address={self.env.bus_address}", "--timeout=5",
                               "--json=short", "get-property", "org.checksyncd.CheckSync1",
                               "/org/checksyncd/CheckSync1", "org.checksyncd.CheckSync1",
                               "LastCheckSync"], capture_output=True, timeout=15, check=True)
        last = {key: value["data"] for key, value in json.loads(proc.stdout)["data"].items()}
        self.assertEqual((last["remote"], last["transport"], last["handed_over"]),
                         (f"tls:{PBX}:5061", "tls", True), last)

    def test_tls_flow_without_challenge(self):
        self.start_phone("tls", challenge="off")
        self.start_kamailio()
        self.start_ua("tls")
        self.trigger("check-sync;reboot=false")
        self.assertKamailioSaw("check-sync;reboot=false", [200])
        self.assertHandedOver("tls", "Resync", authenticated=False)

    def test_a_source_the_filter_does_not_trust_is_served_over_the_tcp_registrar_flow(self):
        # Only 192.0.2.99 is trusted: the PBX's address is not, but the
        # NOTIFY came over the registration's own connection.
        self.start_phone("tcp", challenge="off", trusted="192.0.2.99")
        self.start_kamailio()
        self.start_ua("tcp")
        self.trigger("check-sync;reboot=false")
        self.assertKamailioSaw("check-sync;reboot=false", [200])
        self.assertHandedOver("tcp", "Resync", authenticated=False)

    def test_over_udp_the_flow_does_not_vouch_and_a_dropped_notify_gets_no_answer(self):
        self.start_phone("udp", challenge="off", trusted="192.0.2.99")
        self.start_kamailio()
        self.start_ua("udp")
        self.trigger("check-sync;reboot=false")
        # checksyncd drops it (status 0); the UA leaves it unanswered, and
        # Kamailio's transaction times out.
        self.assertKamailioSaw("check-sync;reboot=false", [408])
        self.assertCalls([])
        with open(self.ua_log, encoding="utf-8", errors="replace") as f:
            self.assertIn("checksyncd answers nothing", f.read())

    def test_tls_registrar_whose_certificate_does_not_chain_to_the_ca_is_never_registered(self):
        self.start_phone("tls", challenge="off")
        self.start_kamailio()
        self.start_ua("tls", ca=_CERTS["other-ca"], wait_registered=False)
        self.assertFalse(self.wait_kamailio("checksync-test: registered", 3.0),
                         "the UA registered over a TLS connection it could not verify")
        self.assertIsNone(self.ua.poll(), "checksyncd-nua exited")

    def test_without_checksyncd_the_ua_answers_503(self):
        self.start_settings(settings_xml(challenge="off", identities=[dict(
            idx=1, user_active="on", user_name=DEFAULT_USER, user_host=f"{PBX_NAME}:5060",
            user_pass=DISTINCT_PASS)]))
        self.env.start_bus()
        self.start_kamailio()
        self.start_ua("tcp")
        self.trigger("check-sync;reboot=false")
        self.assertKamailioSaw("check-sync;reboot=false", [503])
        with open(self.ua_log, encoding="utf-8", errors="replace") as f:
            self.assertIn("org.freedesktop.DBus.Error.ServiceUnknown", f.read())


if __name__ == "__main__":
    unittest.main()
