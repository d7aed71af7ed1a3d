# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``detail`` of a result: ``summary`` (the default) keeps what a mail admin reads and what the report and
the baseline need; ``full`` is the result as the engine built it.

Summary, per SMTP result (smtp_probe, and each probe of mx_probe):
  steps       one flat entry per step: name, code, enhanced, text (the first reply line's text; the three only when
              a reply came), elapsed_ms, ok; the command of each RCPT; the reply lines of a banner of several lines
              and of a step that failed; error, error_message, slow, fallback, held and a failed connect's attempts
              when set. The steps of an earlier connection that all passed are left out (the tls_verify: false
              reconnect repeats them).
  diagnosis   the report's keys (status, step, code, enhanced, error, category, summary, causes, remedy, notes,
              expected) that have a value; the whole entry (references, vendor, how it matched) where something
              failed or was slow
  transcript  only when the probe failed
  tls         the session and the certificate's subject, issuer, dates and fingerprint
  capabilities_before_tls only in full
Summary, per mx_probe domain: the DNS record (``mx``) only in full, the verdict's diagnosis as above, every probe as
above, except that a passed probe keeps only the status, step, codes, category and summary of its diagnosis (the
verdict explains the domain). The report and the baseline built from a summary equal those built from the full result
(tests/unit/plugins/plugin_utils/test_detail_report.py).
"""

from __future__ import annotations

DETAILS = ('summary', 'full')
# The options of smtp_probe and mx_probe that shape their output.
OUTPUT_ARGSPEC = dict(
    detail=dict(type='str', default='summary', choices=list(DETAILS)),
    facts=dict(type='bool', default=False),
)

# What the report and the baseline read of a diagnosis (plugin_utils/_report.py DIAGNOSIS_KEYS).
DIAGNOSIS_KEYS = ('status', 'step', 'code', 'enhanced', 'error', 'category', 'summary', 'causes', 'remedy', 'notes',
                  'expected')
# What a passed probe of mx_probe keeps of its diagnosis: the domain's verdict carries the explanation.
PROBE_DIAGNOSIS_KEYS = ('status', 'step', 'code', 'enhanced', 'category', 'summary')
CERTIFICATE_KEYS = ('subject', 'issuer', 'not_after', 'days_left', 'sha256')
TLS_KEYS = ('mode', 'used', 'offered', 'version', 'cipher', 'verified', 'verify_error', 'verify_message')
# Step keys kept only when they say something.
_OPTIONAL_STEP_KEYS = ('error', 'error_message', 'slow', 'fallback', 'held')
# Steps whose reply lines are kept when there are several: the baseline compares the whole banner.
_LINES_KEPT = frozenset(('banner',))
# Steps whose command is kept: it names the recipient.
_COMMAND_KEPT = frozenset(('rcpt',))


def current_connection(steps):
    """The steps without those of an earlier connection that all passed and none slow (the tls_verify: false
    reconnect repeats them), else all steps: a failure or a slow reply in an earlier connection stays."""
    starts = [index for index, step in enumerate(steps) if step.get('name') == 'connect']
    if len(starts) < 2:
        return list(steps)
    earlier = steps[:starts[-1]]
    if all(step.get('ok') and not step.get('slow') for step in earlier):
        return list(steps[starts[-1]:])
    return list(steps)


def _step_text(reply):
    """The first reply line's text without its code and enhanced code."""
    text = (reply.get('text') or '').split('\n', 1)[0]
    enhanced = reply.get('enhanced')
    if enhanced and text.startswith(enhanced):
        text = text[len(enhanced):].lstrip()
    return text


def summarize_step(step):
    reply = step.get('reply')
    summary = {'name': step['name']}
    if reply:
        summary.update(code=reply.get('code'), enhanced=reply.get('enhanced'), text=_step_text(reply))
    else:
        reply = {}
    summary.update(elapsed_ms=step.get('elapsed_ms'), ok=step.get('ok'))
    if step['name'] in _COMMAND_KEPT:
        summary['command'] = step.get('command')
    lines = reply.get('lines') or []
    if len(lines) > 1 and step['name'] in _LINES_KEPT or lines and not step.get('ok'):
        summary['lines'] = list(lines)
    for key in _OPTIONAL_STEP_KEYS:
        if step.get(key):
            summary[key] = step[key]
    if step.get('attempts') and not step.get('ok'):
        summary['attempts'] = step['attempts']
    return summary


def summarize_diagnosis(diagnosis, whole, keys=DIAGNOSIS_KEYS):
    """The ``keys`` of a diagnosis that have a value, or all of it when ``whole`` (something failed or was slow)."""
    if not isinstance(diagnosis, dict):
        return diagnosis
    if whole:
        return dict(diagnosis)
    return dict((key, diagnosis[key]) for key in keys if diagnosis.get(key) not in (None, []))


def _summarize_tls(tls):
    if not isinstance(tls, dict):
        return tls
    summary = dict((key, tls.get(key)) for key in TLS_KEYS)
    certificate = tls.get('certificate')
    summary['certificate'] = dict((key, certificate.get(key)) for key in CERTIFICATE_KEYS) if certificate else None
    return summary


def summarize_smtp(result, diagnosis_keys=DIAGNOSIS_KEYS):
    """The summary of one smtp_probe result (full shape in, summary shape out; the input is not changed)."""
    steps = result.get('steps') or []
    passed = bool(result.get('passed'))
    slow = any(step.get('slow') for step in steps)
    summary = dict((key, value) for key, value in result.items()
                   if key not in ('steps', 'diagnosis', 'transcript', 'tls', 'capabilities_before_tls'))
    summary['steps'] = [summarize_step(step) for step in current_connection(steps)]
    summary['diagnosis'] = summarize_diagnosis(result.get('diagnosis'), not passed or slow, diagnosis_keys)
    if 'tls' in result:
        summary['tls'] = _summarize_tls(result['tls'])
    if not passed and 'transcript' in result:
        summary['transcript'] = result['transcript']
    return summary


def summarize_route(result):
    """The summary of one mx_probe domain result."""
    passed = bool(result.get('passed', (result.get('verdict') or {}).get('deliverable')))
    summary = dict((key, value) for key, value in result.items() if key not in ('mx', 'probes', 'verdict'))
    summary['probes'] = [summarize_smtp(probe, PROBE_DIAGNOSIS_KEYS) for probe in result.get('probes') or []]
    verdict = result.get('verdict')
    if isinstance(verdict, dict):
        verdict = dict(verdict)
        slow = any(probe.get('diagnosis', {}).get('category') == 'tarpit' for probe in summary['probes'])
        verdict['diagnosis'] = summarize_diagnosis(verdict.get('diagnosis'), whole=not passed or slow)
    summary['verdict'] = verdict
    return summary


def with_detail(result, detail, summarize):
    """``result`` at the asked detail: ``summarize(result)`` for summary, else the result itself."""
    return result if detail == 'full' else summarize(result)


def smtp_output(result, key, detail, store_facts):
    """(smtp_probe result at ``detail``, its ansible_facts or None): facts only when asked, holding the same result."""
    shown = with_detail(result, detail, summarize_smtp)
    facts = {'mailflow': {'smtp': {key: dict(shown)}}} if store_facts else None
    return shown, facts


def route_output(results, detail, store_facts, key=None):
    """(mx_probe domain results at ``detail``, ansible_facts or None); ``key`` names a single domain's entry."""
    shown = [with_detail(result, detail, summarize_route) for result in results]
    if not store_facts:
        return shown, None
    if key is not None:
        entries = {key: shown[0]}
    else:
        entries = dict((result['domain'], result) for result in shown)
    return shown, {'mailflow': {'routes': entries}}


def step_reply(step):
    """A step's reply as {code, enhanced, lines} in either shape (full: ``reply``; summary: flat), {} without one."""
    reply = step.get('reply')
    if isinstance(reply, dict):
        return reply
    if step.get('code') is None:
        return {}
    first = ' '.join(str(part) for part in (step['code'], step.get('enhanced'), step.get('text')) if part)
    return {'code': step['code'], 'enhanced': step.get('enhanced'), 'lines': step.get('lines') or [first]}
