# SPDX-License-Identifier: MIT
"""A private network namespace with its own DNS server, for the source
filter's tests (python3 standard library, iproute2 and dnsmasq; needs root).

- Netns: `ip netns add` a namespace of our own, loopback up (127.0.0.0/8
  and ::1 inside it, plus any addresses the test asks for, nothing else),
  and /etc/netns/NAME/resolv.conf naming 127.0.0.1, which `ip netns exec`
  mounts over /etc/resolv.conf for the daemon it starts: the daemon reads
  its DNS servers the ordinary way. run(fn) calls fn in a thread that
  entered the namespace, so a test's sockets can be made inside it.
- Dnsmasq: dnsmasq (the dnsmasq-base package, no system service) on
  127.0.0.1:53 inside the namespace, authoritative for the test zone,
  serving A/AAAA from a hosts file (rewritten and SIGHUPed to change),
  SRV and NAPTR records from its command line (restarted to change), all
  with a short TTL.
- SilentDns: a UDP socket on 127.0.0.1:53 inside the namespace that reads
  every query and never answers.
"""

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import stop_process

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def available():
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "ip (iproute2) is not installed"
    return None


def _run(args, **kw):
    return subprocess.run(args, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=10, **kw)


class Netns:
    def __init__(self, prefix="filter", addresses=()):
        """addresses: more addresses for lo ("2001:db8:1:2::1/64"), which
        exist only inside the namespace."""
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        self.etc = f"/etc/netns/{self.name}"
        _run(["ip", "netns", "add", self.name])
        try:
            _run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"])
            for address in addresses:
                _run(["ip", "-n", self.name, "addr", "add", address, "dev", "lo", "nodad"])
            os.makedirs(self.etc, exist_ok=True)
            self.set_nameserver("127.0.0.1")
        except BaseException:
            self.close()
            raise

    def set_nameserver(self, address):
        with open(os.path.join(self.etc, "resolv.conf"), "w", encoding="ascii") as f:
            f.write(f"nameserver {address}\n")

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.name]

    def run(self, fn):
        """fn() called in a thread inside the namespace; returns its result."""
        result = {}

        def body():
            try:
                fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns({self.name}): {os.strerror(err)}")
                finally:
                    os.close(fd)
                result["value"] = fn()
            except BaseException as e:  # handed to the caller
                result["error"] = e

        thread = threading.Thread(target=body)
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["value"]

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.etc, ignore_errors=True)


class Dnsmasq:
    """dnsmasq inside `netns`, authoritative for `zone`.

    hosts: {name: [addresses]}; srv: [(service name, target, port)];
    naptr: [(name, order, preference, flags, service, replacement)].
    """

    def __init__(self, netns, workdir, zone, ttl=1):
        self.netns, self.dir, self.zone, self.ttl = netns, workdir, zone, ttl
        self.hosts_path = os.path.join(workdir, "dns-hosts")
        self.log_path = os.path.join(workdir, "dnsmasq.log")
        self.proc = None
        self.srv, self.naptr = [], []

    def write_hosts(self, hosts):
        tmp = self.hosts_path + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            for name, addresses in hosts.items():
                for address in addresses:
                    f.write(f"{address} {name}\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.hosts_path)

    def start(self, hosts, srv=(), naptr=()):
        self.srv, self.naptr = list(srv), list(naptr)
        self.write_hosts(hosts)
        args = [*self.netns.exec_prefix(), "dnsmasq", "--keep-in-foreground",
                "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-negcache",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--port=53",
                "--pid-file=", "--user=root", f"--local=/{self.zone}/",
                f"--addn-hosts={self.hosts_path}", f"--local-ttl={self.ttl}", "--log-queries",
                f"--log-facility={self.log_path}"]
        for name, target, port in self.srv:
            args.append(f"--srv-host={name},{target},{port},0,0")
        for name, order, preference, flags, service, replacement in self.naptr:
            args.append(f"--naptr-record={name},{order},{preference},{flags},{service},,"
                        f"{replacement}")
        mark = self._log_size()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        if not self._wait_log("started, version", mark):
            err = b""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()
            raise AssertionError(f"dnsmasq did not start: {err.decode(errors='replace')}")

    def change_hosts(self, hosts):
        """New A/AAAA records: rewrite the hosts file, SIGHUP, wait for the re-read."""
        mark = self._log_size()
        self.write_hosts(hosts)
        self.proc.send_signal(signal.SIGHUP)
        if not self._wait_log(f"read {self.hosts_path}", mark):
            raise AssertionError("dnsmasq did not re-read its hosts file")

    def restart(self, hosts, srv=(), naptr=()):
        """New SRV/NAPTR records: dnsmasq reads those only at start."""
        self.stop()
        self.start(hosts, srv, naptr)

    def queries(self, name=None):
        """The queries dnsmasq logged, as (type, name)."""
        out = []
        for line in self.log().splitlines():
            if "query[" not in line:
                continue
            rest = line.split("query[", 1)[1]
            qtype, _, tail = rest.partition("] ")
            qname = tail.split(" ", 1)[0]
            if name is None or qname == name:
                out.append((qtype, qname))
        return out

    def log(self):
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def _wait_log(self, needle, since, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log()[since:]:
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def stop(self):
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc.stderr.close()
        self.proc = None


class SilentDns:
    """Reads DNS queries on 127.0.0.1:53 inside `netns` and never answers."""

    def __init__(self, netns):
        self.sock = netns.run(lambda: self._bind())
        self.received = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    @staticmethod
    def _bind():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 53))
        sock.settimeout(0.1)
        return sock

    def _read(self):
        while not self._closing.is_set():
            try:
                self.sock.recvfrom(4096)
                self.received += 1
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self._closing.set()
        self._thread.join(timeout=2)
        self.sock.close()
