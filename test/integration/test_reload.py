# SPDX-License-Identifier: MIT
"""The shared settings file, live (issue 4): every way of changing it takes
effect without a signal, refused files leave the last good settings in
force, and a daemon started without good settings recovers by itself."""

import ctypes
import fcntl
import os
import select
import shutil
import signal
import subprocess
import threading
import time

from base import DaemonTest, authorization
from harness import (DEFAULT_HOST, DEFAULT_PASS, DEFAULT_USER, START_TIMEOUT, StartError,
                     free_port, settings_xml, write_private)

# challenge off and unknown user: 404; challenge on: 401. Neither calls D-Bus.
UNKNOWN = "nobody"


class LiveTest(DaemonTest):
    """Helpers for the tests that change the file under a running daemon."""

    def status_for_unknown(self, c):
        resp, _, _ = c.request(ruri=c.uri(UNKNOWN))
        self.assertIsNotNone(resp, "no answer")
        return resp.status

    def assertBecomes(self, c, status, what, timeout=2.0):
        """The answer changes to status without any signal (inotify)."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            self.env.poll_notes()
            seen = self.status_for_unknown(c)
            if seen == status:
                return
            time.sleep(0.02)
        self.fail(f"{what}: still {seen} after {timeout} s, expected {status}")

    def started(self, path=None):
        self.start(challenge="off")
        c = self.client()
        self.assertEqual(self.status_for_unknown(c), 404)
        return c


class WatchTest(LiveTest):
    def test_rename_into_place_takes_effect(self):
        c = self.started()
        write_private(self.env.settings_path, settings_xml(challenge="on"))
        self.assertBecomes(c, 401, "rename into place")

    def test_in_place_rewrite_takes_effect(self):
        c = self.started()
        with open(self.env.settings_path, "w", encoding="utf-8") as f:
            f.write(settings_xml(challenge="on"))
        self.assertBecomes(c, 401, "truncate and rewrite")

    def test_delete_then_recreate_takes_effect(self):
        c = self.started()
        os.unlink(self.env.settings_path)
        time.sleep(0.1)
        self.assertEqual(self.status_for_unknown(c), 404, "the last good settings stay")
        write_private(self.env.settings_path, settings_xml(challenge="on"))
        self.assertBecomes(c, 401, "delete then re-create")

    def test_symlink_target_change_and_repoint_take_effect(self):
        target_dir = os.path.join(self.env.dir, "data")
        os.mkdir(target_dir)
        a = os.path.join(target_dir, "a.xml")
        b = os.path.join(target_dir, "b.xml")
        write_private(a, settings_xml(challenge="off"))
        write_private(b, settings_xml(challenge="off"))
        os.symlink("data/a.xml", self.env.settings_path)
        self.start(challenge="off", write=False)
        c = self.client()
        self.assertEqual(self.status_for_unknown(c), 404)
        write_private(a, settings_xml(challenge="on"))
        self.assertBecomes(c, 401, "the symlink's target rewritten")
        tmp = self.env.settings_path + ".tmp"
        os.symlink("data/b.xml", tmp)
        os.rename(tmp, self.env.settings_path)
        self.assertBecomes(c, 404, "the symlink repointed")

    def test_directory_removed_and_recreated_takes_effect(self):
        conf = os.path.join(self.env.dir, "conf")
        os.mkdir(conf)
        path = os.path.join(conf, "settings.xml")
        write_private(path, settings_xml(challenge="off"))
        self.env.settings_path = path
        self.start(write=False)
        c = self.client()
        self.assertEqual(self.status_for_unknown(c), 404)
        shutil.rmtree(conf)
        time.sleep(0.1)
        self.assertEqual(self.status_for_unknown(c), 404, "the last good settings stay")
        os.mkdir(conf)
        write_private(path, settings_xml(challenge="on"))
        self.assertBecomes(c, 401, "directory removed and re-created")

    def test_reload_notifies_reloading_then_ready(self):
        c = self.started()
        mark = len(self.env.notes)
        write_private(self.env.settings_path, settings_xml(challenge="on"))
        self.assertBecomes(c, 401, "rename into place")
        self.env.poll_notes()
        lines = [n["lines"] for n in self.env.notes[mark:]]
        flat = [line for group in lines for line in group]
        self.assertIn("RELOADING=1", flat, lines)
        self.assertIn("READY=1", flat[flat.index("RELOADING=1"):], lines)


def repoint(link, target):
    """Repoint a symlink atomically, as `ln -sfn TARGET LINK.new && mv -T
    LINK.new LINK` does (one rename: the old link is replaced, not removed)."""
    tmp = link + ".new"
    os.symlink(target, tmp)
    os.rename(tmp, link)


class SymlinkedPathTest(LiveTest):
    """Issue 9, finding 9 (b): a symlink in any component of the path."""

    def start_at(self, path):
        self.env.settings_path = path
        self.start(write=False)
        c = self.client()
        self.assertEqual(self.status_for_unknown(c), 404)
        return c

    def versions(self, *names):
        """Directories env.dir/NAME/ each with a settings file, challenge off."""
        for name in names:
            os.makedirs(os.path.join(self.env.dir, name))
            write_private(os.path.join(self.env.dir, name, "settings.xml"),
                          settings_xml(challenge="off"))

    def test_a_symlinked_directory_repointed_atomically_takes_effect(self):
        # /etc/checksyncd -> checksyncd-1, then `ln -sfn checksyncd-2 ... && mv -T`
        self.versions("cfg-1", "cfg-2")
        write_private(os.path.join(self.env.dir, "cfg-2", "settings.xml"),
                      settings_xml(challenge="on"))
        cfg = os.path.join(self.env.dir, "cfg")
        os.symlink("cfg-1", cfg)
        c = self.start_at(os.path.join(cfg, "settings.xml"))
        repoint(cfg, "cfg-2")
        self.assertBecomes(c, 401, "the settings directory's link repointed", timeout=1.0)
        # The watches followed the link: the new directory's file is watched
        # now, and so is the link itself.
        write_private(os.path.join(self.env.dir, "cfg-2", "settings.xml"),
                      settings_xml(challenge="off"))
        self.assertBecomes(c, 404, "the file in the new directory rewritten", timeout=1.0)
        write_private(os.path.join(self.env.dir, "cfg-1", "settings.xml"),
                      settings_xml(challenge="on"))
        repoint(cfg, os.path.join(self.env.dir, "cfg-1"))  # back, absolute this time
        self.assertBecomes(c, 401, "the link repointed back", timeout=1.0)

    def test_a_link_in_a_middle_component_and_a_chain_of_links_are_followed(self):
        # env/etc/phone -> ../flash/current (relative, with ".."), and
        # flash/current -> v1, a chain; the file is env/etc/phone/conf/settings.xml.
        for version in ("v1", "v2"):
            conf = os.path.join(self.env.dir, "flash", version, "conf")
            os.makedirs(conf)
            write_private(os.path.join(conf, "settings.xml"),
                          settings_xml(challenge="on" if version == "v2" else "off"))
        os.mkdir(os.path.join(self.env.dir, "etc"))
        os.symlink("../flash/current", os.path.join(self.env.dir, "etc", "phone"))
        current = os.path.join(self.env.dir, "flash", "current")
        os.symlink("v1", current)
        c = self.start_at(os.path.join(self.env.dir, "etc", "phone", "conf", "settings.xml"))
        # The second link of the chain repointed.
        repoint(current, "v2")
        self.assertBecomes(c, 401, "the second link of the chain repointed", timeout=1.0)
        # The first link, in the middle of the path, repointed straight at v1.
        repoint(os.path.join(self.env.dir, "etc", "phone"), "../flash/v1")
        self.assertBecomes(c, 404, "the link in the middle of the path repointed", timeout=1.0)
        # A directory beyond the link replaced by a rename.
        staged = os.path.join(self.env.dir, "flash", "v1", "conf.new")
        os.mkdir(staged)
        write_private(os.path.join(staged, "settings.xml"), settings_xml(challenge="on"))
        old = os.path.join(self.env.dir, "flash", "v1", "conf.old")
        os.rename(os.path.join(self.env.dir, "flash", "v1", "conf"), old)
        os.rename(staged, os.path.join(self.env.dir, "flash", "v1", "conf"))
        self.assertBecomes(c, 401, "the directory behind the link replaced", timeout=1.0)


class RearmTest(LiveTest):
    """Issue 9, finding 9 (b): SIGHUP re-creates the watches. A mount over
    a directory of the path is a change inotify does not report; after a
    SIGHUP the daemon watches what the path names now."""

    def test_sighup_rearms_the_watches_after_a_change_inotify_cannot_see(self):
        ok = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.assertEqual(ok.returncode, 0,
                         "this test needs a private mount namespace (root, unshare): "
                         + ok.stderr.decode(errors="replace"))
        for name in ("cfg", "flash"):
            os.mkdir(os.path.join(self.env.dir, name))
        self.env.settings_path = os.path.join(self.env.dir, "cfg", "settings.xml")
        write_private(self.env.settings_path, settings_xml(challenge="off"))
        flash_file = os.path.join(self.env.dir, "flash", "settings.xml")
        write_private(flash_file, settings_xml(challenge="on"))
        # The daemon in a mount namespace of its own: the mount below is
        # seen by it only, and goes away with it.
        daemon_args = self.env.daemon_args
        self.env.daemon_args = lambda *a, **kw: (
            ["unshare", "--mount", "--propagation", "private", "--"] + daemon_args(*a, **kw))
        self.start(write=False)
        c = self.client()
        self.assertEqual(self.status_for_unknown(c), 404)

        subprocess.run(["nsenter", "-t", str(self.env.daemon.pid), "-m", "mount", "--bind",
                        os.path.join(self.env.dir, "flash"), os.path.join(self.env.dir, "cfg")],
                       check=True)
        time.sleep(0.3)
        self.assertEqual(self.status_for_unknown(c), 404, "a mount is no inotify event")

        mark = len(self.env.notes)
        self.env.signal_daemon(signal.SIGHUP)
        self.assertIsNotNone(self.env.wait_note(lambda n: "READY=1" in n["lines"], 3.0, mark),
                             "no READY=1 after SIGHUP")
        self.assertBecomes(c, 401, "SIGHUP reads the file on the mount")
        # Now a change on the mounted directory is seen without a signal.
        write_private(flash_file, settings_xml(challenge="off"))
        self.assertBecomes(c, 404, "a change after SIGHUP re-armed the watches", timeout=1.0)


class StartWindowTest(LiveTest):
    """Issue 9, finding 9 (a): the watches exist before the first load, so
    a change made while the daemon starts (after it read the file, before
    it serves) is not lost.

    The window is made as wide as needed without timing: the daemon's
    stderr is a pipe filled to the brim, so its first log line after the
    load ("settings loaded from ...") blocks until the test drains it. The
    test waits until the daemon has read the file (its own inotify on the
    file, IN_CLOSE_NOWRITE), changes the file, and only then lets the
    daemon go on."""

    IN_CLOSE_NOWRITE = 0x10

    def watch_reads(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.addCleanup(os.close, fd)
        if libc.inotify_add_watch(fd, os.fsencode(path), self.IN_CLOSE_NOWRITE) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        return fd

    def start_blocked_on_logging(self):
        """The daemon with its stdout and stderr a full pipe; returns the
        pipe's read end and the number of filler bytes in it."""
        env = self.env
        read_end, write_end = os.pipe()
        filler = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        os.write(write_end, b"\n" * filler)  # fits exactly: now every write blocks
        env.port = free_port()
        env.listen = f"sip:127.0.0.1:{env.port}"
        daemon_env = dict(os.environ, NOTIFY_SOCKET=env.notify_path)
        for name in ("WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "JOURNAL_STREAM"):
            daemon_env.pop(name, None)
        try:
            env.daemon = subprocess.Popen(env.daemon_args(env.listen, ["--log-level", "info"]),
                                          env=daemon_env, stdin=subprocess.DEVNULL,
                                          stdout=write_end, stderr=write_end)
        finally:
            os.close(write_end)
        self.addCleanup(os.close, read_end)
        return read_end, filler

    def drain(self, read_end, filler):
        """Read the pipe from now on, into the daemon's usual log file."""
        def run():
            skip = filler
            with open(self.env.daemon_log_path, "ab") as log:
                while True:
                    data = os.read(read_end, 65536)
                    if not data:
                        return
                    dropped = min(skip, len(data))
                    skip -= dropped
                    log.write(data[dropped:])
                    log.flush()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5.0)

    def test_a_change_while_the_daemon_starts_is_not_lost(self):
        self.env.write_settings(settings_xml(challenge="off"))
        self.env.start_bus()
        self.env.start_standin()
        reads = self.watch_reads(self.env.settings_path)
        read_end, filler = self.start_blocked_on_logging()
        try:
            ready, _, _ = select.select([reads], [], [], START_TIMEOUT)
            self.assertTrue(ready, "the daemon did not read its settings file")
            # The daemon has read the file and is (or soon is) blocked on
            # its log line: change the file now.
            write_private(self.env.settings_path, settings_xml(challenge="on"))
        finally:
            self.drain(read_end, filler)
        note = self.env.wait_note(lambda n: "READY=1" in n["lines"], START_TIMEOUT)
        if note is None:
            raise StartError("checksyncd sent no READY=1")
        c = self.client()
        self.assertBecomes(c, 401, "the file changed while the daemon started", timeout=1.0)
        self.assertTrue(self.env.wait_log("challenge_checksync=on"), "no reload logged")


class RefusedFileTest(DaemonTest):
    BAD_FILES = {
        "not-well-formed": "<settings><phone-settings>",
        "doctype": ('<?xml version="1.0"?>\n<!DOCTYPE settings [<!ENTITY x "on">]>\n'
                    "<settings><phone-settings><challenge_checksync>&x;</challenge_checksync>"
                    "</phone-settings></settings>\n"),
        "xxe": ('<?xml version="1.0"?>\n<!DOCTYPE settings [<!ENTITY x SYSTEM '
                '"file:///etc/passwd">]>\n<settings><phone-settings><user_name idx="1">&x;'
                "</user_name></phone-settings></settings>\n"),
        "invalid-value": settings_xml(challenge="maybe"),
        "binary": "\x00\x01\x02garbage\xff",
    }

    def test_refused_files_leave_the_last_good_settings_in_force(self):
        self.start(challenge="on")
        c = self.client()
        resp, _, _ = c.request(ruri=c.uri("nobody"))
        self.assertStatus(resp, 401)
        for name, text in self.BAD_FILES.items():
            with self.subTest(file=name):
                mark = len(self.env.daemon_log())
                path = self.env.settings_path + ".new"
                with open(path, "wb") as f:
                    f.write(text.encode("utf-8", "surrogateescape"))
                os.chmod(path, 0o600)
                os.rename(path, self.env.settings_path)
                self.assertTrue(self.env.wait_log("refused", timeout=3.0, since=mark),
                                "no refusal logged")
                new_log = self.env.daemon_log()[mark:]
                self.assertIn(self.env.settings_path, new_log)
                self.assertNotIn("root:x:0:0", new_log, "content from /etc/passwd was read")
                resp, _, _ = c.request(ruri=c.uri("nobody"))
                self.assertStatus(resp, 401, f"after the {name} file")
        # A 100 MiB file is refused by its size, without reading it.
        path = self.env.settings_path + ".big"
        with open(path, "wb") as f:
            f.truncate(100 * 1024 * 1024)
        os.rename(path, self.env.settings_path)
        self.assertTrue(self.env.wait_log("larger than 1 MiB", timeout=3.0))
        resp, _, _ = c.request(ruri=c.uri("nobody"))
        self.assertStatus(resp, 401, "after the 100 MiB file")

    def test_a_fifo_at_the_path_is_refused_without_blocking(self):
        self.start(challenge="on")
        c = self.client()
        os.unlink(self.env.settings_path)
        os.mkfifo(self.env.settings_path, 0o600)
        self.assertTrue(self.env.wait_log("not a regular file", timeout=3.0))
        resp, _, _ = c.request(ruri=c.uri("nobody"))
        self.assertStatus(resp, 401, "after the FIFO")
        # A device behind a symlink: refused, nothing read from it.
        mark = len(self.env.daemon_log())
        tmp = self.env.settings_path + ".tmp"
        os.symlink("/dev/zero", tmp)
        os.rename(tmp, self.env.settings_path)
        self.assertTrue(self.env.wait_log("not a regular file", timeout=3.0, since=mark))
        resp, _, _ = c.request(ruri=c.uri("nobody"))
        self.assertStatus(resp, 401, "after /dev/zero")


class InFlightTest(DaemonTest):
    def test_a_reload_does_not_disturb_a_check_sync_in_flight(self):
        # The stand-in answers after 1 s; the settings change meanwhile.
        self.start(challenge="off", delay_ms=1000)
        c = self.client()
        text, branch = c.build()
        c.send(text)
        time.sleep(0.2)
        write_private(self.env.settings_path, settings_xml(challenge="on"))
        self.assertTrue(self.env.wait_log("challenge_checksync=on", timeout=3.0))
        resp = c.recv(branch)
        self.assertStatus(resp, 200, "the check-sync accepted before the reload")
        self.assertCalls(["Resync"])
        # The next one is challenged under the new settings.
        resp, _, _ = c.request()
        self.assertStatus(resp, 401, "a check-sync after the reload")


NEW_PASS = "Zr8-new-pw-5678"


def new_password_settings(challenge="on"):
    return settings_xml(challenge=challenge, identities=[
        dict(idx=1, user_name=DEFAULT_USER, user_host=DEFAULT_HOST, user_pass=NEW_PASS)])


class ReloadRaceTest(DaemonTest):
    """A reload racing a check-sync: no action is lost, and the old password
    stops working the moment the new settings are in force."""

    def reload_to(self, text, what):
        mark = len(self.env.daemon_log())
        self.env.write_settings(text)
        self.assertTrue(self.env.wait_log(what, timeout=3.0, since=mark), "no reload")

    def test_the_old_password_fails_after_a_reload_even_on_a_nonce_issued_before_it(self):
        self.start(challenge="on")
        c = self.client()
        first, _, _ = c.request(cseq=1)
        self.assertStatus(first, 401, "the challenge, under the old settings")
        self.reload_to(new_password_settings(), "challenge_checksync=on")
        challenge = self.challenge_of(first)
        old = authorization(challenge, DEFAULT_USER, DEFAULT_PASS, "NOTIFY", c.uri())
        resp, _, _ = c.request(cseq=2, auth=old)
        self.assertStatus(resp, 401, "the old password on the nonce issued before the reload")
        self.assertIn("authentication failed: source=127.0.0.1", self.env.daemon_log())
        new = authorization(challenge, DEFAULT_USER, NEW_PASS, "NOTIFY", c.uri())
        resp, _, _ = c.request(cseq=3, auth=new)
        self.assertStatus(resp, 200, "the new password on the same nonce")
        self.assertCalls(["Resync"])

    def test_a_check_sync_waiting_over_a_reload_is_served_and_the_old_password_then_fails(self):
        # The stand-in answers after 1 s; the password changes meanwhile.
        self.start(challenge="on", delay_ms=1000)
        c = self.client()
        first, _, _ = c.request(call_id="waiting@pbx", cseq=1)
        auth = authorization(self.challenge_of(first), DEFAULT_USER, DEFAULT_PASS, "NOTIFY",
                             c.uri())
        text, branch = c.build(call_id="waiting@pbx", cseq=2, auth=auth)
        c.send(text)
        self.assertEqual(self.env.wait_calls(1, timeout=3.0)[0]["details"]["call_id"],
                         "waiting@pbx")
        self.reload_to(new_password_settings(), "challenge_checksync=on")
        self.assertStatus(c.recv(branch), 200, "the check-sync authenticated before the reload")
        # Its retransmission after the reload: the same answer, no second
        # call (it is the same request, not a new use of the old password).
        c.send(text)
        self.assertStatus(c.recv(branch), 200, "its retransmission")
        self.assertStatus(self.wrong_answer(c), 401, "the old password after the reload")
        self.assertCalls(["Resync"])

    def test_a_check_sync_answered_on_the_trailing_call_is_not_lost_across_a_reload(self):
        self.start(challenge="off")
        c = self.client()
        resp, _, _ = c.request(call_id="first@pbx")
        self.assertStatus(resp, 200, "the first check-sync")
        resp, _, _ = c.request(call_id="second@pbx")
        self.assertStatus(resp, 200, "the second, answered at once, owed a trailing call")
        self.assertEqual(len(self.env.calls()), 1)
        # The challenge goes on and the password changes before the trailing
        # call is due: what was promised is still done.
        self.reload_to(new_password_settings(), "challenge_checksync=on")
        resp, _, _ = c.request(call_id="third@pbx")
        self.assertStatus(resp, 401, "a check-sync after the reload")
        calls = self.env.wait_calls(2, timeout=8.0)
        self.assertEqual([call["method"] for call in calls], ["Resync", "Resync"], calls)
        self.assertEqual(calls[1]["details"]["call_id"], "second@pbx")
        self.assertFalse(calls[1]["details"]["authenticated"])
        self.assertCalls(["Resync", "Resync"])


class FailClosedTest(DaemonTest):
    def test_a_daemon_started_without_settings_recovers_without_a_signal(self):
        self.env.start_bus()
        self.env.start_standin()
        note = self.env.start_daemon()
        status = [line for line in note["lines"] if line.startswith("STATUS=")]
        self.assertTrue(status and "Waiting for good settings" in status[0], note)
        c = self.client()
        resp, _, _ = c.request()
        self.assertStatus(resp, 503, "check-sync without settings")
        self.assertIsNotNone(resp.get("retry-after"), resp.raw)
        write_private(self.env.settings_path, settings_xml(challenge="off"))
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            resp, _, _ = c.request()
            if resp is not None and resp.status == 200:
                break
            time.sleep(0.05)
        self.assertStatus(resp, 200, "check-sync once a good file appeared")
        self.assertCalls(["Resync"])
