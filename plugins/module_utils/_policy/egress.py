# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Egress identity of a sending server: what a receiver checks about the address it sees before it reads the mail.

The PTR of the address, whether a PTR name resolves back to it (forward-confirmed reverse DNS, RFC 8601 iprev),
whether the EHLO name is that name or at least resolves to the address, and SPF check_host() of the sender
domain for the address. Each failure is a condition of ``sender_catalog``.
"""

from __future__ import annotations

import ipaddress

from .common import lookup
from .sender_catalog import (
    EGRESS_DNS_FAILED,
    EGRESS_FCRDNS_MISMATCH,
    EGRESS_HELO_MISMATCH,
    EGRESS_NO_PTR,
    EGRESS_OK,
    EGRESS_SPF_NOT_AUTHORIZED,
    sender_diagnosis,
)
from .spf import check_host, name_lookup, reverse_name

_FAILED = ('servfail', 'timeout', 'error')
# Order of the failures in the result: the first one is the diagnosis.
CONDITION_ORDER = (EGRESS_DNS_FAILED, EGRESS_NO_PTR, EGRESS_FCRDNS_MISMATCH, EGRESS_HELO_MISMATCH,
                   EGRESS_SPF_NOT_AUTHORIZED)


def _forward(resolver, name, ip):
    reply = lookup(resolver, name, 'AAAA' if ip.version == 6 else 'A')
    return reply


def check_egress(resolver, address, helo_name=None, sender_domain=None, sender=None):
    """A dict: address, ptr {outcome, names, message}, forward {name: addresses}, ptr_name (the first PTR name
    that resolves back, else the first PTR name, else None), fcrdns (bool), helo {name, matches, how, addresses},
    spf (check_host() result, None without sender_domain), conditions (failed conditions in CONDITION_ORDER),
    passed, diagnosis (the first failure, or egress_ok) and findings (a diagnosis per failure)."""
    ip = ipaddress.ip_address(address)
    found = {}
    problems = []
    ptr = name_lookup(resolver, reverse_name(str(ip)), 'PTR')
    result = {'address': str(ip), 'ptr': {'outcome': ptr['outcome'], 'names': ptr['records'],
                                          'query': ptr['name'], 'message': ptr['message']},
              'forward': {}, 'ptr_name': None, 'fcrdns': False,
              'helo': {'name': helo_name, 'matches': None, 'how': None, 'addresses': []}, 'spf': None}
    conditions = []
    if ptr['outcome'] in _FAILED:
        conditions.append(EGRESS_DNS_FAILED)
        problems.append(ptr['message'])
    elif not ptr['records']:
        conditions.append(EGRESS_NO_PTR)
        found[EGRESS_NO_PTR] = '{} has no PTR record ({}: {})'.format(ip, ptr['name'], ptr['outcome'])
    validated = []
    for name in ptr['records']:
        reply = _forward(resolver, name, ip)
        result['forward'][name] = reply['records']
        if reply['outcome'] in _FAILED:
            problems.append(reply['message'])
        elif any(ipaddress.ip_address(other) == ip for other in reply['records']):
            validated.append(name)
    result['fcrdns'] = bool(validated)
    result['ptr_name'] = (validated or ptr['records'] or [None])[0]
    if ptr['records'] and not validated and EGRESS_DNS_FAILED not in conditions:
        conditions.append(EGRESS_FCRDNS_MISMATCH)
        found[EGRESS_FCRDNS_MISMATCH] = '; '.join(
            '{} resolves to {}'.format(name, ', '.join(result['forward'][name]) or 'nothing')
            for name in ptr['records'])
    if helo_name:
        helo = result['helo']
        lowered = helo_name.rstrip('.').lower()
        if lowered in validated:
            helo.update(matches=True, how='ptr_name')
        elif helo_name.startswith('['):
            helo.update(matches=False, how='address_literal')
        else:
            reply = _forward(resolver, lowered, ip)
            helo['addresses'] = reply['records']
            if reply['outcome'] in _FAILED:
                problems.append(reply['message'])
            elif any(ipaddress.ip_address(other) == ip for other in reply['records']):
                helo.update(matches=True, how='forward')
            else:
                helo['matches'] = False
        if not helo['matches']:
            conditions.append(EGRESS_HELO_MISMATCH)
            if helo['how'] == 'address_literal':
                seen = 'an address literal, not a name'
            else:
                seen = 'resolves to {}, PTR name {}'.format(', '.join(helo['addresses']) or 'nothing',
                                                            result['ptr_name'] or '(none)')
            found[EGRESS_HELO_MISMATCH] = f'EHLO {helo_name}: {seen}'
    if sender_domain:
        spf = check_host(resolver, str(ip), sender_domain, sender, helo_name)
        result['spf'] = spf
        if spf['result'] == 'temperror':
            problems.append(spf['message'])
        if spf['result'] != 'pass':
            conditions.append(EGRESS_SPF_NOT_AUTHORIZED)
            found[EGRESS_SPF_NOT_AUTHORIZED] = 'SPF of {} for {}: {}{}'.format(
                sender_domain, ip, spf['result'], (' ({})'.format(spf['message'])) if spf['message'] else
                (' (by {})'.format(spf['mechanism']) if spf['mechanism'] else ''))
    if problems and EGRESS_DNS_FAILED not in conditions:
        conditions.append(EGRESS_DNS_FAILED)
    if EGRESS_DNS_FAILED in conditions:
        found[EGRESS_DNS_FAILED] = '; '.join(problem for problem in problems if problem)
    conditions.sort(key=CONDITION_ORDER.index)
    findings = [sender_diagnosis(condition, 'egress', found.get(condition)) for condition in conditions]
    result.update(conditions=conditions, passed=not conditions, findings=findings,
                  diagnosis=findings[0] if findings else sender_diagnosis(
                      EGRESS_OK, 'egress', '{} is {} (PTR, forward and EHLO agree){}'.format(
                          ip, result['ptr_name'], ', SPF pass' if result['spf'] else '')))
    return result
