# SPDX-License-Identifier: MIT
"""The settings at start and on reload: a missing or malformed file is
answered 503 until a good file and SIGHUP; SIGHUP turns the challenge on.
"""

import signal

from base import DaemonTest
from harness import settings_xml


# ---------------------------------------------------------------------------
# 11-12. Settings at start and reload

class SettingsLifecycleTest(DaemonTest):
    def waiting_then_recovers(self):
        env = self.env
        note = env.start_daemon()
        status = [l for l in note["lines"] if l.startswith("STATUS=")]
        self.assertTrue(status, f"READY=1 without STATUS: {note['text']!r}")
        self.assertRegex(status[0], r"(?i)wait", "STATUS does not say it is waiting")
        c = self.client()
        resp, _, _ = c.request()
        self.assertStatus(resp, 503, "NOTIFY without good settings")
        self.assertIsNotNone(resp.get("retry-after"), f"503 without Retry-After:\n{resp.raw}")
        self.assertCalls([])
        env.write_settings(settings_xml(challenge="off"))
        mark = len(env.notes)
        env.signal_daemon(signal.SIGHUP)
        self.assertIsNotNone(env.wait_note(lambda n: "READY=1" in n["lines"], 5, mark),
                             "no READY=1 after SIGHUP")
        resp, _, _ = c.request()
        self.assertStatus(resp, 200, "NOTIFY after a good file and SIGHUP")
        self.assertCalls(["Resync"])

    def test_missing_settings_file_answers_503_until_a_good_file_and_sighup(self):
        self.env.start_bus()
        self.env.start_standin()
        self.waiting_then_recovers()

    def test_malformed_settings_file_answers_503_until_a_good_file_and_sighup(self):
        self.env.write_settings('<?xml version="1.0"?>\n<settings><phone-settings>\n'
                                    '<challenge_checksync>off</challenge_checksync>\n'
                                    '</settings>\n')
        self.env.start_bus()
        self.env.start_standin()
        self.waiting_then_recovers()

    def test_sighup_reload_turns_the_challenge_on(self):
        self.start(challenge="off")
        env = self.env
        c = self.client()
        resp, _, _ = c.request(event="check-sync;reboot=false")
        self.assertStatus(resp, 200, "NOTIFY with challenge off")
        env.write_settings(settings_xml(challenge="on"))
        mark = len(env.notes)
        env.signal_daemon(signal.SIGHUP)
        reloading = env.wait_note(lambda n: "RELOADING=1" in n["lines"], 5, mark)
        self.assertIsNotNone(reloading, "no RELOADING=1 after SIGHUP")
        at = env.notes.index(reloading)
        self.assertIsNotNone(env.wait_note(lambda n: "READY=1" in n["lines"], 5, at + 1),
                             "no READY=1 after RELOADING=1")
        resp, _, _ = c.request(event="check-sync;reboot=false")
        self.assertStatus(resp, 401, "NOTIFY after reload with challenge on")
        self.assertCalls(["Resync"])
