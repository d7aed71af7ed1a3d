# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory authoritative nameserver for dnspython's real Resolver: no network.

Only the transport is fake. The Resolver's own logic (CNAME chaining in answers,
NXDOMAIN, SERVFAIL -> NoNameservers, UDP truncation -> TCP retry, lifetime) runs
unchanged, and every response goes through wire format and back.
"""

from __future__ import annotations

import threading
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import MxOptions, make_resolver

UDP_LIMIT = 512  # no EDNS in the queries, so classic DNS size

BIG_MX_COUNT = 40

ZONE_TEXT = '''
$ORIGIN test.
$TTL 300
@                  SOA   ns.test. hostmaster.test. 1 3600 600 86400 60
@                  NS    ns.test.
ns                 A     192.0.2.53
fabrikam           MX    20 mx2.fabrikam.test.
fabrikam           MX    10 mx1.fabrikam.test.
mx1.fabrikam       A     127.0.0.11
mx1.fabrikam       AAAA  ::1
mx2.fabrikam       A     127.0.0.12
contoso            MX    10 smtp.contoso.test.
smtp.contoso       A     127.0.0.13
equal              MX    10 b.equal.test.
equal              MX    20 d.equal.test.
equal              MX    10 a.equal.test.
equal              MX    5 c.equal.test.
a.equal            A     127.0.0.21
b.equal            A     127.0.0.22
c.equal            A     127.0.0.23
d.equal            A     127.0.0.24
nullmx             MX    0 .
nullmx-pref        MX    10 .
mixednull          MX    0 .
mixednull          MX    10 mx1.fabrikam.test.
implicit           A     127.0.0.12
implicit6          AAAA  ::1
cname-mx           MX    10 mailalias.cname-mx.test.
mailalias.cname-mx CNAME mx1.fabrikam.test.
dangling           MX    10 nohost.dangling.test.
dangling           MX    20 mx2.fabrikam.test.
dangling-only      MX    10 nohost.dangling.test.
nxtarget           MX    10 missing.nowhere.test.
nxtarget           MX    20 mx2.fabrikam.test.
v6only             MX    10 mx6.v6only.test.
mx6.v6only         AAAA  ::1
nodata             TXT   "v=spf1 -all"
chain              MX    10 a.chain.test.
a.chain            CNAME b.chain.test.
b.chain            CNAME mx1.fabrikam.test.
alias              CNAME fabrikam.test.
lame               MX    10 lamehost.test.
lame               MX    20 mx2.fabrikam.test.
lamehost           A     127.0.0.30
ipv6mx             MX    10 MX1.Fabrikam.test.
'''


def _big_zone_text():
    lines = ['bigmx MX %d mx%02d.bigmx.test.' % (index, index) for index in range(1, BIG_MX_COUNT + 1)]
    lines += ['mx%02d.bigmx A 127.0.1.%d' % (index, index) for index in range(1, BIG_MX_COUNT + 1)]
    return '\n'.join(lines) + '\n'


class ZoneNameserver(dns.nameserver.Nameserver):
    """Answers like BIND authoritative for the zone `test.`; some names misbehave on purpose.

    servfail: names answered SERVFAIL. refused: names answered REFUSED. silent: names never
    answered (the query times out). ad: set the AD flag on answers.
    """

    def __init__(self, address='192.0.2.53', port=53, servfail=(), refused=(), silent=(), ad=False):
        super(ZoneNameserver, self).__init__()
        self.address = address
        self.port = port
        self.zone = dns.zone.from_text(ZONE_TEXT + _big_zone_text(), origin='test.', relativize=False)
        self.servfail = set(dns.name.from_text(name) for name in servfail)
        self.refused = set(dns.name.from_text(name) for name in refused)
        self.silent = set(dns.name.from_text(name) for name in silent)
        self.ad = ad
        self.queries = []
        self._lock = threading.Lock()

    def __str__(self):
        return self.address

    def kind(self):
        return 'Zone'

    def is_always_max_size(self):
        return False

    def answer_nameserver(self):
        return self.address

    def answer_port(self):
        return self.port

    def asked(self, rdtype=None):
        """(name, type, tcp) of every query received, optionally for one type."""
        with self._lock:
            return [entry for entry in self.queries if rdtype is None or entry[1] == rdtype]

    def query(self, request, timeout, source, source_port, max_size, one_rr_per_rrset=False, ignore_trailing=False):
        question = request.question[0]
        with self._lock:
            self.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype), bool(max_size)))
        if question.name in self.silent:
            time.sleep(timeout)
            raise dns.exception.Timeout(timeout=timeout)
        response = dns.message.make_response(request)
        if question.name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif question.name in self.refused:
            response.set_rcode(dns.rcode.REFUSED)
        else:
            self._answer(response, question.name, question.rdtype)
        wire = response.to_wire()
        if not max_size and len(wire) > UDP_LIMIT:
            response.answer = []
            response.authority = []
            response.flags |= dns.flags.TC
            wire = response.to_wire()
        # from_wire raises Truncated for TC, as dns.query.udp does.
        return dns.message.from_wire(wire, raise_on_truncation=True)

    def _answer(self, response, name, rdtype):
        response.flags |= dns.flags.AA
        if self.ad:
            response.flags |= dns.flags.AD
        for dummy_hop in range(8):
            node = self.zone.get_node(name)
            if node is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                break
            rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rdataset is not None:
                response.answer.append(self._rrset(name, rdataset))
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                break
            response.answer.append(self._rrset(name, cname))
            name = cname[0].target
        soa = self.zone.get_rdataset(self.zone.origin, dns.rdatatype.SOA)
        response.authority.append(self._rrset(self.zone.origin, soa))

    @staticmethod
    def _rrset(name, rdataset):
        rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
        rrset.update(rdataset)
        return rrset


def fake_resolver(options=None, **behaviour):
    """A real dnspython Resolver, configured by the engine, talking to a ZoneNameserver."""
    options = options or MxOptions(nameservers=['192.0.2.53'])
    resolver = make_resolver(options)
    nameserver = ZoneNameserver(port=options.port, **behaviour)
    resolver.nameservers = [nameserver]
    return resolver, nameserver
