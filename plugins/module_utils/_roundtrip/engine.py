# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One round trip: open the mailbox, send a message marked with a token, wait for it, read its path, clean up.

The mailbox is opened before anything is sent, so a wrong password or an unreachable IMAP server costs no message.
The message goes through the SMTP engine (submission or a named relay) or the route engine (the recipient domain's
MX, chosen as mx_probe chooses it). The token is in the Subject and in the X-Mailflow-Roundtrip header; the search
and the removal use the header only, so nothing else in the mailbox is read or touched.
"""

from __future__ import annotations

import datetime
import secrets
import time

from .._route.engine import RouteOptionError, RouteProbe, dns_options
from .._smtp.dialogue import run_probe
from .._smtp.options import ProbeOptionError, validate_options
from .._smtp.transcript import Redactor
from . import catalog
from .mailbox import TOKEN_HEADER, ImapMailbox, MailboxError, MaildirMailbox, header_fields
from .options import RoundtripOptionError, validate
from .received import header_latency, parse_chain, slowest_hop

TOKEN_PREFIX = 'mailflow-rt-'
BODY = ('This is a round-trip test message sent by mailops.mailflow mail_roundtrip.\n'
        'It is removed from the mailbox once its arrival is confirmed.\n')
_SMTP_PASSTHROUGH = ('tls', 'tls_verify', 'ca_path', 'server_name', 'helo_name', 'auth', 'source_address',
                     'ip_version', 'connect_timeout', 'command_timeout')


def new_token():
    return TOKEN_PREFIX + secrets.token_hex(12)


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec='milliseconds')


def smtp_options(options, token):
    """The SMTP engine's options for the test message (host and port left out for the MX path)."""
    values = dict((key, options.get(key)) for key in _SMTP_PASSTHROUGH if options.get(key) is not None)
    headers = dict(options['headers'])
    headers[TOKEN_HEADER] = token
    values.update(mail_from=options['sender'], rcpt_to=[options['recipient']], send_message=True,
                  content={'subject': '{} {}'.format(options['subject'], token), 'body': BODY, 'headers': headers},
                  deadline=options.get('deadline') or 60.0)
    if options['via'] != 'mx':
        values.update(host=options['host'], port=options['port'])
    return values


def open_mailbox(box, connect_timeout, command_timeout):
    if box['type'] == 'maildir':
        return MaildirMailbox(box['path'])
    return ImapMailbox(box['host'], box['port'], box['username'], box['password'], tls=box['tls'],
                       ca_path=box['ca_path'], server_name=box['server_name'], timeout=connect_timeout,
                       command_timeout=command_timeout)


def mailbox_view(box):
    """The mailbox as reported: everything but the password."""
    return dict((key, value) for key, value in box.items() if key != 'password')


def plan_text(options):
    box = options['mailbox']
    where = ('the MX of {}'.format(options['recipient'].rsplit('@', 1)[1]) if options['via'] == 'mx'
             else '{} {}:{}'.format(options['via'], options['host'], options['port']))
    at = ('imap{}://{}@{}:{}'.format('s' if box['tls'] == 'implicit' else '', box['username'], box['host'], box['port'])
          if box['type'] == 'imap' else 'maildir:{}'.format(box['path']))
    return ('would send a message marked with a new token from {} to {} through {}, then wait up to {} s for it in '
            '{} (folders {}){}'.format(options['sender'], options['recipient'], where, options['timeout'], at,
                                       ', '.join(box['folders']), ' and remove it' if options['cleanup'] else ''))


def _trim_smtp(result, exchanger=None):
    if result is None:
        return None
    diagnosis = result.get('diagnosis') or {}
    tls = result.get('tls') or {}
    trimmed = {
        'target': result.get('target'),
        'passed': result.get('passed'),
        'message_accepted': bool(result.get('message_accepted')),
        'queued_as': result.get('queued_as'),
        'tls': {'used': tls.get('used'), 'version': tls.get('version'), 'cipher': tls.get('cipher'),
                'verified': tls.get('verified')},
        'steps': [{'name': step.get('name'), 'code': (step.get('reply') or {}).get('code'),
                   'enhanced': (step.get('reply') or {}).get('enhanced'), 'ok': step.get('ok')}
                  for step in result.get('steps') or []],
        'diagnosis': dict((key, diagnosis.get(key))
                          for key in ('status', 'step', 'code', 'enhanced', 'error', 'category', 'summary', 'remedy')),
        'transcript': list(result.get('transcript') or []),
    }
    if exchanger:
        trimmed['exchanger'] = exchanger
    return trimmed


def prepare_send(options, token, probe=run_probe, route_probe=RouteProbe):
    """Check the SMTP side now (before the mailbox is opened or a byte is sent); returns send(), which gives
    (smtp result, exchanger or None, warnings). Raises RoundtripOptionError."""
    values = smtp_options(options, token)
    if options['via'] != 'mx':
        try:
            checked = validate_options(values)
        except ProbeOptionError as exc:
            raise RoundtripOptionError(exc.option, exc.problem) from exc

        def send_direct():
            result = probe(checked)
            return result, None, list(result.pop('warnings', None) or [])
        return send_direct
    domain = options['recipient'].rsplit('@', 1)[1]
    try:
        mx = dns_options(nameservers=options.get('nameservers'), dns_port=options.get('dns_port') or 53,
                         ip_version=options.get('ip_version') or 'auto')
        run = route_probe([domain], values, mx, mode='first_success', port=options['port'])
    except (RouteOptionError, ProbeOptionError) as exc:
        raise RoundtripOptionError(exc.option, str(exc)) from exc

    def send_mx():
        outcome = run.run()[0]
        probes = outcome.get('probes') or []
        # first_success: the exchanger that took it, else the last one an MTA would have tried.
        chosen = next((each for each in probes if each.get('message_accepted')), probes[-1] if probes else None)
        if chosen is None:
            verdict = (outcome.get('verdict') or {}).get('diagnosis') or {}
            return {'passed': False, 'message_accepted': False, 'queued_as': None, 'steps': [], 'tls': {},
                    'transcript': [], 'target': {'host': domain, 'port': options['port']},
                    'diagnosis': dict(verdict, step=verdict.get('step') or 'mx')}, None, []
        exchanger = '{} [{}]'.format(chosen.get('exchanger'), chosen.get('address'))
        return chosen, exchanger, list(run.warnings) + list(chosen.pop('warnings', None) or [])
    return send_mx


def _details(result, options):
    smtp = result.get('smtp') or {}
    diagnosis = smtp.get('diagnosis') or {}
    target = smtp.get('target') or {}
    slowest = result.get('slowest_hop') or {}
    code = diagnosis.get('code')
    return {
        'folder': result.get('folder'),
        'latency_s': result.get('latency_s'),
        'hop_count': len(result.get('hops') or []),
        'mailbox_error': (result.get('mailbox_error') or {}).get('message'),
        'server': smtp.get('exchanger') or '{}:{}'.format(
            options.get('server_name') or target.get('host') or options.get('host'), target.get('port') or options.get('port')),
        'step': diagnosis.get('step'),
        'reply': ' ({})'.format(' '.join(str(part) for part in (code, diagnosis.get('enhanced')) if part)) if code else (
            ' ({})'.format(diagnosis['error']) if diagnosis.get('error') else ''),
        'smtp_summary': diagnosis.get('summary'),
        'timeout': options['timeout'],
        'queued_as': result.get('queued_as') or '(no queue id given)',
        'folders': ', '.join(options['mailbox']['folders']),
        'max_latency': options.get('max_latency'),
        'held_by': slowest.get('held_by'),
        'hold_s': slowest.get('delay_s'),
        'hop_index': slowest.get('index'),
        'hop_by': slowest.get('by'),
    }


def _notes(result, facts, details):
    notes = []
    if facts['accepted'] and not facts['delivered']:
        notes.append('last seen: {} accepted it as {}; no later hop is known (the message never arrived, so no '
                     'Received header can tell)'.format(details['server'], details['queued_as']))
    if result.get('removed') is False and result.get('remove_note'):
        notes.append(result['remove_note'])
    return notes


def run_roundtrip(options, check_mode=False, token=None, mailbox_factory=open_mailbox, probe=run_probe,
                  route_probe=RouteProbe, monotonic=time.monotonic, wall=time.time, sleep=time.sleep):
    """Validate and run one round trip; returns the result dict (see the module's RETURN).

    Raises RoundtripOptionError before any connection for options that must not be used."""
    options = validate(options)
    box = options['mailbox']
    secrets_to_hide = [box.get('password'), (options.get('auth') or {}).get('password')]
    redact = Redactor([secret for secret in secrets_to_hide if secret])
    token = token or new_token()
    sender = prepare_send(options, token, probe, route_probe)
    result = {
        'token': token,
        'via': options['via'],
        'sender': options['sender'],
        'recipient': options['recipient'],
        'target': None if options['via'] == 'mx' else {'host': options['host'], 'port': options['port']},
        'mailbox': mailbox_view(box),
        'timeout': options['timeout'],
        'max_latency': options['max_latency'],
        'sent': False,
        'accepted': False,
        'queued_as': None,
        'delivered': False,
        'folder': None,
        'junk': False,
        'latency_s': None,
        'header_latency_s': None,
        'sent_at': None,
        'delivered_at': None,
        'hops': [],
        'slowest_hop': None,
        'removed': None,
        'smtp': None,
        'warnings': [],
    }
    if check_mode:
        result.update(passed=True, check_mode_note=plan_text(options), diagnosis=None, elapsed_ms=0.0)
        return result

    started = monotonic()
    mailbox = mailbox_factory(box, options.get('connect_timeout') or 10.0, options.get('command_timeout') or 30.0)
    facts = {'mailbox_ok': True, 'accepted': False, 'delivered': False, 'junk': False, 'delayed': False}
    try:
        try:
            mailbox.open()
        except MailboxError as exc:
            facts['mailbox_ok'] = False
            result['mailbox_error'] = {'condition': exc.condition, 'message': redact(str(exc))}
        if facts['mailbox_ok']:
            result['mailbox']['tls_session'] = mailbox.tls_info
            _deliver(options, token, mailbox, sender, result, facts, monotonic, wall, sleep)
    finally:
        mailbox.close()

    category = catalog.choose(facts)
    details = _details(result, options)
    result['diagnosis'] = catalog.explain(category, details, _notes(result, facts, details))
    result.pop('remove_note', None)
    result['passed'] = category == 'delivered'
    result['elapsed_ms'] = round((monotonic() - started) * 1000.0, 1)
    return _scrub(result, redact)


def _deliver(options, token, mailbox, send, result, facts, monotonic, wall, sleep):
    box = options['mailbox']
    sent_wall = wall()
    sent_mono = monotonic()
    result['sent_at'] = _iso(sent_wall)
    smtp, exchanger, warnings = send()
    result['sent'] = True
    result['warnings'].extend(warnings)
    result['smtp'] = _trim_smtp(smtp, exchanger)
    facts['accepted'] = result['accepted'] = bool(smtp.get('message_accepted'))
    result['queued_as'] = smtp.get('queued_as')
    if not facts['accepted']:
        return
    deadline = sent_mono + options['timeout']
    found = None
    while True:
        try:
            found = mailbox.find(token, box['folders'])
        except MailboxError as exc:
            warning = f'mailbox: {exc}; retried until the timeout'
            if warning not in result['warnings']:
                result['warnings'].append(warning)
            found = None
        now = monotonic()
        if found is not None or now >= deadline:
            break
        sleep(min(options['poll_interval'], max(deadline - now, 0.0)))
    if found is None:
        return
    latency = now - sent_mono
    facts['delivered'] = result['delivered'] = True
    result['latency_s'] = round(latency, 3)
    result['delivered_at'] = _iso(sent_wall + latency)
    folder = found[0]
    result['folder'] = folder
    facts['junk'] = result['junk'] = folder.lower() in [name.lower() for name in box['junk_folders']]
    facts['delayed'] = options['max_latency'] is not None and latency > options['max_latency']
    headers = header_fields(mailbox.header(found))
    hops = parse_chain(headers.get_all('Received') or [], sent_at=sent_wall)
    result['hops'] = hops
    result['slowest_hop'] = slowest_hop(hops)
    result['header_latency_s'] = header_latency(hops)
    if options['cleanup']:
        try:
            removed, note = mailbox.remove(found)
        except MailboxError as exc:
            removed, note = False, f'removing the test message failed: {exc}'
        result['removed'] = removed
        result['remove_note'] = note
    else:
        result['removed'] = False


def _scrub(value, redact):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return dict((key, _scrub(item, redact)) for key, item in value.items())
    if isinstance(value, list):
        return [_scrub(item, redact) for item in value]
    return value
