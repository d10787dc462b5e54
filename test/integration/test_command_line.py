# SPDX-License-Identifier: MIT
"""The command line: --version, an unknown option, --check-config (the
password masked; a bad value with its file and line), a port in use, a
non-local address and an unreachable bus.
"""

import os
import socket
import subprocess
import unittest

import harness
from base import DISTINCT_PASS
from harness import DEFAULT_HOST, DEFAULT_USER, Env, settings_xml


# ---------------------------------------------------------------------------
# 16. Command line

class CommandLineTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(self._testMethodName)
        self.addCleanup(self.env.close)

    def run_daemon(self, *args, timeout=15, env_extra=None):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        if env_extra:
            env.update(env_extra)
        try:
            proc = subprocess.run([harness.CONFIG["daemon"], *args], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            self.fail(f"checksyncd {' '.join(args)} did not exit within {timeout} s "
                      f"(stderr: {self.env.redact((e.stderr or b'').decode(errors='replace'))})")
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
                proc.stderr.decode("utf-8", "replace"))

    def test_version_prints_name_and_version(self):
        rc, out, _ = self.run_daemon("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out.strip(), r"^checksyncd \d+\.\d+\.\d+")

    def test_unknown_option_exits_64(self):
        rc, _, err = self.run_daemon("--no-such-option")
        self.assertEqual(rc, 64, err)

    def test_check_config_on_a_good_file_masks_the_password(self):
        xml = settings_xml(challenge="on", identities=[dict(
            idx=1, user_name=DEFAULT_USER, user_host=DEFAULT_HOST, user_pass=DISTINCT_PASS)])
        self.env.write_settings(xml)
        rc, out, err = self.run_daemon("--settings", self.env.settings_path, "--check-config")
        self.assertEqual(rc, 0, self.env.redact(err))
        self.assertIn("user_pass[1] = ********", self.env.redact(out))
        self.assertFalse(DISTINCT_PASS in out + err, "--check-config printed the password")

    def test_check_config_on_a_bad_value_exits_1_with_file_and_line(self):
        xml = settings_xml(challenge="maybe", identities=[dict(
            idx=1, user_name=DEFAULT_USER, user_host=DEFAULT_HOST, user_pass=DISTINCT_PASS)])
        line = next(i for i, l in enumerate(xml.split("\n"), 1) if "challenge_checksync" in l)
        self.env.write_settings(xml)
        rc, out, err = self.run_daemon("--settings", self.env.settings_path, "--check-config")
        self.assertEqual(rc, 1, self.env.redact(out + err))
        self.assertIn(f"{self.env.settings_path}:{line}: ", self.env.redact(err),
                      f"expected FILE:{line}: in stderr")
        self.assertFalse(DISTINCT_PASS in out + err, "--check-config printed the password")

    def daemon_must_fail(self, listen, bus):
        env = self.env
        env.write_settings(settings_xml(challenge="off"))
        rc, _, err = self.run_daemon("--settings", env.settings_path, "--listen", listen,
                                     "--bus", bus, "--log-level", "debug")
        return rc, env.redact(err)

    def test_listen_port_in_use_exits_1(self):
        self.env.start_bus()
        self.env.start_standin()
        port = harness.free_port()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.env.sockets += [udp, tcp]
        udp.bind(("127.0.0.1", port))
        tcp.bind(("127.0.0.1", port))
        tcp.listen(1)
        rc, err = self.daemon_must_fail(f"sip:127.0.0.1:{port}", self.env.bus_address)
        self.assertEqual(rc, 1, err)
        self.assertIn(str(port), err, "the error does not name the address")

    def test_listen_on_a_non_local_address_exits_1(self):
        self.env.start_bus()
        self.env.start_standin()
        rc, err = self.daemon_must_fail("sip:192.0.2.1:5060", self.env.bus_address)
        self.assertEqual(rc, 1, err)
        self.assertIn("192.0.2.1", err, "the error does not name the address")

    def test_unreachable_bus_exits_1(self):
        rc, err = self.daemon_must_fail(f"sip:127.0.0.1:{harness.free_port()}",
                                        "unix:path=/nonexistent")
        self.assertEqual(rc, 1, err)
