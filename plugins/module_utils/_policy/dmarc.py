# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DMARC (RFC 7489): the record at _dmarc.<domain>, its tags, and whether external report addresses are
authorised (7.1). Plain Python 3.8+ on dnspython, the same resolver as the SPF check.

Without the Public Suffix List the organizational domain is not guessed: the caller names it
(``organizational_domain``) when the domain itself may have no record.
"""

from __future__ import annotations

import re

from .common import lookup

POLICIES = ('none', 'quarantine', 'reject')
ALIGNMENT = ('r', 's')
_FO_VALUES = ('0', '1', 'd', 's')
_TAG = re.compile(r'^([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*)$', re.DOTALL)
_URI_SIZE = re.compile(r'^(.*?)(?:!(\d+)([kmgt]?))?$', re.IGNORECASE)


class DmarcSyntaxError(ValueError):
    """The record is not valid; the message names the tag."""


def dmarc_records(texts):
    return [text for text in texts if re.match(r'^v\s*=\s*DMARC1\s*(;|$)', text)]


def _report_uris(tag, value):
    uris = []
    for raw in value.split(','):
        raw = raw.strip()
        match = _URI_SIZE.match(raw)
        uri = match.group(1)
        if not re.match(r'^[A-Za-z][A-Za-z0-9+.-]*:', uri):
            raise DmarcSyntaxError(f'{tag}: {raw!r} is not a URI (mailto:address)')
        entry = {'uri': uri, 'scheme': uri.split(':', 1)[0].lower(), 'address': None, 'domain': None,
                 'max_size': None}
        if match.group(2):
            entry['max_size'] = match.group(2) + (match.group(3) or '').lower()
        if entry['scheme'] == 'mailto':
            address = uri.split(':', 1)[1]
            local, _at_sign, domain = address.rpartition('@')
            if not local or not domain or '.' not in domain:
                raise DmarcSyntaxError(f'{tag}: {address!r} is not a mail address')
            entry['address'] = address
            entry['domain'] = domain.lower().rstrip('.')
        uris.append(entry)
    return uris


def parse_record(record):
    """The tags of one v=DMARC1 record with RFC 7489 defaults applied: a dict with v, p, sp, pct, rua, ruf
    (lists of {uri, scheme, address, domain, max_size}), adkim, aspf, fo, rf, ri, and unknown (tag names a
    receiver ignores). Raises DmarcSyntaxError."""
    parts = [part.strip() for part in record.split(';')]
    tags = {}
    order = []
    for part in parts:
        if not part:
            continue
        match = _TAG.match(part)
        if not match:
            raise DmarcSyntaxError(f'{part!r} is not tag=value')
        name, value = match.group(1).lower(), match.group(2).strip()
        if name in tags:
            raise DmarcSyntaxError(f'tag {name} appears twice')
        tags[name] = value
        order.append(name)
    if not order or order[0] != 'v' or tags['v'] != 'DMARC1':
        raise DmarcSyntaxError('v=DMARC1 must be the first tag')
    if 'p' not in tags:
        raise DmarcSyntaxError('p (the policy) is missing; it must follow v=DMARC1')
    if order[1] != 'p':
        raise DmarcSyntaxError('p must be the second tag, right after v=DMARC1')
    parsed = {'v': 'DMARC1', 'unknown': []}
    for name in ('p', 'sp'):
        if name in tags:
            if tags[name].lower() not in POLICIES:
                raise DmarcSyntaxError('{}={}: expected one of {}'.format(name, tags[name], ', '.join(POLICIES)))
            parsed[name] = tags[name].lower()
    parsed.setdefault('sp', parsed['p'])
    parsed['sp_explicit'] = 'sp' in tags
    pct = tags.get('pct', '100')
    if not pct.isdigit() or int(pct) > 100:
        raise DmarcSyntaxError(f'pct={pct}: expected a whole number 0..100')
    parsed['pct'] = int(pct)
    for name in ('adkim', 'aspf'):
        value = tags.get(name, 'r').lower()
        if value not in ALIGNMENT:
            raise DmarcSyntaxError(f'{name}={tags[name]}: expected r (relaxed) or s (strict)')
        parsed[name] = value
    fo = tags.get('fo', '0')
    if any(part.strip() not in _FO_VALUES for part in fo.split(':')):
        raise DmarcSyntaxError(f'fo={fo}: expected 0, 1, d or s, separated by colons')
    parsed['fo'] = fo
    parsed['rf'] = tags.get('rf', 'afrf').lower()
    ri = tags.get('ri', '86400')
    if not ri.isdigit():
        raise DmarcSyntaxError(f'ri={ri}: expected seconds')
    parsed['ri'] = int(ri)
    parsed['rua'] = _report_uris('rua', tags['rua']) if tags.get('rua') else []
    parsed['ruf'] = _report_uris('ruf', tags['ruf']) if tags.get('ruf') else []
    parsed['unknown'] = [name for name in order if name not in (
        'v', 'p', 'sp', 'pct', 'adkim', 'aspf', 'fo', 'rf', 'ri', 'rua', 'ruf')]
    return parsed


def _external(destination, domain, organizational_domain):
    own = [name for name in (domain, organizational_domain) if name]
    return not any(destination == name or destination.endswith('.' + name) for name in own)


def check_dmarc(resolver, domain, organizational_domain=None):
    """The DMARC record of ``domain`` (falling back to ``organizational_domain``): a dict with status
    (ok|none|invalid|temperror), condition, message, record, found_at (the name that held it), policy (the parsed
    tags, None unless valid), applied_policy (p, or sp when found at the organizational domain), warnings
    (conditions that do not fail: monitor only, pct below 100, no rua, an external report domain that has not
    authorised the reports) and report_authorization (one entry per external report domain: domain, authorized,
    query)."""
    outcome = {'domain': domain, 'status': 'ok', 'condition': None, 'message': None, 'record': None,
               'found_at': None, 'policy': None, 'applied_policy': None, 'warnings': [], 'report_authorization': []}
    names = [f'_dmarc.{domain}']
    if organizational_domain and organizational_domain != domain:
        names.append(f'_dmarc.{organizational_domain}')
    for name in names:
        reply = lookup(resolver, name, 'TXT')
        if reply['outcome'] in ('servfail', 'timeout', 'error'):
            outcome.update(status='temperror', condition='dmarc_dns_failed', message=reply['message'])
            return outcome
        found = dmarc_records(reply['records'])
        if len(found) > 1:
            outcome.update(status='invalid', condition='dmarc_multiple_records', found_at=name,
                           message=f'{name} has {len(found)} DMARC records')
            return outcome
        if found:
            outcome.update(record=found[0], found_at=name)
            break
    if outcome['record'] is None:
        outcome.update(status='none', condition='dmarc_none', message='no v=DMARC1 record at {}'.format(' or '.join(names)))
        return outcome
    try:
        policy = parse_record(outcome['record'])
    except DmarcSyntaxError as exc:
        outcome.update(status='invalid', condition='dmarc_syntax_error', message=str(exc))
        return outcome
    outcome['policy'] = policy
    applied = policy['p'] if outcome['found_at'] == names[0] else policy['sp']
    outcome['applied_policy'] = applied
    outcome['condition'] = 'dmarc_monitor_only' if applied == 'none' else 'dmarc_enforced'
    if applied == 'none':
        outcome['warnings'].append('dmarc_monitor_only')
    if policy['pct'] < 100:
        outcome['warnings'].append('dmarc_partial_pct')
    if not policy['rua']:
        outcome['warnings'].append('dmarc_no_rua')
    checked = set()
    for uri in policy['rua'] + policy['ruf']:
        destination = uri['domain']
        if not destination or destination in checked or not _external(destination, domain, organizational_domain):
            continue
        checked.add(destination)
        query = f'{organizational_domain or domain}._report._dmarc.{destination}'
        reply = lookup(resolver, query, 'TXT')
        if reply['outcome'] in ('servfail', 'timeout', 'error'):
            outcome.update(status='temperror', condition='dmarc_dns_failed', message=reply['message'])
            return outcome
        authorized = bool(dmarc_records(reply['records']))
        outcome['report_authorization'].append({'domain': destination, 'authorized': authorized, 'query': query})
        if not authorized and 'dmarc_report_destination_unauthorized' not in outcome['warnings']:
            # The policy still applies; only the reports to that address are lost (receivers skip it).
            outcome['warnings'].append('dmarc_report_destination_unauthorized')
    return outcome
