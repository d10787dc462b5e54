# SPDX-License-Identifier: MIT
"""Integration test harness for checksyncd (python3 standard library only).

Everything a test needs to run the real daemon against real peers:

- Env: a private temporary directory with a private D-Bus daemon, the
  provisioning stand-in, the settings file and the daemon itself, with an
  sd_notify socket to see READY=1 / RELOADING=1 / STOPPING=1.
- SipClient: a small raw SIP client (UDP or TCP, IPv4 or IPv6).
- digest helpers (MD5, SHA-256, SHA-512-256, with and without qop).
- sipsak / sipp runners.

Only loopback addresses are ever used as targets.
"""

import csv
import hashlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

# Filled in by run.py (and the benchmarks) from the command line:
# use_binaries().
CONFIG = {"daemon": None, "standin": None, "nua": None}
BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")

DEFAULT_USER = "340899"
DEFAULT_HOST = "ser.berlin.snom.com"
DEFAULT_PASS = "1234"
SEED_CALL_ID = "1234@192.168.137.1"

START_TIMEOUT = 5.0  # READY from dbus-daemon, the stand-in and checksyncd
STOP_TIMEOUT = 10.0
RECV_TIMEOUT = 6.0  # generous: the daemon may wait 2 s for D-Bus


# ---------------------------------------------------------------------------
# Digest

_HASHES = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}


def H(algorithm, text):
    """The algorithm's hash of a UTF-8 string, lower-case hex."""
    return _HASHES[algorithm.upper()](text.encode("utf-8"))


def digest_ha1(algorithm, username, realm, password):
    return H(algorithm, f"{username}:{realm}:{password}")


def digest_response(algorithm, username, realm, password, method, uri, nonce,
                    qop=None, nc=None, cnonce=None, ha1=None):
    """RFC 2617 / 7616 / 8760 response; without qop the RFC 2069 form."""
    if ha1 is None:
        ha1 = digest_ha1(algorithm, username, realm, password)
    ha2 = H(algorithm, f"{method}:{uri}")
    if qop:
        return H(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return H(algorithm, f"{ha1}:{nonce}:{ha2}")


_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


def parse_challenge(value):
    """'Digest realm="r", nonce="n", algorithm=MD5' ->
    ("Digest", {"realm": "r", ...}, {"realm": True, "algorithm": False, ...})
    The third item tells which parameters were quoted; names are lower-case.
    """
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    params, quoted = {}, {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM_RE.match(rest, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse challenge parameters: {value!r}")
        name, raw = m.group(1).lower(), m.group(2)
        if raw.startswith('"'):
            params[name] = re.sub(r"\\(.)", r"\1", raw[1:-1])
            quoted[name] = True
        else:
            params[name] = raw
            quoted[name] = False
        pos = m.end()
    return scheme, params, quoted


def authorization(challenge, username, password, method, uri, cnonce=None, nc=1):
    """An Authorization header value answering one WWW-Authenticate value."""
    _, params, _ = parse_challenge(challenge)
    algorithm = params.get("algorithm", "MD5")
    realm, nonce = params["realm"], params["nonce"]
    qop = None
    if "qop" in params:
        offered = [q.strip() for q in params["qop"].split(",")]
        qop = "auth" if "auth" in offered else offered[0]
    fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"',
              f'uri="{uri}"']
    if qop:
        cnonce = cnonce or secrets.token_hex(8)
        ncs = f"{nc:08x}"
        response = digest_response(algorithm, username, realm, password, method, uri,
                                   nonce, qop, ncs, cnonce)
        fields += [f'response="{response}"', f"algorithm={algorithm}", f"qop={qop}",
                   f"nc={ncs}", f'cnonce="{cnonce}"']
    else:
        response = digest_response(algorithm, username, realm, password, method, uri, nonce)
        fields += [f'response="{response}"', f"algorithm={algorithm}"]
    return "Digest " + ", ".join(fields)


# ---------------------------------------------------------------------------
# Settings

def settings_xml(challenge=None, challenge_reboot=None, action=None, algorithms=None,
                 qop=None, identities=None, extra=(), pnp_config="off"):
    """A Snom-style settings document (docs/settings.md).

    identities: list of dicts with idx and any of user_active, user_name,
    user_host, user_pname, user_pass, user_hash, user_outbound. Default: identity 1,
    340899@ser.berlin.snom.com, password 1234.

    pnp_config is off unless a test asks otherwise: with it on (the daemon's
    default) and no setting_server, the daemon multicasts a plug-and-play
    SUBSCRIBE on its network, which a test may do only inside a network
    namespace of its own (test_pnp.py). None leaves the setting out.
    """
    if identities is None:
        identities = [dict(idx=1, user_active="on", user_name=DEFAULT_USER,
                           user_host=DEFAULT_HOST, user_pass=DEFAULT_PASS)]
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<settings>",
             '  <phone-settings e="2">']

    def setting(name, value, idx=None):
        attr = f" idx={quoteattr(str(idx))}" if idx is not None else ""
        lines.append(f'    <{name}{attr} perm="">{escape(str(value))}</{name}>')

    if challenge is not None:
        setting("challenge_checksync", challenge)
    if challenge_reboot is not None:
        setting("challenge_reboot", challenge_reboot)
    if action is not None:
        setting("checksync_action", action)
    if algorithms is not None:
        setting("checksync_auth_algorithms", algorithms)
    if qop is not None:
        setting("checksync_auth_qop", qop)
    if pnp_config is not None:
        setting("pnp_config", pnp_config)
    for name, value in extra:
        setting(name, value)
    for ident in identities:
        for key in ("user_active", "user_name", "user_host", "user_pname", "user_pass",
                    "user_hash", "user_outbound"):
            if key in ident:
                setting(key, ident[key], ident["idx"])
    lines += ["  </phone-settings>", "</settings>", ""]
    return "\n".join(lines)


def plug_and_play_would_run(xml_text):
    """Whether the daemon, given this settings file, would run plug and play
    (multicast a SUBSCRIBE): the file is one it would take, and it has
    neither pnp_config off nor a setting_server."""
    if "<!DOCTYPE" in xml_text or "<!ENTITY" in xml_text:
        return False  # refused by the daemon
    try:
        root = ElementTree.fromstring(xml_text.encode("utf-8"))
    except ElementTree.ParseError:
        return False  # refused by the daemon
    if root.tag != "settings":
        return False
    for section in root.findall("phone-settings"):
        for element in section.findall("pnp_config"):
            if (element.text or "").strip().lower() == "off":
                return False
        for element in section.findall("setting_server"):
            if (element.text or "").strip():
                return False
    return True


def passwords_in(xml_text):
    """The secrets a settings document holds (to keep them out of messages)."""
    found = set(re.findall(r"<user_pass[^>]*>([^<]+)</user_pass>", xml_text))
    found |= set(re.findall(r"<user_hash[^>]*>([^<]+)</user_hash>", xml_text))
    return {p for p in found if p.strip()}


def write_private(path, text):
    """Write atomically (rename into place), mode 0600."""
    tmp = f"{path}.tmp-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


# ---------------------------------------------------------------------------
# Ports

def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind((host, port))
            except OSError:
                continue
            return port
        finally:
            udp.close()
            tcp.close()
    raise RuntimeError(f"no free UDP+TCP port on {host}")


def read_line(stream, timeout):
    """One line from a pipe within timeout seconds, or None (EOF/timeout)."""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 1)
        if not chunk:
            return None
        if chunk == b"\n":
            return data.decode("utf-8", "replace")
        data += chunk


def tail(path, lines=40):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# The environment of one test

class StartError(AssertionError):
    pass



def add_binary_arguments(parser):
    """--daemon and --standin, the binaries of build/ unless given (the
    benchmarks' defaults)."""
    parser.add_argument("--daemon", default=os.path.join(BUILD, "daemon", "checksyncd"))
    parser.add_argument("--standin", default=os.path.join(BUILD, "test", "provisioning-standin"))


def use_binaries(daemon, standin):
    """The checksyncd and provisioning-standin binaries every Env starts."""
    CONFIG["daemon"] = os.path.abspath(daemon)
    CONFIG["standin"] = os.path.abspath(standin)


def sipp_auth_command(env, calls, rate, stat, *options):
    """sipp sending `calls` check-syncs to env's daemon at `rate` per second,
    each answering its 401 with the password (notify_auth.xml); its
    statistics go to `stat` (sipp_totals())."""
    scenario = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notify_auth.xml")
    return ["sipp", "-sf", scenario, "-m", str(calls), "-r", str(rate), "-i", "127.0.0.1",
            "-p", str(free_port()), "-s", DEFAULT_USER,
            # sipp's digest uri defaults to sip:REMOTE_IP:PORT; the
            # daemon (rightly) wants the Request-URI.
            "-auth_uri", f"{DEFAULT_USER}@127.0.0.1:{env.port}",
            "-nostdin", "-timeout", "60s", "-timeout_error", "-trace_stat", "-stf", stat,
            *options, f"127.0.0.1:{env.port}"]


def sipp_totals(path):
    """(SuccessfulCall(C), FailedCall(C)) from the last row of sipp's -trace_stat file."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    header, last = rows[0], rows[-1]
    return int(last[header.index("SuccessfulCall(C)")]), int(last[header.index("FailedCall(C)")])


def stop_process(proc, grace=3):
    """SIGTERM a child, SIGKILL it after `grace` seconds; reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

class Env:
    """One test's world: temp dir, private bus, stand-in, settings, daemon."""

    def __init__(self, name="test", netns=None, base=None):
        """netns: a network namespace the test made, where the daemon runs
        (through `ip netns exec`): its name, or a Netns; None runs it in the
        test's own. base: the
        directory the test's own is made in (default: the temp directory)."""
        self.netns = netns
        safe = re.sub(r"[^A-Za-z0-9]+", "-", name)[-40:]
        self.dir = tempfile.mkdtemp(prefix=f"csd-{safe}-", dir=base)
        self.bus_path = os.path.join(self.dir, "bus")
        self.bus_address = f"unix:path={self.bus_path}"
        self.settings_path = os.path.join(self.dir, "settings.xml")
        self.record_path = os.path.join(self.dir, "calls.jsonl")
        self.daemon_log_path = os.path.join(self.dir, "checksyncd.log")
        self.standin_log_path = os.path.join(self.dir, "standin.log")
        self.notify_path = os.path.join(self.dir, "notify")
        self.bus = None
        self.standin = None
        self.daemon = None
        self.daemon_stopped = False
        self.port = None
        self.listen = None
        self.notes = []  # sd_notify datagrams, in order
        self.daemon_env = {}  # more environment for the daemon (STATE_DIRECTORY)
        self._first_note = 0  # the first notify message of the daemon's current run
        self.secrets = set()
        self.sockets = []
        self._daemon_log_file = None
        self.notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_sock.bind(self.notify_path)
        self.notify_sock.setblocking(False)
        # Read the notify socket all the time, as systemd does: the daemon's
        # sd_notify() blocks once the socket's queue (10 datagrams) is full.
        self._notes_lock = threading.Lock()
        self._closing = threading.Event()
        self._notes_reader = threading.Thread(target=self._read_notes, daemon=True)
        self._notes_reader.start()

    # -- bus and stand-in ---------------------------------------------------

    def start_bus(self, config=None):
        """A private bus: the session bus's policy, or the configuration
        file `config` (which must listen on self.bus_address)."""
        err = open(os.path.join(self.dir, "dbus.log"), "wb")
        kind = [f"--config-file={config}"] if config else [
            "--session", f"--address={self.bus_address}"]
        try:
            self.bus = subprocess.Popen(
                ["dbus-daemon", *kind, "--nofork", "--print-address=1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        finally:
            err.close()
        line = read_line(self.bus.stdout, START_TIMEOUT)
        if not line or not line.startswith("unix:"):
            raise StartError(f"dbus-daemon did not print its address (got {line!r}): "
                             + tail(os.path.join(self.dir, "dbus.log")))

    def start_standin(self, fail=None, delay_ms=None, control=None, extra=()):
        if self.bus is None:
            self.start_bus()
        args = [CONFIG["standin"], "--bus", self.bus_address, "--record", self.record_path,
                "--quiet", *extra]
        if fail:
            args += ["--fail", fail]
        if delay_ms is not None:
            args += ["--delay-ms", str(delay_ms)]
        if control:
            args += ["--control", control]
        err = open(self.standin_log_path, "wb")
        try:
            self.standin = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=err)
        finally:
            err.close()
        line = read_line(self.standin.stdout, START_TIMEOUT)
        if line != "READY":
            raise StartError(f"provisioning-standin did not print READY (got {line!r}): "
                             + tail(self.standin_log_path))

    # -- settings -------------------------------------------------------------

    def write_settings(self, text):
        """Write the settings file (any text, also a broken one), mode 0600.

        Outside a network namespace of the test's own, settings that would
        make the daemon multicast a plug-and-play SUBSCRIBE on the host's
        network are refused (settings_xml() writes pnp_config off)."""
        if self.netns is None and plug_and_play_would_run(text):
            raise AssertionError("these settings would run plug and play on the host's "
                                 "network: write pnp_config off or a setting_server")
        self.secrets |= passwords_in(text)
        write_private(self.settings_path, text)

    # -- daemon ---------------------------------------------------------------

    def daemon_args(self, listen=None, extra=()):
        # `ip netns exec` execs the daemon (no fork): the process is the
        # daemon itself, for signals and /proc. In a network namespace the
        # private bus and the notify socket stay reachable: both are Unix
        # sockets with a path.
        if isinstance(self.netns, str):
            prefix = ["ip", "netns", "exec", self.netns]
        else:
            prefix = self.netns.exec_prefix() if self.netns else []
        return [*prefix, CONFIG["daemon"], "--settings", self.settings_path, "--listen", listen,
                "--bus", self.bus_address, "--log-level", "debug", *extra]

    def start_daemon(self, listen=None, host="127.0.0.1", extra=(), wait_ready=True):
        if self.netns is None and os.path.exists(self.settings_path):
            with open(self.settings_path, encoding="utf-8", errors="replace") as f:
                if plug_and_play_would_run(f.read()):
                    raise AssertionError("the settings would run plug and play on the host's "
                                         "network: write pnp_config off or a setting_server")
        if self.bus is None:
            self.start_bus()
        if listen is None:
            self.port = free_port(host)
            hostpart = f"[{host}]" if ":" in host else host
            listen = f"sip:{hostpart}:{self.port}"
        self.listen = listen
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = self.notify_path
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        env.pop("LISTEN_FDS", None)
        env.pop("JOURNAL_STREAM", None)
        env.pop("STATE_DIRECTORY", None)
        env.update(self.daemon_env)
        if self._daemon_log_file:
            self._daemon_log_file.close()
        self._daemon_log_file = open(self.daemon_log_path, "ab")
        self.poll_notes()
        first_note = self._first_note = len(self.notes)  # this run's, not the last run's
        self.daemon = subprocess.Popen(self.daemon_args(listen, extra), env=env,
                                       stdin=subprocess.DEVNULL, stdout=self._daemon_log_file,
                                       stderr=self._daemon_log_file)
        if wait_ready:
            note = self.wait_note(lambda n: "READY=1" in n["lines"], START_TIMEOUT,
                                  start=first_note)
            if note is None:
                raise StartError("checksyncd sent no READY=1 within "
                                 f"{START_TIMEOUT:.0f} s (exit status {self.daemon.poll()})")
            return note
        return None

    def _read_notes(self):
        while not self._closing.is_set():
            try:
                select.select([self.notify_sock], [], [], 0.05)
            except (OSError, ValueError):
                return
            self.poll_notes()

    def poll_notes(self):
        with self._notes_lock:
            while True:
                try:
                    data = self.notify_sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                text = data.decode("utf-8", "replace")
                self.notes.append({"text": text, "lines": text.split("\n"),
                                   "time": time.monotonic()})

    def wait_note(self, predicate, timeout, start=0):
        """The first notify message at index >= start matching predicate."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll_notes()
            for note in self.notes[start:]:
                if predicate(note):
                    return note
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            select.select([self.notify_sock], [], [], min(left, 0.2))

    def signal_daemon(self, signo):
        self.daemon.send_signal(signo)

    def stop_daemon(self):
        """SIGTERM the daemon; returns (exit status or None, STOPPING=1 seen)."""
        if self.daemon is None or self.daemon_stopped:
            return None, False
        self.daemon_stopped = True
        if self.daemon.poll() is not None:
            self.poll_notes()
            return self.daemon.returncode, any("STOPPING=1" in n["lines"]
                                               for n in self.notes[self._first_note:])
        self.daemon.send_signal(signal.SIGTERM)
        try:
            status = self.daemon.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
            status = None
        self.poll_notes()
        return status, any("STOPPING=1" in n["lines"] for n in self.notes[self._first_note:])

    def restart_daemon(self):
        """Stop the daemon (SIGTERM) and start it again on the same listen
        URI, as systemd restarts it; asserts the clean stop. Its log goes on
        in the same file."""
        status, stopping = self.stop_daemon()
        if status != 0 or not stopping:
            raise AssertionError(f"checksyncd did not stop cleanly (exit status {status}, "
                                 f"STOPPING=1 {'seen' if stopping else 'not seen'})")
        self.daemon_stopped = False
        return self.start_daemon(listen=self.listen)

    def daemon_log(self):
        try:
            with open(self.daemon_log_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, needle, timeout=3.0, since=0):
        """Wait for needle in the daemon's log after offset since."""
        deadline = time.monotonic() + timeout
        while True:
            if needle in self.daemon_log()[since:]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    # -- stand-in record ------------------------------------------------------

    def calls(self):
        try:
            with open(self.record_path, "r", encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"unparsable": line})
        return out

    def wait_calls(self, count, timeout=RECV_TIMEOUT):
        """Poll until at least count calls are recorded (or timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls()
            if len(calls) >= count or time.monotonic() >= deadline:
                return calls
            time.sleep(0.02)

    # -- diagnostics and cleanup ----------------------------------------------

    def redact(self, text):
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "[secret]")
        return text

    def diagnostics(self):
        parts = [f"\n--- test dir: {self.dir}"]
        if self.daemon is not None:
            parts.append("--- checksyncd log (tail):\n" + tail(self.daemon_log_path, 40))
        if self.standin is not None:
            parts.append("--- stand-in stderr (tail):\n" + tail(self.standin_log_path, 10))
            parts.append("--- recorded calls:\n" + "\n".join(json.dumps(c) for c in self.calls()))
        self.poll_notes()
        if self.notes:
            parts.append("--- sd_notify:\n" + "\n".join(repr(n["text"]) for n in self.notes))
        return self.redact("\n".join(parts))

    def close(self):
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass
        stop_process(self.daemon)
        stop_process(self.standin)
        stop_process(self.bus)
        for proc in (self.standin, self.bus):
            if proc is not None and proc.stdout:
                proc.stdout.close()
        if self._daemon_log_file:
            self._daemon_log_file.close()
        self._closing.set()
        self._notes_reader.join(timeout=2.0)
        self.notify_sock.close()
        if os.environ.get("CHECKSYNCD_IT_KEEP"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Raw SIP client

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
            "l": "content-length", "c": "content-type", "o": "event", "u": "allow-events",
            "k": "supported", "s": "subject", "e": "content-encoding"}


class SipResponse:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise ValueError(f"not a SIP response: {lines[0]!r}")
        self.status = int(m.group(1))
        self.reason = m.group(2)
        self.headers = []  # (lower-case full name, value)
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                name, value = self.headers[-1]
                self.headers[-1] = (name, value + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            name = _COMPACT.get(name, name)
            self.headers.append((name, value.strip()))

    def all(self, name):
        name = _COMPACT.get(name.lower(), name.lower())
        return [v for n, v in self.headers if n == name]

    def get(self, name):
        values = self.all(name)
        return values[0] if values else None

    def names(self):
        return [n for n, _ in self.headers]

    @property
    def to_tag(self):
        to = self.get("to") or ""
        m = re.search(r";\s*tag=([^;\s,]+)", to)
        return m.group(1) if m else None

    @property
    def branch(self):
        via = self.get("via") or ""
        m = re.search(r";\s*branch=([^;\s,]+)", via)
        return m.group(1) if m else None

    def __repr__(self):
        return f"<SIP {self.status} {self.reason}>"


class SipClient:
    """A raw SIP client over UDP or TCP, IPv4 or IPv6, loopback only."""

    def __init__(self, host, port, transport="udp", source=None, netns=None):
        """netns: a Netns to send from (the socket is made inside it, where
        the source may also be an address the test put on the namespace's
        loopback)."""
        assert host in ("127.0.0.1", "::1"), "targets must be loopback"
        source = source or host
        assert netns is not None or source.startswith("127.") or source == "::1", \
            "sources must be loopback, or inside a namespace of the test's own"
        self.host, self.port, self.transport = host, port, transport.lower()
        self.source = source
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM

        def make():
            sock = socket.socket(family, kind)
            sock.bind((source, 0))
            if self.transport == "tcp":
                sock.settimeout(RECV_TIMEOUT)
                sock.connect((host, port))
                sock.settimeout(None)
            return sock

        self.sock = netns.run(make) if netns else make()
        self.local_port = self.sock.getsockname()[1]
        self.responses = []  # every response received, in order
        self.pending = []  # received but not yet returned
        self._stream = b""

    @property
    def hostport(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def local_hostport(self):
        h = f"[{self.source}]" if ":" in self.source else self.source
        return f"{h}:{self.local_port}"

    def uri(self, user=DEFAULT_USER):
        return f"sip:{user}@{self.hostport}" if user else f"sip:{self.hostport}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def build(self, method="NOTIFY", ruri=None, event="check-sync;reboot=false",
              call_id=None, cseq=1, branch=None, auth=None, from_tag=True, extra=(),
              to=None):
        """Returns (request text, branch)."""
        ruri = ruri or self.uri()
        branch = branch or "z9hG4bK" + secrets.token_hex(8)
        call_id = call_id or secrets.token_hex(8) + "@127.0.0.1"
        proto = "UDP" if self.transport == "udp" else "TCP"
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/{proto} {self.local_hostport};branch={branch};rport",
                 "Max-Forwards: 70",
                 f"To: <{to or ruri}>",
                 f"From: <sip:tester@{self.local_hostport.rsplit(':', 1)[0]}>"
                 + (f";tag={secrets.token_hex(4)}" if from_tag else ""),
                 f"Call-ID: {call_id}",
                 f"CSeq: {cseq} {method}"]
        if event is not None:
            lines.append(f"Event: {event}")
        if auth:
            lines.append(f"Authorization: {auth}")
        lines += list(extra)
        lines.append("Content-Length: 0")
        return "\r\n".join(lines) + "\r\n\r\n", branch

    def send(self, text):
        data = text.encode("utf-8")
        if self.transport == "udp":
            self.sock.sendto(data, (self.host, self.port))
        else:
            self.sock.sendall(data)

    def _read_one(self, timeout):
        """One response from the wire, or None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.transport == "tcp":
                msg = self._frame()
                if msg is not None:
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return None
            if self.transport == "udp":
                data, _ = self.sock.recvfrom(65536)
                text = data.decode("utf-8", "replace")
                if text.startswith("SIP/2.0 "):
                    return SipResponse(text)
                continue  # a request (not expected) or garbage: ignore
            data = self.sock.recv(65536)
            if not data:
                return None
            self._stream += data

    def _frame(self):
        end = self._stream.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self._stream[:end].decode("utf-8", "replace")
        m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        length = int(m.group(1)) if m else 0
        total = end + 4 + length
        if len(self._stream) < total:
            return None
        raw = self._stream[:total].decode("utf-8", "replace")
        self._stream = self._stream[total:]
        return SipResponse(raw)

    def recv(self, branch=None, timeout=RECV_TIMEOUT, final=True):
        """The next response (matching branch, final unless final=False)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, resp in enumerate(self.pending):
                if (branch is None or resp.branch == branch) and (not final or resp.status >= 200):
                    del self.pending[i]
                    return resp
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            resp = self._read_one(left)
            if resp is None:
                return None
            self.responses.append(resp)
            self.pending.append(resp)

    def request(self, timeout=RECV_TIMEOUT, **kw):
        """Send one request and return (final response or None, text, branch)."""
        text, branch = self.build(**kw)
        self.send(text)
        return self.recv(branch, timeout), text, branch


# ---------------------------------------------------------------------------
# sipsak and sipp

def seed_message(port, user=DEFAULT_USER, event="check-sync;reboot=false"):
    return (f"NOTIFY sip:{user}@127.0.0.1:{port} SIP/2.0\n"
            f"To: sip:{user}@127.0.0.1:{port}\n"
            "From: sip:sipsak@127.0.0.1\n"
            "CSeq: 10 NOTIFY\n"
            f"Call-ID: {SEED_CALL_ID}\n"
            f"Event: {event}\n"
            "\n")


def parse_sipsak_responses(output):
    """The SIP responses sipsak -vvv printed, in order, without duplicates."""
    responses = []
    lines = output.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        if re.match(r"SIP/2\.0 \d{3}", lines[i]):
            block = [lines[i]]
            i += 1
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            raw = "\r\n".join(block) + "\r\n\r\n"
            try:
                resp = SipResponse(raw)
            except ValueError:
                continue
            if not responses or responses[-1].raw != raw:
                responses.append(resp)
        else:
            i += 1
    return responses


def run_sipsak(env, port, password=None, user=DEFAULT_USER, event="check-sync;reboot=false",
               timeout=30):
    """Send the seed's NOTIFY with sipsak; returns (exit status, output, responses)."""
    if not shutil.which("sipsak"):
        raise AssertionError("sipsak is not installed")
    msg = os.path.join(env.dir, f"notify-{secrets.token_hex(3)}.txt")
    with open(msg, "w", encoding="ascii") as f:
        f.write(seed_message(port, user, event))
    args = ["sipsak", "-vvv"]
    if password is not None:
        args += ["-a", password, "-u", user]
    args += ["-f", msg, "-s", f"sip:{user}@127.0.0.1:{port}"]
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout, cwd=env.dir)
    output = proc.stdout.decode("utf-8", "replace")
    return proc.returncode, output, parse_sipsak_responses(output)


def sipsak_summary(output, limit=3000):
    return output if len(output) <= limit else "..." + output[-limit:]
