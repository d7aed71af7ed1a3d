# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Classifier over the catalog: (step, code, enhanced, error, text, port) -> diagnosis dict.

The catalog is indexed once at import into dicts keyed per lookup tier, so a lookup is a handful of dict
gets (it runs for every step of hundreds of probes). Lookup order:
  error conditions: (step, error), then error
  replies: exact (step, code, enhanced), (code, enhanced), enhanced alone, enhanced with any class (RFC 3463
  X.s.d), enhanced subject (X.s), (step, code), basic code, basic code class, and finally unknown.
Within one key, entries with more constraints (text pattern, port) are tried first.
Every call returns a new dict; callers may change it.
"""

from __future__ import annotations

import re

from . import catalog
from . import errors

_KIND_RANK = dict((kind, rank) for rank, (kind, _entries) in enumerate(catalog.KINDS))
_CLASS_STATUS = {2: 'ok', 3: 'ok', 4: 'transient', 5: 'permanent'}

TIERS = ('error_step', 'error', 'exact', 'code_enhanced', 'enhanced', 'enhanced_any_class', 'class_subject',
         'step_code', 'code', 'code_class', 'enhanced_class', 'unknown')

_ENHANCED_RE = re.compile(r'^#?([245])\.(\d{1,3})\.(\d{1,3})$')
_ENHANCED_PREFIX_RE = re.compile(r'^#?([245])\.(\d{1,3})\.(\d{1,3})(?=$|[\s,;:)\]])')
_REPLY_LINE_RE = re.compile(r'^(?:smtp;\s*)?#?(\d{3})(?:([ -])(.*))?$', re.IGNORECASE | re.DOTALL)
_CODE_PAIR_RE = re.compile(r'(?<![\d.])([2-5]\d\d)[ -]#?([245]\.\d{1,3}\.\d{1,3})(?![\d.])')
_ENHANCED_ANYWHERE_RE = re.compile(r'(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])')
_CODE_ONLY_RE = re.compile(r'^\d{3}$')


def _prepare(entry, kind, order):
    match = entry.get('match', {})
    pattern = match.get('text')
    return {
        'category': entry['category'],
        'status': entry.get('status'),
        'summary': entry['summary'],
        'causes': tuple(entry['causes']),
        'remedy': entry['remedy'],
        'references': tuple(entry.get('references', ())),
        'notes': tuple(entry.get('notes', ())),
        'vendor': entry.get('vendor'),
        'kind': kind,
        'text': re.compile(pattern, re.IGNORECASE) if pattern else None,
        'port': match.get('port'),
        'rank': (-((pattern is not None) + (match.get('port') is not None)), _KIND_RANK.get(kind, 99), order),
    }


def _as_tuple(value):
    if value is None:
        return ()
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,)


def _keys(match):
    """Return (tier, keys) for one entry's match; raises ValueError on a match the index cannot hold."""
    steps = _as_tuple(match.get('step')) or (None,)
    enhanced = _as_tuple(match.get('enhanced'))
    code = match.get('code')
    if match.get('error'):
        return 'error', [(step, match['error']) for step in steps]
    if match.get('code_class') is not None:
        return 'code_class', [match['code_class']]
    if match.get('subject') is not None:
        return 'class_subject', [match['subject']]
    if enhanced and enhanced[0].startswith('X.'):
        return 'enhanced_any_class', [value[2:] for value in enhanced]
    if code is not None and enhanced and steps != (None,):
        return 'exact', [(step, code, value) for step in steps for value in enhanced]
    if code is not None and enhanced:
        return 'code_enhanced', [(code, value) for value in enhanced]
    if enhanced and steps == (None,):
        return 'enhanced', list(enhanced)
    if code is not None and steps != (None,):
        return 'step_code', [(step, code) for step in steps]
    if code is not None:
        return 'code', [code]
    raise ValueError('catalog entry with an unindexable match: %r' % (match,))


def _build_index():
    index = dict((tier, {}) for tier in TIERS)
    order = 0
    for kind, entries in catalog.KINDS:
        for entry in entries:
            order += 1
            tier, keys = _keys(entry['match'])
            prepared = _prepare(entry, kind, order)
            for key in keys:
                index[tier].setdefault(key, []).append(prepared)
    for tier_index in index.values():
        for candidates in tier_index.values():
            candidates.sort(key=lambda item: item['rank'])
    return index


def _build_success():
    by_step = {}
    default = None
    for order, entry in enumerate(catalog.SUCCESS):
        prepared = _prepare(entry, 'success', order)
        steps = _as_tuple(entry['match'].get('step'))
        if not steps:
            default = prepared
        for step in steps:
            by_step[step] = prepared
    return by_step, default


_INDEX = _build_index()
_SUCCESS_BY_STEP, _SUCCESS_DEFAULT = _build_success()
_UNKNOWN = _prepare(catalog.UNKNOWN, 'unknown', 0)


def _count_entries():
    counts = {}
    vendors = {}
    for kind, entries in catalog.KINDS:
        counts[kind] = len(entries)
        for entry in entries:
            if entry.get('vendor'):
                vendors[entry['vendor']] = vendors.get(entry['vendor'], 0) + 1
    counts['success'] = len(catalog.SUCCESS)
    return {'by_kind': counts, 'by_vendor': vendors, 'total': sum(counts.values())}


CATALOG_STATS = _count_entries()


# --- input coercion: never raise, note what was ignored ---------------------------------------------------------

def _coerce_code(value, notes):
    if value is None:
        return None
    if isinstance(value, bool):
        code = None
    elif isinstance(value, int):
        code = value
    elif isinstance(value, str) and _CODE_ONLY_RE.match(value.strip()):
        code = int(value.strip())
    else:
        code = None
    if code is None or not 200 <= code <= 599:
        notes.append('Ignored %r: not a basic SMTP reply code (200-599).' % (_short(value),))
        return None
    return code


def _coerce_enhanced(value, notes):
    if value is None:
        return None
    if isinstance(value, str):
        found = _ENHANCED_RE.match(value.strip())
        if found:
            return '%d.%d.%d' % (int(found.group(1)), int(found.group(2)), int(found.group(3)))
    notes.append('Ignored %r: not an enhanced status code (class 2, 4 or 5, as in 5.1.1).' % (_short(value),))
    return None


def _coerce_step(value):
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return None


def _coerce_port(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _coerce_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        parts = [item for item in value if isinstance(item, str)]
        return ' '.join(parts) if parts else None
    return None


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


# --- lookup ------------------------------------------------------------------------------------------------------

def _pick(candidates, text, port):
    if not candidates:
        return None
    for candidate in candidates:
        if candidate['port'] is not None and candidate['port'] != port:
            continue
        if candidate['text'] is not None and (text is None or not candidate['text'].search(text)):
            continue
        return candidate
    return None


def _resolve_status(entry_status, reply_class):
    if reply_class is None:
        return entry_status or 'protocol'
    if reply_class in (2, 3):
        return 'ok'
    if entry_status and entry_status != 'ok':
        return entry_status
    return _CLASS_STATUS.get(reply_class, 'protocol')


def _result(entry, matched_by, status, step, code, enhanced, error, notes):
    return {
        'status': status,
        'step': step,
        'code': code,
        'enhanced': enhanced,
        'error': error,
        'category': entry['category'],
        'summary': entry['summary'],
        'causes': list(entry['causes']),
        'remedy': entry['remedy'],
        'notes': list(entry['notes']) + notes,
        'references': list(entry['references']),
        'vendor': entry['vendor'],
        'matched_by': matched_by,
    }


def _reply_tiers(step, code, enhanced, pairs_allowed, alone_allowed):
    """Yield (tier, key) in lookup order for a reply."""
    if enhanced is not None and pairs_allowed:
        if step is not None and code is not None:
            yield 'exact', (step, code, enhanced)
        if code is not None:
            yield 'code_enhanced', (code, enhanced)
    if enhanced is not None and alone_allowed:
        subject_detail = enhanced.split('.', 1)[1]
        yield 'enhanced', enhanced
        yield 'enhanced_any_class', subject_detail
        yield 'class_subject', int(subject_detail.split('.')[0])
    if code is not None:
        if step is not None:
            yield 'step_code', (step, code)
        yield 'code', code
        yield 'code_class', code // 100
    elif enhanced is not None and alone_allowed:
        yield 'enhanced_class', int(enhanced[0])


def _port_notes(port, status, error, step, category):
    notes = []
    if port is None or status == 'ok':
        return notes
    note = catalog.PORT_NOTES.get(port)
    if note and category != 'internal_receive_connector':
        notes.append(note)
    if (error in catalog.PORT_CHECK_ERRORS and step in (None, 'connect', 'banner')
            and port not in catalog.STANDARD_SMTP_PORTS):
        notes.append('Port %d is not a usual SMTP port (%s): check the port number.'
                     % (port, ', '.join(str(number) for number in catalog.STANDARD_SMTP_PORTS)))
    return notes


def diagnose(step=None, code=None, enhanced=None, error=None, text=None, port=None, enhanced_trusted=None):
    """Explain one observation. Returns a new dict:
    {status, step, code, enhanced, error, category, summary, causes, remedy, notes, references, vendor, matched_by}.

    enhanced_trusted: True when the server offered ENHANCEDSTATUSCODES (or the engine otherwise trusts the code),
    False to ignore the enhanced code, None to trust it when its class matches the basic code's first digit.
    """
    notes = []
    step = _coerce_step(step)
    code = _coerce_code(code, notes)
    enhanced = _coerce_enhanced(enhanced, notes)
    text = _coerce_text(text)
    port = _coerce_port(port)
    error = error if isinstance(error, str) and error else None

    if error is not None:
        entry = _pick(_INDEX['error'].get((step, error)), text, port) if step is not None else None
        matched_by = 'error_step'
        if entry is None:
            entry = _pick(_INDEX['error'].get((None, error)), text, port)
            matched_by = 'error'
        if entry is None:
            notes.append('Unknown condition name %r.' % (_short(error),))
            return _result(_UNKNOWN, 'unknown', _UNKNOWN['status'], step, code, enhanced, error, notes)
        status = entry['status']
        notes.extend(_port_notes(port, status, error, step, entry['category']))
        return _result(entry, matched_by, status, step, code, enhanced, error, notes)

    mismatch = code is not None and enhanced is not None and enhanced[0] != str(code)[0]
    if mismatch:
        notes.append('Enhanced code %s does not match the class of basic code %d; the basic code decides.'
                     % (enhanced, code))
    if enhanced_trusted is not None:
        enhanced_trusted = bool(enhanced_trusted)
    # A catalog entry naming both codes was written for that exact pair, so it applies even on a class mismatch;
    # enhanced-only tiers need a code whose class agrees with the basic code.
    pairs_allowed = enhanced_trusted is not False
    alone_allowed = pairs_allowed and not mismatch
    if enhanced is not None and enhanced_trusted is False:
        notes.append('Enhanced code %s ignored: the server did not offer ENHANCEDSTATUSCODES.' % enhanced)

    reply_class = code // 100 if code is not None else (int(enhanced[0]) if enhanced is not None else None)
    for tier, key in _reply_tiers(step, code, enhanced, pairs_allowed, alone_allowed):
        entry = _pick(_INDEX['code_class' if tier == 'enhanced_class' else tier].get(key), text, port)
        if entry is None:
            continue
        if tier == 'code_class':
            second = (code // 10) % 10
            notes.append(catalog.SECOND_DIGIT.get(second, 'x%dz: a second digit RFC 5321 does not define.' % second))
        status = _resolve_status(entry['status'], reply_class)
        notes.extend(_port_notes(port, status, None, step, entry['category']))
        return _result(entry, tier, status, step, code, enhanced, None, notes)

    if code is None and enhanced is None:
        notes.append('Nothing to explain: no valid reply code, enhanced code or condition name.')
    return _result(_UNKNOWN, 'unknown', _UNKNOWN['status'], step, code, enhanced, None, notes)


def diagnose_success(step=None, code=None, enhanced=None, notes=None):
    """Diagnosis for a dialogue where every step met its expectation. `step` is the last step that ran."""
    step = _coerce_step(step)
    extra = []
    code = _coerce_code(code, extra)
    enhanced = _coerce_enhanced(enhanced, extra)
    if isinstance(notes, (list, tuple)):
        extra = [note for note in notes if isinstance(note, str)] + extra
    entry = _SUCCESS_BY_STEP.get(step, _SUCCESS_DEFAULT)
    return _result(entry, 'success', 'ok', step, code, enhanced, None, extra)


# --- explain: parse what a user pastes ---------------------------------------------------------------------------

def _parse_lines(lines):
    """Parse reply lines ('250-...', '250 ...'). Returns a dict of diagnose() arguments, or None."""
    codes = []
    enhanced = None
    texts = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        found = _REPLY_LINE_RE.match(line)
        if not found:
            texts.append(line)
            continue
        codes.append(found.group(1))
        rest = (found.group(3) or '').strip()
        prefix = _ENHANCED_PREFIX_RE.match(rest)
        if prefix:
            if enhanced is None:
                enhanced = '%s.%s.%s' % prefix.groups()
            rest = rest[prefix.end():].strip()
        if rest:
            texts.append(rest)
    text = ' '.join(texts) if texts else None
    notes = []
    if codes:
        if len(set(codes)) > 1:
            notes.append('The reply code changes between lines (%s); the last line decides.' % ', '.join(codes))
        return {'code': codes[-1], 'enhanced': enhanced, 'text': text, 'notes': notes}
    if text is None:
        return None
    # Not reply-shaped (an NDR or log excerpt): look for a code pair, then an enhanced code, anywhere in it.
    pair = _CODE_PAIR_RE.search(text)
    if pair:
        return {'code': pair.group(1), 'enhanced': pair.group(2), 'text': text, 'notes': notes}
    alone = _ENHANCED_ANYWHERE_RE.search(text)
    if alone:
        return {'code': None, 'enhanced': alone.group(1), 'text': text, 'notes': notes}
    return None


def _parse_text(value):
    value = value.strip()
    if not value:
        return None
    if _CODE_ONLY_RE.match(value):
        return {'code': value}
    if _ENHANCED_RE.match(value):
        return {'enhanced': value}
    if value in errors.ALL:
        return {'error': value}
    return _parse_lines(value.splitlines())


def _parse_mapping(value):
    reply = value.get('reply')
    source = reply if isinstance(reply, dict) else value
    parsed = {
        'code': source.get('code'),
        'enhanced': source.get('enhanced'),
        'text': source.get('text'),
        'notes': [],
    }
    if parsed['code'] is None and parsed['enhanced'] is None:
        lines = source.get('lines')
        if isinstance(lines, (list, tuple)):
            parsed = _parse_lines([line for line in lines if isinstance(line, str)]) or parsed
        elif isinstance(parsed['text'], str):
            parsed = _parse_text(parsed['text']) or parsed
    step = value.get('step', value.get('name'))
    if step is not None:
        parsed['step'] = step
    for key in ('error', 'port'):
        if value.get(key) is not None:
            parsed[key] = value.get(key)
    return parsed


def _parse_value(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return {'code': value}
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, (list, tuple)):
        lines = [line.decode('utf-8', 'replace') if isinstance(line, bytes) else line for line in value]
        return _parse_lines([line for line in lines if isinstance(line, str)])
    if isinstance(value, dict):
        return _parse_mapping(value)
    return None


def explain(value, step=None, port=None, enhanced_trusted=None):
    """Explain a reply line ('550 5.1.1 <x>: User unknown'), reply lines (a list or a multi-line string), a basic
    code (550 or '550'), an enhanced code ('5.7.1'), a condition name ('connection_refused') or a step/reply dict
    ({code, enhanced, text, lines} or {name, reply: {...}}). Never raises: anything else gives category 'unknown'.
    """
    parsed = _parse_value(value)
    if parsed is None:
        result = _result(_UNKNOWN, 'unknown', _UNKNOWN['status'], _coerce_step(step), None, None, None, [])
        result['notes'].append('Nothing to explain in %s.' % _short(value))
        return result
    result = diagnose(
        step=parsed.get('step', step),
        code=parsed.get('code'),
        enhanced=parsed.get('enhanced'),
        error=parsed.get('error'),
        text=parsed.get('text'),
        port=parsed.get('port', port),
        enhanced_trusted=enhanced_trusted,
    )
    result['notes'] = list(parsed.get('notes') or ()) + result['notes']
    return result
