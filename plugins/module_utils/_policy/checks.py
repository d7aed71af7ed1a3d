# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the transport security checks of a mail domain: MTA-STS, TLS-RPT and DANE.

The MX set comes from the same resolver code as mx_lookup; each MX's certificate from the SMTP engine (one probe
per exchanger, quit after STARTTLS, shared by the MTA-STS and DANE checks). Nothing is sent beyond EHLO and
STARTTLS. Plain Python 3.8+, no Ansible.
"""

from __future__ import annotations

import base64
import time

from .._dns.mx import MxOptions, make_resolver, resolve_mx
from .._smtp.dialogue import SmtpProbe
from .._smtp.options import ProbeOptionError, validate_options
from .._smtp.result import build_result
from .._smtp.tlsinfo import certificate_summary
from . import catalog as C
from . import dane, mta_sts, tlsrpt
from .common import addresses, dnssec_resolver, lookup, policy_diagnosis

CHECKS = ('mta_sts', 'tlsrpt', 'dane')
MX_STATUSES = ('ok', 'implicit_mx')


class PolicyOptions:
    """Validated options of a run; the module checks types, this checks values (ValueError naming the option)."""

    def __init__(self, checks=CHECKS, nameservers=None, port=53, timeout=2.0, lifetime=5.0, tcp=False,
                 dnssec_nameservers=None, dnssec_port=53, ca_path=None, smtp_port=25, helo_name=None,
                 connect_timeout=10.0, command_timeout=30.0, https_timeout=10.0):
        unknown = [check for check in checks if check not in CHECKS]
        if unknown or not checks:
            raise ValueError('checks: give one or more of {} (got {})'.format(', '.join(CHECKS), ', '.join(unknown) or
                                                                              'none'))
        self.checks = [check for check in CHECKS if check in checks]
        self.dns = MxOptions(nameservers=nameservers, port=port, timeout=timeout, lifetime=lifetime, tcp=tcp)
        self.dnssec = None
        if dnssec_nameservers:
            try:
                self.dnssec = MxOptions(nameservers=dnssec_nameservers, port=dnssec_port, timeout=timeout,
                                        lifetime=lifetime, tcp=tcp)
            except ValueError as exc:
                raise ValueError(f'dnssec_{exc}') from exc
        try:
            # The probe options are checked once here, with a stand-in host, so a bad one fails before any query.
            validate_options({'host': '192.0.2.1', 'port': smtp_port, 'ca_path': ca_path, 'helo_name': helo_name,
                              'connect_timeout': connect_timeout, 'command_timeout': command_timeout,
                              'tls': 'starttls', 'quit_after': 'starttls'})
        except ProbeOptionError as exc:
            raise ValueError(str(exc).replace('port:', 'smtp_port:', 1) if exc.option == 'port' else str(exc)) from exc
        self.ca_path = ca_path
        self.smtp_port = smtp_port
        self.helo_name = helo_name
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        if isinstance(https_timeout, bool) or not isinstance(https_timeout, (int, float)) or not 0 < https_timeout <= 3600:
            raise ValueError(f'https_timeout: {https_timeout!r} is out of range (more than 0, at most 3600 seconds)')
        self.https_timeout = https_timeout


def _server_label(options):
    if options is None:
        return None
    servers = options.nameservers or ['(resolv.conf)']
    return ', '.join(f'{server} port {options.port}' for server in servers)


class PolicyRun:
    """One run over one or more domains; probes and lookups are shared between the domains of the run."""

    def __init__(self, options, probe_class=SmtpProbe):
        self.options = options
        self.resolver = make_resolver(options.dns)
        self.dnssec = dnssec_resolver(make_resolver(options.dnssec)) if options.dnssec else None
        self._probe_class = probe_class
        self._probes = {}

    # --- one MX: its STARTTLS certificate -------------------------------------------------------------------

    def probe(self, host, address):
        key = (host, address)
        if key not in self._probes:
            self._probes[key] = self._run_probe(host, address)
        return self._probes[key]

    def _run_probe(self, host, address):
        options = {'host': host, 'addresses': [address], 'port': self.options.smtp_port, 'tls': 'starttls',
                   'tls_verify': True, 'ca_path': self.options.ca_path, 'server_name': host, 'quit_after': 'starttls',
                   'helo_name': self.options.helo_name, 'connect_timeout': self.options.connect_timeout,
                   'command_timeout': self.options.command_timeout,
                   'deadline': self.options.connect_timeout + 3 * self.options.command_timeout}
        try:
            engine = self._probe_class(options)
        except ProbeOptionError as exc:
            # A name from the DNS that the SMTP engine refuses (for example with characters a host name cannot have).
            return {'host': host, 'address': address, 'reached': False, 'starttls_offered': None, 'tls_used': False,
                    'verified': None, 'verify_error': None, 'verify_message': None, 'certificate': None,
                    'error': 'invalid_option', 'error_message': str(exc), 'elapsed_ms': 0.0, '_der': None,
                    '_chain': None}
        raw = engine.run_raw()
        result = build_result(engine.options, raw)
        der_text = raw['tls'].get('certificate_der')
        der = base64.b64decode(der_text) if der_text else None
        chain = raw['tls'].get('certificate_chain_der')
        tls = result['tls']
        reached = any(step['name'] in ('ehlo', 'helo') and (step.get('reply') or {}).get('code') in range(200, 300)
                      for step in result['steps'])
        failed = [step for step in result['steps'] if step.get('error')]
        return {
            'host': host,
            'address': address,
            'reached': reached,
            'starttls_offered': tls['offered'],
            'tls_used': tls['used'] or bool(der),
            'verified': tls['verified'],
            'verify_error': tls['verify_error'],
            'verify_message': tls['verify_message'],
            'certificate': certificate_summary(der) if der else None,
            'error': failed[0]['error'] if failed else None,
            'error_message': failed[0].get('error_message') if failed else None,
            'elapsed_ms': result.get('elapsed_ms'),
            '_der': der,
            '_chain': [base64.b64decode(item) for item in chain] if chain else None,
        }

    @staticmethod
    def public_probe(probe):
        return dict((key, value) for key, value in probe.items() if not key.startswith('_'))

    # --- a domain --------------------------------------------------------------------------------------------

    def check_domain(self, domain):
        started = time.monotonic()
        record = resolve_mx(domain, self.options.dns, resolver=self.resolver)
        exchangers = [{'host': exchanger['host'], 'preference': exchanger['preference'],
                       'addresses': [item['ip'] for item in exchanger['addresses']]}
                      for exchanger in record['exchangers'] if exchanger['host']]
        result = {'domain': record['domain'], 'mx_status': record['status'], 'mx': exchangers,
                  'resolvers': {'dns': _server_label(self.options.dns),
                                'dnssec': _server_label(self.options.dnssec)},
                  'checks': {}}
        for check in self.options.checks:
            result['checks'][check] = getattr(self, '_check_' + check)(record['domain'], record, exchangers)
        failed = [entry for entry in result['checks'].values() if not entry['passed']]
        result['passed'] = not failed
        result['diagnosis'] = (failed[0] if failed else list(result['checks'].values())[0])['diagnosis']
        result['elapsed_ms'] = round((time.monotonic() - started) * 1000.0, 3)
        return result

    def _mx_failure(self, check, record):
        return {'check': check, 'status': 'mx_lookup_failed', 'passed': False,
                'diagnosis': policy_diagnosis(C.POLICY_MX_FAILED, 'mx', [
                    'MX lookup of {}: {}'.format(record['domain'], record['status']), record.get('error')])}

    # --- MTA-STS ---------------------------------------------------------------------------------------------

    def _check_mta_sts(self, domain, record, exchangers):
        entry = {'check': 'mta_sts', 'status': None, 'passed': False, 'mode': None, 'policy_id': None,
                 'max_age': None, 'mx_patterns': [], 'record': None, 'fetch': None, 'policy_errors': [],
                 'uncovered_mx': [], 'invalid_certificate_mx': [], 'mx': [], 'diagnosis': None}
        reply = lookup(self.resolver, f'_mta-sts.{domain}', 'TXT', self.options.dns.tcp)
        entry['record_lookup'] = {key: reply[key] for key in ('name', 'outcome', 'nameserver', 'message')}

        def finish(status, condition, notes=()):
            entry['status'] = status
            entry['passed'] = status in ('enforce', 'testing', 'none')
            entry['diagnosis'] = policy_diagnosis(condition, 'mta_sts', notes)
            return entry
        if reply['outcome'] in ('servfail', 'timeout', 'error'):
            return finish('dns_failed', C.MTA_STS_DNS_FAILED, [reply['message']])
        text, problem = mta_sts.select_record(reply['records'])
        if text is None:
            return finish('no_record', C.MTA_STS_NO_RECORD, [problem or '_mta-sts.{}: {}'.format(
                domain, 'no v=STSv1 TXT record' if reply['outcome'] == 'answer' else reply['outcome'])])
        entry['record'] = text
        try:
            entry['policy_id'] = mta_sts.parse_record(text)['id']
        except ValueError as exc:
            return finish('record_invalid', C.MTA_STS_RECORD_INVALID, [str(exc)])
        host = f'mta-sts.{domain}'
        found, why = addresses(self.resolver, host, 'auto', self.options.dns.tcp)
        fetch = mta_sts.fetch_policy(domain, found, self.options.ca_path, self.options.https_timeout)
        if not found:
            fetch['message'] = why
        entry['fetch'] = dict((key, value) for key, value in fetch.items() if key != 'body')
        if not fetch['ok']:
            why = '{} (reason: {})'.format(fetch['message'], fetch['reason'])
            return finish('fetch_failed', C.MTA_STS_FETCH_FAILED, [why])
        policy, errors = mta_sts.parse_policy(fetch['body'])
        entry.update(mode=policy['mode'], max_age=policy['max_age'], mx_patterns=policy['mx'], policy_errors=errors)
        if errors:
            return finish('policy_syntax', C.MTA_STS_POLICY_SYNTAX, errors)
        if policy['mode'] == 'none':
            return finish('none', C.MTA_STS_NONE)
        if record['status'] not in MX_STATUSES:
            failure = self._mx_failure('mta_sts', record)
            entry.update(status=failure['status'], diagnosis=failure['diagnosis'])
            return entry
        for exchanger in exchangers:
            pattern = mta_sts.matching_pattern(policy['mx'], exchanger['host'])
            detail = {'host': exchanger['host'], 'pattern': pattern, 'covered': pattern is not None,
                      'certificate_valid': None, 'probe': None}
            if exchanger['addresses']:
                probe = self.probe(exchanger['host'], exchanger['addresses'][0])
                detail['probe'] = self.public_probe(probe)
                detail['certificate_valid'] = bool(probe['tls_used'] and probe['verified'])
            if not detail['covered']:
                entry['uncovered_mx'].append(exchanger['host'])
            if not detail['certificate_valid']:
                entry['invalid_certificate_mx'].append(exchanger['host'])
            entry['mx'].append(detail)
        if entry['uncovered_mx']:
            return finish('mx_not_covered', C.MTA_STS_MX_NOT_COVERED, [
                'not covered by {}: {}'.format(', '.join(policy['mx']), ', '.join(entry['uncovered_mx']))])
        notes = [self._tls_note(detail) for detail in entry['mx'] if not detail['certificate_valid']]
        if entry['invalid_certificate_mx'] and policy['mode'] == 'enforce':
            return finish('certificate_invalid', C.MTA_STS_CERTIFICATE_INVALID, notes)
        if policy['mode'] == 'testing':
            return finish('testing', C.MTA_STS_TESTING, notes)
        return finish('enforce', C.MTA_STS_OK)

    @staticmethod
    def _tls_note(detail):
        probe = detail['probe']
        if probe is None:
            return '{}: no address to probe'.format(detail['host'])
        if probe['starttls_offered'] is False:
            return '{} [{}]: does not offer STARTTLS'.format(detail['host'], probe['address'])
        if probe['verify_error']:
            return '{} [{}]: {} ({})'.format(detail['host'], probe['address'], probe['verify_message'],
                                             probe['verify_error'])
        return '{} [{}]: no TLS session ({})'.format(detail['host'], probe['address'], probe['error_message'] or
                                                     probe['error'])

    # --- TLS-RPT ---------------------------------------------------------------------------------------------

    def _check_tlsrpt(self, domain, record, exchangers):
        entry = {'check': 'tlsrpt', 'status': None, 'passed': False, 'record': None, 'rua': [], 'rua_problems': [],
                 'diagnosis': None}
        reply = lookup(self.resolver, f'_smtp._tls.{domain}', 'TXT', self.options.dns.tcp)

        def finish(status, condition, notes=()):
            entry.update(status=status, passed=status == 'ok', diagnosis=policy_diagnosis(condition, 'tlsrpt', notes))
            return entry
        if reply['outcome'] in ('servfail', 'timeout', 'error'):
            return finish('dns_failed', C.TLSRPT_DNS_FAILED, [reply['message']])
        text, problem = tlsrpt.select_record(reply['records'])
        if text is None:
            return finish('no_record', C.TLSRPT_NO_RECORD, [problem or f'_smtp._tls.{domain}: no v=TLSRPTv1 TXT record'])
        entry['record'] = text
        try:
            parsed = tlsrpt.parse_record(text)
        except ValueError as exc:
            return finish('record_invalid', C.TLSRPT_RECORD_INVALID, [str(exc)])
        entry.update(rua=parsed['rua'], rua_problems=parsed['rua_problems'])
        if parsed['rua_problems']:
            return finish('rua_invalid', C.TLSRPT_RUA_INVALID, parsed['rua_problems'])
        return finish('ok', C.TLSRPT_OK)

    # --- DANE ------------------------------------------------------------------------------------------------

    # Per-MX outcome -> (condition, rank); the domain takes the highest rank.
    DANE_OUTCOMES = {
        'match': (C.DANE_MATCH, 0),
        'no_tlsa': (C.DANE_NO_TLSA, 1),
        'unusable': (C.DANE_UNUSABLE, 2),
        'not_authenticated': (C.DANE_NOT_AUTHENTICATED, 3),
        'chain_unavailable': (C.DANE_CHAIN_UNAVAILABLE, 4),
        'tls_failed': (C.DANE_TLS_FAILED, 5),
        'lookup_failed': (C.DANE_LOOKUP_FAILED, 6),
        'starttls_missing': (C.DANE_STARTTLS_MISSING, 7),
        'no_match': (C.DANE_NO_MATCH, 8),
    }

    def _check_dane(self, domain, record, exchangers):
        entry = {'check': 'dane', 'status': None, 'passed': False, 'validating_resolver': _server_label(
            self.options.dnssec), 'mx_authenticated': None, 'mx': [], 'diagnosis': None}
        if record['status'] not in MX_STATUSES:
            failure = self._mx_failure('dane', record)
            entry.update(status=failure['status'], diagnosis=failure['diagnosis'])
            return entry
        resolver = self.dnssec or self.resolver
        if self.dnssec is not None:
            mx_reply = lookup(self.dnssec, domain, 'MX', self.options.dnssec.tcp)
            entry['mx_authenticated'] = mx_reply['authenticated'] and mx_reply['outcome'] == 'answer'
        for exchanger in exchangers:
            entry['mx'].append(self._dane_mx(resolver, exchanger))
        worst = max(entry['mx'], key=lambda detail: self.DANE_OUTCOMES[detail['status']][1]) if entry['mx'] else None
        status = worst['status'] if worst else 'no_tlsa'
        notes = ['{}: {}'.format(detail['host'], detail['note']) for detail in entry['mx'] if detail['note']]
        if self.dnssec is None:
            notes.append(f'no validating resolver named (dnssec_nameservers): the AD bit of {_server_label(self.options.dns)} is not trusted')
        if entry['mx_authenticated'] is False:
            notes.append(f'the MX records of {domain} are not DNSSEC-authenticated: RFC 7672 2.2.1 senders then skip DANE')
        entry.update(status=status, passed=status == 'match',
                     diagnosis=policy_diagnosis(self.DANE_OUTCOMES[status][0], 'dane', notes))
        return entry

    def _dane_mx(self, resolver, exchanger):
        name = '_25._tcp.{}'.format(exchanger['host'])
        reply = lookup(resolver, name, 'TLSA', (self.options.dnssec or self.options.dns).tcp)
        trusted = self.dnssec is not None and reply['authenticated']
        detail = {'host': exchanger['host'], 'tlsa_name': name, 'tlsa_lookup': reply['outcome'],
                  'answered_by': '{} port {}'.format(reply['nameserver'], reply['port']) if reply['nameserver'] else None,
                  'ad_bit': reply['authenticated'], 'authenticated': trusted,
                  'tlsa': [dane.describe(item) for item in reply['records']], 'status': None, 'matched': None,
                  'tried': [], 'untried': [], 'skipped': [], 'note': None, 'probe': None}
        if reply['outcome'] in ('servfail', 'timeout', 'error'):
            detail.update(status='lookup_failed', note=reply['message'])
            return detail
        if not reply['records']:
            detail['status'] = 'no_tlsa'
            if reply['outcome'] == 'nxdomain' or reply['outcome'] == 'nodata':
                detail['note'] = '{}: {}{}'.format(name, reply['outcome'], ' (authenticated denial)' if trusted else '')
            return detail
        if not trusted:
            detail.update(status='not_authenticated', note='{} TLSA record(s) at {}, answer {}'.format(
                len(reply['records']), name, 'with AD from a resolver not named as validating' if reply['authenticated']
                else 'without the AD bit'))
            return detail
        if not exchanger['addresses']:
            detail.update(status='tls_failed', note='{} has no address'.format(exchanger['host']))
            return detail
        probe = self.probe(exchanger['host'], exchanger['addresses'][0])
        detail['probe'] = self.public_probe(probe)
        if probe['reached'] and probe['starttls_offered'] is False:
            detail.update(status='starttls_missing', note='{} [{}] does not offer STARTTLS'.format(
                exchanger['host'], probe['address']))
            return detail
        if not probe['_der']:
            problem = probe['error_message'] or probe['error']
            detail.update(status='tls_failed', note='{} [{}]: {}'.format(exchanger['host'], probe['address'], problem))
            return detail
        match = dane.match_tlsa(reply['records'], probe['_der'], probe['_chain'])
        note = match['note']
        if match['outcome'] == 'match':
            note = 'matched {}'.format(match['matched'])
        elif match['outcome'] == 'no_match':
            note = 'the certificate of {} [{}] (SHA-256 {}) matches none of: {}'.format(
                exchanger['host'], probe['address'], (probe['certificate'] or {}).get('sha256'),
                '; '.join(match['tried']))
        detail.update(status=match['outcome'], matched=match['matched'], tried=match['tried'],
                      untried=match['untried'], skipped=match['skipped'], note=note)
        return detail


def check_domains(domains, options, probe_class=SmtpProbe):
    """Run the checks for each domain (in order); returns the list of domain results."""
    run = PolicyRun(options, probe_class)
    return [run.check_domain(domain) for domain in domains]
