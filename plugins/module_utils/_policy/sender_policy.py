# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sender policy of a mail domain: SPF (``spf.analyze``) and DMARC (``dmarc.check_dmarc``) as one result with
a verdict, a diagnosis per finding and a one-line summary. Also the summaries of the egress and smuggling checks,
so that the modules and ``_outcome`` share one wording."""

from __future__ import annotations

from . import sender_catalog as C
from .dmarc import check_dmarc
from .spf import analyze

CHECKS = ('spf', 'dmarc')


def _spf_conditions(spf):
    """(failures, warnings) of an SPF analysis."""
    if spf['status'] != 'ok':
        return [spf['condition']], []
    if spf['all'] in ('+all', 'all'):
        return [C.SPF_PASS_ALL], []
    if spf['all'] not in ('-all', '~all'):
        return [], [C.SPF_NO_FAIL_ALL]
    return [], []


def _spf_detail(spf):
    if spf['status'] == 'ok':
        return 'record {!r}, {} of {} DNS lookups, {} void, ends in {}'.format(
            spf['record'], spf['lookup_count'], spf['lookup_limit'], spf['void_lookup_count'], spf['all'] or 'no all')
    return spf['message']


def _dmarc_detail(dmarc):
    if dmarc['status'] == 'ok':
        policy = dmarc['policy']
        return 'record {!r} at {}: p={} sp={} pct={} adkim={} aspf={} rua={}'.format(
            dmarc['record'], dmarc['found_at'], policy['p'], policy['sp'], policy['pct'], policy['adkim'],
            policy['aspf'], ','.join(uri['uri'] for uri in policy['rua']) or '-')
    return dmarc['message']


def check_sender_policy(resolver, domain, organizational_domain=None, checks=CHECKS):
    """A dict: domain, spf (spf.analyze() plus passed, diagnosis, findings; None when not checked), dmarc (likewise
    check_dmarc()), passed (every check passed), diagnosis (the first failure, else the first check's ok
    diagnosis), findings (every failure and warning), summary (one line)."""
    result = {'domain': domain, 'spf': None, 'dmarc': None}
    failures, findings = [], []
    if 'spf' in checks:
        spf = analyze(resolver, domain)
        failed, warned = _spf_conditions(spf)
        detail = _spf_detail(spf)
        spf_findings = [C.sender_diagnosis(condition, 'spf', detail) for condition in failed + warned]
        spf.update(passed=not failed, findings=spf_findings,
                   diagnosis=spf_findings[0] if spf_findings else C.sender_diagnosis(C.SPF_OK, 'spf', detail))
        result['spf'] = spf
        failures += spf_findings[:len(failed)]
        findings += spf_findings
    if 'dmarc' in checks:
        dmarc = check_dmarc(resolver, domain, organizational_domain)
        detail = _dmarc_detail(dmarc)
        failed = [] if dmarc['status'] == 'ok' else [dmarc['condition']]
        dmarc_findings = [C.sender_diagnosis(condition, 'dmarc', detail) for condition in failed + dmarc['warnings']]
        main = dmarc_findings[0] if failed else C.sender_diagnosis(dmarc['condition'], 'dmarc', detail)
        dmarc.update(passed=not failed, findings=dmarc_findings, diagnosis=main)
        result['dmarc'] = dmarc
        failures += dmarc_findings[:len(failed)]
        findings += dmarc_findings
    checked = [result[name] for name in CHECKS if result[name] is not None]
    result.update(passed=not failures, findings=findings,
                  diagnosis=failures[0] if failures else checked[0]['diagnosis'])
    result['summary'] = sender_policy_summary(result)
    return result


def sender_policy_summary(result):
    """'contoso.com: SPF ok (3/10 lookups, -all); DMARC p=reject' or the failures with their summaries."""
    parts = []
    spf, dmarc = result.get('spf'), result.get('dmarc')
    if spf is not None:
        if spf['passed']:
            parts.append('SPF ok ({}/{} lookups, {})'.format(spf['lookup_count'], spf['lookup_limit'], spf['all'] or 'no all'))
        else:
            parts.append('SPF {}: {} ({})'.format(spf['diagnosis']['error'], spf['diagnosis']['summary'],
                                                  spf['diagnosis']['detail']))
    if dmarc is not None:
        if dmarc['passed']:
            parts.append('DMARC p={}{}'.format(dmarc['applied_policy'], ' ({})'.format(', '.join(dmarc['warnings']))
                                               if dmarc['warnings'] else ''))
        else:
            parts.append('DMARC {}: {} ({})'.format(dmarc['diagnosis']['error'], dmarc['diagnosis']['summary'],
                                                    dmarc['diagnosis']['detail']))
    return '{}: {}'.format(result['domain'], '; '.join(parts))


def egress_summary(result):
    """'198.51.100.25 (mta1.contoso.com): PTR, FCrDNS, EHLO and SPF ok' or the failed conditions."""
    label = '{} ({})'.format(result['address'], result['ptr_name'] or 'no PTR')
    if result['passed']:
        return '{}: PTR, forward-confirmed reverse DNS, EHLO name{} agree'.format(
            label, ' and SPF' if result['spf'] else '')
    failures = ['{}: {}'.format(finding['error'], finding['detail']) for finding in result['findings']]
    return '{}: {}'.format(label, '; '.join(failures))


def smuggling_summary(result):
    """'mx1.contoso.com:25 exposed to <LF>.<LF>, ...' or 'safe against N sequences'."""
    label = '{}:{}'.format(result['host'], result['port'])
    names = dict((entry['name'], entry['sequence']) for entry in result['sequences'])
    if result['verdict'] == 'exposed':
        return '{} is exposed to SMTP smuggling: it ended the data at {}'.format(
            label, ', '.join(names[name] for name in result['exposed']))
    if result['verdict'] == 'inconclusive':
        reasons = [entry['reason'] for entry in result['sequences'] if entry['verdict'] == 'inconclusive']
        return '{}: smuggling test inconclusive for {} sequence(s): {}'.format(
            label, len(result['inconclusive']), reasons[0] if reasons else 'no reply')
    return '{} is safe: it ended the data only at <CR><LF>.<CR><LF> ({} sequences tested)'.format(
        label, len(result['safe']))
