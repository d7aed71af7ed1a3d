# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Baseline snapshots of the mail-flow facts and their comparison (controller side, plain Python).

A snapshot keeps, per host and check, what should stay the same across a change window: the outcome, the reply
codes per step, the capabilities, the certificate and the banner; for the security rows their codes and the watched
values (MTA-STS mode, DANE status per MX, egress PTR name and FCrDNS); for round trips the latency. It leaves out what
changes on every run (other timings, queue ids, transcripts, dates in banners, the client's source port).
"""

from __future__ import annotations

import re

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.detail import current_connection, step_reply
from ansible_collections.mailops.mailflow.plugins.plugin_utils._report import (
    ReportError,
    SUMMARY_LINE_ITEMS,
    SYMBOLS,
    _check_label,
    _host_list,
    _dict,
    _list,
    _now_iso,
    _text,
    build_record,
    iter_entries,
    md_code,
    md_text,
    optional_failed_words,
    select_records,
    _unique_ids,
)

FORMAT = 'mailops.mailflow/baseline'
VERSION = 1
# The order changes are listed in, most serious first.
KINDS = ('regression', 'optional_failure', 'fixed', 'added', 'removed', 'codes', 'exchangers', 'capabilities',
         'certificate', 'banner')
# A change of one of these values of a security row is a regression even when the check still passes:
# name -> (value before, value after) that counts, None for any. A check that went from failing to passing is fixed.
WATCHED = {
    'mta_sts mode': (None, None),   # enforce <-> testing <-> none: what senders do with the domain's mail changes
    'tlsa': ('match', None),        # DANE: the certificate matched its TLSA records and does not any more
    'ptr name': (None, None),       # egress: receivers see another name for the sending address
    'fcrdns': ('pass', 'fail'),     # egress: the PTR name no longer resolves back to the address
}
WATCHED_WORDS = {
    'mta_sts mode': 'the MTA-STS mode changed',
    'tlsa': 'the certificate no longer matches its TLSA records',
    'ptr name': 'the PTR name of the sending address changed',
    'fcrdns': 'the PTR name no longer resolves back to the sending address (FCrDNS)',
}
# Round trips: the latency grew past the threshold when it grew by more than LATENCY_GROWTH_S seconds and to more
# than LATENCY_GROWTH_FACTOR times the baseline's (each condition applies when it is not None).
LATENCY_GROWTH_S = 10.0
LATENCY_GROWTH_FACTOR = 2.0
KIND_TITLES = {
    'regression': 'Regressions (passed before, failing now; or a watched value or the latency changed)',
    'optional_failure': 'Optional checks failed (passed before)',
    'fixed': 'Fixed (failing before, passing now)',
    'added': 'Checks added',
    'removed': 'Checks removed',
    'codes': 'Reply codes changed',
    'exchangers': 'MX records changed',
    'capabilities': 'Capabilities changed',
    'certificate': 'Certificate changed',
    'banner': 'Banner changed',
}
CAPABILITY_FLAGS = (
    ('pipelining', 'PIPELINING'), ('starttls', 'STARTTLS'), ('dsn', 'DSN'), ('smtputf8', 'SMTPUTF8'),
    ('eightbitmime', '8BITMIME'), ('chunking', 'CHUNKING'), ('enhancedstatuscodes', 'ENHANCEDSTATUSCODES'),
)
CERTIFICATE_KEYS = ('sha256', 'not_after', 'issuer')

_MONTH = r'(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*'
# Banners carry the server's clock (Exchange: "ready at Mon, 12 Feb 2024 10:00:00 +0000"), and some a session id.
BANNER_NORMALISERS = (
    (re.compile(r'(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?\d{1,2}\s+' + _MONTH + r'\s+\d{2,4}'
                r'(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?(?:\s*(?:[+-]\d{4}|UTC?|GMT|Z|[A-Z]{3,4}))?(?:\s*\([A-Za-z ]+\))?'), '<date>'),
    (re.compile(r'(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?' + _MONTH + r'\s+\d{1,2},?\s+(?:\d{4}\s+)?'
                r'\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:AM|PM))?(?:\s+\d{4})?(?:\s*(?:[+-]\d{4}|UTC?|GMT|Z|[A-Z]{3,4}))?'), '<date>'),
    (re.compile(r'\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?'), '<date>'),
    (re.compile(r'\b\d{1,2}/\d{1,2}/\d{2,4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:AM|PM))?)?'), '<date>'),
    (re.compile(r'\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?(?:\s*(?:AM|PM))?'), '<time>'),
    (re.compile(r'(?<![\w.-])(?=[\w.-]*\d[\w.-]*\d)(?=[\w.-]*[A-Za-z][\w.-]*[A-Za-z])[\w.-]{16,}(?![\w.-])'), '<id>'),
)


def normalise_banner(text):
    """The banner without what changes per connection; the first word (the server's name) is kept as is."""
    text = ' '.join(_text(text).split())
    if not text:
        return text
    name, _space, rest = text.partition(' ')
    for pattern, replacement in BANNER_NORMALISERS:
        rest = pattern.sub(replacement, rest)
    return (name + ' ' + rest).strip()


def _reply_code(step):
    reply = _dict(step_reply(step))
    if reply.get('code') is not None:
        return ' '.join(_text(part) for part in (reply.get('code'), reply.get('enhanced')) if part)
    if step.get('error'):
        return _text(step['error'])
    return 'connected' if step.get('name') == 'connect' else 'no reply'


_RCPT_ADDRESS = re.compile(r'RCPT TO:\s*<([^>]*)>', re.IGNORECASE)


def step_codes(steps, prefix=''):
    """Reply code per step; each RCPT keyed by its address, other repeats numbered."""
    codes = {}
    # Both details give the same codes: a summary leaves out an earlier connection that a later one repeats.
    for step in current_connection([_dict(step) for step in _list(steps)]):
        key = _text(step.get('name') or 'step')
        match = _RCPT_ADDRESS.search(_text(step.get('command')))
        if key == 'rcpt' and match:
            key = f'rcpt <{match.group(1)}>'
        key = prefix + key
        unique = key
        number = 2
        while unique in codes:
            unique = f'{key}#{number}'
            number += 1
        codes[unique] = _reply_code(step)
    return codes


def capability_keywords(capabilities, tls=None):
    """The EHLO keywords as a sorted list (STARTTLS counted when offered before TLS); None when no EHLO answer."""
    capabilities = _dict(capabilities)
    if not capabilities.get('greeting'):
        return None
    words = set()
    if capabilities.get('esmtp') is False:
        words.add('HELO only')
    for key, word in CAPABILITY_FLAGS:
        if capabilities.get(key):
            words.add(word)
    if _dict(tls).get('offered'):
        words.add('STARTTLS')
    if capabilities.get('size') is not None:
        words.add('SIZE {}'.format(capabilities['size']))
    if capabilities.get('auth'):
        words.add('AUTH {}'.format(' '.join(sorted(_text(mechanism).upper() for mechanism in capabilities['auth']))))
    words.update(' '.join(_text(other).split()) for other in _list(capabilities.get('other')))
    return sorted(words)


def _certificate(tls):
    certificate = _dict(_dict(tls).get('certificate'))
    if not certificate:
        return None
    return dict((key, certificate.get(key)) for key in CERTIFICATE_KEYS)


def _banner(steps):
    for step in _list(steps):
        step = _dict(step)
        lines = _list(_dict(step_reply(step)).get('lines'))
        if step.get('name') == 'banner' and lines:
            return normalise_banner(' '.join(_text(line)[4:] if len(_text(line)) > 3 else _text(line) for line in lines))
    return None


def _endpoint(probe):
    snapshot = {
        'banner': _banner(probe.get('steps')),
        'capabilities': capability_keywords(probe.get('capabilities'), probe.get('tls')),
        'certificate': _certificate(probe.get('tls')),
    }
    return snapshot if any(value is not None for value in snapshot.values()) else None


def _exchanger_lines(exchangers):
    lines = []
    for exchanger in _list(exchangers):
        exchanger = _dict(exchanger)
        addresses = ' '.join(_text(_dict(address).get('ip')) for address in _list(exchanger.get('addresses')))
        lines.append(' '.join(part for part in (_text(exchanger.get('preference')), _text(exchanger.get('host')), addresses)
                              if part))
    return lines


def entry_snapshot(record, section, entry):
    """What a baseline keeps of one check."""
    snapshot = dict((key, record[key]) for key in ('section', 'name', 'check', 'role', 'domain', 'target', 'required',
                                                   'passed', 'status', 'brief'))
    diagnosis = record['diagnosis']
    snapshot['diagnosis'] = dict((key, diagnosis.get(key)) for key in ('status', 'category', 'step', 'code', 'enhanced',
                                                                       'error', 'summary'))
    endpoints = {}
    exchangers = None
    if entry.get('row'):
        codes = dict(entry.get('codes') or {})
        snapshot['watch'] = dict(entry.get('watch') or {})
    elif section == 'roundtrip':
        codes = {'delivered': 'yes' if entry.get('delivered') else 'no', 'folder': _text(entry.get('folder')) or '-',
                 'outcome': _text(diagnosis.get('category'))}
        latency = entry.get('latency_s')
        snapshot['latency_s'] = latency if isinstance(latency, (int, float)) and not isinstance(latency, bool) else None
    elif section == 'smtp':
        codes = step_codes(entry.get('steps'))
        target = _dict(entry.get('target'))
        endpoint = _endpoint(entry)
        if endpoint:
            endpoints['{}:{}'.format(target.get('host'), target.get('port'))] = endpoint
    elif section == 'mx':
        codes = {'mx': _text(entry.get('status'))}
        exchangers = _exchanger_lines(entry.get('exchangers'))
    else:
        verdict = _dict(entry.get('verdict'))
        codes = {'outcome': _text(verdict.get('outcome') or entry.get('status'))}
        exchangers = _exchanger_lines(entry.get('exchangers'))
        for probe in _list(entry.get('probes')):
            probe = _dict(probe)
            name = '{} [{}]'.format(probe.get('exchanger'), probe.get('address'))
            codes.update(step_codes(probe.get('steps'), prefix=name + ' '))
            endpoint = _endpoint(probe)
            if endpoint:
                endpoints[name] = endpoint
    snapshot['codes'] = codes
    snapshot['endpoints'] = endpoints
    snapshot['exchangers'] = exchangers
    return snapshot


def build_snapshot(facts_by_host, hosts=None, select=None, created=None):
    """``{format, version, created, hosts: {host: {check id: snapshot}}}`` from every host's mailflow facts."""
    if facts_by_host is not None and not isinstance(facts_by_host, dict):
        raise ReportError('baseline_snapshot expects a dict of host name to that host\'s ansible_facts.mailflow')
    pairs = [(build_record(host, section, name, entry), section, entry)
             for host, section, name, entry in iter_entries(facts_by_host, hosts)]
    records = _unique_ids([record for record, _section, _entry in pairs])
    kept = set((record['host'], record['id']) for record in select_records(records, select))
    host_names = list(hosts) if hosts is not None else list(_dict(facts_by_host))
    snapshot_hosts = dict((_text(host), {}) for host in host_names)
    for record, section, entry in pairs:
        if (record['host'], record['id']) in kept:
            snapshot_hosts.setdefault(record['host'], {})[record['id']] = entry_snapshot(record, section, entry)
    return {'format': FORMAT, 'version': VERSION, 'created': _now_iso(created), 'host_order': [_text(h) for h in host_names],
            'hosts': snapshot_hosts}


def _check_snapshot_format(snapshot, what):
    if not isinstance(snapshot, dict) or snapshot.get('format') != FORMAT or not isinstance(snapshot.get('hosts'), dict):
        raise ReportError(f'{what} is not a mailops.mailflow baseline (expected "format": "{FORMAT}")')
    if snapshot.get('version') != VERSION:
        raise ReportError('{} is baseline version {!r}; this collection reads version {}'.format(what, snapshot.get('version'), VERSION))


def _dict_changes(before, after):
    changes = {}
    for key in list(before) + [key for key in after if key not in before]:
        if before.get(key) != after.get(key):
            changes[key] = [before.get(key), after.get(key)]
    return changes


def _change(kind, host, check_id, snapshot, **details):
    change = {'kind': kind, 'host': host, 'id': check_id, 'check': snapshot['check'], 'target': snapshot['target'],
              'role': snapshot['role'], 'domain': snapshot['domain'], 'required': snapshot['required']}
    change.update(details)
    return change


def _watched_changes(old, new):
    """{name: [before, after]} of the watched values whose change is a regression (WATCHED)."""
    before, after = _dict(old.get('watch')), _dict(new.get('watch'))
    found = {}
    for name, (was, now) in WATCHED.items():
        if name in before and name in after and before[name] != after[name] \
                and was in (None, before[name]) and (now is None or now == after[name]):
            found[name] = [before[name], after[name]]
    return found


def _latency_grew(old, new, growth_s, growth_factor):
    """(before, after) when a round trip's latency grew past the threshold, else None."""
    before, after = old.get('latency_s'), new.get('latency_s')
    if before is None or after is None or (growth_s is None and growth_factor is None):
        return None
    if growth_s is not None and after - before <= growth_s:
        return None
    if growth_factor is not None and after <= before * growth_factor:
        return None
    return before, after


def _threshold_words(growth_s, growth_factor):
    parts = ([f'+{growth_s:g} s'] if growth_s is not None else []) + ([f'x{growth_factor:g}'] if growth_factor is not None else [])
    return ' and '.join(parts)


def _compare_check(host, check_id, old, new, growth_s=LATENCY_GROWTH_S, growth_factor=LATENCY_GROWTH_FACTOR):
    changes = []
    kind = 'regression' if new['required'] else 'optional_failure'
    watched = _watched_changes(old, new)
    if old['passed'] and not new['passed']:
        change = _change(kind, host, check_id, new, before=old['brief'], after=new['brief'],
                         summary=new['diagnosis'].get('summary'))
        if watched:
            change['fields'] = watched
        changes.append(change)
    elif not old['passed'] and new['passed']:
        changes.append(_change('fixed', host, check_id, new, before=old['brief'], after=new['brief']))
    elif watched:
        # still passing (or still failing), but a watched value changed: the check no longer holds what it held
        names = list(watched)
        changes.append(_change(kind, host, check_id, new, reason='watched', fields=watched,
                               before='; '.join(f'{name} {watched[name][0]}' for name in names),
                               after='; '.join(f'{name} {watched[name][1]}' for name in names),
                               summary='; '.join(WATCHED_WORDS[name] for name in names)))
    grown = _latency_grew(old, new, growth_s, growth_factor) if old['passed'] and new['passed'] else None
    if grown:
        changes.append(_change(kind, host, check_id, new, reason='latency', latency_s=list(grown),
                               before=f'latency {grown[0]:g} s', after=f'latency {grown[1]:g} s',
                               summary=f'the round-trip latency grew from {grown[0]:g} s to {grown[1]:g} s, past the threshold '
                                       f'({_threshold_words(growth_s, growth_factor)})'))
    codes = _dict_changes(old['codes'], new['codes'])
    if old['passed'] != new['passed']:
        # steps only one run reached are the failure itself, already listed above
        codes = dict((key, values) for key, values in codes.items() if None not in values)
    if codes:
        changes.append(_change('codes', host, check_id, new, changes=codes))
    if old.get('exchangers') != new.get('exchangers'):
        before, after = old.get('exchangers') or [], new.get('exchangers') or []
        changes.append(_change('exchangers', host, check_id, new, added=[line for line in after if line not in before],
                               removed=[line for line in before if line not in after]))
    # An endpoint not reached on one side (server down) is the regression above, not a changed certificate.
    for endpoint in [name for name in old['endpoints'] if name in new['endpoints']]:
        before, after = old['endpoints'][endpoint], new['endpoints'][endpoint]
        if before['capabilities'] is not None and after['capabilities'] is not None \
                and before['capabilities'] != after['capabilities']:
            changes.append(_change('capabilities', host, check_id, new, endpoint=endpoint,
                                   added=[word for word in after['capabilities'] if word not in before['capabilities']],
                                   removed=[word for word in before['capabilities'] if word not in after['capabilities']]))
        if before['certificate'] is not None and after['certificate'] is not None and before['certificate'] != after['certificate']:
            changes.append(_change('certificate', host, check_id, new, endpoint=endpoint,
                                   changes=_dict_changes(before['certificate'], after['certificate'])))
        if before['banner'] is not None and after['banner'] is not None and before['banner'] != after['banner']:
            changes.append(_change('banner', host, check_id, new, endpoint=endpoint, before=before['banner'],
                                   after=after['banner']))
    return changes


def _threshold(value, name, minimum):
    """A latency threshold option as a float, or None; a clear error naming the option otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ('', 'none', 'null')):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise ReportError(f'{name} must be a number or null, not {value!r}') from None
    if not number >= minimum or number == float('inf'):
        raise ReportError(f'{name} must be a finite number of at least {minimum:g}, not {value!r}')
    return number


def compare(baseline, current, fail_on_removed=False, latency_growth_s=LATENCY_GROWTH_S,
            latency_growth_factor=LATENCY_GROWTH_FACTOR):
    """What changed from ``baseline`` to ``current`` (two snapshots); fails (verdict) on regressions only.

    A regression is a required check that passed in the baseline and fails now; a watched value of a security row
    that changed (WATCHED: MTA-STS mode, TLSA match -> no match, egress PTR name, FCrDNS pass -> fail); or a round
    trip whose latency grew by more than ``latency_growth_s`` seconds and to more than ``latency_growth_factor``
    times the baseline's (None drops that condition; both None: latency is never a regression). A check that is new and failing
    is listed under ``added`` (the report fails on it; the baseline has nothing to compare it with). Hosts absent
    from the current run are listed, not counted as removed checks (a ``--limit`` run compares its own hosts).
    """
    growth_s = _threshold(latency_growth_s, 'latency_growth_s', 0)
    growth_factor = _threshold(latency_growth_factor, 'latency_growth_factor', 1)
    _check_snapshot_format(baseline, 'the baseline file')
    _check_snapshot_format(current, 'the current snapshot')
    changes = []
    order = _list(current.get('host_order')) or list(current['hosts'])
    hosts_missing = [host for host in _list(baseline.get('host_order')) or list(baseline['hosts'])
                     if host not in current['hosts']]
    unchanged = 0
    for host in order:
        old_checks = _dict(baseline['hosts'].get(host))
        new_checks = _dict(current['hosts'].get(host))
        for check_id, new in new_checks.items():
            if check_id not in old_checks:
                changes.append(_change('added', host, check_id, new, after=new['brief'], status=new['status']))
                continue
            found = _compare_check(host, check_id, old_checks[check_id], new, growth_s, growth_factor)
            unchanged += 0 if found else 1
            changes.extend(found)
        for check_id, old in old_checks.items():
            if check_id not in new_checks:
                changes.append(_change('removed', host, check_id, old, before=old['brief'], status=old['status']))
    rank = dict((kind, position) for position, kind in enumerate(KINDS))
    host_rank = dict((host, position) for position, host in enumerate(order))
    changes.sort(key=lambda change: (rank[change['kind']], host_rank.get(change['host'], 0)))
    counts = dict((kind, len([change for change in changes if change['kind'] == kind])) for kind in KINDS)
    failing = [change for change in changes if change['kind'] == 'regression' or (fail_on_removed and change['kind'] == 'removed')]
    checks_changed = len(set((change['host'], change['id']) for change in changes))
    verdict = 'regressed' if failing else 'ok'
    line = _summary_line(verdict, failing, counts, checks_changed, unchanged)
    return {
        'format': 'mailops.mailflow/baseline-diff',
        'version': VERSION,
        'baseline_created': baseline.get('created'),
        'current_created': current.get('created'),
        'verdict': verdict,
        'line': line,
        'counts': counts,
        'checks_changed': checks_changed,
        'checks_unchanged': unchanged,
        'hosts_missing': hosts_missing,
        'latency_threshold': {'growth_s': growth_s, 'growth_factor': growth_factor},
        'failing': [dict((key, change[key]) for key in ('host', 'id', 'kind')) for change in failing],
        'changes': changes,
    }


def _summary_line(verdict, failing, counts, checks_changed, unchanged):
    if verdict == 'regressed':
        hosts = []
        problems = []
        index = {}
        # one item per check and outcome, with its hosts, as the report's summary line
        for change in failing:
            if change['host'] not in hosts:
                hosts.append(change['host'])
            key = (change['id'], change.get('after') or change['kind'])
            if key not in index:
                index[key] = len(problems)
                problems.append((change, []))
            problems[index[key]][1].append(change['host'])
        listed = ['{} ({}) on {}'.format(_check_label(change), change.get('after') or change['kind'], _host_list(problem_hosts))
                  for change, problem_hosts in problems]
        if len(listed) > SUMMARY_LINE_ITEMS:
            listed = listed[:SUMMARY_LINE_ITEMS] + [f'and {len(listed) - SUMMARY_LINE_ITEMS} more']
        return 'mailflow baseline: {} regression{} on {} host{}: {}'.format(
            len(failing), '' if len(failing) == 1 else 's', len(hosts), '' if len(hosts) == 1 else 's', '; '.join(listed))
    others = [optional_failed_words(counts[kind]) if kind == 'optional_failure' else '{} {}'.format(counts[kind], kind.replace('_', ' '))
              for kind in KINDS[1:] if counts[kind]]
    return 'mailflow baseline: no regressions ({} check{} changed{}, {} unchanged)'.format(
        checks_changed, '' if checks_changed == 1 else 's', (': ' + ', '.join(others)) if others else '', unchanged)


def _md_change_detail(change):
    kind = change['kind']
    if kind in ('regression', 'optional_failure', 'fixed'):
        text = '{} {} {}'.format(md_code(change['before']), '\u2192', md_code(change['after']))
        if change.get('summary'):
            text += ': ' + md_text(change['summary'])
        if change.get('fields') and change.get('reason') != 'watched':
            text += ' (' + '; '.join('{} {} {} {}'.format(md_text(name), md_code(values[0]), '\u2192', md_code(values[1]))
                                     for name, values in change['fields'].items()) + ')'
        return text
    if kind in ('added', 'removed'):
        return '{} {}'.format(md_text(change['status']), md_code(change.get('after') or change.get('before')))
    if kind in ('codes', 'certificate'):
        prefix = '{}: '.format(md_text(change['endpoint'])) if change.get('endpoint') else ''
        return prefix + '; '.join('{} {} {} {}'.format(md_code(key), md_code(values[0] if values[0] is not None else '-'), '\u2192',
                                                       md_code(values[1] if values[1] is not None else '-'))
                                  for key, values in change['changes'].items())
    if kind in ('capabilities', 'exchangers'):
        prefix = '{}: '.format(md_text(change['endpoint'])) if change.get('endpoint') else ''
        parts = [f'+{md_code(word)}' for word in change['added']] + [f'-{md_code(word)}' for word in change['removed']]
        return prefix + ' '.join(parts)
    return '{}: {} {} {}'.format(md_text(change['endpoint']), md_code(change['before']), '\u2192', md_code(change['after']))


def render_markdown(diff, title=None):
    """The diff for a person: verdict line, then one list per kind of change, most serious first."""
    if not isinstance(diff, dict) or 'changes' not in diff:
        raise ReportError('baseline_markdown expects the result of mailops.mailflow.baseline_diff')
    verdict = '\u2716 REGRESSED' if diff['verdict'] == 'regressed' else '\u2714 NO REGRESSION'
    lines = ['# {}: {}'.format(md_text(title or 'Mail flow baseline comparison'), verdict), '', '**{}**'.format(md_text(diff['line'])), '',
             'baseline saved {}, compared with the run of {}.'.format(md_text(diff['baseline_created']), md_text(diff['current_created']))]
    if diff['hosts_missing']:
        lines.append('Hosts in the baseline but not in this run (not compared): {}.'.format(md_text(', '.join(diff['hosts_missing']))))
    for kind in KINDS:
        changes = [change for change in diff['changes'] if change['kind'] == kind]
        if not changes:
            continue
        lines.extend(['', f'## {KIND_TITLES[kind]}', ''])
        mark = {'regression': SYMBOLS['fail'], 'optional_failure': SYMBOLS['optional_fail'], 'fixed': SYMBOLS['pass']}.get(kind, '-')
        for change in changes:
            target = md_text(change['target']) if change['target'] != change['check'] else ''
            lines.append('{} {} **{}** {}: {}'.format('-' if mark == '-' else '- ' + mark, md_text(change['host']),
                                                      md_text(change['check']), target, _md_change_detail(change)))
    if not diff['changes']:
        lines.extend(['', 'Nothing changed.'])
    return '\n'.join(re.sub('  +', ' ', line) for line in lines) + '\n'
