# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record the lab zone's answers in the shape Resolve-DnsName returns them, for the replay connection.

Run with the venv Python against the real lab BIND (lab/real/labctl start); writes resolve_dnsname.json beside this file.
Each question ``"<name>. <TYPE>"`` gets either ``records`` (every section, as Resolve-DnsName lists them: the
answer, then the authority SOA of a NODATA answer, then the additional section) or the Windows error that
Resolve-DnsName raises (9003 for NXDOMAIN). Cases the lab cannot show (SERVFAIL, timeout) are written by hand
in HAND_WRITTEN.
"""

from __future__ import annotations

import json
import os
import sys

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

SERVER, PORT = '127.0.0.1', 5353
NAMES = [
    'fabrikam.test', 'mx1.fabrikam.test', 'mx2.fabrikam.test', 'contoso.test', 'smtp.contoso.test', 'nullmx.test',
    'implicit.test', 'cname-mx.test', 'mailalias.cname-mx.test', 'dangling.test', 'nohost.dangling.test',
    'v6only.test', 'mx6.v6only.test', 'primary-down.test', 'down.primary-down.test', 'nodata.test', 'chain.test',
    'a.chain.test', 'exchange.test', 'mail1.exchange.test', 'mail_530.fault.test', 'mail-530.faultd.test',
    'nosuchdomain.test',
]
SECTIONS = (('answer', 1), ('authority', 2), ('additional', 3))
HAND_WRITTEN = {
    'servfail.windows.test. MX': {'error_code': 9002, 'error_message': 'servfail.windows.test : DNS server failure'},
    'timeout.windows.test. MX': {'error_code': 1460,
                                 'error_message': 'timeout.windows.test : This operation returned because the timeout '
                                                  'period expired'},
    'norecords.windows.test. MX': {'error_code': 9501,
                                   'error_message': 'norecords.windows.test : No records found for given DNS query'},
    'norecords.windows.test. A': {'error_code': 9501,
                                  'error_message': 'norecords.windows.test : No records found for given DNS query'},
    'norecords.windows.test. AAAA': {'error_code': 9501,
                                     'error_message': 'norecords.windows.test : No records found for given DNS query'},
    'refused.windows.test. MX': {'error_code': 9005, 'error_message': 'refused.windows.test : DNS request refused'},
}


def _record(rrset, section, rdata):
    record = {'Name': rrset.name.to_text(omit_final_dot=True), 'Type': int(rrset.rdtype), 'TTL': rrset.ttl,
              'Section': section, 'DataLength': len(rdata.to_wire())}
    if rrset.rdtype == dns.rdatatype.MX:
        record.update(NameExchange=rdata.exchange.to_text(omit_final_dot=True) or '.', Preference=rdata.preference)
    elif rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        record['IPAddress'] = rdata.address
    elif rrset.rdtype == dns.rdatatype.CNAME:
        record['NameHost'] = rdata.target.to_text(omit_final_dot=True)
    elif rrset.rdtype == dns.rdatatype.SOA:
        record.update(PrimaryServer=rdata.mname.to_text(omit_final_dot=True),
                      NameAdministrator=rdata.rname.to_text(omit_final_dot=True), SerialNumber=rdata.serial)
    return record


def record(name, rdtype):
    request = dns.message.make_query(name + '.', rdtype)
    request.flags |= dns.flags.RD
    response = dns.query.udp(request, SERVER, port=PORT, timeout=2)
    if response.rcode() == dns.rcode.NXDOMAIN:
        return {'error_code': 9003, 'error_message': '%s : DNS name does not exist' % name}
    records = []
    for section_name, section in SECTIONS:
        for rrset in getattr(response, section_name):
            records.extend(_record(rrset, section, rdata) for rdata in rrset)
    return {'records': records}


def main():
    questions = {}
    for name in NAMES:
        for rdtype in ('MX', 'A', 'AAAA'):
            questions['%s. %s' % (name, rdtype)] = record(name, rdtype)
    questions.update(HAND_WRITTEN)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'resolve_dnsname.json')
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump({'recorded_from': 'lab/real BIND, zone test', 'questions': questions}, handle, indent=1, sort_keys=True)
        handle.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
