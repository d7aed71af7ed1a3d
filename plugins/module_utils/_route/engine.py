# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One mx_probe run: resolve every domain, probe its exchangers in MTA order, conclude.

Every option is checked in the constructor, before any query or connection. ``run()`` keeps
one bounded thread pool for the whole run: a domain's probes are queued as soon as its MX
answer arrives, so a slow DNS answer for one domain delays no other.
"""

from __future__ import annotations

import collections
import time

from .._dns.mx import DEFAULT_MAX_WORKERS, MxOptions, OptionError, make_resolver, resolve_many
from .._dns.validate import normalize_domains
from .._smtp.connection import open_socket
from .._smtp.dialogue import run_probe
from .._smtp.options import QUIT_AFTER, validate_options
from .fanout import BoundedRunner, ConnectGate
from .plan import plan_attempts
from .verdict import SESSION, build_verdict, classify_probe, next_needed, walk

MODES = ('all', 'first_success')
DEFAULT_CONCURRENCY = 100
# Each probe in flight holds a thread and a socket; this keeps a run well inside the usual 1024 descriptors.
MAX_CONCURRENCY = 500
# MX lookups in flight at once (the DNS engine's own default): a burst of hundreds of UDP queries can
# overflow a resolver's socket buffer, and every dropped query costs a dns_timeout before its retry.
DNS_IN_FLIGHT = DEFAULT_MAX_WORKERS
# Set per exchanger by the run, so never taken from the caller.
_PER_TARGET_OPTIONS = ('host', 'addresses')
_DNS_OPTION_NAMES = {'port': 'dns_port', 'timeout': 'dns_timeout', 'lifetime': 'dns_lifetime', 'tcp': 'dns_tcp'}
_MX_KEYS_AT_TOP = ('domain', 'status', 'exchangers')


class RouteOptionError(ValueError):
    """An option that must not be used as given; ``option`` names it and the text starts with it."""

    def __init__(self, option, message):
        super().__init__(message)
        self.option = option


def dns_options(nameservers=None, dns_port=53, dns_timeout=2.0, dns_lifetime=5.0, dns_tcp=False, ip_version='auto',
                implicit_mx=True):
    """MxOptions from mx_probe's option names (its ``port`` is the SMTP port, so DNS ones carry ``dns_``)."""
    try:
        return MxOptions(nameservers=nameservers, port=dns_port, timeout=dns_timeout, lifetime=dns_lifetime, tcp=dns_tcp,
                         resolve_addresses=True, ip_version=ip_version, implicit_mx=implicit_mx)
    except OptionError as exc:
        name = _DNS_OPTION_NAMES.get(exc.option, exc.option)
        raise RouteOptionError(name, name + str(exc)[len(exc.option):]) from None


def reaches_rcpt(quit_after):
    """Whether a dialogue that stops after ``quit_after`` sends RCPT TO (an unknown value: assume it does)."""
    if quit_after not in QUIT_AFTER:
        return True
    return QUIT_AFTER.index(quit_after) >= QUIT_AFTER.index('rcpt')


class _DomainRun:
    """The state of one domain during a run; touched only by the scheduling thread."""

    def __init__(self, domain, options, recipients):
        self.domain = domain
        self.options = options
        self.recipients = recipients
        self.units = list(recipients) or [SESSION]
        self.record = None
        self.attempts = []
        self.unusable = []
        self.outcomes = []
        self.results = []
        self.result = None


class RouteProbe:
    """Validated mx_probe run. ``run()`` returns one result per domain, in the given order.

    smtp_options: smtp_probe options by name (without ``host``, ``port``); validated by the SMTP
    engine. Without ``rcpt_to`` (and when the dialogue reaches RCPT), each domain is probed with
    ``postmaster@<domain>``, which RFC 5321 4.5.1 says every domain accepts.
    records: pre-resolved mx_lookup records by domain (no DNS for those). resolver/opener: test
    and benchmark hooks for the DNS resolver and the socket layer.
    """

    def __init__(self, domains, smtp_options=None, mx_options=None, mode='all', concurrency=DEFAULT_CONCURRENCY, port=25,
                 records=None, resolver=None, opener=open_socket):
        try:
            self.domains = normalize_domains(domains)
        except ValueError as exc:
            text = str(exc)
            raise RouteOptionError('domains', 'domains{}{}'.format('' if text.startswith('[') else ': ', text)) from None
        if mode not in MODES:
            raise RouteOptionError('probe', 'probe: must be one of {}, got {!r}'.format(', '.join(MODES), mode))
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise RouteOptionError('concurrency', f'concurrency: must be a whole number from 1 to {MAX_CONCURRENCY}, got {concurrency!r}')
        raw = dict((key, value) for key, value in (smtp_options or {}).items() if value is not None)
        for key in _PER_TARGET_OPTIONS:
            if key in raw:
                raise RouteOptionError(key, f'{key}: is set per exchanger by mx_probe; give domain or domains')
        self.mode = mode
        self.concurrency = concurrency
        self.port = port
        self.mx_options = mx_options or MxOptions()
        self.records = dict(records or {})
        self._resolver = resolver
        self._opener = opener
        self.default_recipient = not raw.get('rcpt_to') and reaches_rcpt(raw.get('quit_after'))
        self.options = {}
        shared = None
        for domain in self.domains:
            if domain in self.options:
                continue
            values = dict(raw, host=domain, port=port)
            if self.default_recipient:
                values['rcpt_to'] = [f'postmaster@{domain}']
                self.options[domain] = validate_options(values)
            else:
                # Only the host differs between domains, and each probe sets its own.
                shared = shared or validate_options(values)
                self.options[domain] = shared
        self.warnings = list(self.options[self.domains[0]].warnings)
        self.stats = {'connects': 0, 'probes': 0}
        self.dns_in_flight = DNS_IN_FLIGHT
        self._started = None
        self._runs = {}

    # --- run -------------------------------------------------------------------------------

    def _new_runs(self):
        runs = {}
        for domain in self.domains:
            if domain not in runs:
                options = self.options[domain]
                recipients = list(options['rcpt_to']) if reaches_rcpt(options['quit_after']) else []
                runs[domain] = _DomainRun(domain, options, recipients)
        self._started = time.monotonic()
        return runs

    def run(self):
        runs = self._new_runs()
        gate = ConnectGate(self._opener)
        runner = BoundedRunner(self.concurrency)
        unresolved = collections.deque()
        resolver = None
        try:
            for run in runs.values():
                if run.domain in self.records:
                    self._submit_all(run, self._plan(run, dict(self.records[run.domain], domain=run.domain)), runner, gate)
                else:
                    unresolved.append(run)
            if unresolved:
                resolver = self._resolver or make_resolver(self.mx_options)
            elif self.mode == 'all':
                runner.last_submitted()
            resolving = len(unresolved)
            for _slot in range(min(len(unresolved), self.dns_in_flight, self.concurrency)):
                run = unresolved.popleft()
                runner.submit(('dns', run, None), self._resolve, run.domain, resolver)
            for (kind, run, index), value in runner.completed():
                if kind == 'dns':
                    if unresolved:
                        waiting = unresolved.popleft()
                        runner.submit(('dns', waiting, None), self._resolve, waiting.domain, resolver)
                    self._submit_all(run, self._plan(run, value), runner, gate)
                    resolving -= 1
                    if not resolving and self.mode == 'all':
                        runner.last_submitted()
                else:
                    self._submit_all(run, self._probed(run, index, value), runner, gate)
        finally:
            runner.close()
        self.stats['connects'] = gate.connects
        return [dict(runs[domain].result) for domain in self.domains]

    # --- stepwise: the plan and verdict here, the probes elsewhere (the Windows path) -------

    def start(self, records):
        """Plan every domain from its mx_lookup record (by domain); returns the first probes to run.

        Each probe is ``(domain, index, options)``: hand its smtp_probe result to ``probed``.
        With probe=all that is every probe at once; with first_success, what an MTA tries first.
        """
        self._runs = self._new_runs()
        work = []
        for run in self._runs.values():
            work.extend(self._work(run, self._plan(run, dict(records[run.domain], domain=run.domain))))
        return work

    def probed(self, domain, index, result):
        """Record one probe's result; returns the probes it makes necessary (first_success)."""
        run = self._runs[domain]
        return self._work(run, self._probed(run, index, result))

    def results(self):
        """One result per domain, in the given order, once every needed probe came back."""
        return [dict(self._runs[domain].result) for domain in self.domains]

    def _work(self, run, indexes):
        work = []
        for index in indexes:
            attempt = run.attempts[index]
            self.stats['probes'] += 1
            work.append((run.domain, index, run.options.for_target(host=attempt['host'], addresses=[attempt['address']])))
        return work

    def _resolve(self, domain, resolver):
        # resolve_many isolates a domain's unexpected failure into its record; one worker keeps the pool's bound.
        return resolve_many([domain], self.mx_options, resolver, max_workers=1)[0]

    def _plan(self, run, record):
        """Plan one domain; returns the attempt indexes to probe first (none: the domain is finished)."""
        run.record = record
        run.attempts, run.unusable = plan_attempts(record)
        run.outcomes = [None] * len(run.attempts)
        run.results = [None] * len(run.attempts)
        if not run.attempts or record.get('status') not in ('ok', 'implicit_mx'):
            self._finish(run)
            return []
        return list(range(len(run.attempts))) if self.mode == 'all' else [0]

    def _submit_all(self, run, indexes, runner, gate):
        for _domain, index, options in self._work(run, indexes):
            runner.submit(('smtp', run, index), run_probe, options, gate.open)

    def _probed(self, run, index, result):
        """Record one probe; returns the attempt indexes to probe next (first_success), else [] (finished when all came back)."""
        run.results[index] = result
        run.outcomes[index] = classify_probe(result, run.recipients, run.options['tls_verify'])
        if self.mode == 'first_success':
            needed = next_needed(walk(run.outcomes, run.units))
            if needed is not None:
                return [needed]
        elif any(outcome is None for outcome in run.outcomes):
            return []
        self._finish(run)
        return []

    def _notes(self, run):
        notes = []
        if self.default_recipient:
            notes.append(f'no rcpt_to given: probed postmaster@{run.domain}, which every mail domain must accept (RFC 5321 4.5.1)')
        skipped = sum(1 for result in run.results if result is None)
        if skipped and run.attempts:
            notes.append(f'probe first_success: {skipped} of {len(run.attempts)} addresses were not probed, '
                         'an MTA would not have needed them')
        return notes

    def _finish(self, run):
        record = run.record
        verdict, roles = build_verdict(record, run.attempts, run.outcomes, run.units, run.unusable, self.port, self._notes(run))
        probes = []
        for index, result in enumerate(run.results):
            if result is None:
                continue
            attempt = run.attempts[index]
            entry = dict(result)
            entry.update({
                'exchanger': attempt['host'],
                'address': attempt['address'],
                'preference': attempt['preference'],
                'implicit': attempt['implicit'],
                'order': index,
                'verdict_role': roles[index],
            })
            probes.append(entry)
        run.result = {
            'domain': run.domain,
            'status': record.get('status'),
            'exchangers': record.get('exchangers') or [],
            'mx': dict((key, value) for key, value in record.items() if key not in _MX_KEYS_AT_TOP),
            'probes': probes,
            'verdict': verdict,
            'probe_mode': self.mode,
            'elapsed_ms': round((time.monotonic() - self._started) * 1000.0, 1),
        }


def probe_routes(domains, smtp_options=None, mx_options=None, mode='all', concurrency=DEFAULT_CONCURRENCY, port=25,
                 records=None, resolver=None, opener=open_socket):
    """Validate and run in one call; see RouteProbe."""
    return RouteProbe(domains, smtp_options, mx_options, mode, concurrency, port, records, resolver, opener).run()
