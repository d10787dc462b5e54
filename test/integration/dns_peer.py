# SPDX-License-Identifier: MIT
"""A DNS server written for the tests (python3 standard library): it serves
a small zone, records every query it reads (source port, ID, type, name),
and can send forged answers before the true one, as an attacker who knows
the query's ID and port would.

- Zone: records by owner name, answered the way a recursive server does:
  the CNAME chain from the name asked, then the records of the type asked
  at its end; NXDOMAIN for a name it does not know, no records (NOERROR)
  for a type a known name does not have.
- DnsPeer: a UDP socket on ADDRESS:53 inside a Netns. For each query it
  first sends what forge(query) returns (a list of (message bytes, source
  address)), then the true answer from ADDRESS. A forged message from
  another source address goes out from a socket bound to that address
  (any 127.0.0.0/8 address exists inside the namespace).

Messages are built here (RFC 1035 4.1), names never compressed.
"""

import socket
import struct
import threading
import time

TYPES = {"A": 1, "CNAME": 5, "AAAA": 28, "SRV": 33, "NAPTR": 35}
TYPE_NAMES = {value: key for key, value in TYPES.items()}
CLASS_IN = 1
NOERROR, NXDOMAIN = 0, 3


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def decode_name(data, offset):
    """A name without compression (as in a query); returns (name, offset after it)."""
    labels = []
    while True:
        length = data[offset]
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        labels.append(data[offset:offset + length].decode("ascii", "replace"))
        offset += length


def rdata(rtype, value):
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    if rtype == "CNAME":
        return encode_name(value)
    if rtype == "SRV":
        priority, weight, port, target = value
        return struct.pack("!HHH", priority, weight, port) + encode_name(target)
    if rtype == "NAPTR":
        order, preference, flags, service, regexp, replacement = value
        strings = b"".join(bytes([len(s)]) + s.encode("ascii")
                           for s in (flags, service, regexp))
        return struct.pack("!HH", order, preference) + strings + encode_name(replacement)
    raise ValueError(rtype)


def record(name, rtype, value, ttl=1):
    """One resource record: (name, "A", "192.0.2.1") and so on."""
    data = rdata(rtype, value)
    return encode_name(name) + struct.pack("!HHIH", TYPES[rtype], CLASS_IN, ttl,
                                           len(data)) + data


def message(qid, qname, qtype, answers=(), additional=(), rcode=NOERROR):
    """A response: header, one question, the answer and additional sections
    (lists of record() bytes)."""
    flags = 0x8180 | rcode  # QR, RD, RA
    header = struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, len(additional))
    question = encode_name(qname) + struct.pack("!HH", TYPES[qtype], CLASS_IN)
    return header + question + b"".join(answers) + b"".join(additional)


class Query:
    def __init__(self, data, source):
        self.id, self.flags = struct.unpack("!HH", data[:4])
        self.name, offset = decode_name(data, 12)
        qtype, self.qclass = struct.unpack("!HH", data[offset:offset + 4])
        self.type = TYPE_NAMES.get(qtype, str(qtype))
        self.source = source  # (address, port)
        self.time = time.monotonic()

    def __repr__(self):
        return f"<query {self.id} {self.type} {self.name} from port {self.source[1]}>"


class Zone:
    """records: {name: [(type, value, ttl)]}; names compared in lower case.
    chase=False: an answer holds only the first CNAME, as an authoritative
    server's does when the target is in another zone."""

    def __init__(self, records, chase=True):
        self.records = {name.lower(): list(entries) for name, entries in records.items()}
        self.chase = chase

    def answer(self, query):
        """The true answer's (answer records, rcode)."""
        name, answers, seen = query.name.lower(), [], set()
        if name not in self.records:
            return [], NXDOMAIN
        while name in self.records and name not in seen:
            seen.add(name)
            cnames = [e for e in self.records[name] if e[0] == "CNAME"]
            if cnames and query.type != "CNAME":
                _, target, ttl = cnames[0]
                answers.append(record(name, "CNAME", target, ttl))
                if not self.chase:
                    break
                name = target.lower()
                continue
            answers += [record(name, t, v, ttl) for t, v, ttl in self.records[name]
                        if t == query.type]
            break
        return answers, NOERROR


class DnsPeer:
    def __init__(self, netns, zone, forge=None, address="127.0.0.1"):
        self.netns, self.zone, self.forge, self.address = netns, zone, forge, address
        self.queries = []
        self._lock = threading.Lock()
        self._others = {}  # forged sources: address -> socket
        self.sock = netns.run(lambda: self._bind(address))
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _bind(address):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address, 53))
        sock.settimeout(0.1)
        return sock

    def _socket_for(self, address):
        if address == self.address:
            return self.sock
        if address not in self._others:
            self._others[address] = self.netns.run(lambda: self._bind(address))
        return self._others[address]

    def _serve(self):
        while not self._closing.is_set():
            try:
                data, source = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                query = Query(data, source)
            except (IndexError, struct.error):
                continue
            with self._lock:
                self.queries.append(query)
            for forged, sender in (self.forge(query) if self.forge else []):
                self._socket_for(sender).sendto(forged, source)
            answers, rcode = self.zone.answer(query)
            self.sock.sendto(message(query.id, query.name, query.type, answers, rcode=rcode),
                             source)

    def received(self, name=None):
        with self._lock:
            return [q for q in self.queries if name is None or q.name == name]

    def wait_queries(self, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.received()) < count:
            time.sleep(0.02)
        return self.received()

    def close(self):
        self._closing.set()
        self._thread.join(timeout=2)
        self.sock.close()
        for sock in self._others.values():
            sock.close()
