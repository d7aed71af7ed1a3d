"""A small authoritative DNS responder for the embedded lab, built on dnspython only.

dnspython parses and renders every message (dns.message), holds the data (dns.zone) and does the UDP/TCP
framing (dns.query.receive_*/send_*). This module only decides what goes in the answer: CNAME chasing inside
the zone, NXDOMAIN vs NODATA (empty non-terminals included), the SOA for negative answers, glue A/AAAA for MX,
NS and SRV targets, and truncation for small UDP payloads.
"""

from __future__ import annotations

import socket
import threading
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.query
import dns.rrset
import dns.zone

MAX_CNAME_CHAIN = 8
TCP_IDLE_SECONDS = 10.0
MAX_TCP_CLIENTS = 32
POLL_SECONDS = 0.5
# Targets of these types get their in-zone addresses in the additional section, as BIND does.
GLUE_TYPES = {dns.rdatatype.MX: "exchange", dns.rdatatype.NS: "target", dns.rdatatype.SRV: "target"}


def zone_from_records(origin: str, records: list) -> dns.zone.Zone:
    """[(owner, ttl, type, rdata text), ...] -> a dnspython zone (owners relative to origin, '@' for the apex)."""
    text = "\n".join("%s %d IN %s %s" % (owner, ttl, rdtype, rdata) for owner, ttl, rdtype, rdata in records)
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=True)


class ZoneResponder:
    """Answers queries from one zone."""

    def __init__(self, zone: dns.zone.Zone):
        self.zone = zone
        self.origin = zone.origin
        soa = zone.get_rrset(self.origin, dns.rdatatype.SOA)
        # RFC 2308 3: the negative TTL is the smaller of the SOA TTL and its MINIMUM field.
        self.negative_soa = dns.rrset.from_rdata(self.origin, min(soa.ttl, soa[0].minimum), soa[0])

    def _exists_below(self, name: dns.name.Name) -> bool:
        return any(owner != name and owner.is_subdomain(name) for owner in self.zone.nodes)

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN or not question.name.is_subdomain(self.origin):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        self._answer(response, question.name, question.rdtype)
        self._add_glue(response)
        return response

    def _answer(self, response: dns.message.Message, name: dns.name.Name, rdtype) -> None:
        for _hop in range(MAX_CNAME_CHAIN):
            node = self.zone.get_node(name)
            if node is None:
                if not self._exists_below(name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(self.negative_soa)
                return
            if rdtype == dns.rdatatype.ANY:
                response.answer.extend(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)) for rds in node.rdatasets)
                return
            rrset = self.zone.get_rrset(name, rdtype)
            if rrset is not None:
                response.answer.append(rrset)
                return
            cname = self.zone.get_rrset(name, dns.rdatatype.CNAME)
            if cname is None:
                response.authority.append(self.negative_soa)
                return
            response.answer.append(cname)
            name = cname[0].target
            if not name.is_subdomain(self.origin):
                return
        response.set_rcode(dns.rcode.SERVFAIL)

    def _add_glue(self, response: dns.message.Message) -> None:
        seen = set()
        for rrset in response.answer:
            field = GLUE_TYPES.get(rrset.rdtype)
            if field is None:
                continue
            for rdata in rrset:
                target = getattr(rdata, field)
                if target in seen or not target.is_subdomain(self.origin):
                    continue
                seen.add(target)
                for address_type in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    glue = self.zone.get_rrset(target, address_type)
                    if glue is not None:
                        response.additional.append(glue)

    def wire(self, response: dns.message.Message, max_size: int) -> bytes:
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            # RFC 2181 9: set TC and send what fits, here the header and question only.
            response.flags |= dns.flags.TC
            del response.answer[:]
            del response.authority[:]
            del response.additional[:]
            return response.to_wire(max_size=max_size)


class DNSServer:
    """UDP + TCP on one loopback address and port, served by threads (dnspython's blocking socket helpers)."""

    def __init__(self, responder: ZoneResponder, host: str = "127.0.0.1", port: int = 0, log=None):
        self.responder = responder
        self.log = log or (lambda **event: None)
        self.stopping = threading.Event()
        self.threads = []
        self.tcp_clients = threading.BoundedSemaphore(MAX_TCP_CLIENTS)
        self.udp, self.tcp = self._bind(host, port)
        self.host, self.port = self.udp.getsockname()[:2]

    @staticmethod
    def _bind(host: str, port: int):
        """UDP and TCP on the same port; with port 0 retry until the kernel's UDP choice is free for TCP too."""
        for _attempt in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                udp.bind((host, port))
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, udp.getsockname()[1]))
                tcp.listen(16)
                udp.settimeout(POLL_SECONDS)
                tcp.settimeout(POLL_SECONDS)
                return udp, tcp
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
        raise OSError("no port free for both UDP and TCP on %s" % host)

    def start(self) -> None:
        for target in (self._serve_udp, self._serve_tcp):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(5)
        self.udp.close()
        self.tcp.close()

    def _handle(self, query: dns.message.Message, transport: str, peer) -> dns.message.Message:
        response = self.responder.respond(query)
        question = query.question[0] if query.question else None
        self.log(event="dns", transport=transport, peer="%s:%s" % peer[:2],
                 qname=question.name.to_text() if question is not None else None,
                 qtype=dns.rdatatype.to_text(question.rdtype) if question is not None else None,
                 rcode=dns.rcode.to_text(response.rcode()))
        return response

    def _serve_udp(self) -> None:
        while not self.stopping.is_set():
            try:
                query, _received_at, peer = dns.query.receive_udp(
                    self.udp, expiration=time.time() + POLL_SECONDS, ignore_errors=True)
            except dns.exception.Timeout:
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                continue
            if query.flags & dns.flags.QR:
                continue  # a response, not a query: never answer it (no reflection loops)
            response = self._handle(query, "udp", peer)
            max_size = query.payload if query.edns >= 0 else 512
            try:
                dns.query.send_udp(self.udp, self.responder.wire(response, max(512, max_size)), peer)
            except OSError:
                continue

    def _serve_tcp(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, peer = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                continue
            if not self.tcp_clients.acquire(blocking=False):
                connection.close()
                continue
            thread = threading.Thread(target=self._serve_tcp_client, args=(connection, peer), daemon=True)
            thread.start()

    def _serve_tcp_client(self, connection: socket.socket, peer) -> None:
        try:
            connection.settimeout(None)
            while not self.stopping.is_set():
                try:
                    query, _received_at = dns.query.receive_tcp(connection, expiration=time.time() + TCP_IDLE_SECONDS)
                except (dns.exception.Timeout, EOFError, OSError, dns.exception.DNSException):
                    return
                if query.flags & dns.flags.QR:
                    return
                response = self._handle(query, "tcp", peer)
                dns.query.send_tcp(connection, self.responder.wire(response, 65535),
                                   expiration=time.time() + TCP_IDLE_SECONDS)
        except (OSError, dns.exception.DNSException):
            return
        finally:
            connection.close()
            self.tcp_clients.release()
