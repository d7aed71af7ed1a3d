# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one-line outcome of a check, and whether it fails its task.

A check that did not pass fails its task by default, as ``uri`` and ``wait_for`` do; ``fail_on_failure: false``
keeps it a result. The rule lives here, apart from the modules, so that a result built elsewhere (the
controller-side Windows path) is judged the same way. Plain Python 3.8+, no Ansible.
"""

from __future__ import annotations

MODULES = ('smtp_probe', 'mx_probe', 'mx_lookup', 'tls_policy', 'sender_policy', 'egress_identity', 'smtp_smuggling',
           'mail_roundtrip')
# Checks whose engine writes the one-line summary itself (_policy/sender_policy.py).
SUMMARIZED = ('sender_policy', 'egress_identity', 'smtp_smuggling')
# A run over many domains names at most this many failed ones in its line; the rest are counted.
LISTED_DOMAINS = 5


def _module_key(module_name):
    key = (module_name or '').rsplit('.', 1)[-1]
    if key.startswith('win_'):
        key = key[len('win_'):]
    if key not in MODULES:
        raise ValueError('unknown module {!r}, expected one of {}'.format(module_name, ', '.join(MODULES)))
    return key


def reply_words(entry):
    """'550 5.1.1' for a reply, the condition name ('connection_refused') when none came; '' when neither."""
    if entry.get('code') is not None:
        return ' '.join(str(part) for part in (entry['code'], entry.get('enhanced')) if part)
    return entry.get('error') or ''


def target_label(target):
    """host:port, with an IPv6 literal in brackets."""
    host = str(target.get('host') or '')
    if ':' in host and not host.startswith('['):
        host = f'[{host}]'
    return '{}:{}'.format(host, target.get('port'))


def _plural(count, word):
    return '{} {}{}'.format(count, word, '' if count == 1 else 's')


def recipient_outcome(result):
    """'queued as X for N of M recipients; refused at rcpt: who (code)' when the recipients were split or a message
    was queued; None when there is nothing to say beyond the diagnosis."""
    recipients = result.get('recipients') or {}
    accepted = [address for address, entry in recipients.items() if entry.get('accepted')]
    refused = [(address, entry) for address, entry in recipients.items() if not entry.get('accepted')]
    parts = []
    if result.get('message_accepted'):
        queue_id = result.get('queued_as') or '(no queue id given)'
        parts.append('queued as {} for {} of {}'.format(queue_id, len(accepted), _plural(len(recipients), 'recipient')))
    elif accepted and refused:
        parts.append('{} of {} accepted'.format(len(accepted), _plural(len(recipients), 'recipient')))
    if refused and (accepted or result.get('message_accepted')):
        parts.append('refused at rcpt: {}'.format(', '.join(
            '{} ({})'.format(address, reply_words(entry) or 'no reply') for address, entry in refused)))
    return '; '.join(parts) or None


def smtp_summary(result):
    """smtp_probe's msg: whether it passed, and if not at which step, with which reply, and why."""
    label = target_label(result.get('target') or {})
    diagnosis = result.get('diagnosis') or {}
    recipients = recipient_outcome(result)
    if result.get('passed'):
        if diagnosis.get('expected'):
            line = '{} passed: {} got the expected {} ({})'.format(
                label, diagnosis.get('step'), reply_words(diagnosis), diagnosis.get('summary'))
        else:
            line = '{} passed: {}'.format(label, diagnosis.get('summary'))
        return line + (f'; {recipients}' if recipients else '')
    words = reply_words(diagnosis)
    failed = 'failed at {}{}'.format(diagnosis.get('step'), f' ({words})' if words else '')
    if recipients:
        return '{} {}; {}: {}'.format(label, failed, recipients, diagnosis.get('summary'))
    return '{} {}: {}'.format(label, failed, diagnosis.get('summary'))


def route_summary(result):
    """mx_probe's msg for one domain: the verdict summary, plus every message an exchanger queued."""
    verdict = result.get('verdict') or {}
    line = verdict.get('summary') or '{}: {}'.format(result.get('domain'), verdict.get('outcome'))
    for probe in result.get('probes') or []:
        if probe.get('message_accepted'):
            line += '; {} [{}] {}'.format(probe.get('exchanger'), probe.get('address'), recipient_outcome(probe))
    return line


def _route_failure(result):
    diagnosis = (result.get('verdict') or {}).get('diagnosis') or {}
    line = route_summary(result)
    words = reply_words(diagnosis)
    detail = '{}{}'.format(diagnosis.get('step'), f' {words}' if words else '')
    # A verdict settled by DNS already quotes the diagnosis summary.
    if diagnosis.get('summary') and diagnosis['summary'] not in line:
        detail += ': {}'.format(diagnosis['summary'])
    return f'{line} (diagnosis: {detail})'


def _lookup_failure(record):
    diagnosis = record.get('diagnosis') or {}
    words = reply_words(diagnosis)
    line = '{}: status {} at {}{}: {}'.format(
        record.get('domain'), record.get('status'), diagnosis.get('step') or 'mx', f' ({words})' if words else '',
        diagnosis.get('summary'))
    mx_set = record.get('mx_set') or {}
    if mx_set and not mx_set.get('matches'):
        line += ' ({})'.format('; '.join('{}: {}'.format(word, ', '.join(mx_set[word]))
                                         for word in ('missing', 'unexpected') if mx_set.get(word)))
    return line


def _policy_failure(result):
    """tls_policy: each check of the domain that did not pass, with its status, summary and first note."""
    parts = []
    for name, check in (result.get('checks') or {}).items():
        if check.get('passed'):
            continue
        diagnosis = check.get('diagnosis') or {}
        notes = diagnosis.get('notes') or []
        parts.append('{} {}: {}{}'.format(name, check.get('status'), diagnosis.get('summary'),
                                          f' ({notes[0]})' if notes else ''))
    return '{}: {}'.format(result.get('domain'), '; '.join(parts))


def _many(failed, total, describe, what):
    listed = [describe(entry) for entry in failed[:LISTED_DOMAINS]]
    more = len(failed) - len(listed)
    return '{} of {} {}: {}{}'.format(len(failed), _plural(total, 'domain'), what, ' | '.join(listed),
                                      f' | and {more} more' if more else '')


def roundtrip_summary(result):
    """mail_roundtrip's msg: the recipient, the path and the diagnosis summary (delivered, where and how fast)."""
    diagnosis = result.get('diagnosis') or {}
    if not diagnosis:
        return result.get('check_mode_note') or 'mail_roundtrip to {}'.format(result.get('recipient'))
    return '{} via {}: {}{}'.format(result.get('recipient'), result.get('via'), 'passed, ' if result.get('passed') else '',
                                    diagnosis.get('summary'))


def failure_message(module_name, result):
    """One line saying why the check did not pass, or None when it passed.

    module_name is smtp_probe, mx_probe or mx_lookup (a collection prefix or win_ is ignored); result is the
    module's result as returned. The caller fails the task with this line as msg and keeps the rest of the result.
    """
    key = _module_key(module_name)
    if result.get('passed'):
        return None
    if key == 'smtp_probe':
        return smtp_summary(result)
    if key == 'mail_roundtrip':
        return roundtrip_summary(result)
    if key in SUMMARIZED:
        return result.get('summary') or f'{key} did not pass'
    if key == 'tls_policy':
        if 'results' in result:
            entries = result.get('results') or []
            failed = [entry for entry in entries if not entry.get('passed')]
            return 'tls_policy: ' + _many(failed, len(entries), _policy_failure, 'failed a transport security check')
        return _policy_failure(result)
    if 'results' in result:
        entries = result.get('results') or []
        failed = [entry for entry in entries if not entry.get('passed')]
        if key == 'mx_probe':
            return 'mx_probe: ' + _many(failed, len(entries), _route_failure, 'not deliverable')
        return 'mx_lookup: ' + _many(failed, len(entries), _lookup_failure, 'cannot take mail as checked')
    if key == 'mx_probe':
        return _route_failure(result)
    return _lookup_failure(result)
