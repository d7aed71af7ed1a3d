# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the three checks share: their diagnosis dicts, and DNS questions for TXT, TLSA and addresses with the
answering server and the AD bit kept."""

from __future__ import annotations

from .._diagnosis import diagnose

try:
    import dns.exception
    import dns.flags
    import dns.name
    import dns.rcode
    import dns.resolver
except ImportError:
    HAS_DNSPYTHON = False
else:
    HAS_DNSPYTHON = True

# EDNS buffer size of the DNSSEC questions (the DNS flag day 2020 value).
EDNS_PAYLOAD = 1232


def policy_diagnosis(condition, step, notes=()):
    """The diagnosis dict of a condition (catalog.POLICY, indexed by the shared classifier), with ``notes`` added."""
    result = diagnose(step=step, error=condition)
    if result['matched_by'] != 'error':
        raise KeyError(condition)
    result['notes'].extend(note for note in notes if note)
    return result


def dnssec_resolver(resolver):
    """A copy of a dnspython resolver that sets DO and AD in its questions (RFC 6840 5.7), so a validating
    resolver reports whether it authenticated the answer."""
    copy = dns.resolver.Resolver(configure=False)
    copy.nameservers = list(resolver.nameservers)
    copy.port = resolver.port
    copy.search = []
    copy.domain = dns.name.root
    copy.timeout = resolver.timeout
    copy.lifetime = resolver.lifetime
    copy.cache = None
    copy.use_edns(0, dns.flags.DO, EDNS_PAYLOAD)
    copy.flags = dns.flags.RD | dns.flags.AD
    return copy


def _server(answer_or_none, resolver):
    server = getattr(answer_or_none, 'nameserver', None) if answer_or_none is not None else None
    if server is None:
        servers = list(resolver.nameservers)
        server = servers[0] if len(servers) == 1 else None
    if server is None:
        return None
    text = str(server)
    if text.startswith('Do53:'):
        text = text[len('Do53:'):].rsplit('@', 1)[0]
    return text


def _rdata_value(rdtype, rdata):
    if rdtype == 'TXT':
        return b''.join(rdata.strings).decode('utf-8', 'replace')
    if rdtype == 'TLSA':
        return {'usage': int(rdata.usage), 'selector': int(rdata.selector), 'matching_type': int(rdata.mtype),
                'data': bytes(rdata.cert).hex()}
    if rdtype == 'MX':
        return f'{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True).lower()}'
    return str(rdata.address)


def lookup(resolver, name, rdtype, tcp=False):
    """One question; never raises for DNS trouble. Returns a dict: outcome (answer|nodata|nxdomain|servfail|timeout|
    error), records (TXT strings, TLSA dicts or address texts), authenticated (the AD bit of the response),
    nameserver and port (who answered) and message."""
    outcome = {'name': name.rstrip('.').lower(), 'type': rdtype, 'outcome': 'error', 'records': [],
               'authenticated': False, 'nameserver': None, 'port': resolver.port, 'message': None}
    try:
        answer = resolver.resolve(dns.name.from_text(name), rdtype, tcp=tcp, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN as exc:
        responses = list(((getattr(exc, 'kwargs', None) or {}).get('responses') or {}).values())
        response = responses[0] if responses else None
        outcome.update(outcome='nxdomain', nameserver=_server(None, resolver),
                       authenticated=bool(response is not None and response.flags & dns.flags.AD),
                       message='{} does not exist (NXDOMAIN)'.format(outcome['name']))
        return outcome
    except dns.resolver.NoNameservers as exc:
        errors = list((getattr(exc, 'kwargs', None) or {}).get('errors') or [])
        servfail = any(item[3] == 'SERVFAIL' or (item[4] is not None and hasattr(item[4], 'rcode')
                                                 and item[4].rcode() == dns.rcode.SERVFAIL) for item in errors)
        problem = 'SERVFAIL' if servfail else exc
        outcome.update(outcome='servfail' if servfail else 'error', nameserver=_server(None, resolver),
                       message='no nameserver could answer {} {} ({})'.format(outcome['name'], rdtype, problem))
        return outcome
    except dns.exception.Timeout:
        outcome.update(outcome='timeout', nameserver=_server(None, resolver),
                       message='no answer for {} {} within {:g} s'.format(outcome['name'], rdtype, resolver.lifetime))
        return outcome
    except (dns.exception.DNSException, OSError, EOFError) as exc:
        outcome.update(message='{} {}: {}: {}'.format(outcome['name'], rdtype, type(exc).__name__, exc))
        return outcome
    response = getattr(answer, 'response', None)
    rrset = answer.rrset
    outcome.update(outcome='answer' if rrset else 'nodata',
                   records=[_rdata_value(rdtype, rdata) for rdata in rrset] if rrset else [],
                   authenticated=bool(response is not None and response.flags & dns.flags.AD),
                   nameserver=_server(answer, resolver), port=getattr(answer, 'port', resolver.port))
    return outcome


def addresses(resolver, host, ip_version='auto', tcp=False):
    """(addresses, failure message or None) of a host name, A then AAAA as ip_version allows."""
    found, problems = [], []
    for rdtype in {'auto': ('A', 'AAAA'), '4': ('A',), '6': ('AAAA',)}[ip_version]:
        reply = lookup(resolver, host, rdtype, tcp)
        found.extend(reply['records'])
        if reply['outcome'] not in ('answer', 'nodata'):
            problems.append(reply['message'] or reply['outcome'])
    if found:
        return found, None
    return [], '; '.join(sorted(set(problems))) or '{} has no address record'.format(host.rstrip('.'))
