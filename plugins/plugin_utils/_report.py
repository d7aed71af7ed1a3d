# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check records and the fleet report (controller side, plain Python).

A check record is one entry of ``ansible_facts.mailflow.{mx,smtp,routes,roundtrip}`` of one host, read through its
``labels``, or one row of an entry of the security checks (``policy``: MTA-STS, TLS-RPT and DANE per MX;
``sender_policy``: SPF and DMARC; ``egress``; ``smuggling``). Those rows, and the inbound open relay probe, make the
security section of every rendering (``area: security``). The hosts x checks matrix, the summary line and the four renderings (JSON document, Markdown,
JUnit XML, HTML) are built from records only: the report never re-probes. The HTML page is the autoescaping
Jinja2 template _report_templates/report.html.j2 beside this module. jmespath selects and groups the
records. The filters in plugins/filter/mailflow_report.py are thin wrappers around these functions.
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import xml.etree.ElementTree as ET

import jinja2
from markupsafe import Markup

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.detail import step_reply

try:
    import jmespath
except ImportError:  # reported when a filter is used, not at import
    jmespath = None

SECTIONS = ('mx', 'smtp', 'routes', 'roundtrip', 'policy', 'sender_policy', 'egress', 'smuggling')
# Fact sections whose entries are rows of the security section; an entry of policy or sender_policy gives one row per
# check (and DANE one per MX).
SECURITY = 'security'
SECURITY_SECTIONS = ('policy', 'sender_policy', 'egress', 'smuggling')
# SMTP probes (labels.check) that are security rows too: the inbound role's open relay check.
SECURITY_SMTP_CHECKS = ('open_relay',)
# The order of the rows in the security section.
SECURITY_KINDS = ('open_relay', 'mta_sts', 'tlsrpt', 'dane', 'spf', 'dmarc', 'egress_identity', 'smtp_smuggling')
POLICY_CHECKS = ('mta_sts', 'tlsrpt', 'dane')
# DANE status of one MX -> its condition in the diagnosis catalog (_policy/catalog.py).
DANE_CONDITIONS = {
    'match': 'dane_match', 'no_tlsa': 'dane_no_tlsa', 'unusable': 'dane_tlsa_unusable',
    'not_authenticated': 'dane_tlsa_not_authenticated', 'chain_unavailable': 'dane_chain_unavailable',
    'tls_failed': 'dane_tls_failed', 'lookup_failed': 'dane_tlsa_lookup_failed',
    'starttls_missing': 'dane_starttls_missing', 'no_match': 'dane_no_match',
}
STATUSES = ('pass', 'warn', 'fail', 'optional_fail', 'missing')
SYMBOLS = {'pass': '\u2714', 'warn': '\u26a0', 'fail': '\u2716', 'optional_fail': '\u2298', 'missing': '\u2013'}
STATUS_WORDS = {
    'pass': 'passed',
    'warn': 'passed with warnings',
    'fail': 'failed',
    'optional_fail': 'optional check failed',
    'missing': 'not run on this host',
}
# The one wording for an optional check that failed, in every rendering (and the baseline's): singular, plural.
OPTIONAL_FAILED = ('optional check failed', 'optional checks failed')
FALSE_WORDS = ('false', 'no', 'off', '0', 'n')
DIAGNOSIS_KEYS = ('status', 'step', 'code', 'enhanced', 'error', 'category', 'summary', 'causes', 'remedy', 'notes',
                  'expected')
TRANSCRIPT_LINES = 40
SUMMARY_LINE_ITEMS = 4

# XML 1.0 forbids most control characters; a hostile server may send them in a reply.
_XML_INVALID = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]')
# Characters that make Markdown (CommonMark, GFM) emphasise, strike, link, quote code, start HTML or an entity, or split a
# table cell. An underscore between two letters or digits cannot open or close emphasis, so names like
# recipients_accepted stay readable.
_MD_SPECIAL = re.compile(r'[\\`*~<>|\[\]&]|(?<![^\W_])_|_(?![^\W_])')


def optional_failed_words(count):
    """'1 optional check failed', '2 optional checks failed'."""
    return f'{count} {OPTIONAL_FAILED[0 if count == 1 else 1]}'


class ReportError(Exception):
    """Bad input to a report helper; the filter turns it into an AnsibleFilterError."""


def _require_jmespath():
    if jmespath is None:
        raise ReportError('the mailops.mailflow report filters need the Python library jmespath on the controller '
                          '(pip install jmespath)')


def _search(expression, data):
    _require_jmespath()
    try:
        return jmespath.search(expression, data)
    except jmespath.exceptions.JMESPathError as exc:
        raise ReportError(f'invalid jmespath expression {expression!r}: {exc}') from exc


# ---------------------------------------------------------------------------------------------------- records

def _as_bool(value, default=True):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() not in FALSE_WORDS


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return list(value) if isinstance(value, (list, tuple)) else []


def _text(value):
    if value is None:
        return ''
    return value if isinstance(value, str) else str(value)


def entry_passed(section, entry):
    """The entry's own ``passed``; for facts written before modules had one, what the contract derives it from."""
    if isinstance(entry.get('passed'), bool):
        return entry['passed']
    if section == 'mx':
        return entry.get('status') in ('ok', 'implicit_mx')
    if section == 'routes':
        return bool(_dict(entry.get('verdict')).get('deliverable'))
    return False


def entry_diagnosis(entry):
    diagnosis = entry.get('diagnosis')
    if not isinstance(diagnosis, dict):
        diagnosis = _dict(_dict(entry.get('verdict')).get('diagnosis')) or _dict(_dict(entry.get('mx')).get('diagnosis'))
    compact = dict((key, diagnosis.get(key)) for key in DIAGNOSIS_KEYS)
    compact['causes'] = [_text(cause) for cause in _list(compact['causes'])]
    compact['notes'] = [_text(note) for note in _list(compact['notes'])]
    compact['expected'] = bool(compact['expected'])
    return compact


def _first_failed_step(entry):
    for step in _list(entry.get('steps')):
        if isinstance(step, dict) and step.get('ok') is False:
            return step
    return None


def _reply_line(step):
    """The failing step's reply as the server sent it (first line), or the transport error in words."""
    if not step:
        return None
    lines = _list(step_reply(step).get('lines'))
    if lines:
        return _text(lines[0]) + (' \u2026' if len(lines) > 1 else '')
    return step.get('error_message') or step.get('error')


def _code_words(diagnosis):
    parts = [_text(diagnosis.get('step'))] if diagnosis.get('step') else []
    if diagnosis.get('code') is not None:
        parts.append(_text(diagnosis['code']))
        if diagnosis.get('enhanced'):
            parts.append(_text(diagnosis['enhanced']))
    elif diagnosis.get('error'):
        parts.append(_text(diagnosis['error']))
    return ' '.join(parts)


def _brief(section, entry, passed, diagnosis):
    """A few words for a matrix cell: what the server said, or what the lookup found."""
    if section == 'mx':
        status = _text(entry.get('status'))
        mx_set = _dict(entry.get('mx_set'))
        if mx_set and mx_set.get('matches') is False:
            return ' '.join(['MX set differs:'] + [f'-{host}' for host in _list(mx_set.get('missing'))]
                            + [f'+{host}' for host in _list(mx_set.get('unexpected'))])
        if passed and status == 'ok':
            return '{} MX{}'.format(len(_list(entry.get('exchangers'))), ', as expected' if mx_set.get('matches') else '')
        return status.replace('_', ' ')
    if section == 'routes':
        verdict = _dict(entry.get('verdict'))
        via = _dict(verdict.get('via'))
        if passed and via.get('host'):
            return 'via {}'.format(via['host'])
        return _text(verdict.get('outcome') or entry.get('status')).replace('_', ' ')
    if section == 'roundtrip':
        if passed:
            return '{} in {} s, {} hops'.format(entry.get('folder'), entry.get('latency_s'), len(_list(entry.get('hops'))))
        return _text(diagnosis.get('category')).replace('_', ' ')
    words = _code_words(diagnosis)
    if passed and diagnosis.get('expected'):
        return f'{words} (expected)'
    return words


def _warnings(section, entry):
    found = [_text(warning) for warning in _list(entry.get('warnings'))]
    for step in _list(entry.get('steps')):
        if isinstance(step, dict) and step.get('slow'):
            found.append('{} reply slow ({} ms)'.format(step.get('name'), step.get('elapsed_ms')))
    if section == 'mx':
        found.extend(_text(warning) for warning in _list(entry.get('domain_warnings')))
        for exchanger in _list(entry.get('exchangers')):
            for warning in _list(_dict(exchanger).get('warnings')):
                found.append('{}: {}'.format(_dict(exchanger).get('host'), warning))
    if section == 'routes':
        verdict = _dict(entry.get('verdict'))
        if verdict.get('fallback_used'):
            via = _dict(verdict.get('via'))
            found.append('delivered via a fallback exchanger: {} (preference {})'.format(via.get('host'), via.get('preference')))
        if verdict.get('shuffle_dependent'):
            found.append('the outcome depends on which equal-preference exchanger an MTA picks')
        for probe in _list(entry.get('probes')):
            for warning in _list(_dict(probe).get('warnings')):
                found.append('{}: {}'.format(_dict(probe).get('exchanger'), warning))
    if section == 'roundtrip' and _dict(entry.get('diagnosis')).get('category') == 'delayed':
        slowest = _dict(entry.get('slowest_hop'))
        found.append('the slowest hop: {} held it {} s'.format(slowest.get('held_by'), slowest.get('delay_s')))
    seen = set()
    unique = []
    for warning in found:
        if warning and warning not in seen:
            seen.add(warning)
            unique.append(warning)
    return unique


def _transcript(section, entry):
    if section == 'smtp':
        lines = _list(entry.get('transcript'))
    elif section == 'routes':
        lines = []
        for probe in _list(entry.get('probes')):
            probe = _dict(probe)
            if probe.get('passed') is False:
                lines.append('== {} [{}]'.format(probe.get('exchanger'), probe.get('address')))
                lines.extend(_list(probe.get('transcript')))
        for failure in _list(_dict(entry.get('verdict')).get('failures')):
            failure = _dict(failure)
            if failure.get('kind') == 'no_address':
                lines.append('== {}: {}'.format(failure.get('host'), failure.get('message')))
    elif section == 'roundtrip':
        if entry.get('accepted'):
            lines = [_hop_line(_dict(hop)) for hop in _list(entry.get('hops'))]
        else:
            lines = _list(_dict(entry.get('smtp')).get('transcript'))
    else:
        lines = [entry['error']] if entry.get('error') else []
    lines = [_text(line) for line in lines]
    if len(lines) > TRANSCRIPT_LINES:
        lines = lines[:TRANSCRIPT_LINES // 4] + [f'\u2026 ({len(lines) - TRANSCRIPT_LINES} lines left out)'] \
            + lines[-(TRANSCRIPT_LINES - TRANSCRIPT_LINES // 4):]
    return lines


def _hop_line(hop):
    tls = _dict(hop.get('tls'))
    protocol = ', ' + _text(tls.get('protocol')) if tls else ''
    return 'hop {}: {} -> {}, {} s{}'.format(hop.get('index'), hop.get('from'), hop.get('by'), hop.get('delay_s'), protocol)


def _default_target(section, name, entry):
    if section == 'smtp':
        target = _dict(entry.get('target'))
        if target.get('host'):
            return '{}:{}'.format(target['host'], target.get('port', 25))
        return name
    if section == 'roundtrip':
        return entry.get('recipient') or name
    return entry.get('domain') or name


# ---------------------------------------------------------------------------------------------- security rows

def _words(value, prefix=''):
    text = _text(value)
    if prefix and text.startswith(prefix):
        text = text[len(prefix):]
    return text.replace('_', ' ')


def _row(entry, kind, check, target, passed, diagnosis, brief, lines=(), warnings=(), codes=None, watch=None):
    """One security row of a fact entry, in the shape build_record reads (``row: true``)."""
    return {
        'row': True,
        'kind': kind,
        'check': check,
        'target': _text(target),
        'labels': _dict(entry.get('labels')),
        'domain': entry.get('domain'),
        'passed': bool(passed),
        'diagnosis': _dict(diagnosis),
        'brief': brief,
        'lines': [_text(line) for line in lines if line],
        'warnings': [_text(warning) for warning in warnings if warning],
        'elapsed_ms': entry.get('elapsed_ms'),
        # what the baseline keeps: codes are listed when they change, watch values are regressions (_baseline.WATCHED)
        'codes': dict((key, _text(value)) for key, value in (codes or {}).items()),
        'watch': dict((key, _text(value)) for key, value in (watch or {}).items() if value is not None),
    }


def _mta_sts_row(entry, result, target):
    status = _text(result.get('status'))
    mode = result.get('mode')
    if result.get('passed'):
        brief = f'mode {mode or status}'
    else:
        brief = _words(status)
        reason = _dict(result.get('fetch')).get('reason')
        if status == 'fetch_failed' and reason:
            brief += f' ({reason})'
        if _list(result.get('uncovered_mx')):
            brief += ': ' + ', '.join(_text(host) for host in result['uncovered_mx'])
    lines = [_dict(result.get('record_lookup')).get('message'), _dict(result.get('fetch')).get('message')]
    lines += [f'policy: {error}' for error in _list(result.get('policy_errors'))]
    lines += [f'MX not covered: {host}' for host in _list(result.get('uncovered_mx'))]
    lines += [f'certificate not valid under enforce: {host}' for host in _list(result.get('invalid_certificate_mx'))]
    warnings = []
    if result.get('passed') and mode == 'testing':
        warnings.append('MTA-STS mode testing: senders report failures but do not enforce the policy')
        warnings += [_text(note) for note in _list(_dict(result.get('diagnosis')).get('notes'))]
    codes = {'mta_sts': status, 'mode': mode, 'mx patterns': ' '.join(_text(p) for p in _list(result.get('mx_patterns')))}
    return _row(entry, 'mta_sts', 'mta_sts', target, result.get('passed'), result.get('diagnosis'), brief, lines,
                warnings, codes, {'mta_sts mode': mode})


def _tlsrpt_row(entry, result, target):
    status = _text(result.get('status'))
    rua = [_text(address) for address in _list(result.get('rua'))]
    if result.get('passed'):
        brief = '{} rua address{}'.format(len(rua), '' if len(rua) == 1 else 'es')
    else:
        brief = _words(status)
    lines = [f'rua problem: {_text(problem)}' for problem in _list(result.get('rua_problems'))]
    return _row(entry, 'tlsrpt', 'tlsrpt', target, result.get('passed'), result.get('diagnosis'), brief, lines,
                codes={'tlsrpt': status, 'rua': ' '.join(rua)})


def _tlsa_name(record):
    """'3 1 1 (DANE-EE SPKI SHA2-256) a439...' -> '3 1 1 (DANE-EE SPKI SHA2-256)'."""
    text = _text(record)
    return text.split(')', 1)[0] + ')' if ')' in text else text


def _dane_rows(entry, result, target):
    exchangers = [_dict(mx) for mx in _list(result.get('mx'))]
    if not exchangers:
        return [_row(entry, 'dane', 'dane', target, result.get('passed'), result.get('diagnosis'),
                     _words(result.get('status')), codes={'dane': result.get('status')})]
    rows = []
    labelled_target = _dict(entry.get('labels')).get('target')
    for position, mx in enumerate(exchangers, start=1):
        status = _text(mx.get('status'))
        host = _text(mx.get('host'))
        if len(exchangers) == 1:
            diagnosis = _dict(result.get('diagnosis'))
        else:
            # the domain's diagnosis is its worst MX's: each MX row is explained by its own status
            diagnosis = diagnose(step='dane', error=DANE_CONDITIONS.get(status, 'dane_' + status))
            diagnosis['notes'].extend(_text(note) for note in (mx.get('note'),) if note)
        if status == 'match':
            brief = 'match {}'.format(_tlsa_name(mx.get('matched')))
        elif status == 'no_match':
            brief = 'no match ({} TLSA tried)'.format(len(_list(mx.get('tried'))))
        else:
            brief = _words(status)
        if labelled_target:
            # the user's name for what is checked stays the row's target, whichever MX the domain has today
            row_target = labelled_target if len(exchangers) == 1 else f'{labelled_target} #{position}'
            brief = f'{host}: {brief}'
        else:
            row_target = host
        lines = [mx.get('note')] + [f'tried: {_text(record)}' for record in _list(mx.get('tried'))]
        lines += [f'skipped: {_text(record)}' for record in _list(mx.get('skipped'))]
        codes = {'dane': status, 'authenticated': 'yes' if mx.get('authenticated') else 'no',
                 'tlsa': ' | '.join(sorted(_tlsa_name(record) for record in _list(mx.get('tlsa'))))}
        rows.append((host, _row(entry, 'dane', 'dane', row_target, status == 'match', diagnosis, brief, lines,
                                codes=codes, watch={'tlsa': status})))
    return rows


def _policy_rows(name, entry):
    checks = _dict(entry.get('checks'))
    target = _dict(entry.get('labels')).get('target') or entry.get('domain') or name
    rows = []
    for check in POLICY_CHECKS:
        result = _dict(checks.get(check))
        if not result:
            continue
        if check == 'mta_sts':
            rows.append((f'{name}:mta_sts', _mta_sts_row(entry, result, target)))
        elif check == 'tlsrpt':
            rows.append((f'{name}:tlsrpt', _tlsrpt_row(entry, result, target)))
        else:
            found = _dane_rows(entry, result, target)
            rows.extend((f'{name}:dane' if isinstance(row, dict) else f'{name}:dane:{row[0]}',
                         row if isinstance(row, dict) else row[1]) for row in found)
    if not rows:  # nothing was checked (the MX lookup failed before any check): one row with the entry's diagnosis
        rows.append((name, _row(entry, 'mta_sts', 'tls_policy', target, entry.get('passed'), entry.get('diagnosis'),
                                _words(entry.get('mx_status') or _dict(entry.get('diagnosis')).get('error')))))
    return rows


def _finding_lines(result):
    return ['{}: {}'.format(_text(finding.get('error')), _text(finding.get('detail') or finding.get('summary')))
            for finding in (_dict(item) for item in _list(result.get('findings')))]


def _other_findings(result):
    """The findings other than the one the diagnosis names: warnings of a passed check."""
    named = _dict(result.get('diagnosis')).get('error')
    return ['{}: {}'.format(_words(finding.get('error')), _text(finding.get('detail') or finding.get('summary')))
            for finding in (_dict(item) for item in _list(result.get('findings'))) if finding.get('error') != named]


def _sender_rows(name, entry):
    target = _dict(entry.get('labels')).get('target') or entry.get('domain') or name
    rows = []
    spf = _dict(entry.get('spf'))
    if spf:
        condition = _text(spf.get('condition'))
        if spf.get('passed'):
            brief = '{} of {} lookups, {}'.format(spf.get('lookup_count'), spf.get('lookup_limit'), spf.get('all') or 'no all')
        else:
            brief = 'no SPF record' if condition == 'spf_none' else _words(condition, 'spf_')
        rows.append((f'{name}:spf', _row(
            entry, 'spf', 'spf', target, spf.get('passed'), spf.get('diagnosis'), brief,
            [spf.get('record'), spf.get('message')] + _finding_lines(spf),
            _other_findings(spf) if spf.get('passed') else (),
            {'spf': condition, 'all': spf.get('all'), 'lookups': spf.get('lookup_count')})))
    dmarc = _dict(entry.get('dmarc'))
    if dmarc:
        condition = _text(dmarc.get('condition'))
        if dmarc.get('passed'):
            brief = 'p={}'.format(dmarc.get('applied_policy') or dmarc.get('policy'))
        else:
            brief = 'no DMARC record' if condition == 'dmarc_none' else _words(condition, 'dmarc_')
        rows.append((f'{name}:dmarc', _row(
            entry, 'dmarc', 'dmarc', target, dmarc.get('passed'), dmarc.get('diagnosis'), brief,
            [dmarc.get('record'), dmarc.get('message')] + _finding_lines(dmarc),
            _other_findings(dmarc) + [_text(w) for w in _list(dmarc.get('warnings'))] if dmarc.get('passed') else (),
            {'dmarc': condition, 'policy': dmarc.get('policy')})))
    return rows


def _egress_rows(name, entry):
    labels = _dict(entry.get('labels'))
    target = labels.get('target') or entry.get('address') or name
    helo = _dict(entry.get('helo'))
    spf = _dict(entry.get('spf'))
    ptr = entry.get('ptr_name') or 'none'
    fcrdns = 'pass' if entry.get('fcrdns') else 'fail'
    ehlo = 'match' if helo.get('matches') else 'mismatch'
    brief = 'PTR {} \u00b7 FCrDNS {} \u00b7 EHLO {} \u00b7 SPF {}'.format(ptr, fcrdns, ehlo, spf.get('result') or '-')
    lines = ['{} as {}: PTR {}'.format(entry.get('address'), helo.get('name'), ptr)] + _finding_lines(entry)
    codes = {'ptr': ptr, 'fcrdns': fcrdns, 'ehlo': ehlo, 'spf': spf.get('result')}
    return [(name, _row(entry, 'egress_identity', _text(labels.get('check') or 'egress_identity'), target, entry.get('passed'),
                        entry.get('diagnosis'), brief, lines, codes=codes, watch={'ptr name': ptr, 'fcrdns': fcrdns}))]


def _smuggling_rows(name, entry):
    labels = _dict(entry.get('labels'))
    target = labels.get('target') or '{}:{}'.format(entry.get('host'), entry.get('port', 25))
    sequences = [_dict(item) for item in _list(entry.get('sequences'))]
    by_verdict = {}
    for sequence in sequences:
        by_verdict.setdefault(_text(sequence.get('verdict')), []).append(_text(sequence.get('sequence') or sequence.get('name')))
    verdict = _text(entry.get('verdict'))
    if by_verdict.get('exposed'):
        brief = 'exposed: {}'.format(', '.join(by_verdict['exposed']))
    elif by_verdict.get('inconclusive'):
        brief = 'inconclusive: {}'.format(', '.join(by_verdict['inconclusive']))
    elif sequences:
        brief = f'safe: {len(sequences)} sequences'
    else:
        brief = _words(verdict)
    lines = ['{} {}: {}{}'.format(sequence.get('name'), sequence.get('sequence'), sequence.get('verdict'),
                                  ' ({})'.format(sequence['reason']) if sequence.get('reason') else '')
             for sequence in sequences]
    codes = dict((_text(sequence.get('name')), sequence.get('verdict')) for sequence in sequences)
    codes['verdict'] = verdict
    return [(name, _row(entry, 'smtp_smuggling', _text(labels.get('check') or 'smtp_smuggling'), target,
                        entry.get('passed'), entry.get('diagnosis'), brief, lines, codes=codes))]


ROW_BUILDERS = {'policy': _policy_rows, 'sender_policy': _sender_rows, 'egress': _egress_rows, 'smuggling': _smuggling_rows}


def entry_rows(section, name, entry):
    """(row name, row) for each report row of one fact entry: the entry itself, or the rows of a security check."""
    builder = ROW_BUILDERS.get(section)
    if builder is None:
        return [(name, entry)]
    rows = builder(name, entry)
    for _name, row in rows[1:]:
        row['elapsed_ms'] = None  # the entry's time is counted once, on its first row
    return rows


def is_security(section, entry):
    return section in SECURITY_SECTIONS or (
        section == 'smtp' and _dict(entry.get('labels')).get('check') in SECURITY_SMTP_CHECKS)


def build_record(host, section, name, entry):
    """One check record from one fact entry, or from one row of a security check (``entry_rows``)."""
    entry = _dict(entry)
    labels = dict(_dict(entry.get('labels')))
    row = bool(entry.get('row'))
    security = row or is_security(section, entry)
    labelled = row or bool(labels.get('check'))
    passed = bool(entry['passed']) if row else entry_passed(section, entry)
    diagnosis = entry_diagnosis(entry)
    required = _as_bool(labels.get('required'), True)
    warnings = list(entry['warnings']) if row else _warnings(section, entry)
    if passed:
        status = 'warn' if warnings else 'pass'
    else:
        status = 'fail' if required else 'optional_fail'
    if row:
        check = entry['check']
    else:
        check = _text(labels.get('check')) if labelled else _text(name)
    role = _text(labels.get('role')) if labels.get('role') else None
    domain = _text(labels.get('domain') or entry.get('domain') or '') or None
    target = entry['target'] if row else _text(labels.get('target') or _default_target(section, name, entry))
    if labelled:
        column = '/'.join(_text(part) for part in (role or (SECURITY if row else section), domain or '-', check, target))
        group = SECURITY if security else ' \u00b7 '.join(part for part in (role or section, domain) if part)
    else:
        column = f'{section}:{name}'
        group = f'unlabelled {section} facts'
    failed_step = None if passed or row else _first_failed_step(entry)
    if row:
        brief, transcript = entry['brief'], ([] if passed else list(entry['lines'])[:TRANSCRIPT_LINES])
    else:
        brief, transcript = _brief(section, entry, passed, diagnosis), ([] if passed else _transcript(section, entry))
    return {
        'host': _text(host),
        'section': section,
        'name': _text(name),
        'id': column,
        'check': check,
        'role': role,
        'domain': domain,
        'target': target,
        'group': group,
        'area': SECURITY if security else 'delivery',
        'kind': (entry['kind'] if row else check) if security else None,
        'labelled': labelled,
        'labels': labels,
        'required': required,
        'passed': passed,
        'status': status,
        'brief': brief,
        'reply': _reply_line(failed_step),
        'diagnosis': diagnosis,
        'warnings': warnings,
        'transcript': transcript,
        'elapsed_ms': entry.get('elapsed_ms') if isinstance(entry.get('elapsed_ms'), (int, float)) else None,
    }


def iter_entries(facts_by_host, hosts=None):
    """(host, section, name, entry) for every fact entry, hosts in the given order, in the order of SECTIONS; an entry
    of a security check gives one tuple per row (``entry_rows``)."""
    facts_by_host = _dict(facts_by_host)
    for host in (hosts if hosts is not None else list(facts_by_host)):
        facts = _dict(facts_by_host.get(host))
        if 'mailflow' in facts and not (set(facts) & set(SECTIONS)):
            facts = _dict(facts['mailflow'])  # a host's whole ansible_facts was passed
        for section in SECTIONS:
            for name, entry in _dict(facts.get(section)).items():
                if isinstance(entry, dict):
                    for row_name, row in entry_rows(section, name, entry):
                        yield host, section, row_name, row


def select_records(records, select=None):
    """Keep the records a jmespath filter expression keeps, e.g. ``[?role=='inbound']``."""
    if not select:
        return records
    selected = _search(select, records)
    if not isinstance(selected, list) or not all(isinstance(record, dict) and 'id' in record for record in selected):
        raise ReportError(f'mailflow report select {select!r} must return a list of check records, '
                          'for example "[?role==\'inbound\']"')
    return selected


def _unique_ids(records):
    """A host with two entries for the same check id keeps both: the later one gets its fact name appended."""
    seen = set()
    for record in records:
        key = (record['host'], record['id'])
        if key in seen:
            record['id'] = '{}#{}:{}'.format(record['id'], record['section'], record['name'])
        seen.add((record['host'], record['id']))
    return records


def check_records(facts_by_host, hosts=None, select=None):
    """Every fact entry of every host as a check record, in host order; ``select`` is a jmespath filter."""
    if facts_by_host is not None and not isinstance(facts_by_host, dict):
        raise ReportError('report_checks expects a dict of host name to that host\'s ansible_facts.mailflow, '
                          f'got {type(facts_by_host).__name__}')
    records = _unique_ids([build_record(host, section, name, entry)
                           for host, section, name, entry in iter_entries(facts_by_host, hosts)])
    # host by host, each in the matrix's column order, so lists and the summary line read like the table
    rank = dict((column['id'], position) for position, column in enumerate(build_matrix(records)['columns']))
    host_rank = {}
    for record in records:
        host_rank.setdefault(record['host'], len(host_rank))
    records.sort(key=lambda record: (host_rank[record['host']], rank[record['id']]))
    return select_records(records, select)


# ------------------------------------------------------------------------------------------- matrix, summary

def _check_label(record):
    return '{} @ {}'.format(record['check'], record['target']) if record['target'] and record['target'] != record['check'] \
        else record['check']


def build_matrix(records, hosts=None):
    """Hosts (rows) x checks (columns): ``{hosts, columns, groups, cells: {host: {id: record}}}``."""
    records = _list(records)
    if hosts is None:
        hosts = []
        for record in records:
            if record['host'] not in hosts:
                hosts.append(record['host'])
    columns = {}
    for position, record in enumerate(records):
        if record['id'] not in columns:
            columns[record['id']] = {
                'id': record['id'], 'check': record['check'], 'target': record['target'], 'role': record['role'],
                'domain': record['domain'], 'group': record['group'], 'labelled': record['labelled'],
                'section': record['section'], 'required': record['required'], 'label': _check_label(record),
                'area': record.get('area', 'delivery'), 'kind': record.get('kind'), '_order': position,
            }
        elif not record['required']:
            columns[record['id']]['required'] = columns[record['id']]['required'] and record['required']
    section_rank = dict((section, rank) for rank, section in enumerate(SECTIONS))
    kind_rank = dict((kind, rank) for rank, kind in enumerate(SECURITY_KINDS))
    # delivery checks by role and domain, then unlabelled facts, then the security section by kind of check
    ordered = sorted(columns.values(), key=lambda column: (
        (2, kind_rank.get(column['kind'], 99), column['domain'] or '', 0, column['_order']) if column['area'] == SECURITY
        else (0, column['role'] or '', column['domain'] or '', 0, column['_order']) if column['labelled']
        else (1, '', '', section_rank.get(column['section'], 9), column['_order'])))
    for column in ordered:
        del column['_order']
    groups = []
    for column in ordered:
        if not groups or groups[-1]['name'] != column['group']:
            groups.append({'name': column['group'], 'columns': []})
        groups[-1]['columns'].append(column['id'])
    cells = dict((host, {}) for host in hosts)
    for record in records:
        cells.setdefault(record['host'], {})[record['id']] = record
    return {'hosts': list(hosts), 'columns': ordered, 'groups': groups, 'cells': cells,
            'security': [column['id'] for column in ordered if column['area'] == SECURITY]}


def _group_failures(records):
    """Failed records grouped by (check id, what went wrong), hosts listed: one entry per distinct problem."""
    groups = []
    index = {}
    for record in records:
        diagnosis = record['diagnosis']
        key = (record['id'], record['status'], diagnosis.get('category'), record['brief'])
        if key not in index:
            index[key] = len(groups)
            groups.append(dict(record, hosts=[]))
        groups[index[key]]['hosts'].append(record['host'])
    return groups


def _host_list(hosts, limit=3):
    if len(hosts) > limit:
        return '{} and {} more hosts'.format(', '.join(hosts[:limit]), len(hosts) - limit)
    return ', '.join(hosts)


def _group_warnings(records):
    """Warned records grouped by (check id, warnings), hosts listed."""
    groups = []
    index = {}
    for record in records:
        key = (record['id'], tuple(record['warnings']))
        if key not in index:
            index[key] = len(groups)
            groups.append(dict(record, hosts=[]))
        groups[index[key]]['hosts'].append(record['host'])
    return groups


def summarize(records, hosts=None):
    """Counts, the verdict and the one summary line; jmespath does the selecting and grouping."""
    records = _list(records)
    if hosts is None:
        hosts = _search('[].host', records) or []
        hosts = sorted(set(hosts), key=hosts.index)
    required = _search('[?required]', records)
    failed = _search("[?status=='fail']", records)
    failed_hosts = _search('[].host', failed)
    failed_hosts = sorted(set(failed_hosts), key=failed_hosts.index)
    counts = dict((status, len(_search(f"[?status=='{status}']", records))) for status in STATUSES[:4])
    details = ''
    if not records:
        verdict = 'empty'
        headline = 'no checks found in the facts of {} host{}'.format(len(hosts), '' if len(hosts) == 1 else 's')
    elif failed:
        verdict = 'failed'
        headline = '{} of {} required checks failed on {} host{}'.format(
            len(failed), len(required), len(failed_hosts), '' if len(failed_hosts) == 1 else 's')
        # one item per distinct problem, with the hosts that have it, so a fleet-wide outage stays one line
        listed = ['{} ({}) on {}'.format(_check_label(group), group['brief'], _host_list(group['hosts']))
                  for group in _group_failures(failed)]
        if len(listed) > SUMMARY_LINE_ITEMS:
            listed = listed[:SUMMARY_LINE_ITEMS] + [f'and {len(listed) - SUMMARY_LINE_ITEMS} more']
        details = '; '.join(listed)
    else:
        verdict = 'passed'
        extras = []
        if counts['warn']:
            extras.append('{} with warnings'.format(counts['warn']))
        if counts['optional_fail']:
            extras.append(optional_failed_words(counts['optional_fail']))
        headline = 'all {} required checks passed on {} host{}{}'.format(
            len(required), len(hosts), '' if len(hosts) == 1 else 's', (' ({})'.format(', '.join(extras))) if extras else '')
    return {
        'verdict': verdict,
        'line': 'mailflow: {}{}'.format(headline, (': ' + details) if details else ''),
        'headline': headline,
        'details': details,
        'hosts': len(hosts),
        'checks': len(records),
        'required': len(required),
        'passed': counts['pass'] + counts['warn'],
        'failed': len(failed),
        'warnings': counts['warn'],
        'optional_failed': counts['optional_fail'],
        'failed_hosts': failed_hosts,
        'counts': counts,
        'security': _security_counts(records),
    }


def _security_counts(records):
    """The security section in numbers: its rows, and how many passed or failed."""
    rows = _search("[?area=='security']", records)
    counts = dict((status, len(_search(f"[?status=='{status}']", rows))) for status in STATUSES[:4])
    return {'checks': len(rows), 'passed': counts['pass'] + counts['warn'], 'failed': counts['fail'],
            'warnings': counts['warn'], 'optional_failed': counts['optional_fail'],
            'failed_checks': sorted(set(_search("[?status=='fail'].id", rows)))}


def _now_iso(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now if isinstance(now, str) else now.strftime('%Y-%m-%dT%H:%M:%SZ')


def report_document(records, hosts=None, title=None, generated=None):
    """The JSON report: summary, matrix (ids only) and every record."""
    records = _list(records)
    matrix = build_matrix(records, hosts)
    return {
        'format': 'mailops.mailflow/report',
        'version': 1,
        'title': title or 'Mail flow report',
        'generated': _now_iso(generated),
        'summary': summarize(records, matrix['hosts']),
        'hosts': matrix['hosts'],
        'columns': matrix['columns'],
        'matrix': dict((host, dict((column, record['status']) for column, record in row.items()))
                       for host, row in matrix['cells'].items()),
        'security': matrix['security'],
        'checks': records,
    }


def _checks_as_rows(matrix, layout):
    if layout == 'checks_as_rows':
        return True
    if layout == 'hosts_as_rows':
        return False
    if layout not in (None, 'auto'):
        raise ReportError(f"layout must be auto, hosts_as_rows or checks_as_rows, not {layout!r}")
    return len(matrix['columns']) > len(matrix['hosts'])


# ---------------------------------------------------------------------------------------------------- Markdown

def md_text(value):
    """Inline Markdown text: no emphasis, strikethrough, links, HTML or table breaks from what a server sent."""
    text = _XML_INVALID.sub('\ufffd', _text(value)).replace('\r', ' ').replace('\n', ' ')
    return _MD_SPECIAL.sub(lambda match: '\\' + match.group(0), text)


def md_code(value):
    """A code span showing the text as sent: its fence is one backtick longer than any run of backticks inside."""
    text = _XML_INVALID.sub('\ufffd', _text(value)).replace('\r', ' ').replace('\n', ' ')
    if not text:
        return ''
    fence = '`' * (max([len(run) for run in re.findall('`+', text)] or [0]) + 1)
    # CommonMark drops one space at each end when both ends have one, and a fence next to a backtick would merge
    padded = text[0] == '`' or text[-1] == '`' or (text[0] == ' ' and text[-1] == ' ' and bool(text.strip(' ')))
    padding = ' ' if padded else ''
    return f'{fence}{padding}{text}{padding}{fence}'


def _md_failure_lines(group, with_remedy=True):
    diagnosis = group['diagnosis']
    head = '- {} **{}** {} {} \u2014 {}: {}'.format(
        SYMBOLS[group['status']], md_text(group['check']), md_text(group['target'] if group['target'] != group['check'] else ''),
        '({})'.format(md_text(group['group'])) if group['group'] else '', md_text(', '.join(group['hosts'])), md_code(group['brief']))
    lines = [re.sub(' +', ' ', head)]
    if group['reply']:
        lines.append('  - server: {}'.format(md_code(group['reply'])))
    if diagnosis.get('summary'):
        lines.append('  - {}'.format(md_text(diagnosis['summary'])))
    if with_remedy and diagnosis.get('causes'):
        category = ' ({})'.format(md_code(diagnosis['category'])) if diagnosis.get('category') else ''
        lines.append('  - **Causes**{}: {}'.format(category, md_text('; '.join(diagnosis['causes']))))
    if with_remedy and diagnosis.get('remedy'):
        lines.append('  - **Remedy:** {}'.format(md_text(diagnosis['remedy'])))
    return lines


def _md_security_lines(matrix):
    """The security section: one line per check and target, each host's symbol and what it found."""
    if not matrix['security']:
        return []
    columns = dict((column['id'], column) for column in matrix['columns'])
    lines = ['', '## Security', '', '| check | target | {} |'.format(' | '.join(md_text(host) for host in matrix['hosts'])),
             '|---|---|' + '---|' * len(matrix['hosts'])]
    for column_id in matrix['security']:
        column = columns[column_id]
        cells = []
        for host in matrix['hosts']:
            record = matrix['cells'][host].get(column_id)
            cells.append('{} {}'.format(SYMBOLS[record['status']], md_text(record['brief'])) if record else SYMBOLS['missing'])
        optional = '' if column['required'] else ' (optional)'
        lines.append('| {}{} | {} | {} |'.format(md_text(column['check']), optional, md_text(column['target']), ' | '.join(cells)))
    return lines


def render_markdown(records, hosts=None, title=None, layout='auto'):
    """Verdict line, compact matrix of symbols, then failures with summary and remedy, then warnings."""
    records = _list(records)
    matrix = build_matrix(records, hosts)
    summary = summarize(records, matrix['hosts'])
    verdict_word = {'failed': '\u2716 FAILED', 'passed': '\u2714 PASSED', 'empty': '\u2716 NO CHECKS'}[summary['verdict']]
    lines = ['# {}: {}'.format(md_text(title or 'Mail flow report'), verdict_word), '', '**{}**'.format(md_text(summary['line'])), '']
    if not records:
        return '\n'.join(lines) + '\n'
    # the security rows have their own table below
    columns = [column for column in matrix['columns'] if column['area'] != SECURITY]
    cells = matrix['cells']
    if columns and _checks_as_rows(matrix, layout):
        lines.append('| group | check | target | {} |'.format(' | '.join(md_text(host) for host in matrix['hosts'])))
        lines.append('|---|---|---|' + ':-:|' * len(matrix['hosts']))
        previous_group = None
        for column in columns:
            group = column['group'] if column['group'] != previous_group else ''
            previous_group = column['group']
            marks = [SYMBOLS[cells[host][column['id']]['status']] if column['id'] in cells[host] else SYMBOLS['missing']
                     for host in matrix['hosts']]
            optional = '' if column['required'] else ' (optional)'
            lines.append('| {} | {}{} | {} | {} |'.format(md_text(group), md_text(column['check']), optional,
                                                          md_text(column['target']), ' | '.join(marks)))
    elif columns:
        lines.append('| host | {} |'.format(' | '.join(md_text(column['label']) for column in columns)))
        lines.append('|---|' + ':-:|' * len(columns))
        for host in matrix['hosts']:
            marks = [SYMBOLS[cells[host][column['id']]['status']] if column['id'] in cells[host] else SYMBOLS['missing']
                     for column in columns]
            lines.append('| {} | {} |'.format(md_text(host), ' | '.join(marks)))
    lines.append('')
    lines.append(' \u00b7 '.join(f'{SYMBOLS[status]} {STATUS_WORDS[status]}' for status in STATUSES))
    lines.extend(_md_security_lines(matrix))
    failures = _group_failures(_search("[?status=='fail']", records))
    if failures:
        lines.extend(['', '## Failures', ''])
        for group in failures:
            lines.extend(_md_failure_lines(group))
    optional = _group_failures(_search("[?status=='optional_fail']", records))
    if optional:
        lines.extend(['', f'## {OPTIONAL_FAILED[1].capitalize()}', ''])
        for group in optional:
            lines.extend(_md_failure_lines(group, with_remedy=False))
    warned = _group_warnings(_search("[?status=='warn']", records))
    if warned:
        lines.extend(['', '## Warnings', ''])
        for group in warned:
            lines.append('- {} **{}** {} \u2014 {}: {}'.format(
                SYMBOLS['warn'], md_text(group['check']), md_text(group['target'] if group['target'] != group['check'] else ''),
                md_text(', '.join(group['hosts'])), md_text('; '.join(group['warnings']))))
    return '\n'.join(lines) + '\n'


# ------------------------------------------------------------------------------------------------------ JUnit

def _xml(value):
    return _XML_INVALID.sub('\ufffd', _text(value))


def _dotted(value):
    return re.sub(r'[^A-Za-z0-9_-]+', '_', _text(value)).strip('_') or '_'


def _seconds(record):
    return f"{(record['elapsed_ms'] or 0) / 1000.0:.3f}"


def _failure_text(record):
    diagnosis = record['diagnosis']
    lines = ['{}: {}'.format(record['brief'], diagnosis.get('summary') or '')]
    if diagnosis.get('category'):
        lines.append('category: {}'.format(diagnosis['category']))
    if record['reply']:
        lines.append('server: {}'.format(record['reply']))
    for cause in diagnosis.get('causes') or []:
        lines.append(f'cause: {cause}')
    if diagnosis.get('remedy'):
        lines.append('remedy: {}'.format(diagnosis['remedy']))
    if record['transcript']:
        lines.append('')
        lines.extend(record['transcript'])
    return '\n'.join(_xml(line) for line in lines)


def render_junit(records, hosts=None, name='mailops.mailflow', generated=None):
    """JUnit XML: a testsuite per host, a testcase per check; required failures are <failure>, optional ones <skipped>."""
    records = _list(records)
    matrix = build_matrix(records, hosts)
    timestamp = _now_iso(generated)
    suites = ET.Element('testsuites', name=_xml(name))
    totals = {'tests': 0, 'failures': 0, 'skipped': 0, 'time': 0.0}
    for host in matrix['hosts']:
        host_records = [matrix['cells'][host][column['id']] for column in matrix['columns'] if column['id'] in matrix['cells'][host]]
        failures = len([record for record in host_records if record['status'] == 'fail'])
        skipped = len([record for record in host_records if record['status'] == 'optional_fail'])
        seconds = sum((record['elapsed_ms'] or 0) for record in host_records) / 1000.0
        suite = ET.SubElement(suites, 'testsuite', name=_xml(host), tests=str(len(host_records)), failures=str(failures),
                              errors='0', skipped=str(skipped), time=f'{seconds:.3f}', timestamp=timestamp,
                              hostname=_xml(host))
        for record in host_records:
            area = SECURITY if record.get('area') == SECURITY else (record['role'] or record['section'])
            case = ET.SubElement(suite, 'testcase', name=_xml(_check_label(record)),
                                 classname=_xml('mailflow.{}.{}.{}'.format(_dotted(host), _dotted(area),
                                                                           _dotted(record['domain'] or record['group']))),
                                 time=_seconds(record))
            properties = ET.SubElement(case, 'properties')
            for key in ('check', 'role', 'domain', 'target', 'required', 'status', 'section', 'name', 'area'):
                value = record.get(key)
                if value is not None:
                    ET.SubElement(properties, 'property', name=key, value=_xml(str(value).lower() if isinstance(value, bool) else value))
            diagnosis = record['diagnosis']
            message = '{}: {}'.format(record['brief'], diagnosis.get('summary') or '')
            if record['status'] == 'fail':
                failure = ET.SubElement(case, 'failure', message=_xml(message), type=_xml(diagnosis.get('category') or 'failed'))
                failure.text = _failure_text(record)
            elif record['status'] == 'optional_fail':
                ET.SubElement(case, 'skipped', message=_xml(f'{OPTIONAL_FAILED[0]}: {message}'))
                out = ET.SubElement(case, 'system-out')
                out.text = _failure_text(record)
            elif record['warnings']:
                out = ET.SubElement(case, 'system-out')
                out.text = '\n'.join(f'warning: {_xml(warning)}' for warning in record['warnings'])
        totals['tests'] += len(host_records)
        totals['failures'] += failures
        totals['skipped'] += skipped
        totals['time'] += seconds
    for key in ('tests', 'failures', 'skipped'):
        suites.set(key, str(totals[key]))
    suites.set('errors', '0')
    suites.set('time', '{:.3f}'.format(totals['time']))
    body = ET.tostring(suites, encoding='unicode')
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + '\n'


# ------------------------------------------------------------------------------------------------------- HTML

HTML_STYLE = """
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--warn:#9a6700;--warn-bg:#fff8c5;
--opt:#57606a;--opt-bg:#eef1f4;--line:#d0d7de;--ink:#1f2328;--muted:#59636e}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif;color:var(--ink);background:#f6f8fa}
main{padding:20px 28px 40px}
header.top{display:flex;align-items:center;gap:16px;flex-wrap:wrap;padding:16px 20px;border-radius:10px;
background:#fff;border:1px solid var(--line);border-left:8px solid var(--pass)}
header.top.failed,header.top.empty{border-left-color:var(--fail)}
h1{font-size:20px;margin:0}
.pill{font-weight:700;font-size:13px;letter-spacing:.04em;padding:3px 10px;border-radius:999px;color:#fff;background:var(--pass)}
.failed .pill,.empty .pill{background:var(--fail)}
.headline{flex-basis:100%;margin:2px 0 0;font-size:17px;font-weight:600}
.line{flex-basis:100%;margin:0;font-size:13px;color:var(--muted)}
.meta{color:var(--muted);font-size:12px}
.tiles{display:flex;gap:10px;margin:14px 0;flex-wrap:wrap}
.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:120px}
.tile b{display:block;font-size:22px}
.tile.fail b{color:var(--fail)}.tile.pass b{color:var(--pass)}.tile.warn b{color:var(--warn)}.tile.optional_fail b{color:var(--opt)}
.legend{display:flex;gap:14px;flex-wrap:wrap;font-size:12px;color:var(--muted);margin:0 0 8px}
.legend span{display:inline-flex;align-items:center;gap:5px}
.swatch{display:inline-block;width:14px;height:14px;border-radius:3px;border:1px solid var(--line)}
.scroll{overflow-x:auto;background:#fff;border:1px solid var(--line);border-radius:8px}
table.matrix{border-collapse:separate;border-spacing:0;width:100%}
.matrix th,.matrix td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
.matrix thead th{position:sticky;top:0;background:#f6f8fa;z-index:1;font-size:12px;white-space:nowrap}
.matrix th.grp{background:#eaeef2;font-size:12px;color:var(--muted);text-transform:none;border-top:1px solid var(--line)}
.matrix th.row{font-weight:600;white-space:nowrap;background:#fff;width:1%}
.matrix th.row small,.matrix thead small{display:block;font-weight:400;color:var(--muted)}
.opt-tag{font-size:10px;font-weight:600;color:var(--opt);border:1px solid var(--line);border-radius:4px;padding:0 4px;margin-left:4px}
td.cell{min-width:190px;max-width:380px;font-size:13px}
td.cell .sum{color:var(--ink);font-size:12px;margin:2px 0 0 18px}
td.cell details{margin:2px 0 0 18px;font-size:12px;color:var(--muted)}
td.cell .mark{font-weight:700;margin-right:4px}
td.pass{background:var(--pass-bg);color:var(--pass)}
td.warn{background:var(--warn-bg);color:var(--warn)}
td.fail{background:var(--fail-bg);color:var(--fail)}
td.optional_fail{background:var(--opt-bg);color:var(--opt);background-image:repeating-linear-gradient(135deg,transparent 0 6px,rgba(0,0,0,.035) 6px 12px)}
td.missing{background:#fff;color:#afb8c1;text-align:center}
td.cell .code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
details summary{cursor:pointer;list-style:revert}
.diag{color:var(--ink);margin-top:6px;font-size:12.5px;white-space:normal}
.diag p{margin:4px 0}
.diag ul{margin:4px 0 4px 18px;padding:0}
.diag .remedy{background:#fff;border-left:3px solid var(--fail);padding:4px 8px;border-radius:0 4px 4px 0}
.diag pre,.problem pre{background:#0d1117;color:#e6edf3;padding:8px;border-radius:6px;overflow-x:auto;font-size:11.5px;
white-space:pre-wrap;word-break:break-all;max-height:280px}
.reply{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;background:rgba(255,255,255,.7);padding:1px 4px;border-radius:4px}
section{margin-top:22px}
h2{font-size:16px;margin:0 0 8px}
.problem{background:#fff;border:1px solid var(--line);border-left:6px solid var(--fail);border-radius:8px;padding:10px 14px;margin:0 0 10px}
.problem.optional_fail{border-left-color:var(--opt)}
.problem.warn{border-left-color:var(--warn)}
.problem h3{margin:0 0 4px;font-size:14px}
.problem h3 .code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-weight:400;font-size:12px;margin-left:8px;
padding:1px 6px;border-radius:4px;background:#f6f8fa;border:1px solid var(--line)}
.problem .hosts{color:var(--muted);font-size:12px}
.problem .remedy{border-left:3px solid var(--fail);padding:4px 8px;background:var(--fail-bg);border-radius:0 4px 4px 0}
footer{margin-top:26px;color:var(--muted);font-size:12px}
"""


def _printable(value):
    """Every value a template prints, before escaping: control characters a hostile server sent replaced."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _XML_INVALID.sub('\ufffd', value)
    return value


@functools.lru_cache(maxsize=None)
def _html_template():
    """The page template beside this module, loaded once; autoescaped, and an undefined name is an error, not ''."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(os.path.abspath(__file__)), '_report_templates')),
        autoescape=True, undefined=jinja2.StrictUndefined, finalize=_printable,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return environment.get_template('report.html.j2')


def render_html(records, hosts=None, title=None, layout='auto', generated=None):
    """One self-contained page: inline CSS, no script, no external resource."""
    records = _list(records)
    matrix = build_matrix(records, hosts)
    summary = summarize(records, matrix['hosts'])
    tiles = [
        {'status': 'fail', 'count': summary['failed'], 'label': 'required checks failed',
         'value': '{} / {}'.format(summary['failed'], summary['required'])},
        {'status': 'pass', 'count': summary['passed'], 'label': 'checks passed', 'value': summary['passed']},
        {'status': 'warn', 'count': summary['warnings'], 'label': 'with warnings', 'value': summary['warnings']},
        {'status': 'optional_fail', 'count': summary['optional_failed'], 'label': OPTIONAL_FAILED[1],
         'value': summary['optional_failed']},
        {'status': 'hosts', 'count': 0, 'label': 'hosts', 'value': summary['hosts']},
    ]
    return _html_template().render(
        style=Markup(HTML_STYLE),  # a constant of this module; nothing a server sent
        title=title or 'Mail flow report',
        verdict_word={'failed': 'FAILED', 'passed': 'PASSED', 'empty': 'NO CHECKS'}[summary['verdict']],
        generated=_now_iso(generated),
        summary=summary,
        tiles=tiles,
        has_records=bool(records),
        legend=(('pass', 'pass-bg'), ('warn', 'warn-bg'), ('fail', 'fail-bg'), ('optional_fail', 'opt-bg')),
        symbols=SYMBOLS,
        status_words=STATUS_WORDS,
        matrix=matrix,
        checks_as_rows=_checks_as_rows(matrix, layout) if records else False,
        columns_by_id=dict((column['id'], column) for column in matrix['columns']),
        security=matrix['security'],
        main_columns=[column for column in matrix['columns'] if column['area'] != SECURITY],
        main_groups=[group for group in matrix['groups'] if group['name'] != SECURITY],
        failures=_group_failures(_search("[?status=='fail']", records)) if records else [],
        optional_title=OPTIONAL_FAILED[1].capitalize(),
        optional_failures=_group_failures(_search("[?status=='optional_fail']", records)) if records else [],
        warned=_group_warnings(_search("[?status=='warn']", records)) if records else [],
    )
