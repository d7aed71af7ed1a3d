# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A dnspython-shaped resolver that answers from a dict, for the SPF, DMARC and egress unit tests.

It is driven through ``resolve()`` like the real one, so ``common.lookup`` and ``spf.name_lookup`` run unchanged;
it records every question, which is what the lookup-counting tests count.
"""

from __future__ import annotations

import dns.exception
import dns.name
import dns.resolver
import dns.rrset


class FakeAnswer(object):
    def __init__(self, rrset):
        self.rrset = rrset
        self.response = None
        self.nameserver = '192.0.2.53'
        self.port = 53


class FakeResolver(object):
    """records: {(name, type): [rdata text, ...]}; a name with no entry of any type is NXDOMAIN, a name with
    entries of other types is NODATA. ``failing``: names whose questions time out."""

    def __init__(self, records, failing=()):
        self.records = dict(((name.lower().rstrip('.'), rdtype), values) for (name, rdtype), values in records.items())
        self.failing = set(failing)
        self.nameservers = ['192.0.2.53']
        self.port = 53
        self.lifetime = 5.0
        self.questions = []

    def resolve(self, qname, rdtype, tcp=False, raise_on_no_answer=True, search=None, lifetime=None):
        name = qname.to_text().rstrip('.').lower()
        self.questions.append((name, rdtype))
        if name in self.failing:
            raise dns.exception.Timeout()
        values = self.records.get((name, rdtype))
        if values is None:
            if any(known == name for known, _type in self.records):
                return FakeAnswer(None)
            raise dns.resolver.NXDOMAIN()
        if rdtype == 'TXT':
            values = ['"%s"' % value.replace('"', '\\"') for value in values]
        return FakeAnswer(dns.rrset.from_text(dns.name.from_text(name), 300, 'IN', rdtype, *values))
