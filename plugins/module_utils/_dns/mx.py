# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MX resolution as an MTA sees it (RFC 5321 5.1, RFC 7505, RFC 2181 10.3), on dnspython.

Plain Python: no Ansible import, so modules, the lookup plugin, mx_probe and the
benchmarks share it. ``resolve_mx`` resolves one domain and ``resolve_many`` many,
concurrently, keeping the given order. Both take an optional ``resolver``: any
object with dnspython's ``Resolver.resolve`` signature (tests inject one), or a
``source``: a callable ``(name, rdtype) -> Reply`` that answers the questions from
elsewhere (the Windows path replays ``Resolve-DnsName`` output through
``resolve_dnsname.py``). Everything after the answers is the same code for both.

Output names: ``domain`` and ``host`` never carry the trailing dot, ``query_name``
always does, so ``fabrikam.test`` and ``fabrikam.test.`` give identical records.
Domain-level findings are ``domain_warnings``: a module's top-level ``warnings`` key
would be taken by Ansible as its own warnings.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor

from .._diagnosis import diagnose, diagnose_success
from .._diagnosis import errors
from .validate import (
    check_port,
    check_seconds,
    normalize_domain,
    normalize_domains,
    normalize_ip_version,
    normalize_nameservers,
)

try:
    import dns.exception
    import dns.flags
    import dns.name
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
except ImportError as import_error:
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR = import_error
else:
    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None

STATUSES = ('ok', 'null_mx', 'implicit_mx', 'no_mail', 'nxdomain', 'servfail', 'timeout', 'error')
DEFAULT_MAX_WORKERS = 32

# Domain status -> the diagnosis catalog's condition name ('ok' has none).
STATUS_CONDITIONS = {
    'ok': None,
    'null_mx': errors.DNS_NULL_MX,
    'implicit_mx': errors.DNS_IMPLICIT_MX,
    'no_mail': errors.DNS_NO_MAIL,
    'nxdomain': errors.DNS_NXDOMAIN,
    'servfail': errors.DNS_SERVFAIL,
    'timeout': errors.DNS_TIMEOUT,
    'error': errors.DNS_ERROR,
}
# For an answer with exchangers, the most serious exchanger finding names the diagnosis.
EXCHANGER_CONDITION_ORDER = (errors.DNS_MX_NO_ADDRESS, errors.DNS_MX_IS_CNAME)

# Query outcomes that mean "we could not find out", as opposed to a definite answer.
_FAILED_OUTCOMES = ('servfail', 'timeout', 'error')
_FAMILY_OF_RDTYPE = {'A': 'ipv4', 'AAAA': 'ipv6'}
_RDTYPES_FOR_IP_VERSION = {'auto': ('A', 'AAAA'), '4': ('A',), '6': ('AAAA',)}
_IP_VERSION_WORDS = {'4': 'IPv4', '6': 'IPv6'}


def missing_dnspython_message(where='the managed host'):
    """The failure text when dnspython cannot be imported."""
    return f'dnspython is required on {where}: pip install dnspython (or apt install python3-dnspython)'


class DnsUnavailable(RuntimeError):
    """dnspython is not installed where the engine runs."""


class DnsConfigError(RuntimeError):
    """No usable resolver configuration (for example an empty resolv.conf)."""


class OptionError(ValueError):
    """An option value is invalid; ``option`` names it, the text starts with it."""

    def __init__(self, option, problem):
        separator = '' if problem.startswith('[') else ': '
        super().__init__(f'{option}{separator}{problem}')
        self.option = option


def _checked(option, check, value):
    try:
        return check(value)
    except ValueError as exc:
        raise OptionError(option, str(exc)) from None


class MxOptions:
    """Validated DNS options; the constructor raises OptionError naming a bad option."""

    def __init__(self, nameservers=None, port=53, timeout=2.0, lifetime=5.0, tcp=False,
                 resolve_addresses=True, ip_version='auto', implicit_mx=True):
        self.nameservers = _checked('nameservers', normalize_nameservers, nameservers)
        self.port = _checked('port', check_port, port)
        self.timeout = _checked('timeout', check_seconds, timeout)
        self.lifetime = _checked('lifetime', check_seconds, lifetime)
        self.tcp = bool(tcp)
        self.resolve_addresses = bool(resolve_addresses)
        self.ip_version = _checked('ip_version', normalize_ip_version, ip_version)
        self.implicit_mx = bool(implicit_mx)

    def as_dict(self):
        return dict(vars(self))


def make_resolver(options):
    """A dnspython Resolver for these options that never applies search domains."""
    if not HAS_DNSPYTHON:
        raise DnsUnavailable(missing_dnspython_message())
    if options.nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(options.nameservers)
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration as exc:
            raise DnsConfigError(f'the host has no usable resolver configuration ({exc}); give nameservers') from exc
    resolver.port = options.port
    # Names are absolute; an empty search list makes sure nothing is ever appended.
    resolver.search = []
    resolver.domain = dns.name.root
    resolver.timeout = options.timeout
    resolver.lifetime = options.lifetime
    # AD in the query asks a validating resolver to report AD (RFC 6840 5.7).
    resolver.flags = dns.flags.RD | dns.flags.AD
    resolver.cache = None
    return resolver


class Reply:
    """One query's outcome: answer | nodata | nxdomain | servfail | timeout | error.

    ``records`` are plain values: ``(preference, exchange)`` for MX, with ``exchange`` ''
    for the null MX's root name, and the address text for A and AAAA. ``chain`` is the
    names from the question to the canonical name, without trailing dots.
    """

    def __init__(self, outcome, records=(), chain=(), ttl=None, nameserver=None, port=None, dnssec_ad=False, message=None):
        self.outcome = outcome
        self.records = list(records)
        self.chain = list(chain)
        self.ttl = ttl
        self.nameserver = nameserver
        self.port = port
        self.dnssec_ad = dnssec_ad
        self.message = message


def _name_text(name):
    return name.to_text(omit_final_dot=True).lower()


def _alias_chain(response, qname, canonical_name):
    """Names from qname to the canonical name, CNAME by CNAME."""
    chain = [qname]
    try:
        chaining = response.resolve_chaining()
    except (AttributeError, dns.exception.DNSException):
        # No response object (an injected resolver), or a chain dnspython refuses: fall back to the end point.
        chaining = None
    if chaining is not None:
        for cname_rrset in chaining.cnames:
            for rdata in cname_rrset:
                chain.append(rdata.target)
                break
    elif canonical_name is not None and canonical_name != qname:
        chain.append(canonical_name)
    return [_name_text(name) for name in chain]


def _response_ad(response):
    return bool(response is not None and response.flags & dns.flags.AD)


def _sole_nameserver(resolver):
    nameservers = list(getattr(resolver, 'nameservers', None) or [])
    return _server_text(nameservers[0]) if len(nameservers) == 1 else None


def _server_errors(exc):
    return list((getattr(exc, 'kwargs', None) or {}).get('errors') or [])


def _server_text(server):
    """dnspython 2.4+ reports 'Do53:127.0.0.1@5353'; older versions the bare address."""
    text = str(server)
    if text.startswith('Do53:'):
        text = text[len('Do53:'):].rsplit('@', 1)[0]
    return text


def _describe_server_error(server_error):
    server, via_tcp, port, problem = server_error[:4]
    return '{} port {} ({}): {}'.format(_server_text(server), port, 'tcp' if via_tcp else 'udp', problem)


def _is_servfail(server_error):
    problem, response = server_error[3], server_error[4]
    if problem == 'SERVFAIL':
        return True
    return response is not None and hasattr(response, 'rcode') and response.rcode() == dns.rcode.SERVFAIL


def _plain_records(rrset, rdtype):
    if rdtype == 'MX':
        return [(int(rdata.preference), '' if rdata.exchange == dns.name.root else _name_text(rdata.exchange))
                for rdata in rrset]
    return [str(rdata.address) for rdata in rrset]


def query(resolver, qname, rdtype, options):
    """Send one question through the resolver; never raises for DNS or socket trouble."""
    try:
        answer = resolver.resolve(qname, rdtype, tcp=options.tcp, raise_on_no_answer=False,
                                  search=False, lifetime=options.lifetime)
    except dns.resolver.NXDOMAIN as exc:
        responses = list(((getattr(exc, 'kwargs', None) or {}).get('responses') or {}).values())
        return Reply('nxdomain', nameserver=_sole_nameserver(resolver), port=options.port,
                     dnssec_ad=_response_ad(responses[0] if responses else None),
                     message=f'{_name_text(qname)} does not exist (NXDOMAIN)')
    except dns.resolver.NoAnswer as exc:
        # Only an injected resolver raises this: raise_on_no_answer is off.
        response = (getattr(exc, 'kwargs', None) or {}).get('response')
        return Reply('nodata', nameserver=_sole_nameserver(resolver), port=options.port, dnssec_ad=_response_ad(response))
    except dns.resolver.NoNameservers as exc:
        server_errors = _server_errors(exc)
        servfails = [server_error for server_error in server_errors if _is_servfail(server_error)]
        detail = '; '.join(_describe_server_error(server_error) for server_error in server_errors) or str(exc)
        chosen = (servfails or server_errors or [(None, False, None, None, None)])[0]
        return Reply('servfail' if servfails else 'error', nameserver=_server_text(chosen[0]) if chosen[0] else None, port=chosen[2],
                     message=f'no nameserver could answer {_name_text(qname)} {rdtype}: {detail}')
    except dns.exception.Timeout:
        tried = ', '.join(_server_text(server) for server in getattr(resolver, 'nameservers', None) or []) or 'the nameservers'
        return Reply('timeout', port=options.port,
                     message=f'no answer for {_name_text(qname)} {rdtype} from {tried} port {options.port} '
                             f'within the {options.lifetime:g} s lifetime')
    except (dns.exception.DNSException, OSError, EOFError) as exc:
        return Reply('error', nameserver=_sole_nameserver(resolver), port=options.port,
                     message=f'{_name_text(qname)} {rdtype}: {type(exc).__name__}: {exc}')
    response = getattr(answer, 'response', None)
    rrset = answer.rrset
    chain = _alias_chain(response, qname, getattr(answer, 'canonical_name', None))
    answered_by = getattr(answer, 'nameserver', None)
    return Reply('answer' if rrset else 'nodata', records=_plain_records(rrset, rdtype) if rrset else [], chain=chain,
                 ttl=rrset.ttl if rrset else None, nameserver=_server_text(answered_by) if answered_by else None,
                 port=getattr(answer, 'port', None), dnssec_ad=_response_ad(response))


def dnspython_source(resolver, options):
    """The ``source`` that asks through a dnspython resolver (the default)."""
    def ask(name, rdtype):
        return query(resolver, dns.name.from_text(name), rdtype, options)
    return ask


def _default_source(resolver, options):
    if not HAS_DNSPYTHON:
        raise DnsUnavailable(missing_dnspython_message())
    return dnspython_source(resolver or make_resolver(options), options)


def _run_concurrently(calls, workers):
    """Run callables, at most `workers` at a time; results in call order."""
    if workers <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def _new_exchanger(preference, host, implicit=False):
    return {
        'preference': preference,
        'host': host,
        'addresses': [],
        'canonical_name': None,
        'implicit': implicit,
        'usable': True,
        'equal_preference_group': False,
        'preference_group': 0,
        'warnings': [],
    }


def _mark_preference_groups(exchangers):
    """Exchangers are sorted; equal preferences form one group that an MTA shuffles."""
    preferences = sorted(set(exchanger['preference'] for exchanger in exchangers))
    for exchanger in exchangers:
        exchanger['preference_group'] = preferences.index(exchanger['preference'])
        exchanger['equal_preference_group'] = sum(
            1 for other in exchangers if other['preference'] == exchanger['preference']) > 1


def _sorted_addresses(addresses):
    return sorted(addresses, key=lambda address: (address['family'], ipaddress.ip_address(address['ip'])))


def _apply_address_replies(exchanger, replies, ip_version, conditions, alias_is_problem=True):
    """Fill one exchanger from its A/AAAA replies; add warnings and conditions."""
    host = exchanger['host']
    addresses = []
    for rdtype, reply in replies:
        for address in reply.records:
            addresses.append({'ip': address, 'family': _FAMILY_OF_RDTYPE[rdtype]})
        if len(reply.chain) > 1 and exchanger['canonical_name'] is None:
            exchanger['canonical_name'] = reply.chain[-1]
            if not alias_is_problem:
                continue
            conditions.add(errors.DNS_MX_IS_CNAME)
            exchanger['warnings'].append(
                '{} is an alias (CNAME {}); RFC 2181 10.3 says an MX target must be a host name with its own address '
                'record, so some MTAs refuse it'.format(host, ' -> '.join(reply.chain)))
    exchanger['addresses'] = _sorted_addresses(addresses)
    failures = [(rdtype, reply) for rdtype, reply in replies if reply.outcome in _FAILED_OUTCOMES]
    for rdtype, reply in failures:
        exchanger['warnings'].append(f'{rdtype} lookup of {host} failed ({reply.outcome}): {reply.message}')
    if addresses:
        return
    exchanger['usable'] = False
    conditions.add(errors.DNS_MX_NO_ADDRESS)
    if failures:
        exchanger['warnings'].append(f'{host} has no address that could be resolved; this exchanger is unusable')
    elif any(reply.outcome == 'nxdomain' for rdtype, reply in replies):
        exchanger['warnings'].append(f'{host} does not exist (NXDOMAIN); this exchanger is unusable')
    elif ip_version in _IP_VERSION_WORDS:
        exchanger['warnings'].append(f'{host} has no {_IP_VERSION_WORDS[ip_version]} address (ip_version={ip_version}); '
                                     'this exchanger is unusable')
    else:
        exchanger['warnings'].append(f'{host} has no A or AAAA record; this exchanger is unusable')


def _resolve_exchanger_addresses(exchangers, source, options, workers):
    """A/AAAA for every exchanger, concurrently; returns the exchanger conditions seen."""
    rdtypes = _RDTYPES_FOR_IP_VERSION[options.ip_version]
    hosts = sorted(set(exchanger['host'] for exchanger in exchangers))
    questions = [(host, rdtype) for host in hosts for rdtype in rdtypes]
    calls = [functools.partial(source, host, rdtype) for host, rdtype in questions]
    replies = dict(zip(questions, _run_concurrently(calls, workers)))
    conditions = set()
    for exchanger in exchangers:
        _apply_address_replies(exchanger, [(rdtype, replies[(exchanger['host'], rdtype)]) for rdtype in rdtypes],
                               options.ip_version, conditions)
    return conditions


def resolve_host(host, options=None, resolver=None, workers=2, source=None):
    """Addresses of one host name (A and/or AAAA per ip_version), as an exchanger-like dict.

    For callers that have a host rather than a domain (an SMTP target given by name).
    """
    options = options or MxOptions()
    name = _checked('host', normalize_domain, host)
    source = source or _default_source(resolver, options)
    exchanger = _new_exchanger(0, name, implicit=True)
    _resolve_exchanger_addresses([exchanger], source, options, workers)
    return exchanger


def _new_record(name):
    return {
        'domain': name,
        'query_name': name + '.',
        'status': 'error',
        'exchangers': [],
        'canonical_name': None,
        'ttl': None,
        'nameserver': None,
        'nameserver_port': None,
        'dnssec_ad': False,
        'elapsed_ms': 0.0,
        'error': None,
        'domain_warnings': [],
        'diagnosis': None,
    }


def _apply_mx_answer(record, reply, source, options, workers):
    null_records = [(preference, exchange) for preference, exchange in reply.records if not exchange]
    host_records = [(preference, exchange) for preference, exchange in reply.records if exchange]
    if null_records and not host_records:
        record['status'] = 'null_mx'
        if any(preference != 0 for preference, _exchange in null_records):
            record['domain_warnings'].append('the null MX record has a preference other than 0 (RFC 7505 asks for "0 .")')
        return set()
    if null_records:
        record['domain_warnings'].append(
            'a null MX record (.) is published next to other MX records; RFC 7505 forbids this and MTAs ignore the null record')
    exchangers = [_new_exchanger(preference, exchange) for preference, exchange in host_records]
    exchangers.sort(key=lambda exchanger: (exchanger['preference'], exchanger['host']))
    _mark_preference_groups(exchangers)
    record['status'] = 'ok'
    record['exchangers'] = exchangers
    if not options.resolve_addresses:
        return set()
    return _resolve_exchanger_addresses(exchangers, source, options, workers)


def _apply_no_mx(record, source, options, workers):
    """No MX RRset: RFC 5321 5.1 implicit MX from the domain's own A/AAAA, else no mail."""
    if not options.implicit_mx:
        record['status'] = 'no_mail'
        record['domain_warnings'].append('no MX record; the implicit MX (RFC 5321 5.1) was not checked because implicit_mx is false')
        return set()
    # Both families prove an implicit MX, whatever ip_version filters afterwards.
    rdtypes = ('A', 'AAAA')
    replies = _run_concurrently([functools.partial(source, record['domain'], rdtype) for rdtype in rdtypes], workers)
    answered = [reply for reply in replies if reply.records]
    if not answered:
        failed = [reply for reply in replies if reply.outcome in _FAILED_OUTCOMES + ('nxdomain',)]
        if failed:
            record['status'] = failed[0].outcome
            record['error'] = failed[0].message
        else:
            record['status'] = 'no_mail'
        return set()
    record['status'] = 'implicit_mx'
    record['ttl'] = min(reply.ttl for reply in answered)
    record['domain_warnings'].append('no MX record: mail goes to the address of {} itself (implicit MX, RFC 5321 5.1)'.format(record['domain']))
    exchanger = _new_exchanger(0, record['domain'], implicit=True)
    wanted = _RDTYPES_FOR_IP_VERSION[options.ip_version]
    conditions = set()
    # RFC 2181 10.3 is about MX targets; an aliased domain is noted at domain level instead.
    _apply_address_replies(exchanger, [(rdtype, reply) for rdtype, reply in zip(rdtypes, replies) if rdtype in wanted],
                           options.ip_version, conditions, alias_is_problem=False)
    record['exchangers'] = [exchanger]
    return conditions


def _condition_for(record, conditions):
    if record['exchangers'] and not any(exchanger['usable'] for exchanger in record['exchangers']):
        return errors.DNS_NO_USABLE_EXCHANGER
    if record['status'] == 'ok':
        for condition in EXCHANGER_CONDITION_ORDER:
            if condition in conditions:
                return condition
    return STATUS_CONDITIONS[record['status']]


def _diagnosis_for(record, conditions):
    condition = _condition_for(record, conditions)
    if condition is None:
        return diagnose_success(step='mx')
    return diagnose(step='mx', error=condition)


def resolve_mx(domain, options=None, resolver=None, workers=8, source=None):
    """Resolve one domain the way an MTA does; returns the record described in the module's RETURN.

    Raises OptionError for a malformed domain, DnsUnavailable without dnspython and
    DnsConfigError without a resolver configuration; DNS outcomes are statuses.
    """
    started = time.monotonic()
    options = options or MxOptions()
    name = _checked('domain', normalize_domain, domain)
    source = source or _default_source(resolver, options)
    record = _new_record(name)
    reply = source(name, 'MX')
    record['nameserver'] = reply.nameserver
    record['nameserver_port'] = reply.port
    record['dnssec_ad'] = reply.dnssec_ad
    if len(reply.chain) > 1:
        record['canonical_name'] = reply.chain[-1]
        record['domain_warnings'].append('{} is an alias (CNAME {}); its MX records are those of {}'.format(
            name, ' -> '.join(reply.chain), reply.chain[-1]))
    conditions = set()
    if reply.outcome == 'answer':
        record['ttl'] = reply.ttl
        conditions = _apply_mx_answer(record, reply, source, options, workers)
    elif reply.outcome == 'nodata':
        conditions = _apply_no_mx(record, source, options, workers)
    else:
        record['status'] = reply.outcome
        record['error'] = reply.message
    record['diagnosis'] = _diagnosis_for(record, conditions)
    record['elapsed_ms'] = round((time.monotonic() - started) * 1000.0, 1)
    return record


def _resolve_isolated(name, options, source, workers):
    """One domain of a batch: an unexpected failure becomes that domain's error, not the batch's."""
    started = time.monotonic()
    try:
        return resolve_mx(name, options, workers=workers, source=source)
    except (DnsUnavailable, DnsConfigError):
        raise
    except Exception as exc:  # pylint: disable=broad-except
        record = _new_record(name)
        record['error'] = f'{type(exc).__name__}: {exc}'
        record['diagnosis'] = diagnose(step='mx', error=errors.DNS_ERROR)
        record['elapsed_ms'] = round((time.monotonic() - started) * 1000.0, 1)
        return record


def resolve_many(domains, options=None, resolver=None, max_workers=DEFAULT_MAX_WORKERS, source=None):
    """Resolve domains concurrently (bounded); records come back in the given order.

    Every domain is checked before the first query. Threads are split between
    domains and the address lookups within a domain, so at most about
    ``max_workers`` queries are in flight.
    """
    names = _checked('domains', normalize_domains, domains)
    options = options or MxOptions()
    source = source or _default_source(resolver, options)
    domain_workers = max(1, min(max_workers, len(names)))
    address_workers = max(1, max_workers // domain_workers)
    calls = [functools.partial(_resolve_isolated, name, options, source, address_workers) for name in names]
    return _run_concurrently(calls, domain_workers)
