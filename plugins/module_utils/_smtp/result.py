# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The raw dialogue record -> the smtp_probe result.

An I/O engine (the Python dialogue here, the C# one on Windows hosts) records what went over the wire: per
command its reply lines, timing and transport error, the TLS session and the server's certificate (DER). Everything
that is only reported (reply parsing, step verdicts, capabilities, recipients, notes, warnings, diagnosis) is
worked out here, so both engines give the same result.

The raw record (JSON-compatible):
  target      {host, port, address, ip_version, source_address}
  steps       one per command in wire order (each RCPT its own): {name, command (display text, secrets masked; None
              for the banner), lines (reply lines without CRLF, None when no reply was read), elapsed_ms (command
              written to reply complete), waited_ms (the server's own time: in a pipelined group since the previous
              reply arrived), error and error_message (a transport condition from _diagnosis.errors, or None),
              bare_lf, unrequested (bytes nobody asked for followed the reply), attempts (connect only), and
              optionally held (the reply came in one read with the next: the server held it, and the wait of the
              whole batch is on the last reply of it)}
  tls         {used, version, cipher, bits, server_name, verify_error, verify_message, certificate_der (base64 of
              the leaf certificate, also when the handshake or its verification failed)}
  transcript  lines, secrets masked
  elapsed_ms  the whole probe
  ehlo_name   the name said in EHLO/HELO (None when the dialogue never got that far)
"""

from __future__ import annotations

import base64
import binascii

from .._diagnosis import diagnose, diagnose_success, errors, identify_server
from .capabilities import empty_capabilities, parse_ehlo
from .expect import is_explicit, step_ok
from .message import is_ascii
from .options import ProbeOptions, validate_options
from .queue_id import extract_queue_id
from .reply import Reply, ReplyError, parse_reply_lines
from .tlsinfo import certificate_summary
from .transcript import Redactor

# Automatic slow threshold: this much, plus a few network round trips (the TCP connect time).
SLOW_BASE_SECONDS = 0.25
SLOW_RTT_FACTOR = 4
# Which step a passed dialogue is described by: the last of the first of these that ran.
_TRANSACTION_STEPS = ('message', 'data', 'rcpt', 'mail', 'auth', 'ehlo_tls', 'starttls', 'helo', 'ehlo', 'banner', 'connect')
_HELLO_STEPS = ('banner', 'ehlo', 'helo', 'ehlo_tls')


def _reply(lines, bare_lf):
    """(Reply, None) from raw reply lines, or (None, (condition, message)) when the lines are no valid reply."""
    if lines is None:
        return None, None
    code = lines[0][:3] if lines else ''
    if code[:1] in ('2', '3', '4', '5') and code.isdigit() and all(line[:3] == code for line in lines):
        return Reply(int(code), lines, bare_lf, None), None
    try:
        parse_reply_lines([line.encode('utf-8') for line in lines], bare_lf)
    except ReplyError as exc:
        return None, (exc.condition, exc.message)
    return None, (errors.REPLY_MALFORMED, 'the reply lines do not form one reply')


def _certificate(der_base64):
    if not der_base64:
        return None
    try:
        der = base64.b64decode(der_base64)
    except (binascii.Error, ValueError, TypeError):
        return None
    return certificate_summary(der)


def min_days_condition(options, certificate):
    """(condition, message) when the certificate expires sooner than tls_min_days, else None."""
    wanted = options['tls_min_days']
    days_left = (certificate or {}).get('days_left')
    if wanted is None or days_left is None or days_left >= wanted:
        return None
    return errors.TLS_CERT_EXPIRES_SOON, (f"the certificate expires in {days_left} days (not after {certificate.get('not_after')}), "
                                          f'fewer than tls_min_days ({wanted})')


def _handshake_index(raw_steps, implicit):
    """Index of the step whose TLS handshake gave the session that was used (the last one), or None."""
    found = None
    for index, step in enumerate(raw_steps):
        if step['error'] is not None:
            continue
        if implicit and step['name'] == 'connect' and (step['command'] or '').endswith('(implicit TLS)'):
            found = index
        elif not implicit and step['name'] == 'starttls' and step['lines'] and step['lines'][-1][:1] == '2':
            found = index
    return found


def _address(command):
    return (command or '').split('<', 1)[-1].split('>', 1)[0]


def _mail_size(command):
    for word in (command or '').split()[1:]:
        if word.upper().startswith('SIZE='):
            try:
                return int(word[5:])
            except ValueError:
                return None
    return None


class _Notes:
    """Conditions noted during the dialogue, each once (the first wording wins)."""

    def __init__(self):
        self.items = []
        self._seen = set()

    def add(self, condition, text):
        if condition not in self._seen:
            self._seen.add(condition)
            self.items.append((condition, text))


def build_result(options, raw):
    """The smtp_probe result for one raw dialogue record. ``options``: validated options (or a dict to validate)."""
    if not isinstance(options, ProbeOptions):
        options = validate_options(options)
    expect = options['expect']
    implicit = options['tls'] == 'implicit'
    raw_tls = raw['tls']
    certificate = _certificate(raw_tls.get('certificate_der'))
    lenient_condition = raw_tls.get('verify_error') if not options['tls_verify'] else None
    min_days = min_days_condition(options, certificate) if raw_tls.get('used') else None
    min_days_index = _handshake_index(raw['steps'], implicit) if min_days else None

    notes = _Notes()
    steps = []
    subjects = []          # per step: (Reply or None, trusted enhanced code, context)
    recipients = {}
    server_lines = []
    caps = empty_capabilities()
    caps_before_tls = None
    caps_at_mail = None
    offered = None
    hello_ok = fallback = empty_data = False
    queued_as = None
    message_accepted = False
    slow_limit = options['slow_threshold'] or SLOW_BASE_SECONDS
    tls_active = authenticated = False
    held = []
    port = options['port']

    for index, raw_step in enumerate(raw['steps']):
        name = raw_step['name']
        error = raw_step['error']
        message = raw_step['error_message']
        reply, malformed = _reply(raw_step['lines'], raw_step.get('bare_lf', False))
        if malformed and error is None:
            error, message = malformed
        if index == min_days_index:
            error, message = min_days
        if name == 'connect':
            caps = empty_capabilities()
            tls_active = implicit
            authenticated = False
            attempts = raw_step.get('attempts')
            if not options['slow_threshold'] and attempts and attempts[-1]['error'] is None:
                slow_limit = SLOW_BASE_SECONDS + SLOW_RTT_FACTOR * attempts[-1]['elapsed_ms'] / 1000.0
        code = found = enhanced = None
        if reply is not None:
            code = reply.code
            found = reply.enhanced
            enhanced = found if reply.enhanced_trusted(caps['enhancedstatuscodes']) else None
        if error is not None and error == lenient_condition:
            # tls_verify: false: a certificate that fails verification is reported, the step still passes.
            ok = step_ok(name, code, found, None, expect)
        elif name == 'quit' and reply is None and error is None:
            ok = True      # closing without 221 is common and harmless
        else:
            ok = step_ok(name, code, found, error, expect)
        step = {
            'name': name,
            'command': raw_step['command'],
            'reply': None if reply is None else {'code': code, 'enhanced': enhanced, 'lines': reply.lines, 'text': reply.text},
            'elapsed_ms': raw_step['elapsed_ms'],
            'ok': bool(ok),
            'error': error,
            'error_message': message,
        }
        if 'attempts' in raw_step:
            step['attempts'] = raw_step['attempts']
        steps.append(step)
        subjects.append((reply, enhanced, {'authenticated': authenticated, 'tls': tls_active, 'port': port}))

        if name == 'mail':
            caps_at_mail = caps
            if options['dsn'] and not caps['dsn']:
                notes.add(errors.DSN_NOT_OFFERED, 'DSN parameters were dropped because the server does not offer DSN')
            size = _mail_size(raw_step['command'])
            if size is not None and caps['size'] and size > caps['size']:
                notes.add(errors.SIZE_EXCEEDED, 'the message ({} bytes) is larger than the server SIZE limit ({})'.format(size, caps['size']))
        if reply is not None:
            if reply.bare_lf:
                notes.add(errors.REPLY_BARE_LF, f'the {name} reply ended lines with a bare LF instead of CRLF')
            if raw_step.get('held'):
                held.append(name)
            else:
                waited = raw_step.get('waited_ms', raw_step['elapsed_ms']) / 1000.0
                if ok and waited > slow_limit:
                    step['slow'] = True
                    if held:
                        notes.add(errors.TARPIT, 'the {} replies arrived together after {:.2f} s (slow but valid; the server '
                                  'held them, so the wait belongs to the group)'.format(', '.join(held + [name]), waited))
                    else:
                        notes.add(errors.TARPIT, f'the {name} reply took {waited:.2f} s (slow but valid)')
                held = []
            klass = code // 100
            if name in _HELLO_STEPS:
                server_lines.extend(reply.lines)
            if name in ('ehlo', 'ehlo_tls') and klass == 2:
                if name == 'ehlo_tls':
                    caps_before_tls = caps
                caps = parse_ehlo(reply.texts)
                hello_ok = True
                if name == 'ehlo' and not implicit:
                    offered = caps['starttls']
            elif name == 'helo' and klass == 2 and steps[-2]['name'] == 'ehlo':
                # The guide's note: a server without ESMTP rejects EHLO; HELO then stands in for it.
                fallback = hello_ok = True
                if not is_explicit('ehlo', expect):
                    steps[-2]['ok'] = True
                    steps[-2]['fallback'] = 'helo'
                caps = empty_capabilities(esmtp=False, greeting=reply.texts[0] if reply.texts else None)
                offered = False
            elif name == 'starttls' and klass == 2:
                tls_active = True
            elif name == 'auth' and klass == 2:
                authenticated = True
            elif name == 'rcpt':
                recipients[_address(raw_step['command'])] = {'accepted': klass == 2, 'code': code, 'enhanced': enhanced,
                                                             'text': reply.text}
            elif name == 'message':
                if raw_step['command'] == '.':
                    empty_data = True
                elif klass == 2:
                    message_accepted = True
                    queued_as = extract_queue_id(reply.text)
        elif name == 'rcpt':
            recipients.setdefault(_address(raw_step['command']), {'accepted': False, 'code': None, 'enhanced': None,
                                                                  'text': message})
        if raw_step.get('unrequested'):
            notes.add(errors.UNEXPECTED_REPLY, 'the server sent data after its STARTTLS reply; it was discarded' if name == 'starttls'
                      else f'the server sent data nobody asked for after the {name} reply')

    warnings = list(options.warnings)
    if fallback:
        warnings.append('the server rejected EHLO and accepted HELO: no ESMTP extensions (no STARTTLS, SIZE, DSN, PIPELINING)')
    if (options['tls'] == 'starttls' and offered is False and hello_ok and not options['auth']
            and options['quit_after'] not in ('banner', 'ehlo')):
        warnings.append('the server did not offer STARTTLS: the session continues unencrypted')
    if lenient_condition:
        warnings.append('TLS certificate not verified ({}): {}; continuing because tls_verify is false'.format(
            lenient_condition, raw_tls.get('verify_message')))
    if caps_at_mail is not None:
        addresses = [options['mail_from'] or ''] + list(options['rcpt_to'] or [])
        if not caps_at_mail['smtputf8'] and not all(is_ascii(address) for address in addresses):
            warnings.append('an address is not ASCII but the server did not offer SMTPUTF8: expect a rejection')
        if options['dsn'] and not caps_at_mail['dsn']:
            warnings.append('the server did not offer DSN: NOTIFY/RET/ENVID/ORCPT were not sent')
    if empty_data:
        warnings.append('the server accepted DATA without any accepted recipient; sent an empty end of data')

    software = identify_server(server_lines) if server_lines else None
    passed = bool(steps) and all(step['ok'] for step in steps)
    result = {
        'target': dict(raw['target']),
        'helo_name': raw.get('ehlo_name'),
        'server': {'software': software},
        'steps': steps,
        'capabilities': caps,
        'capabilities_before_tls': caps_before_tls,
        'tls': _tls_result(options, raw_tls, offered, certificate),
        'recipients': recipients,
        'queued_as': queued_as,
        'message_accepted': message_accepted,
        'transcript': list(raw['transcript']),
        'diagnosis': _diagnosis(options, steps, subjects, passed, notes.items, software),
        'passed': passed,
        'elapsed_ms': raw['elapsed_ms'],
        'warnings': warnings,
    }
    auth = options['auth']
    if auth:
        redact = Redactor([auth['password'], base64.b64encode(
            b'\x00' + auth['username'].encode('utf-8') + b'\x00' + auth['password'].encode('utf-8')).decode('ascii')])
        result = _scrub(result, redact)
    return result


def _tls_result(options, raw_tls, offered, certificate):
    used = bool(raw_tls.get('used'))
    verify_error = raw_tls.get('verify_error')
    return {
        'mode': options['tls'],
        'used': used,
        'offered': None if options['tls'] == 'implicit' else offered,
        'version': raw_tls.get('version'),
        'cipher': raw_tls.get('cipher'),
        'bits': raw_tls.get('bits'),
        'server_name': raw_tls.get('server_name'),
        'verified': False if verify_error else (True if used else None),
        'verify_error': verify_error,
        'verify_message': raw_tls.get('verify_message'),
        'certificate': certificate,
    }


def _diagnosis(options, steps, subjects, passed, notes, software):
    expect = options['expect']
    port = options['port']
    index, expected_negative = _diagnosis_subject(steps, passed, expect)
    step = steps[index]
    reply, enhanced, context = subjects[index]
    context = dict(context, server=software)
    code = reply.code if reply is not None else None
    slow = [position for position, each in enumerate(steps) if each.get('slow')]
    if passed and not expected_negative and slow:
        # Slow but valid: the tarpit entry (status ok) explains it better than plain success.
        slow_reply = subjects[slow[0]][0]
        diagnosis = diagnose(step=steps[slow[0]]['name'], code=slow_reply.code, error=errors.TARPIT, port=port,
                             context=dict(subjects[slow[0]][2], server=software))
    elif passed and not expected_negative:
        diagnosis = diagnose_success(step=step['name'], code=code, enhanced=enhanced, context=context)
    else:
        diagnosis = diagnose(
            step=step['name'], code=code, enhanced=enhanced, error=step['error'],
            text=reply.text if reply is not None else step['error_message'],
            port=port, enhanced_trusted=enhanced is not None, context=context)
    if passed and diagnosis.get('status') != 'ok':
        # A negative test that got its negative reply: the dialogue is fine, the reply is explained.
        diagnosis['reply_status'] = diagnosis.get('status')
        diagnosis['status'] = 'ok'
    diagnosis['expected'] = expected_negative
    diagnosis['notes'] = list(diagnosis.get('notes') or []) + [f'{condition}: {text}' for condition, text in notes]
    diagnosis['conditions'] = [condition for condition, _text in notes]
    return diagnosis


def _diagnosis_subject(steps, passed, expect):
    """(step index, expected negative) the diagnosis describes: the first failed step; on a pass,
    the first negative reply the user expected, else the last substantive step."""
    if not passed:
        for index, step in enumerate(steps):
            if not step['ok']:
                return index, False
    for index, step in enumerate(steps):
        reply = step['reply']
        negative = step['error'] is not None or (reply is not None and reply['code'] // 100 in (4, 5))
        if negative and is_explicit(step['name'], expect):
            return index, True
    names = [step['name'] for step in steps]
    for name in _TRANSACTION_STEPS:
        if name in names and (name != 'data' or 'message' in names):
            return len(names) - 1 - names[::-1].index(name), False
    return len(names) - 1, False


def _scrub(value, redact):
    """Apply the redactor to every string of the result (the safety net for echoed secrets)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return dict((key, _scrub(item, redact)) for key, item in value.items())
    if isinstance(value, list):
        return [_scrub(item, redact) for item in value]
    return value
