# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RouteProbe's stepwise API (plan, probes run elsewhere, verdict): what the Windows path of mx_probe uses."""

from __future__ import annotations

from ansible_collections.mailops.mailflow.plugins.module_utils._route.engine import RouteProbe

RECORD = {
    'status': 'ok',
    'exchangers': [
        {'preference': 10, 'host': 'mx1.fabrikam.test', 'usable': True, 'implicit': False,
         'addresses': [{'ip': '127.0.0.11', 'family': 'ipv4'}]},
        {'preference': 20, 'host': 'mx2.fabrikam.test', 'usable': True, 'implicit': False,
         'addresses': [{'ip': '127.0.0.12', 'family': 'ipv4'}]},
    ],
}


def _route(mode):
    return RouteProbe(['fabrikam.test'], {'quit_after': 'rcpt', 'mail_from': 'chris@contoso.test',
                                          'rcpt_to': ['kate@fabrikam.test']}, mode=mode)


def test_probe_all_hands_out_every_attempt_at_once_in_mta_order():
    route = _route('all')
    work = route.start({'fabrikam.test': RECORD})
    assert [(domain, index, options['host'], options['addresses']) for domain, index, options in work] == [
        ('fabrikam.test', 0, 'mx1.fabrikam.test', ['127.0.0.11']),
        ('fabrikam.test', 1, 'mx2.fabrikam.test', ['127.0.0.12'])]


def test_a_domain_without_exchangers_is_decided_without_probes():
    route = _route('all')
    assert route.start({'fabrikam.test': {'status': 'nxdomain', 'exchangers': []}}) == []
    result = route.results()[0]
    assert result['status'] == 'nxdomain' and result['probes'] == []
    assert not result['verdict']['deliverable']


def _refused():
    return {'steps': [{'name': 'connect', 'command': 'OPEN', 'reply': None, 'elapsed_ms': 1.0, 'ok': False,
                       'error': 'connection_refused', 'error_message': 'refused'}],
            'recipients': {}, 'message_accepted': False, 'passed': False}


def _accepted():
    steps = [{'name': name, 'command': name.upper(), 'elapsed_ms': 1.0, 'ok': True, 'error': None, 'error_message': None,
              'reply': {'code': code, 'enhanced': enhanced, 'lines': ['%s ok' % code], 'text': 'ok'}}
             for name, code, enhanced in (('banner', 220, None), ('ehlo', 250, None), ('mail', 250, '2.1.0'),
                                          ('rcpt', 250, '2.1.5'), ('rset', 250, '2.0.0'), ('quit', 221, '2.0.0'))]
    connect = {'name': 'connect', 'command': 'OPEN', 'reply': None, 'elapsed_ms': 1.0, 'ok': True, 'error': None,
               'error_message': None}
    return {'steps': [connect] + steps, 'message_accepted': False, 'passed': True,
            'recipients': {'kate@fabrikam.test': {'accepted': True, 'code': 250, 'enhanced': '2.1.5', 'text': 'ok'}}}


def test_first_success_asks_for_the_fallback_only_after_the_primary_failed():
    route = _route('first_success')
    work = route.start({'fabrikam.test': RECORD})
    assert [(domain, index) for domain, index, _options in work] == [('fabrikam.test', 0)]
    following = route.probed('fabrikam.test', 0, _refused())
    assert [(domain, index, options['host']) for domain, index, options in following] == [
        ('fabrikam.test', 1, 'mx2.fabrikam.test')]
    assert route.probed('fabrikam.test', 1, _accepted()) == []
    result = route.results()[0]
    assert result['verdict']['deliverable'] and result['verdict']['via']['host'] == 'mx2.fabrikam.test'
    assert [probe['exchanger'] for probe in result['probes']] == ['mx1.fabrikam.test', 'mx2.fabrikam.test']
    assert route.stats['probes'] == 2


def test_first_success_stops_at_the_primary_when_it_accepts():
    route = _route('first_success')
    route.start({'fabrikam.test': RECORD})
    assert route.probed('fabrikam.test', 0, _accepted()) == []
    assert route.results()[0]['verdict']['via']['host'] == 'mx1.fabrikam.test'
