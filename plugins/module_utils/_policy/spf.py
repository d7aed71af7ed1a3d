# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SPF (RFC 7208) on dnspython: the record's syntax, its DNS-lookup count, and check_host() for one address.

Written here rather than taken from pyspf or checkdmarc: both resolve through a process-wide resolver (pyspf's
module-level DNSLookup, checkdmarc's resolver per call but Python 3.10+ and nine more packages), neither reports the
lookup count per term, and this code runs on managed hosts (Python 3.8+) with the collection's resolver options, so
every question goes to the nameservers the task names and nowhere else.

``SpfEvaluator(resolver)`` does the DNS through ``common.lookup`` (TXT, A, AAAA) and ``name_lookup`` (MX, PTR),
counting as RFC 7208 4.6.4 counts: include, a, mx, ptr, exists and redirect cost one lookup each, at most 10; an
answer with no records or NXDOMAIN is a void lookup, at most 2. ``check_host(ip, domain, sender, helo)`` returns
the result for an address; ``analyze(domain)`` walks every term (the worst case, an address that matches nothing)
to report the record, its terms and the count.
"""

from __future__ import annotations

import ipaddress
import re

from .common import lookup

try:
    import dns.exception
    import dns.name
    import dns.resolver
except ImportError:
    pass

LOOKUP_LIMIT = 10
VOID_LOOKUP_LIMIT = 2
# RFC 7208 4.6.4: an mx or ptr term looks at no more than 10 names.
NAME_LIMIT = 10
RESULTS = ('pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror')
QUALIFIERS = {'+': 'pass', '-': 'fail', '~': 'softfail', '?': 'neutral'}
MECHANISMS = ('all', 'include', 'a', 'mx', 'ptr', 'ip4', 'ip6', 'exists')
COUNTED = ('include', 'a', 'mx', 'ptr', 'exists', 'redirect')
_MODIFIER_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_.-]*$')
_MACRO = re.compile(r'%(?:\{([slodiphvcrtSLODIPHVCRT])(\d*)(r?)([.\-+,/_=]*)\}|(.))', re.IGNORECASE)
_TOPLABEL = re.compile(r'^(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$')
_EXP_ONLY = 'crt'


class SpfPermError(Exception):
    """A condition that makes check_host() return permerror; ``condition`` names the diagnosis."""

    def __init__(self, condition, message):
        super().__init__(message)
        self.condition = condition


class SpfTempError(Exception):
    """A DNS failure: check_host() returns temperror."""


def _server_text(resolver):
    servers = list(getattr(resolver, 'nameservers', []) or [])
    return str(servers[0]) if len(servers) == 1 else None


def name_lookup(resolver, name, rdtype):
    """MX or PTR question in ``common.lookup``'s shape; records are names without the trailing dot (MX: the
    exchange, preference order)."""
    outcome = {'name': name.rstrip('.').lower(), 'type': rdtype, 'outcome': 'error', 'records': [],
               'authenticated': False, 'nameserver': _server_text(resolver), 'port': resolver.port, 'message': None}
    try:
        answer = resolver.resolve(dns.name.from_text(name), rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        outcome.update(outcome='nxdomain', message='{} does not exist (NXDOMAIN)'.format(outcome['name']))
        return outcome
    except dns.resolver.NoNameservers as exc:
        outcome.update(outcome='servfail', message='no nameserver could answer {} {} ({})'.format(outcome['name'], rdtype, exc))
        return outcome
    except dns.exception.Timeout:
        outcome.update(outcome='timeout',
                       message='no answer for {} {} within {:g} s'.format(outcome['name'], rdtype, resolver.lifetime))
        return outcome
    except (dns.exception.DNSException, OSError, EOFError) as exc:
        outcome.update(message='{} {}: {}: {}'.format(outcome['name'], rdtype, type(exc).__name__, exc))
        return outcome
    rrset = answer.rrset
    if rrset is None:
        outcome.update(outcome='nodata')
        return outcome
    if rdtype == 'MX':
        records = [str(rdata.exchange).rstrip('.').lower() for rdata in sorted(rrset, key=lambda r: r.preference)]
    else:
        records = [str(rdata.target).rstrip('.').lower() for rdata in rrset]
    outcome.update(outcome='answer', records=records)
    return outcome


def reverse_name(ip):
    return ipaddress.ip_address(ip).reverse_pointer


def _ip_macro(ip):
    if ip.version == 4:
        return str(ip)
    return '.'.join(ip.exploded.replace(':', ''))


def expand(text, context, exp=False):
    """Expand the macros of a domain-spec (RFC 7208 7). ``context``: s, l, o, d, i, h (and ip). Raises
    SpfPermError on a bad macro, LookupError when the text needs something the context does not have."""
    out = []
    position = 0
    for match in _MACRO.finditer(text):
        out.append(text[position:match.start()])
        position = match.end()
        if match.group(5) is not None:
            literal = {'%': '%', '_': ' ', '-': '%20'}.get(match.group(5))
            if literal is None:
                raise SpfPermError('spf_syntax_error', f'bad macro {match.group(0)!r} in {text!r}')
            out.append(literal)
            continue
        letter, digits, reverse, delimiters = match.group(1), match.group(2), match.group(3), match.group(4)
        key = letter.lower()
        if key in _EXP_ONLY and not exp:
            raise SpfPermError('spf_syntax_error', f'macro %{{{letter}}} is allowed in exp= only ({text!r})')
        if key == 'v':
            value = 'ip6' if context.get('ip') is not None and context['ip'].version == 6 else 'in-addr'
        elif key == 'i':
            if context.get('ip') is None:
                raise LookupError(f'%{{{letter}}} needs the address')
            value = _ip_macro(context['ip'])
        elif key == 'p':
            value = 'unknown'
        else:
            value = context.get(key)
            if value is None:
                raise LookupError(f'%{{{letter}}} needs a value the check does not have')
        parts = re.split('[{}]'.format(re.escape(delimiters or '.')), value)
        if reverse:
            parts.reverse()
        if digits:
            if int(digits) == 0:
                raise SpfPermError('spf_syntax_error', f'macro {match.group(0)!r} keeps zero labels')
            parts = parts[-int(digits):]
        value = '.'.join(parts)
        if letter.isupper():
            value = re.sub(r'[^A-Za-z0-9\-._~]', lambda m: ''.join(f'%{b:02X}' for b in m.group(0).encode('utf-8')),
                           value)
        out.append(value)
    out.append(text[position:])
    expanded = ''.join(out)
    # RFC 7208 7.3: drop labels from the left until the name fits.
    while len(expanded) > 253 and '.' in expanded:
        expanded = expanded.split('.', 1)[1]
    return expanded


def _check_domain_spec(spec, term):
    if not spec:
        raise SpfPermError('spf_syntax_error', f'{term!r}: empty domain-spec')
    if '%' in spec:
        literal = _MACRO.sub('', spec)
    else:
        literal = spec
    if any(ord(char) < 0x21 or ord(char) > 0x7e for char in literal):
        raise SpfPermError('spf_syntax_error', f'{term!r}: the domain-spec has a character outside visible ASCII')
    if '%' not in spec:
        labels = spec.rstrip('.').split('.')
        if len(labels) < 2 or not _TOPLABEL.match(labels[-1]):
            raise SpfPermError('spf_syntax_error', f'{term!r}: {spec!r} is not a domain name with a top-level label')


def _cidr(text, limit, term):
    if not text.isdigit() or (len(text) > 1 and text[0] == '0') or int(text) > limit:
        raise SpfPermError('spf_syntax_error', f'{term!r}: CIDR length {text!r} is not 0..{limit}')
    return int(text)


def _split_cidr(value, term):
    """'domain/24//64' -> ('domain', 24, 64); CIDR parts optional."""
    cidr4 = cidr6 = None
    slash = value.find('/')
    if slash < 0:
        return value, cidr4, cidr6
    spec, rest = value[:slash], value[slash:]
    match = re.match(r'^(?:/(\d+))?(?://(\d+))?$', rest)
    if not match or not (match.group(1) or match.group(2)):
        raise SpfPermError('spf_syntax_error', f'{term!r}: bad CIDR length {rest!r}')
    if match.group(1):
        cidr4 = _cidr(match.group(1), 32, term)
    if match.group(2):
        cidr6 = _cidr(match.group(2), 128, term)
    return spec, cidr4, cidr6


def parse_record(record):
    """The terms of one v=spf1 record: a list of dicts (kind mechanism|modifier, name, qualifier, value,
    cidr4, cidr6, network, text). Raises SpfPermError (condition spf_syntax_error) naming the bad term."""
    parts = record.split(' ')
    if parts[0].lower() != 'v=spf1':
        raise SpfPermError('spf_syntax_error', 'the record does not start with v=spf1')
    terms = []
    seen_modifiers = set()
    for text in parts[1:]:
        if not text:
            continue
        modifier = re.match(r'^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$', text)
        if modifier:
            name = modifier.group(1).lower()
            value = modifier.group(2)
            if name in ('redirect', 'exp'):
                if name in seen_modifiers:
                    raise SpfPermError('spf_syntax_error', f'{text!r}: {name}= appears more than once')
                seen_modifiers.add(name)
                _check_domain_spec(value, text)
            elif not _MODIFIER_NAME.match(name):
                raise SpfPermError('spf_syntax_error', f'{text!r}: bad modifier name')
            terms.append({'kind': 'modifier', 'name': name, 'qualifier': None, 'value': value, 'cidr4': None,
                          'cidr6': None, 'network': None, 'text': text})
            continue
        qualifier = '+'
        body = text
        if body[0] in QUALIFIERS:
            qualifier, body = body[0], body[1:]
        match = re.match(r'^([A-Za-z0-9]+)(.*)$', body)
        name = match.group(1).lower() if match else ''
        rest = match.group(2) if match else body
        if name not in MECHANISMS:
            raise SpfPermError('spf_syntax_error', f'{text!r}: unknown mechanism')
        term = {'kind': 'mechanism', 'name': name, 'qualifier': qualifier, 'value': None, 'cidr4': None,
                'cidr6': None, 'network': None, 'text': text}
        if name == 'all':
            if rest:
                raise SpfPermError('spf_syntax_error', f'{text!r}: all takes no argument')
        elif name in ('include', 'exists'):
            if not rest.startswith(':'):
                raise SpfPermError('spf_syntax_error', f'{text!r}: {name} needs ":domain"')
            term['value'] = rest[1:]
            _check_domain_spec(term['value'], text)
        elif name in ('a', 'mx'):
            if rest and rest[0] not in ':/':
                raise SpfPermError('spf_syntax_error', f'{text!r}: unknown mechanism')
            spec = rest[1:] if rest.startswith(':') else rest
            value, term['cidr4'], term['cidr6'] = _split_cidr(spec, text)
            if rest.startswith(':'):
                _check_domain_spec(value, text)
                term['value'] = value
        elif name == 'ptr':
            if rest and not rest.startswith(':'):
                raise SpfPermError('spf_syntax_error', f'{text!r}: unknown mechanism')
            if rest:
                term['value'] = rest[1:]
                _check_domain_spec(term['value'], text)
        else:
            if not rest.startswith(':'):
                raise SpfPermError('spf_syntax_error', f'{text!r}: {name} needs ":network"')
            try:
                network = ipaddress.ip_network(rest[1:], strict=False)
            except ValueError:
                raise SpfPermError('spf_syntax_error', f'{text!r}: {rest[1:]!r} is not an {name.upper()} network') from None
            if network.version != int(name[-1]) or (name == 'ip4' and ':' in rest[1:]):
                raise SpfPermError('spf_syntax_error', f'{text!r}: {rest[1:]!r} is not an {name.upper()} network')
            term['network'] = str(network)
        terms.append(term)
    return terms


def spf_records(texts):
    """The TXT strings that are SPF records (v=spf1 alone or followed by a space), RFC 7208 4.5."""
    return [text for text in texts if text.lower() == 'v=spf1' or text.lower().startswith('v=spf1 ')]


class SpfEvaluator:
    """One evaluation (one check_host() or one analyze()), with its lookup counters."""

    def __init__(self, resolver):
        self.resolver = resolver
        self.lookups = 0
        self.void_lookups = 0
        self.queries = 0
        self.records = []
        self.notes = []

    # --- DNS -----------------------------------------------------------------------------

    def _ask(self, name, rdtype, void_counts=True):
        self.queries += 1
        if rdtype in ('MX', 'PTR'):
            reply = name_lookup(self.resolver, name, rdtype)
        else:
            reply = lookup(self.resolver, name, rdtype)
        if reply['outcome'] in ('servfail', 'timeout', 'error'):
            raise SpfTempError(reply['message'] or '{} {}: {}'.format(name, rdtype, reply['outcome']))
        if void_counts and reply['outcome'] in ('nxdomain', 'nodata'):
            self.void_lookups += 1
            if self.void_lookups > VOID_LOOKUP_LIMIT:
                raise SpfPermError('spf_too_many_void_lookups', f'more than {VOID_LOOKUP_LIMIT} lookups found nothing (the last: {name} {rdtype})')
        return reply

    def _count(self, term, domain):
        self.lookups += 1
        if self.lookups > LOOKUP_LIMIT:
            raise SpfPermError('spf_too_many_lookups', 'more than {} DNS lookups; the 11th is {!r} in the record of {}'.format(
                LOOKUP_LIMIT, term['text'], domain))

    def _addresses(self, name, ip, void_counts=True):
        rdtype = 'AAAA' if ip is not None and ip.version == 6 else 'A'
        return self._ask(name, rdtype, void_counts)['records']

    def record_of(self, domain):
        """(record text or None, condition when None). Raises SpfTempError/SpfPermError."""
        reply = self._ask(domain, 'TXT', void_counts=False)
        found = spf_records(reply['records'])
        if len(found) > 1:
            raise SpfPermError('spf_multiple_records', '{} has {} SPF records: {}'.format(
                domain, len(found), ' | '.join(found)))
        return found[0] if found else None

    # --- evaluation ----------------------------------------------------------------------

    def _target(self, term, context, domain):
        """The expanded target name, or a LookupError (returned, not raised) when a macro needs the address or
        sender that an analysis does not have."""
        spec = term['value'] if term['value'] is not None else domain
        try:
            return expand(spec, dict(context, d=domain)).rstrip('.')
        except LookupError as exc:
            return LookupError('{!r}: {}'.format(term['text'], exc))

    @staticmethod
    def _in_network(ip, address, term):
        other = ipaddress.ip_address(address)
        if other.version != ip.version:
            return False
        length = term['cidr6'] if ip.version == 6 else term['cidr4']
        if length is None:
            length = ip.max_prefixlen
        return ip in ipaddress.ip_network(f'{other}/{length}', strict=False)

    def evaluate(self, ip, domain, context, depth=0):
        """check_host() for ``domain``; returns (result, details dict). ip None: analyse only (nothing matches
        except all, every reachable term is looked up)."""
        record = self.record_of(domain)
        entry = {'domain': domain, 'record': record, 'depth': depth, 'lookups': []}
        self.records.append(entry)
        if record is None:
            return 'none', {'domain': domain, 'mechanism': None}
        terms = parse_record(record)
        redirect = None
        for term in terms:
            if term['kind'] == 'modifier':
                if term['name'] == 'redirect':
                    redirect = term
                continue
            name = term['name']
            if name in COUNTED:
                self._count(term, domain)
                entry['lookups'].append(term['text'])
            if name == 'all':
                return QUALIFIERS[term['qualifier']], {'domain': domain, 'mechanism': term['text']}
            if name in ('ip4', 'ip6'):
                if ip is not None and ip in ipaddress.ip_network(term['network']):
                    return QUALIFIERS[term['qualifier']], {'domain': domain, 'mechanism': term['text']}
                continue
            target = self._target(term, context, domain)
            if isinstance(target, LookupError):
                self.notes.append(f'{target} (not evaluated)')
                continue
            if name == 'include':
                result, details = self.evaluate(ip, target, context, depth + 1)
                # Errors inside raise; an included record without SPF is a permerror of the includer.
                if result == 'none':
                    raise SpfPermError('spf_include_without_record', '{!r} in the record of {}: {} has no SPF record'.format(term['text'], domain, target))
                if result == 'pass' and ip is not None:
                    return QUALIFIERS[term['qualifier']], {'domain': domain, 'mechanism': term['text'],
                                                           'via': details}
                continue
            if self._matches(name, term, target, ip):
                return QUALIFIERS[term['qualifier']], {'domain': domain, 'mechanism': term['text']}
        if redirect is not None:
            self._count(redirect, domain)
            entry['lookups'].append(redirect['text'])
            target = self._target(redirect, context, domain)
            if isinstance(target, LookupError):
                self.notes.append(f'{target} (not evaluated)')
                return 'neutral', {'domain': domain, 'mechanism': None}
            result, details = self.evaluate(ip, target, context, depth + 1)
            if result == 'none':
                raise SpfPermError('spf_include_without_record', '{!r} in the record of {}: {} has no SPF record'.format(redirect['text'], domain, target))
            return result, details
        return 'neutral', {'domain': domain, 'mechanism': None}

    def _matches(self, name, term, target, ip):
        if name == 'a':
            return any(ip is not None and self._in_network(ip, address, term)
                       for address in self._addresses(target, ip))
        if name == 'mx':
            exchanges = self._ask(target, 'MX')['records']
            if len(exchanges) > NAME_LIMIT:
                raise SpfPermError('spf_too_many_lookups', '{!r}: {} has {} MX names, more than {}'.format(term['text'], target, len(exchanges), NAME_LIMIT))
            if ip is None:
                return False
            for exchange in exchanges:
                if any(self._in_network(ip, address, term) for address in self._addresses(exchange, ip, False)):
                    return True
            return False
        if name == 'ptr':
            if ip is None:
                return False
            for host in self.validated_names(ip)[:NAME_LIMIT]:
                if host == target.lower() or host.endswith('.' + target.lower()):
                    return True
            return False
        # exists: any A record, whatever its address; an analysis looks it up (for the void count) but goes on.
        found = bool(self._ask(target, 'A')['records'])
        return found and ip is not None

    def validated_names(self, ip):
        """PTR names of ``ip`` whose A/AAAA include ``ip`` (RFC 7208 5.5)."""
        names = self._ask(reverse_name(str(ip)), 'PTR', void_counts=False)['records'][:NAME_LIMIT]
        valid = []
        for host in names:
            try:
                found = self._addresses(host, ip, False)
            except SpfTempError:
                continue
            if any(ipaddress.ip_address(address) == ip for address in found):
                valid.append(host)
        return valid


def _context(domain, sender, helo, ip):
    sender = sender or f'postmaster@{domain}'
    local, at_sign, sender_domain = sender.rpartition('@')
    if not at_sign:
        local, sender_domain = 'postmaster', sender
    return {'s': sender, 'l': local, 'o': sender_domain, 'h': helo, 'ip': ip}


def check_host(resolver, ip, domain, sender=None, helo=None):
    """RFC 7208 check_host(): a dict with result (pass|fail|softfail|neutral|none|permerror|temperror), domain,
    mechanism (the term that decided, or None), condition (a sender_catalog name when the result is an error),
    message, lookup_count, void_lookup_count, records (each record visited)."""
    address = ipaddress.ip_address(ip)
    evaluator = SpfEvaluator(resolver)
    outcome = {'result': None, 'ip': str(address), 'domain': domain, 'mechanism': None, 'matched_in': None,
               'condition': None, 'message': None}
    try:
        result, details = evaluator.evaluate(address, domain, _context(domain, sender, helo, address))
        outcome.update(result=result, mechanism=details.get('mechanism'), matched_in=details.get('domain'))
    except SpfPermError as exc:
        outcome.update(result='permerror', condition=exc.condition, message=str(exc))
    except SpfTempError as exc:
        outcome.update(result='temperror', condition='spf_dns_failed', message=str(exc))
    outcome.update(lookup_count=evaluator.lookups, void_lookup_count=evaluator.void_lookups,
                   records=evaluator.records, notes=evaluator.notes)
    return outcome


def analyze(resolver, domain):
    """The SPF record of ``domain`` as a receiver would find it, walked in full: a dict with status
    (ok|none|permerror|temperror), condition, message, record, terms (of the top record), all (the final
    all term of the top record or its redirect chain, e.g. '-all', or None), lookup_count, lookup_limit,
    void_lookup_count, void_lookup_limit, records (each record visited: domain, record, depth, lookups)."""
    evaluator = SpfEvaluator(resolver)
    outcome = {'domain': domain, 'status': 'ok', 'condition': None, 'message': None, 'record': None, 'terms': [],
               'all': None}
    try:
        result, details = evaluator.evaluate(None, domain, _context(domain, None, None, None))
        if result == 'none':
            outcome.update(status='none', condition='spf_none', message=f'{domain} has no SPF record')
        else:
            mechanism = details.get('mechanism')
            outcome['all'] = ('+' + mechanism) if mechanism == 'all' else mechanism
    except SpfPermError as exc:
        outcome.update(status='permerror', condition=exc.condition, message=str(exc))
    except SpfTempError as exc:
        outcome.update(status='temperror', condition='spf_dns_failed', message=str(exc))
    if evaluator.records:
        outcome['record'] = evaluator.records[0]['record']
        if outcome['record']:
            try:
                outcome['terms'] = [term['text'] for term in parse_record(outcome['record'])]
            except SpfPermError:
                pass
    outcome.update(lookup_count=evaluator.lookups, lookup_limit=LOOKUP_LIMIT,
                   void_lookup_count=evaluator.void_lookups, void_lookup_limit=VOID_LOOKUP_LIMIT,
                   records=evaluator.records, notes=evaluator.notes)
    return outcome
