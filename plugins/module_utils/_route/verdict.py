# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an MTA would conclude from the probes of one domain.

Each probe result (smtp_probe shape) is reduced to one decision per recipient: ``accepted``,
``rejected`` (permanent: the MTA bounces and tries no other exchanger) or ``deferred`` (the MTA
moves on to the next address or exchanger, then queues). Walking the attempts in MTA order, the
first non-deferred decision settles each recipient; later attempts are never used, even when
they ran (``probe: all``).

Reply codes decide, not ``passed``: ``expect`` shapes a probe's own pass/fail for negative
tests, while an MTA only looks at the replies.
"""

from __future__ import annotations

from .._diagnosis import diagnose, diagnose_success, errors
from .plan import same_preference_hosts

ACCEPTED = 'accepted'
REJECTED = 'rejected'
DEFERRED = 'deferred'
# The decision unit when no recipient is probed (quit_after before RCPT): the session itself.
SESSION = ''

# Every verdict outcome; only 'deliverable' has deliverable true.
OUTCOMES = ('deliverable', 'partial', 'rejected', 'null_mx', 'nxdomain', 'no_mail', 'dns_failure',
            'no_usable_exchanger', 'all_refused', 'all_timed_out', 'unreachable', 'transient', 'deferred')

# Deferral kinds by condition (a step that failed without a reply); any other condition is 'failed'.
_KIND_OF_CONDITION = {
    errors.CONNECTION_REFUSED: 'refused',
    errors.CONNECT_TIMEOUT: 'timeout',
    errors.COMMAND_TIMEOUT: 'timeout',
    errors.DEADLINE_EXCEEDED: 'timeout',
    errors.NO_ROUTE: 'unreachable',
    errors.NETWORK_UNREACHABLE: 'unreachable',
    errors.HOST_UNRESOLVED: 'unreachable',
}
_CONNECTION_KINDS = frozenset(('refused', 'timeout', 'unreachable'))
# The SMTP engine carries on past these, and so does an MTA: a note on the step, not the end of the dialogue.
_CONTINUED_CONDITIONS = frozenset((errors.TLS_CERT_EXPIRES_SOON,))
# The SMTP engine carries on past these when tls_verify is false, as an opportunistic MTA does.
_TLS_VERIFY_CONDITIONS = frozenset((
    errors.TLS_CERT_EXPIRED, errors.TLS_CERT_NOT_YET_VALID, errors.TLS_CERT_SELF_SIGNED, errors.TLS_CERT_UNKNOWN_CA,
    errors.TLS_CERT_NAME_MISMATCH, errors.TLS_CERT_INVALID,
))
# A 5xx here ends the transaction for every recipient: Postfix bounces ("refused to talk to me",
# sender rejected) instead of trying a backup MX. A 5xx greeting is skipped instead (smtp_skip_5xx_greeting).
_PERMANENT_SESSION_STEPS = frozenset(('ehlo', 'helo', 'mail'))
_AFTER_RCPT_STEPS = frozenset(('data', 'message'))
_IGNORED_STEPS = frozenset(('rset', 'quit'))

# DNS statuses that settle the verdict before any connection.
_DNS_OUTCOMES = {
    'null_mx': 'null_mx',
    'nxdomain': 'nxdomain',
    'no_mail': 'no_mail',
    'servfail': 'dns_failure',
    'timeout': 'dns_failure',
    'error': 'dns_failure',
}
# When nothing was decided: (outcome, kinds, exact) - the first row whose kinds match the deferral kinds seen.
_UNDECIDED_OUTCOMES = (
    ('all_refused', frozenset(('refused',)), True),
    ('all_timed_out', frozenset(('timeout',)), True),
    ('unreachable', _CONNECTION_KINDS, False),
    ('transient', frozenset(('transient',)), True),
)
_UNDECIDED_WORDS = {
    'all_refused': 'every exchanger refused the connection',
    'all_timed_out': 'no exchanger answered the connection attempt (timed out)',
    'unreachable': 'no exchanger could be reached',
    'transient': 'every exchanger answered with a temporary failure (4xx)',
    'deferred': 'no exchanger took the mail (temporary failures)',
}
_ROLE_RANK = {'accepted': 0, 'rejected': 1, 'failed': 2, 'not_used': 3}


def _decision(outcome, kind, step, code=None, enhanced=None, text=None, error=None, message=None):
    return {'outcome': outcome, 'kind': kind, 'step': step, 'code': code, 'enhanced': enhanced, 'text': text,
            'error': error, 'message': message}


def _reply_class(step):
    reply = step.get('reply')
    if not reply or reply.get('code') is None:
        return None
    return reply['code'] // 100


def find_failure(steps, tls_verify=False):
    """Index of the step that ended the dialogue as an MTA sees it, or None when nothing failed.

    RCPT replies are per recipient, and RSET/QUIT come after the decision, so neither counts. A
    rejected EHLO followed by HELO is the fallback working, not a failure.
    """
    for index, step in enumerate(steps):
        name = step['name']
        if name in _IGNORED_STEPS:
            continue
        error = step.get('error')
        if error is not None:
            if error in _CONTINUED_CONDITIONS or (error in _TLS_VERIFY_CONDITIONS and not tls_verify):
                continue
            return index
        klass = _reply_class(step)
        if klass is None or klass in (2, 3) or name == 'rcpt':
            continue
        if name == 'ehlo' and index + 1 < len(steps) and steps[index + 1]['name'] == 'helo':
            continue
        return index
    return None


def _failure_decision(step):
    """Decision for every recipient a failed step leaves open."""
    reply = step.get('reply') or {}
    code = reply.get('code')
    error = step.get('error')
    if error is not None:
        kind = _KIND_OF_CONDITION.get(error, 'failed')
        outcome = DEFERRED
    elif code == 421 or code // 100 == 4:
        kind, outcome = 'transient', DEFERRED
    elif step['name'] in _PERMANENT_SESSION_STEPS or step['name'] in _AFTER_RCPT_STEPS:
        kind, outcome = 'permanent', REJECTED
    else:
        kind, outcome = 'failed', DEFERRED
    return _decision(outcome, kind, step['name'], code, reply.get('enhanced'), reply.get('text'), error,
                     step.get('error_message'))


def _last_step_name(steps):
    names = [step['name'] for step in steps if step['name'] not in _IGNORED_STEPS]
    return names[-1] if names else 'connect'


def classify_probe(result, recipients, tls_verify=False):
    """Reduce one probe result to {'units': {recipient: decision}, 'failure': decision or None}.

    ``recipients`` are the validated rcpt_to addresses; an empty list means the session is the
    only unit (key SESSION), accepted when the dialogue went as far as asked.
    """
    steps = result.get('steps') or []
    failure_index = find_failure(steps, tls_verify)
    failure = _failure_decision(steps[failure_index]) if failure_index is not None else None
    units = {}
    if not recipients:
        units[SESSION] = failure or _decision(ACCEPTED, 'accepted', _last_step_name(steps))
        return {'units': units, 'failure': failure}
    answers = result.get('recipients') or {}
    late_failure = failure is not None and failure['step'] in _AFTER_RCPT_STEPS
    for recipient in recipients:
        if failure is not None and not late_failure:
            units[recipient] = failure
            continue
        answer = answers.get(recipient) or {}
        code = answer.get('code')
        facts = (answer.get('enhanced'), answer.get('text'))
        if code is None:
            units[recipient] = _decision(DEFERRED, 'failed', 'rcpt', None, None, answer.get('text'))
        elif code // 100 == 2:
            units[recipient] = failure if late_failure else _decision(ACCEPTED, 'accepted', 'rcpt', code, *facts)
        elif code // 100 == 5:
            units[recipient] = _decision(REJECTED, 'permanent', 'rcpt', code, *facts)
        else:
            units[recipient] = _decision(DEFERRED, 'transient', 'rcpt', code, *facts)
    return {'units': units, 'failure': failure}


def walk(outcomes, units):
    """Follow every unit through the attempts in MTA order.

    ``outcomes[i]`` is classify_probe() of attempt i, or None when it has not run. Returns
    {unit: {'decided_at': index or None, 'tried': [indices deferred before], 'pending': index or None}}.
    """
    walks = {}
    for unit in units:
        state = {'decided_at': None, 'tried': [], 'pending': None}
        for index, outcome in enumerate(outcomes):
            if outcome is None:
                state['pending'] = index
                break
            if outcome['units'][unit]['outcome'] != DEFERRED:
                state['decided_at'] = index
                break
            state['tried'].append(index)
        walks[unit] = state
    return walks


def next_needed(walks):
    """The attempt an MTA would make next (first_success), or None when every unit is settled."""
    pending = [state['pending'] for state in walks.values() if state['decided_at'] is None and state['pending'] is not None]
    return min(pending) if pending else None


def _where(attempt):
    address = attempt.get('address')
    return '{}{} (preference {})'.format(attempt['host'], f' [{address}]' if address else '', attempt['preference'])


def _reply_words(decision):
    if decision.get('code') is not None:
        return ' '.join(str(part) for part in (decision['code'], decision.get('enhanced')) if part)
    return decision.get('error') or decision.get('kind')


def _diagnosis_of(decision, port):
    return diagnose(step=decision['step'], code=decision.get('code'), enhanced=decision.get('enhanced'),
                    error=decision.get('error'), text=decision.get('text') or decision.get('message'), port=port)


def _failure_entry(attempt, decision, port):
    entry = dict((key, attempt.get(key)) for key in ('host', 'address', 'preference'))
    entry.update((key, decision.get(key)) for key in ('kind', 'step', 'code', 'enhanced', 'error', 'message', 'text'))
    entry['diagnosis'] = _diagnosis_of(decision, port)
    return entry


def _unusable_entry(exchanger):
    return {
        'host': exchanger['host'], 'address': None, 'preference': exchanger['preference'], 'kind': 'no_address',
        'step': 'mx', 'code': None, 'enhanced': None, 'error': errors.DNS_MX_NO_ADDRESS,
        'message': '; '.join(exchanger.get('warnings') or []) or None, 'text': None,
        'diagnosis': diagnose(step='mx', error=errors.DNS_MX_NO_ADDRESS),
    }


def _undecided_outcome(kinds):
    for outcome, wanted, exact in _UNDECIDED_OUTCOMES:
        if (kinds == wanted) if exact else (kinds and kinds <= wanted):
            return outcome
    return 'deferred'


def _roles(outcomes, walks):
    """verdict_role of every attempt that ran: accepted, rejected, failed (tried, the MTA moved on) or not_used."""
    roles = ['not_used' if outcome is not None else None for outcome in outcomes]

    def promote(index, role):
        if roles[index] is None or _ROLE_RANK[role] < _ROLE_RANK[roles[index]]:
            roles[index] = role

    for unit, state in walks.items():
        for index in state['tried']:
            promote(index, 'failed')
        if state['decided_at'] is not None:
            promote(state['decided_at'], outcomes[state['decided_at']]['units'][unit]['outcome'])
    return roles


def _shuffle_conflicts(attempts, outcomes, unit, decided_at):
    """Same-preference attempts that would settle this unit differently: the MTA's shuffle decides."""
    decided = outcomes[decided_at]['units'][unit]['outcome']
    preference = attempts[decided_at]['preference']
    conflicts = []
    for index, outcome in enumerate(outcomes):
        if outcome is None or index == decided_at or attempts[index]['preference'] != preference:
            continue
        other = outcome['units'][unit]['outcome']
        if other != DEFERRED and other != decided:
            conflicts.append(index)
    return conflicts


def _dns_verdict(record, outcome, diagnosis):
    verdict = _empty_verdict(outcome, diagnosis)
    verdict['summary'] = '{}: not deliverable: {}'.format(record['domain'], diagnosis.get('summary'))
    return verdict


def _empty_verdict(outcome, diagnosis):
    return {
        'deliverable': False,
        'outcome': outcome,
        'summary': None,
        'via': None,
        'fallback_used': False,
        'failures': [],
        'decided_by': None,
        'recipients': {},
        'shuffle_dependent': False,
        'planned': 0,
        'probed': 0,
        'notes': [],
        'diagnosis': diagnosis,
    }


def build_verdict(record, attempts, outcomes, units, unusable, port=None, notes=None):
    """The domain verdict (see the module's RETURN) and the verdict_role of every attempt that ran."""
    status = record.get('status')
    if status in _DNS_OUTCOMES:
        return _dns_verdict(record, _DNS_OUTCOMES[status], dict(record.get('diagnosis') or {})), []
    if not attempts:
        diagnosis = diagnose(step='mx', error=errors.DNS_NO_USABLE_EXCHANGER)
        return _dns_verdict(record, 'no_usable_exchanger', diagnosis), []

    walks = walk(outcomes, units)
    roles = _roles(outcomes, walks)
    verdict = _empty_verdict('deferred', None)
    verdict['planned'] = len(attempts)
    verdict['probed'] = sum(1 for outcome in outcomes if outcome is not None)
    verdict['notes'] = list(notes or [])

    settled = dict((unit, outcomes[state['decided_at']]['units'][unit]) for unit, state in walks.items()
                   if state['decided_at'] is not None)
    accepted = [unit for unit in units if unit in settled and settled[unit]['outcome'] == ACCEPTED]
    rejected = [unit for unit in units if unit in settled and settled[unit]['outcome'] == REJECTED]
    # The unit the top-level via/failures describe: the first accepted, else the first rejected, else the first.
    focus = (accepted or rejected or list(units))[0]
    focus_walk = walks[focus]

    for unit in units:
        if unit == SESSION:
            continue
        state = walks[unit]
        index = state['decided_at'] if state['decided_at'] is not None else (state['tried'][-1] if state['tried'] else None)
        decision = outcomes[index]['units'][unit] if index is not None else _decision(DEFERRED, 'failed', None)
        entry = dict((key, attempts[index][key] if index is not None else None) for key in ('host', 'address', 'preference'))
        entry.update((key, decision.get(key)) for key in ('outcome', 'kind', 'step', 'code', 'enhanced', 'text', 'error'))
        verdict['recipients'][unit] = entry

    top_preference = min([attempt['preference'] for attempt in attempts] + [exchanger['preference'] for exchanger in unusable])
    limit = attempts[focus_walk['decided_at']]['preference'] if focus_walk['decided_at'] is not None else None
    failures = [_unusable_entry(exchanger) for exchanger in unusable if limit is None or exchanger['preference'] < limit]
    failures += [_failure_entry(attempts[index], outcomes[index]['units'][focus], port) for index in focus_walk['tried']]
    failures.sort(key=lambda entry: entry['preference'])
    verdict['failures'] = failures

    for unit, state in walks.items():
        if state['decided_at'] is None:
            continue
        conflicts = _shuffle_conflicts(attempts, outcomes, unit, state['decided_at'])
        if conflicts:
            verdict['shuffle_dependent'] = True
            verdict['notes'].append('{}: exchangers of preference {} disagree ({}); the one an MTA picks at random decides'.format(
                unit or 'the session', attempts[state['decided_at']]['preference'],
                ', '.join('{}: {}'.format(_where(attempts[index]), outcomes[index]['units'][unit]['outcome'])
                          for index in [state['decided_at']] + conflicts)))

    domain = record['domain']
    if focus_walk['decided_at'] is not None:
        index = focus_walk['decided_at']
        attempt = attempts[index]
        decision = settled[focus]
        verdict['decided_by'] = dict((key, attempt[key]) for key in ('host', 'address', 'preference'))
        verdict['decided_by'].update((key, decision.get(key)) for key in ('step', 'code', 'enhanced', 'text'))
    if accepted:
        attempt = attempts[focus_walk['decided_at']]
        group = same_preference_hosts(record, attempt['preference'])
        verdict['via'] = {
            'host': attempt['host'], 'address': attempt['address'], 'preference': attempt['preference'],
            'implicit': attempt['implicit'], 'equal_preference_hosts': group if len(group) > 1 else [],
        }
        verdict['fallback_used'] = attempt['preference'] > top_preference
    if accepted and not rejected and len(accepted) == len(units):
        verdict['outcome'] = 'deliverable'
        verdict['deliverable'] = True
        verdict['diagnosis'] = diagnose_success(step=settled[focus]['step'], code=settled[focus].get('code'),
                                                enhanced=settled[focus].get('enhanced'))
        verdict['summary'] = '{}: deliverable via {}'.format(domain, _where(verdict['via']))
        if failures:
            verdict['summary'] += ' after {}'.format('; '.join(f'{_where(entry)} failed: {_reply_words(entry)}' for entry in failures))
        if verdict['via']['equal_preference_hosts']:
            verdict['notes'].append('{} share preference {}: an MTA picks among them at random'.format(
                ', '.join(verdict['via']['equal_preference_hosts']), verdict['via']['preference']))
    elif accepted or rejected:
        verdict['outcome'] = 'partial' if accepted else 'rejected'
        bad_unit = (rejected or [unit for unit in units if unit not in accepted])[0]
        bad_walk = walks[bad_unit]
        bad_index = bad_walk['decided_at'] if bad_walk['decided_at'] is not None else bad_walk['tried'][-1]
        bad = outcomes[bad_index]['units'][bad_unit]
        verdict['diagnosis'] = _diagnosis_of(bad, port)
        if bad['outcome'] == REJECTED:
            verdict['summary'] = '{}: not deliverable: {} rejected {} permanently at {} ({}); an MTA bounces it without trying another exchanger'.format(
                domain, _where(attempts[bad_index]), bad_unit or 'the session', bad['step'], _reply_words(bad))
        else:
            verdict['summary'] = '{}: not deliverable: {} was not accepted anywhere (last: {} at {}, {})'.format(
                domain, bad_unit, _where(attempts[bad_index]), bad['step'], _reply_words(bad))
        if accepted:
            verdict['summary'] += '; accepted: {}'.format(', '.join(accepted))
    else:
        kinds = frozenset(outcomes[index]['units'][focus]['kind'] for index in focus_walk['tried'])
        verdict['outcome'] = _undecided_outcome(kinds)
        last = focus_walk['tried'][-1]
        verdict['diagnosis'] = _diagnosis_of(outcomes[last]['units'][focus], port)
        verdict['summary'] = '{}: not deliverable now: {} ({} address{} tried); an MTA would queue and retry'.format(
            domain, _UNDECIDED_WORDS[verdict['outcome']], len(focus_walk['tried']), '' if len(focus_walk['tried']) == 1 else 'es')
    return verdict, roles
