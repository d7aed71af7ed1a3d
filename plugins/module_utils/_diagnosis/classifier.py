# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Classifier over the catalog: (step, code, enhanced, error, text, port, context) -> diagnosis dict.

The catalog is indexed once at import into dicts keyed per lookup tier, so a lookup is a handful of dict
gets (it runs for every step of hundreds of probes). Lookup order:
  error conditions: (step, error), then error
  replies: exact (step, code, enhanced), (code, enhanced), enhanced alone, enhanced with any class (RFC 3463
  X.s.d), enhanced subject (X.s), (step, code), basic code, basic code class, and finally unknown.
Entries with constraints (a text pattern, `when` conditions on the dialogue context) that hold for the reply are
looked up first, through all the reply tiers in that order; then the plain entries, tier by tier. Within one key,
entries with more constraints are tried first; an entry whose conditions the context does not meet (or does not
know) is skipped.
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


def _allowed(value):
    """A `when` value as the tuple of context values it accepts (None stands for "not known")."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _conditions(entry):
    when = dict((key, _allowed(value)) for key, value in (entry.get('when') or {}).items())
    port = entry.get('match', {}).get('port')
    if port is not None:
        when['port'] = _allowed(port)
    unknown = set(when) - set(catalog.CONTEXT_KEYS)
    if unknown:
        raise ValueError('catalog entry with unknown when keys {}: {!r}'.format(sorted(unknown), entry.get('match')))
    return tuple(sorted(when.items()))


def _prepare(entry, kind, order):
    match = entry.get('match', {})
    pattern = match.get('text')
    when = _conditions(entry)
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
        'when': when,
        'rank': (-((pattern is not None) + len(when)), _KIND_RANK.get(kind, 99), order),
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
    raise ValueError(f'catalog entry with an unindexable match: {match!r}')


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
# Every condition name the catalog answers for: the engines' (errors.ALL) and the policy checks'.
CONDITIONS = frozenset(errors.ALL) | frozenset(error for _step, error in _INDEX['error'])
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
        notes.append(f'Ignored {_short(value)!r}: not a basic SMTP reply code (200-599).')
        return None
    return code


def _coerce_enhanced(value, notes):
    if value is None:
        return None
    if isinstance(value, str):
        found = _ENHANCED_RE.match(value.strip())
        if found:
            return f'{int(found.group(1))}.{int(found.group(2))}.{int(found.group(3))}'
    notes.append(f'Ignored {_short(value)!r}: not an enhanced status code (class 2, 4 or 5, as in 5.1.1).')
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


def _coerce_flag(value):
    return value if isinstance(value, bool) else None


# MULTILINE: the lines are searched joined, once per signature (^ still anchors at each line).
_SIGNATURES = tuple((row['vendor'], re.compile(row['pattern'], re.IGNORECASE | re.MULTILINE)) for row in catalog.SERVER_SIGNATURES)


def identify_server(lines):
    """Which server or gateway wrote these banner/EHLO lines: a vendor id from catalog.SERVERS, or None.
    The first signature (in catalog order) found in any line wins; gateways come before the MTAs they may run."""
    if isinstance(lines, (str, bytes)):
        lines = [lines]
    if not isinstance(lines, (list, tuple)):
        return None
    texts = []
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode('utf-8', 'replace')
        if isinstance(line, str):
            texts.append(line)
    joined = '\n'.join(texts)
    for vendor, pattern in _SIGNATURES:
        if pattern.search(joined):
            return vendor
    return None


def _coerce_context(context, port, text):
    """The dialogue context as {authenticated, tls, port, server}; None where not known. An explicit port argument
    wins over context['port']; without context['server'], a reply text that names a server identifies it."""
    given = context if isinstance(context, dict) else {}
    server = given.get('server')
    if server not in catalog.SERVERS:
        server = identify_server(text) if text is not None else None
    return {
        'authenticated': _coerce_flag(given.get('authenticated')),
        'tls': _coerce_flag(given.get('tls')),
        'port': port if port is not None else _coerce_port(given.get('port')),
        'server': server,
    }


def _meets(when, context):
    return all(context.get(key) in allowed for key, allowed in when)


# --- lookup ------------------------------------------------------------------------------------------------------

def _pick(candidates, text, context, constrained=None):
    """The first candidate that applies; constrained=True/False only looks at entries with/without a text pattern or
    `when` conditions (None: at all)."""
    if not candidates:
        return None
    for candidate in candidates:
        if constrained is not None and constrained != (candidate['text'] is not None or bool(candidate['when'])):
            continue
        if candidate['when'] and not _meets(candidate['when'], context):
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


_CONTEXT_NOTES = tuple(dict(row, when=_conditions(row)) for row in catalog.CONTEXT_NOTES)


def _context_notes(context, status, error, step, category):
    notes = []
    for row in _CONTEXT_NOTES:
        if row['failures_only'] and status == 'ok':
            continue
        if category in row['unless_category'] or not _meets(row['when'], context):
            continue
        notes.append(row['note'])
    port = context['port']
    if (port is not None and status != 'ok' and error in catalog.PORT_CHECK_ERRORS
            and step in (None, 'connect', 'banner') and port not in catalog.STANDARD_SMTP_PORTS):
        usual = ', '.join(str(number) for number in catalog.STANDARD_SMTP_PORTS)
        notes.append(f'Port {port} is not a usual SMTP port ({usual}): check the port number.')
    return notes


def diagnose(step=None, code=None, enhanced=None, error=None, text=None, port=None, enhanced_trusted=None,
             context=None):
    """Explain one observation. Returns a new dict:
    {status, step, code, enhanced, error, category, summary, causes, remedy, notes, references, vendor, matched_by}.

    enhanced_trusted: True when the server offered ENHANCEDSTATUSCODES (or the engine otherwise trusts the code),
    False to ignore the enhanced code, None to trust it when its class matches the basic code's first digit.
    context: None or {'authenticated': bool (AUTH got 2xx), 'tls': bool (TLS active at that step), 'port': int,
    'server': a vendor id from identify_server() or None}. Entries and notes with `when` conditions need it.
    With `error`, `code` is kept in the result (the tarpit note carries the slow reply's code).
    """
    notes = []
    step = _coerce_step(step)
    code = _coerce_code(code, notes)
    enhanced = _coerce_enhanced(enhanced, notes)
    text = _coerce_text(text)
    context = _coerce_context(context, _coerce_port(port), text)
    error = error if isinstance(error, str) and error else None

    if error is not None:
        entry = _pick(_INDEX['error'].get((step, error)), text, context) if step is not None else None
        matched_by = 'error_step'
        if entry is None:
            entry = _pick(_INDEX['error'].get((None, error)), text, context)
            matched_by = 'error'
        if entry is None:
            notes.append(f'Unknown condition name {_short(error)!r}.')
            return _result(_UNKNOWN, 'unknown', _UNKNOWN['status'], step, code, enhanced, error, notes)
        status = entry['status']
        notes.extend(_context_notes(context, status, error, step, entry['category']))
        return _result(entry, matched_by, status, step, code, enhanced, error, notes)

    mismatch = code is not None and enhanced is not None and enhanced[0] != str(code)[0]
    if mismatch:
        notes.append(f'Enhanced code {enhanced} does not match the class of basic code {code}; the basic code decides.')
    if enhanced_trusted is not None:
        enhanced_trusted = bool(enhanced_trusted)
    # A catalog entry naming both codes was written for that exact pair, so it applies even on a class mismatch;
    # enhanced-only tiers need a code whose class agrees with the basic code.
    pairs_allowed = enhanced_trusted is not False
    alone_allowed = pairs_allowed and not mismatch
    if enhanced is not None and enhanced_trusted is False:
        notes.append(f'Enhanced code {enhanced} ignored: the server did not offer ENHANCEDSTATUSCODES.')

    reply_class = code // 100 if code is not None else (int(enhanced[0]) if enhanced is not None else None)
    tiers = list(_reply_tiers(step, code, enhanced, pairs_allowed, alone_allowed))
    # Entries whose text or context conditions matched this reply are more specific than any plain entry, whatever
    # their tier: a vendor's wording at (code) beats the generic (step, code) meaning.
    for constrained, (tier, key) in [(True, each) for each in tiers] + [(False, each) for each in tiers]:
        entry = _pick(_INDEX['code_class' if tier == 'enhanced_class' else tier].get(key), text, context, constrained)
        if entry is None:
            continue
        if tier == 'code_class':
            second = (code // 10) % 10
            notes.append(catalog.SECOND_DIGIT.get(second, f'x{second}z: a second digit RFC 5321 does not define.'))
        status = _resolve_status(entry['status'], reply_class)
        notes.extend(_context_notes(context, status, None, step, entry['category']))
        return _result(entry, tier, status, step, code, enhanced, None, notes)

    if code is None and enhanced is None:
        notes.append('Nothing to explain: no valid reply code, enhanced code or condition name.')
    return _result(_UNKNOWN, 'unknown', _UNKNOWN['status'], step, code, enhanced, None, notes)


def diagnose_success(step=None, code=None, enhanced=None, notes=None, context=None):
    """Diagnosis for a dialogue where every step met its expectation. `step` is the last step that ran;
    `context` as for diagnose() (notes that hold for any status, such as Exchange's port 2525, still apply)."""
    step = _coerce_step(step)
    extra = []
    code = _coerce_code(code, extra)
    enhanced = _coerce_enhanced(enhanced, extra)
    if isinstance(notes, (list, tuple)):
        extra = [note for note in notes if isinstance(note, str)] + extra
    entry = _SUCCESS_BY_STEP.get(step, _SUCCESS_DEFAULT)
    context_notes = _context_notes(_coerce_context(context, None, None), 'ok', None, step, entry['category'])
    extra.extend(note for note in context_notes if note not in extra)
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
                enhanced = '{}.{}.{}'.format(*prefix.groups())
            rest = rest[prefix.end():].strip()
        if rest:
            texts.append(rest)
    text = ' '.join(texts) if texts else None
    notes = []
    if codes:
        if len(set(codes)) > 1:
            notes.append('The reply code changes between lines ({}); the last line decides.'.format(', '.join(codes)))
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
    if value in CONDITIONS:
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


def explain(value, step=None, port=None, enhanced_trusted=None, context=None):
    """Explain a reply line ('550 5.1.1 <x>: User unknown'), reply lines (a list or a multi-line string), a basic
    code (550 or '550'), an enhanced code ('5.7.1'), a condition name ('connection_refused') or a step/reply dict
    ({code, enhanced, text, lines} or {name, reply: {...}}). Never raises: anything else gives category 'unknown'.
    """
    parsed = _parse_value(value)
    if parsed is None:
        result = _result(_UNKNOWN, 'unknown', _UNKNOWN['status'], _coerce_step(step), None, None, None, [])
        result['notes'].append(f'Nothing to explain in {_short(value)}.')
        return result
    result = diagnose(
        step=parsed.get('step', step),
        code=parsed.get('code'),
        enhanced=parsed.get('enhanced'),
        error=parsed.get('error'),
        text=parsed.get('text'),
        port=parsed.get('port', port),
        enhanced_trusted=enhanced_trusted,
        context=context,
    )
    result['notes'] = list(parsed.get('notes') or ()) + result['notes']
    return result
