# SPDX-License-Identifier: MIT
"""checksyncd's own D-Bus object (issue 11): org.checksyncd.CheckSync1 read
with busctl on the test's private bus after each kind of request, its
PropertiesChanged signals watched with `busctl monitor` (and counted under a
flood), Unlock, and the provisioning process's ActionFinished."""

import json
import os
import select
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

from base import DaemonTest
from harness import (DEFAULT_PASS, DEFAULT_USER, authorization, settings_xml, stop_process,
                     write_private)

SERVICE = "org.checksyncd.CheckSync1"
OBJECT = "/org/checksyncd/CheckSync1"
INTERFACE = "org.checksyncd.CheckSync1"
PROPERTIES = ["State", "SettingsFile", "SettingsError", "Listening", "LastCheckSync",
              "Counters", "LockedOut", "PlugAndPlay"]
COUNTERS = ["received", "served", "challenged", "auth_failures", "refused", "locked_out",
            "dropped_by_filter", "handed_over", "dropped_in_kernel", "shed", "silenced"]
INTERFACE_XML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc",
                             "org.checksyncd.CheckSync1.xml")
NOBODY = 65534


def realtime_us():
    return time.clock_gettime_ns(time.CLOCK_REALTIME) // 1000


def plain(value):
    """busctl's JSON {"type": T, "data": D} as plain Python, variants
    (the values of an a{sv}) unwrapped."""
    kind, data = value["type"], value["data"]
    if kind == "a{sv}":
        return {key: plain(inner) for key, inner in data.items()}
    return data


def counters(**nonzero):
    out = {name: 0 for name in COUNTERS}
    out.update(nonzero)
    return out


class BusMonitor:
    """`busctl monitor` of the status service: every PropertiesChanged it
    emits, with the time busctl's socket received it (CLOCK_REALTIME us, the
    kernel's stamp: not delayed when this process is slow to read)."""

    def __init__(self, env):
        self.signals = []  # (realtime us, {property: plain value})
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["busctl", f"--address={env.bus_address}", "monitor", "--json=short", SERVICE],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        env.cleanups.append(self.stop)
        # busctl says so on stderr once it is a monitor.
        deadline = time.monotonic() + 5.0
        err = b""
        while b"Monitoring" not in err:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stderr], [], [], max(left, 0))
            chunk = os.read(self.proc.stderr.fileno(), 4096) if ready else b""
            if not chunk:
                raise AssertionError(f"busctl monitor did not start: {err!r}")
            err += chunk
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if (message.get("type") == "signal" and message.get("member") == "PropertiesChanged"
                    and message.get("path") == OBJECT):
                interface, changed, _ = message["payload"]["data"]
                if interface == INTERFACE:
                    values = {name: plain(value) for name, value in changed.items()}
                    stamp = message.get("timestamp-realtime") or realtime_us()
                    with self._lock:
                        self.signals.append((stamp, values))

    def seen(self):
        with self._lock:
            return list(self.signals)

    def wait_for(self, predicate, timeout=3.0, what="a PropertiesChanged signal"):
        """The first signal whose changed properties satisfy predicate."""
        deadline = time.monotonic() + timeout
        while True:
            for _, values in self.seen():
                if predicate(values):
                    return values
            if time.monotonic() >= deadline:
                raise AssertionError(f"no PropertiesChanged with {what} within {timeout} s; "
                                     f"seen: {[v for _, v in self.seen()]}")
            time.sleep(0.02)

    def stop(self):
        stop_process(self.proc)
        self.proc.stdout.close()
        self.proc.stderr.close()


class StatusBase(DaemonTest):
    def setUp(self):
        super().setUp()
        self.env.cleanups = []
        self.addCleanup(lambda: [stop() for stop in self.env.cleanups])

    def busctl(self, *args, user=None, check=True):
        command = ["busctl", f"--address={self.env.bus_address}", "--timeout=5", *args]
        if user is not None:
            command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                       *command]
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=15)
        if check and proc.returncode != 0:
            self.fail(f"{' '.join(args)}: exit {proc.returncode}: "
                      f"{proc.stderr.decode(errors='replace')}")
        return proc

    def properties(self, user=None):
        """Every property, with one GetAll."""
        proc = self.busctl("--json=short", "call", SERVICE, OBJECT,
                           "org.freedesktop.DBus.Properties", "GetAll", "s", INTERFACE,
                           user=user)
        values = json.loads(proc.stdout)["data"][0]
        props = {name: plain(value) for name, value in values.items()}
        self.assertEqual(sorted(props), sorted(PROPERTIES))
        return props

    def property(self, name):
        proc = self.busctl("--json=short", "get-property", SERVICE, OBJECT, INTERFACE, name)
        return plain(json.loads(proc.stdout))

    def monitor(self):
        return BusMonitor(self.env)

    def unlock(self, source):
        """dbus-send, which names the D-Bus error: (exit status, output)."""
        proc = subprocess.run(
            ["dbus-send", f"--bus={self.env.bus_address}", "--print-reply",
             f"--dest={SERVICE}", OBJECT, f"{INTERFACE}.Unlock", f"string:{source}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=15)
        return proc.returncode, proc.stdout.decode(errors="replace")

    def assertLast(self, last, **expected):
        for key, value in expected.items():
            self.assertEqual(last.get(key), value, f"LastCheckSync[{key!r}] in {last}")


class StatusPropertiesTest(StatusBase):
    def test_at_start_the_object_shows_the_settings_and_the_listen_uris(self):
        self.start(challenge="off")
        props = self.properties()
        self.assertEqual(props["State"], "serving")
        self.assertEqual(props["SettingsFile"], self.env.settings_path)
        self.assertEqual(props["SettingsError"], "")
        self.assertEqual(props["Listening"], [self.env.listen])
        self.assertEqual(props["LastCheckSync"], {})
        self.assertEqual(props["Counters"], counters())
        self.assertEqual(props["LockedOut"], {})

    def test_the_object_matches_the_shipped_interface_xml(self):
        self.start(challenge="off")
        live = ET.fromstring(self.busctl("introspect", "--xml-interface", SERVICE,
                                         OBJECT).stdout)
        shipped = ET.parse(INTERFACE_XML).getroot()

        def members(root):
            iface = next(i for i in root.iter("interface") if i.get("name") == INTERFACE)
            props = {p.get("name"): (p.get("type"), p.get("access"))
                     for p in iface.iter("property")}
            methods = {m.get("name"): [(a.get("name"), a.get("type"), a.get("direction", "in"))
                                       for a in m.iter("arg")]
                       for m in iface.iter("method")}
            return props, methods

        self.assertEqual(members(live), members(shipped))
        self.assertEqual(sorted(members(live)[0]), sorted(PROPERTIES))
        # Every property announces its changes with the new value.
        table = self.busctl("introspect", SERVICE, OBJECT, INTERFACE).stdout.decode()
        for name in PROPERTIES:
            row = next((line for line in table.splitlines() if line.startswith(f".{name} ")),
                       "")
            self.assertTrue(row.rstrip().endswith("emits-change"), f"{name}: {row!r}")

    def test_a_served_check_sync(self):
        self.start(challenge="off")
        monitor = self.monitor()
        c = self.client()
        before = realtime_us()
        resp, _, _ = c.request(call_id="served-status@127.0.0.1")
        after = realtime_us()
        self.assertStatus(resp, 200)
        self.assertCalls(["Resync"])
        props = self.properties()
        self.assertEqual(props["Counters"], counters(received=1, served=1))
        last = props["LastCheckSync"]
        self.assertLast(last, remote=f"udp:127.0.0.1:{c.local_port}", transport="udp",
                        handed_over=False, identity=1,
                        event="check-sync;reboot=false", action="Resync", authenticated=False,
                        call_id="served-status@127.0.0.1", sip_status=200,
                        provisioning="accepted", provisioning_error="")
        self.assertTrue(before <= last["time"] <= after, f"{before} <= {last['time']} <= {after}")
        self.assertNotIn("result", last)
        monitor.wait_for(lambda v: v.get("LastCheckSync", {}).get("sip_status") == 200,
                         what="LastCheckSync answered 200")
        monitor.wait_for(lambda v: v.get("Counters", {}).get("served") == 1,
                         what="Counters served 1")

    def test_a_challenged_then_authenticated_check_sync(self):
        self.start(challenge="on")
        monitor = self.monitor()
        c = self.client()
        first, _, _ = c.request(call_id="challenged@127.0.0.1")
        self.assertStatus(first, 401)
        props = self.properties()
        self.assertEqual(props["Counters"], counters(received=1, challenged=1))
        self.assertLast(props["LastCheckSync"], sip_status=401, provisioning="not-asked",
                        authenticated=False, action="Resync", identity=1,
                        call_id="challenged@127.0.0.1")
        monitor.wait_for(lambda v: v.get("LastCheckSync", {}).get("sip_status") == 401,
                         what="LastCheckSync answered 401")

        auth = authorization(self.challenge_of(first), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                             c.uri())
        ok, _, _ = c.request(call_id="challenged@127.0.0.1", cseq=2, auth=auth)
        self.assertStatus(ok, 200)
        self.assertCalls(["Resync"])
        props = self.properties()
        self.assertEqual(props["Counters"], counters(received=2, challenged=1, served=1))
        self.assertLast(props["LastCheckSync"], sip_status=200, provisioning="accepted",
                        authenticated=True)
        monitor.wait_for(lambda v: v.get("LastCheckSync", {}).get("authenticated") is True,
                         what="an authenticated LastCheckSync")

    def test_a_wrong_password_counts_as_an_authentication_failure(self):
        self.start(challenge="on")
        monitor = self.monitor()
        resp = self.wrong_answer(self.client())
        self.assertStatus(resp, 401, "wrong password")
        props = self.properties()
        self.assertEqual(props["Counters"], counters(received=2, challenged=2, auth_failures=1))
        self.assertLast(props["LastCheckSync"], sip_status=401, provisioning="not-asked")
        self.assertEqual(props["LockedOut"], {})
        monitor.wait_for(lambda v: v.get("Counters", {}).get("auth_failures") == 1,
                         what="Counters auth_failures 1")
        self.assertCalls([])

    def test_refusals_are_counted_and_only_check_syncs_are_the_last_check_sync(self):
        self.start(challenge="off")
        c = self.client()
        resp, _, _ = c.request(method="OPTIONS", event=None)
        self.assertStatus(resp, 200, "OPTIONS")
        self.assertEqual(self.property("Counters"), counters(received=1))
        for kw, status in ((dict(event="presence"), 489), (dict(event=None), 400),
                           (dict(method="INFO", event=None), 405)):
            resp, _, _ = c.request(**kw)
            self.assertStatus(resp, status, str(kw))
        props = self.properties()
        self.assertEqual(props["Counters"], counters(received=4, refused=3))
        self.assertEqual(props["LastCheckSync"], {})
        # A check-sync for a user the phone does not have: 404.
        resp, _, _ = c.request(ruri=c.uri("nobody"), call_id="unknown-user@127.0.0.1")
        self.assertStatus(resp, 404, "check-sync for an unknown user")
        props = self.properties()
        self.assertEqual(props["Counters"], counters(received=5, refused=4))
        self.assertLast(props["LastCheckSync"], sip_status=404, identity=0,
                        provisioning="not-asked", call_id="unknown-user@127.0.0.1")
        self.assertCalls([])

    def test_a_failing_provisioning_process_shows_in_last_check_sync(self):
        self.start(challenge="off", fail="all")
        resp, _, _ = self.client().request()
        self.assertStatus(resp, 503)
        self.assertCalls(["Resync"])
        props = self.properties()
        self.assertEqual(props["Counters"], counters(received=1, refused=1))
        self.assertLast(props["LastCheckSync"], sip_status=503, provisioning="failed",
                        provisioning_error="org.checksyncd.Provisioning1.Error.Failed")


class StatusSettingsTest(StatusBase):
    def test_no_settings_then_good_settings_then_a_refused_file(self):
        self.env.write_settings("<settings><phone-settings>\n")
        self.start(write=False)
        monitor = self.monitor()
        props = self.properties()
        self.assertEqual(props["State"], "no-settings")
        self.assertTrue(props["SettingsError"].startswith(f"{self.env.settings_path}:"),
                        props["SettingsError"])
        c = self.client()
        resp, _, _ = c.request(call_id="no-settings@127.0.0.1")
        self.assertStatus(resp, 503, "check-sync without settings")
        props = self.properties()
        self.assertEqual(props["Counters"], counters(received=1, refused=1))
        self.assertLast(props["LastCheckSync"], sip_status=503, action="", identity=0,
                        provisioning="not-asked", call_id="no-settings@127.0.0.1")

        write_private(self.env.settings_path, settings_xml(challenge="off"))
        monitor.wait_for(lambda v: v.get("State") == "serving" and v.get("SettingsError") == "",
                         what="State serving, SettingsError empty")
        self.assertEqual(self.property("State"), "serving")

        bad = settings_xml(challenge="maybe")
        line = next(i for i, text in enumerate(bad.split("\n"), 1)
                    if "challenge_checksync" in text)
        write_private(self.env.settings_path, bad)
        prefix = f"{self.env.settings_path}:{line}: "
        changed = monitor.wait_for(lambda v: v.get("SettingsError", "").startswith(prefix),
                                   what=f"SettingsError {prefix}...")
        self.assertNotIn("State", changed, "the last good settings stay in force")
        props = self.properties()
        self.assertEqual(props["State"], "serving")
        self.assertTrue(props["SettingsError"].startswith(prefix), props["SettingsError"])

    def test_stopping_is_announced(self):
        self.start(challenge="off")
        monitor = self.monitor()
        status, _ = self.env.stop_daemon()
        self.assertEqual(status, 0)
        monitor.wait_for(lambda v: v.get("State") == "stopping", what="State stopping")


class LockoutTest(StatusBase):
    def test_a_lockout_is_shown_and_unlock_lifts_it(self):
        self.start(challenge="on")
        monitor = self.monitor()
        attacker = self.client(source="127.0.0.2")
        for i in range(5):
            self.assertStatus(self.wrong_answer(attacker), 401, f"wrong answer {i + 1}")
        locked_at = realtime_us()
        resp, _, _ = attacker.request()
        self.assertStatus(resp, 403, "NOTIFY from the locked-out address")

        props = self.properties()
        self.assertEqual(list(props["LockedOut"]), ["127.0.0.2"])
        until = props["LockedOut"]["127.0.0.2"]
        # Locked for 60 s from the fifth failure (CLOCK_REALTIME us).
        self.assertAlmostEqual(until, locked_at + 60_000_000, delta=2_000_000)
        self.assertEqual(props["Counters"], counters(received=11, challenged=10, auth_failures=5,
                                                     refused=1, locked_out=1))
        self.assertLast(props["LastCheckSync"], sip_status=403, provisioning="not-asked")
        monitor.wait_for(lambda v: "127.0.0.2" in v.get("LockedOut", {}),
                         what="LockedOut with 127.0.0.2")

        rc, out = self.unlock("127.0.0.2")
        self.assertEqual(rc, 0, out)
        props = self.properties()
        self.assertEqual(props["LockedOut"], {})
        self.assertEqual(props["Counters"]["locked_out"], 0)
        monitor.wait_for(lambda v: v.get("LockedOut") == {} and
                         v.get("Counters", {}).get("locked_out") == 0,
                         what="LockedOut empty again")
        self.assertTrue(self.env.wait_log("lockout lifted: source=127.0.0.2"),
                        "no log line for the Unlock")
        resp, _, _ = attacker.request()
        self.assertStatus(resp, 401, "NOTIFY from the unlocked address")

        rc, out = self.unlock("127.0.0.2")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("org.checksyncd.CheckSync1.Error.NotLockedOut", out)
        rc, out = self.unlock("pbx.example.com")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("org.freedesktop.DBus.Error.InvalidArgs", out)
        self.assertCalls([])

    def test_another_user_may_read_the_status_but_not_unlock(self):
        """The daemon's own check behind the bus policy: a bus that lets
        everyone call everything still gets AccessDenied from checksyncd."""
        if os.geteuid() != 0:
            self.skipTest("needs root, to call as another user (setpriv)")
        if not shutil.which("setpriv"):
            self.fail("setpriv is not installed")
        config = os.path.join(self.env.dir, "open-bus.conf")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>{self.env.bus_address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""")
        self.env.start_bus(config=config)
        # The test's folder is private: let the other user reach the socket.
        os.chmod(self.env.dir, 0o711)
        os.chmod(self.env.bus_path, 0o777)
        self.start(challenge="on")
        attacker = self.client(source="127.0.0.2")
        for i in range(5):
            self.assertStatus(self.wrong_answer(attacker), 401, f"wrong answer {i + 1}")

        props = self.properties(user=NOBODY)
        self.assertEqual(list(props["LockedOut"]), ["127.0.0.2"])
        proc = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             "dbus-send", f"--bus={self.env.bus_address}", "--print-reply", f"--dest={SERVICE}",
             OBJECT, f"{INTERFACE}.Unlock", "string:127.0.0.2"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=15)
        out = proc.stdout.decode(errors="replace")
        self.assertNotEqual(proc.returncode, 0, out)
        # The error comes from checksyncd, not from the bus.
        self.assertIn("org.freedesktop.DBus.Error.AccessDenied: only root may lift a lockout",
                      out)
        self.assertEqual(list(self.property("LockedOut")), ["127.0.0.2"])
        # Root may.
        self.busctl("call", SERVICE, OBJECT, INTERFACE, "Unlock", "s", "127.0.0.2")
        self.assertEqual(self.property("LockedOut"), {})


class ActionFinishedTest(StatusBase):
    def test_action_finished_is_logged_and_shown_in_last_check_sync(self):
        self.start(challenge="off",
                   standin_args=["--finish", "success", "--finish-message", "applied 12 settings"])
        monitor = self.monitor()
        resp, _, _ = self.client().request(call_id="finished@127.0.0.1")
        self.assertStatus(resp, 200)
        line = ('action finished: action=Resync result=success call_id="finished@127.0.0.1" '
                'message="applied 12 settings"')
        self.assertTrue(self.env.wait_log(line), f"no log line {line!r}")
        changed = monitor.wait_for(lambda v: "result" in v.get("LastCheckSync", {}),
                                   what="a LastCheckSync with the result")
        self.assertLast(changed["LastCheckSync"], result="success",
                        result_message="applied 12 settings", call_id="finished@127.0.0.1")
        last = self.property("LastCheckSync")
        self.assertLast(last, result="success", result_message="applied 12 settings",
                        sip_status=200, provisioning="accepted")
        self.assertGreaterEqual(last["result_time"], last["time"])

    def test_a_failure_is_logged_bounded_on_one_line_and_a_forged_one_is_ignored(self):
        message = "download failed:\n" + "x" * 1000
        self.start(challenge="off",
                   standin_args=["--finish", "failure", "--finish-message", message])
        resp, _, _ = self.client().request(call_id="failed@127.0.0.1")
        self.assertStatus(resp, 200)
        self.assertTrue(self.env.wait_log('result=failure call_id="failed@127.0.0.1"'),
                        "no ActionFinished log line")
        line = next(l for l in self.env.daemon_log().splitlines() if "result=failure" in l)
        self.assertIn('message="download failed:?xxx', line)
        self.assertLess(len(line), 700, line)
        last = self.property("LastCheckSync")
        self.assertLast(last, result="failure")
        self.assertTrue(last["result_message"].startswith("download failed:?x"),
                        last["result_message"])
        self.assertLessEqual(len(last["result_message"].encode()), 256)

        # Anyone may send a signal to the daemon's own connection: that is
        # not the provisioning process's broadcast.
        self.busctl("emit", f"--destination={SERVICE}", "/org/checksyncd/Provisioning1",
                    "org.checksyncd.Provisioning1", "ActionFinished", "ssbs", "Resync",
                    "failed@127.0.0.1", "true", "counterfeit-result-7f3")
        self.busctl("emit", "/org/checksyncd/Provisioning1", "org.checksyncd.Provisioning1",
                    "ActionFinished", "ssbs", "Resync", "failed@127.0.0.1", "true",
                    "counterfeit-result-7f3")
        self.settle(0.5)
        self.assertNotIn("counterfeit-result-7f3", self.env.daemon_log())
        self.assertLast(self.property("LastCheckSync"), result="failure")


class FloodSignalTest(StatusBase):
    def test_a_flood_of_10000_datagrams_gives_a_bounded_number_of_signals(self):
        self.start(challenge="on")
        monitor = self.monitor()
        c = self.client()
        # The source proves it receives our answers (a wrong answer with a
        # nonce of ours): then it gets every answer at any rate, where an
        # unproven one gets them at a bounded rate (docs/security.md).
        self.assertStatus(self.wrong_answer(c), 401)
        proof = 2  # the two requests of wrong_answer(), both challenged
        total, window = 10_000, 64
        started = realtime_us()
        sent, answered = 0, 0
        while answered < total:
            while sent < total and sent - answered < window:
                text, _ = c.build(cseq=sent + 1)
                c.send(text)
                sent += 1
            if c.recv(timeout=6.0) is None:
                self.fail(f"no answer after {answered} of {sent} datagrams")
            answered += 1
            c.responses.clear()  # 10 000 responses need not be kept
        flood_end = realtime_us()
        # The last counts arrive within one interval (250 ms).
        final = monitor.wait_for(
            lambda v: v.get("Counters", {}).get("received") == total + proof,
            what=f"Counters received {total + proof}")
        self.assertEqual(final["Counters"]["challenged"], total + proof)
        signals = [t for t, _ in monitor.seen() if started <= t]
        elapsed = (signals[-1] - started) / 1e6
        bound = elapsed / 0.25 + 2
        print(f"\nstatus flood: {total} datagrams in {(flood_end - started) / 1e6:.2f} s, "
              f"{len(signals)} PropertiesChanged in {elapsed:.2f} s (bound {bound:.0f})",
              flush=True)
        self.assertLessEqual(len(signals), bound)
        # At least the one carrying the totals (a fast machine may take the
        # whole flood in before the first signal's timer runs).
        self.assertGreaterEqual(len(signals), 1)
        self.assertEqual(self.property("Counters"),
                         counters(received=total + proof, challenged=total + proof,
                                  auth_failures=1))
