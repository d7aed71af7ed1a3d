# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""diagnose(context=...): causes that fit the dialogue (authenticated, TLS, port, server), the Exchange port 2525
note, the tarpit's code and 452 as a transient reply."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose, diagnose_success, errors
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import catalog, explain

AUTHENTICATED = {'authenticated': True, 'tls': True, 'port': 587, 'server': None}
ANONYMOUS = {'authenticated': False, 'tls': False, 'port': 25, 'server': None}

# Relay refusals as each server words them (Exchange NDR reference, Postfix, the lab's Exim, Sendmail's proto.m4).
RELAY_REFUSALS = [
    pytest.param(550, '5.7.54', '5.7.54 SMTP; Unable to relay recipient in non-accepted domain', 'exchange',
                 id='exchange-5.7.54'),
    pytest.param(550, '5.7.1', 'Unable to relay', 'exchange', id='exchange-5.7.1'),
    pytest.param(554, '5.7.1', '<kate@fabrikam.test>: Relay access denied', 'postfix', id='postfix-554'),
    pytest.param(454, '4.7.1', '<kate@fabrikam.test>: Relay access denied', 'postfix', id='postfix-454'),
    pytest.param(550, None, 'relay not permitted', 'exim', id='exim'),
    pytest.param(550, '5.7.1', '<kate@fabrikam.test>... Relaying denied', 'sendmail', id='sendmail'),
]


def causes(result):
    return ' '.join(result['causes']).lower()


# --- item 8: the causes fit the dialogue context ---------------------------------------------------------------------

@pytest.mark.parametrize('code,enhanced,text,vendor', RELAY_REFUSALS)
def test_relay_refusal_after_auth_gives_authenticated_causes(code, enhanced, text, vendor):
    result = diagnose(step='rcpt', code=code, enhanced=enhanced, text=text, context=AUTHENTICATED)
    assert (result['category'], result['vendor']) == ('relay_denied_after_auth', vendor)
    assert 'anonymous' not in causes(result) and 'did not authenticate' not in causes(result)
    assert 'authenticated account' in causes(result) and '587' in causes(result)
    assert 'sender address' in causes(result)
    assert result['status'] == ('transient' if code // 100 == 4 else 'permanent')


@pytest.mark.parametrize('code,enhanced,text,vendor', RELAY_REFUSALS)
def test_relay_refusal_of_anonymous_or_unknown_client_is_unchanged(code, enhanced, text, vendor):
    anonymous = diagnose(step='rcpt', code=code, enhanced=enhanced, text=text, context=ANONYMOUS)
    unknown = diagnose(step='rcpt', code=code, enhanced=enhanced, text=text)
    assert anonymous['category'] == unknown['category'] == 'relay_denied'
    assert anonymous['vendor'] == unknown['vendor'] == vendor
    assert anonymous['causes'] == unknown['causes']


def test_exchange_relay_anonymous_cause_only_without_auth():
    anonymous = diagnose(step='rcpt', code=550, enhanced='5.7.54', context=ANONYMOUS)
    authenticated = diagnose(step='rcpt', code=550, enhanced='5.7.54', context=AUTHENTICATED)
    assert 'an anonymous client tried to send to an external domain' in causes(anonymous)
    assert 'anonymous' not in causes(authenticated)
    assert 'ms-exch-smtp-accept-any-recipient' in causes(authenticated)


def test_context_without_the_key_is_not_a_match():
    # A context that does not say whether AUTH succeeded must not pick the authenticated reading.
    result = diagnose(step='rcpt', code=550, enhanced='5.7.54', context={'tls': True, 'port': 587})
    assert result['category'] == 'relay_denied'
    assert diagnose(step='rcpt', code=550, enhanced='5.7.54', context={'authenticated': 'yes'})['category'] == 'relay_denied'


def test_starttls_demand_reads_differently_when_tls_is_active():
    text = 'Must issue a STARTTLS command first'
    plain = diagnose(step='mail', code=530, enhanced='5.7.0', text=text, context={'tls': False})
    secured = diagnose(step='mail', code=530, enhanced='5.7.0', text=text, context={'tls': True})
    assert (plain['category'], plain['vendor']) == ('starttls_required', 'postfix')
    assert secured['category'] == 'starttls_required_despite_tls' and secured['status'] == 'tls'
    assert 'proxy' in causes(secured) and 'smtpd_tls_security_level' not in causes(secured)
    # OpenSMTPD says the same with 5.5.1.
    opensmtpd = diagnose(step='mail', code=530, enhanced='5.5.1', text='Invalid command: ' + text, context={'tls': True})
    assert opensmtpd['category'] == 'starttls_required_despite_tls'


def test_submission_port_note_only_before_auth():
    before = diagnose(step='mail', code=530, enhanced='5.7.0', text='Authentication required', port=587)
    after = diagnose(step='rcpt', code=550, enhanced='5.7.54', context=AUTHENTICATED)
    assert any('expect STARTTLS and AUTH' in note for note in before['notes'])
    # A reply that went well needs no advice about the port.
    assert not any('expect STARTTLS and AUTH' in note for note in diagnose(step='ehlo', code=250, port=587)['notes'])
    assert not any('expect STARTTLS and AUTH' in note for note in after['notes'])
    implicit = diagnose(error=errors.CONNECTION_CLOSED, step='banner', port=465)
    assert any('tls: implicit' in note for note in implicit['notes'])
    secured = diagnose(error=errors.CONNECTION_CLOSED, step='banner', context={'port': 465, 'tls': True})
    assert not any('tls: implicit' in note for note in secured['notes'])


def test_port_argument_and_context_port_agree():
    by_argument = diagnose(error=errors.CONNECTION_REFUSED, port=2255)
    by_context = diagnose(error=errors.CONNECTION_REFUSED, context={'port': 2255})
    assert by_argument == by_context
    assert any('not a usual SMTP port' in note for note in by_context['notes'])


def test_server_identity_selects_the_vendor_reading():
    generic = diagnose(step='rcpt', code=550, enhanced='5.2.4')
    opensmtpd = diagnose(step='rcpt', code=550, enhanced='5.2.4', context={'server': 'opensmtpd'})
    assert generic['category'] == 'list_expansion_problem'
    assert (opensmtpd['category'], opensmtpd['vendor']) == ('user_unknown', 'opensmtpd')
    # An unknown server id is ignored, not an error.
    assert diagnose(step='rcpt', code=550, enhanced='5.2.4', context={'server': 'qmail'})['category'] == 'list_expansion_problem'


@pytest.mark.parametrize('context', [None, {}, 'garbage', 42, {'authenticated': None, 'tls': 'no', 'port': 'x'}])
def test_odd_context_is_ignored(context):
    assert diagnose(step='rcpt', code=550, enhanced='5.1.1', context=context) == diagnose(step='rcpt', code=550,
                                                                                          enhanced='5.1.1')


def test_explain_passes_the_context():
    line = '550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain'
    assert explain(line, step='rcpt', context=AUTHENTICATED)['category'] == 'relay_denied_after_auth'
    assert explain(line, step='rcpt')['category'] == 'relay_denied'


# --- item 9: Exchange's port 2525, once, one wording, only for Exchange --------------------------------------------

def notes_2525(result):
    return [note for note in result['notes'] if '2525' in note]


def test_2525_note_needs_exchange():
    not_known = diagnose(step='rcpt', code=550, enhanced='5.1.1', port=2525)
    postfix = diagnose(step='rcpt', code=550, enhanced='5.1.1', port=2525, context={'server': 'postfix'})
    exchange = diagnose(step='rcpt', code=550, enhanced='5.1.1', port=2525, context={'server': 'exchange'})
    online = diagnose(step='rcpt', code=550, enhanced='5.1.1', context={'port': 2525, 'server': 'exchange_online'})
    assert notes_2525(not_known) == notes_2525(postfix) == notes_2525(online) == []
    assert notes_2525(exchange) == [catalog.EXCHANGE_2525]


def test_2525_note_for_any_status_once():
    exchange = {'port': 2525, 'server': 'exchange'}
    accepted = diagnose(step='rcpt', code=250, enhanced='2.1.5', context=exchange)
    passed = diagnose_success(step='quit', context=exchange, notes=[catalog.EXCHANGE_2525])
    assert notes_2525(accepted) == [catalog.EXCHANGE_2525]
    assert notes_2525(passed) == [catalog.EXCHANGE_2525]
    assert notes_2525(diagnose_success(step='quit', context={'port': 2525, 'server': 'postfix'})) == []
    assert notes_2525(diagnose_success(step='quit')) == []


def test_2525_note_when_the_reply_says_exchange():
    banner = diagnose(step='banner', code=220, text='mail1.fabrikam.test Microsoft ESMTP MAIL Service ready', port=2525)
    assert notes_2525(banner) == [catalog.EXCHANGE_2525]


def test_2525_one_wording_and_not_repeated_by_the_entry():
    assert diagnose(error=errors.PORT_2525_NOTE)['summary'] == catalog.EXCHANGE_2525
    internal = diagnose(step='mail', code=530, enhanced='5.7.1', text='Client was not authenticated',
                        context={'port': 2525, 'server': 'exchange'})
    assert internal['category'] == 'internal_receive_connector' and internal['summary'] == catalog.EXCHANGE_2525
    assert notes_2525(internal) == []


# --- item 13: the tarpit diagnosis keeps the slow reply's code ---------------------------------------------------------

def test_tarpit_keeps_the_slow_reply_code():
    result = diagnose(step='banner', error=errors.TARPIT, code=220, context={'port': 25, 'server': 'exim'})
    assert (result['category'], result['status'], result['code'], result['step']) == ('tarpit', 'ok', 220, 'banner')
    assert diagnose(step='rcpt', error=errors.TARPIT, code='250')['code'] == 250


# --- item 17: 452 is transient --------------------------------------------------------------------------------------

@pytest.mark.parametrize('kwargs', [
    dict(code=452),
    dict(step='rcpt', code=452),
    dict(step='rcpt', code=452, text='Too many recipients'),
    dict(step='rcpt', code=452, enhanced='4.5.3', text='Error: too many recipients'),
    dict(step='mail', code=452, enhanced='4.3.1', text='Insufficient system resources'),
    dict(step='rcpt', code=452, enhanced='4.2.2', text='The email account that you tried to reach is over quota'),
    dict(step='rcpt', code=452, text='Too many recipients received this hour'),
    dict(step='rcpt', code=452, enhanced='5.5.3'),
])
def test_452_is_transient(kwargs):
    assert diagnose(**kwargs)['status'] == 'transient'


def test_452_too_many_recipients_without_enhanced_code():
    result = diagnose(step='rcpt', code=452, text='Too many recipients')
    assert (result['category'], result['status']) == ('too_many_recipients', 'transient')
    assert 'RFC 5321 4.5.3.1.10' in result['references']


def test_every_4xx_code_of_rfc5321_is_transient():
    for entry in catalog.RFC5321:
        code = entry['match'].get('code')
        if code is not None and code // 100 == 4 and entry['status'] not in ('tls', 'auth'):
            assert entry['status'] == 'transient', code
            assert diagnose(code=code)['status'] == 'transient', code
