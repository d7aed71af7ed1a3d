# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The route engine end to end: real sockets to scripted loopback servers, DNS from an in-memory zone."""

from __future__ import annotations

import os
import threading
import time

import dns.zone
import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import MxOptions, make_resolver
from ansible_collections.mailops.mailflow.plugins.module_utils._route.engine import (
    MAX_CONCURRENCY,
    RouteOptionError,
    RouteProbe,
    dns_options,
    probe_routes,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.connection import open_socket
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import ProbeOptionError
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._dns.fakedns import ZoneNameserver
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._route.fakemta import FakeMta

MX1 = '127.0.5.1'
MX2 = '127.0.5.2'
DOWN = '127.0.5.9'
SMTP = {'mail_from': 'chris@contoso.test', 'rcpt_to': ['kate@route.test'], 'helo_name': 'contoso.test', 'tls': 'none',
        'connect_timeout': 2.0, 'command_timeout': 5.0, 'deadline': 10.0}

ZONE = '''
$ORIGIN test.
$TTL 300
@                  SOA   ns.test. hostmaster.test. 1 3600 600 86400 60
@                  NS    ns.test.
ns                 A     192.0.2.53
primary-down       MX    10 down.primary-down.test.
primary-down       MX    20 mx2.route.test.
down.primary-down  A     %(down)s
rejecting          MX    10 mx1.route.test.
rejecting          MX    20 mx2.route.test.
mx1.route          A     %(mx1)s
mx2.route          A     %(mx2)s
nullmx             MX    0 .
implicit           A     %(mx2)s
''' % {'down': DOWN, 'mx1': MX1, 'mx2': MX2}


def zone_resolver():
    """A real dnspython Resolver whose only nameserver answers from ZONE in memory."""
    nameserver = ZoneNameserver()
    nameserver.zone = dns.zone.from_text(ZONE, origin='test.', relativize=False)
    resolver = make_resolver(MxOptions(nameservers=['192.0.2.53']))
    resolver.nameservers = [nameserver]
    return resolver


def record(*exchangers):
    return {'status': 'ok', 'diagnosis': None, 'exchangers': [
        {'preference': preference, 'host': host, 'addresses': [{'ip': address, 'family': 'ipv4'} for address in addresses],
         'usable': True, 'implicit': False, 'warnings': []} for preference, host, addresses in exchangers]}


@pytest.fixture
def lab():
    behaviours = {
        MX1: {'rcpt': {'nosuchuser@route.test': '550 5.1.1 <nosuchuser@route.test>: Recipient address rejected: User unknown'}},
        MX2: {},
    }
    with FakeMta(behaviours, refused=[DOWN]) as mta:
        yield mta


def run(mta, domains, mode='all', **smtp):
    options = dict(SMTP, **smtp)
    return probe_routes(domains, options, MxOptions(nameservers=['192.0.2.53']), mode=mode, port=mta.port, resolver=zone_resolver())


@pytest.mark.parametrize('mode', ['all', 'first_success'])
def test_primary_down_is_deliverable_via_the_secondary(lab, mode):
    [result] = run(lab, ['primary-down.test'], mode)
    verdict = result['verdict']
    assert result['status'] == 'ok'
    assert [exchanger['host'] for exchanger in result['exchangers']] == ['down.primary-down.test', 'mx2.route.test']
    assert verdict['deliverable'] is True
    assert verdict['via']['host'] == 'mx2.route.test'
    assert verdict['via']['address'] == MX2
    assert verdict['fallback_used'] is True
    assert verdict['failures'][0]['address'] == DOWN
    assert verdict['failures'][0]['diagnosis']['error'] == 'connection_refused'
    assert [(probe['address'], probe['verdict_role']) for probe in result['probes']] == [(DOWN, 'failed'), (MX2, 'accepted')]
    # Each probe is a full smtp_probe result.
    assert result['probes'][1]['recipients']['kate@route.test']['code'] == 250
    assert result['probes'][0]['steps'][0]['error'] == 'connection_refused'
    assert lab.connections[MX2] == 1


def test_rejected_by_the_primary_first_success_never_contacts_the_secondary(lab):
    [result] = run(lab, ['rejecting.test'], 'first_success', rcpt_to=['nosuchuser@route.test'])
    verdict = result['verdict']
    assert verdict['outcome'] == 'rejected'
    assert verdict['deliverable'] is False
    assert verdict['decided_by']['host'] == 'mx1.route.test'
    assert verdict['diagnosis']['category'] == 'user_unknown'
    assert [probe['exchanger'] for probe in result['probes']] == ['mx1.route.test']
    assert lab.connections[MX2] == 0


def test_rejected_by_the_primary_all_probes_the_secondary_but_does_not_use_it(lab):
    [result] = run(lab, ['rejecting.test'], 'all', rcpt_to=['nosuchuser@route.test'])
    verdict = result['verdict']
    assert verdict['outcome'] == 'rejected'
    assert verdict['via'] is None
    assert [(probe['exchanger'], probe['verdict_role']) for probe in result['probes']] == [
        ('mx1.route.test', 'rejected'), ('mx2.route.test', 'not_used')]
    assert result['probes'][1]['recipients']['nosuchuser@route.test']['accepted'] is True
    assert lab.connections[MX2] == 1


def test_null_mx_and_nxdomain_make_no_connection(lab):
    results = run(lab, ['nullmx.test', 'nosuchdomain.test'])
    assert [result['verdict']['outcome'] for result in results] == ['null_mx', 'nxdomain']
    assert [result['probes'] for result in results] == [[], []]
    assert all(count == 0 for count in lab.connections.values())
    assert results[0]['verdict']['diagnosis']['category'] == 'null_mx'


def test_implicit_mx_is_probed_at_the_domain_address(lab):
    [result] = run(lab, ['implicit.test'])
    assert result['status'] == 'implicit_mx'
    assert result['exchangers'][0]['implicit'] is True
    assert [probe['target']['address'] for probe in result['probes']] == [MX2]
    assert result['verdict']['via'] == {'host': 'implicit.test', 'address': MX2, 'preference': 0, 'implicit': True,
                                        'equal_preference_hosts': []}


def test_results_keep_the_given_order_and_the_mx_record(lab):
    results = run(lab, ['rejecting.test', 'implicit.test', 'nullmx.test', 'rejecting.test'])
    assert [result['domain'] for result in results] == ['rejecting.test', 'implicit.test', 'nullmx.test', 'rejecting.test']
    assert results[0]['mx']['query_name'] == 'rejecting.test.'
    assert results[0]['mx']['diagnosis']['status'] == 'ok'
    assert 'exchangers' not in results[0]['mx']
    # A repeated domain is probed once.
    assert lab.connections[MX1] == 1


def test_without_rcpt_to_each_domain_gets_its_postmaster(lab):
    results = run(lab, ['rejecting.test', 'implicit.test'], rcpt_to=[])
    rcpts = [command for command in lab.commands[MX1] + lab.commands[MX2] if command.startswith('RCPT')]
    assert sorted(rcpts) == ['RCPT TO:<postmaster@implicit.test>', 'RCPT TO:<postmaster@rejecting.test>',
                             'RCPT TO:<postmaster@rejecting.test>']
    assert list(results[1]['verdict']['recipients']) == ['postmaster@implicit.test']
    assert any('RFC 5321 4.5.1' in note for note in results[0]['verdict']['notes'])


def test_quit_after_before_rcpt_is_a_reachability_check(lab):
    [result] = run(lab, ['primary-down.test'], rcpt_to=[], quit_after='ehlo')
    assert result['verdict']['deliverable'] is True
    assert result['verdict']['recipients'] == {}
    assert not any(command.startswith(('MAIL', 'RCPT')) for command in lab.commands[MX2])


def test_mx_lookups_in_flight_are_bounded(lab, monkeypatch):
    from ansible_collections.mailops.mailflow.plugins.module_utils._route import engine
    in_flight = [0, 0]
    lock = threading.Lock()
    real_resolve_many = engine.resolve_many

    def counting_resolve_many(*args, **kwargs):
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        time.sleep(0.05)
        try:
            return real_resolve_many(*args, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(engine, 'resolve_many', counting_resolve_many)
    domains = ['primary-down.test', 'rejecting.test', 'implicit.test', 'nullmx.test', 'nosuchdomain.test']
    route_probe = RouteProbe(domains, SMTP, MxOptions(nameservers=['192.0.2.53']), port=lab.port, resolver=zone_resolver())
    route_probe.dns_in_flight = 2
    results = route_probe.run()
    assert in_flight[1] == 2
    assert [result['verdict']['outcome'] for result in results] == ['deliverable', 'deliverable', 'deliverable', 'null_mx', 'nxdomain']


def test_fan_out_takes_the_time_of_the_slowest_banner_not_the_sum():
    addresses = ['127.0.6.%d' % index for index in range(1, 41)]
    delay = 0.3
    records = dict(('d%02d.test' % index, record((10, 'mx.d%02d.test' % index, [address])))
                   for index, address in enumerate(addresses, 1))
    with FakeMta(dict((address, {'banner_delay': delay}) for address in addresses)) as mta:
        started = time.monotonic()
        results = probe_routes(sorted(records), SMTP, mode='all', concurrency=50, port=mta.port, records=records)
        elapsed = time.monotonic() - started
    assert all(result['verdict']['deliverable'] for result in results)
    assert mta.max_active == 40
    # Sequentially this is 40 x 0.3 s = 12 s.
    assert delay <= elapsed < delay + 0.5


def test_concurrency_is_a_hard_bound():
    addresses = ['127.0.6.%d' % index for index in range(101, 113)]
    records = dict(('b%02d.test' % index, record((10, 'mx.b%02d.test' % index, [address])))
                   for index, address in enumerate(addresses, 1))
    with FakeMta(dict((address, {'banner_delay': 0.2}) for address in addresses)) as mta:
        started = time.monotonic()
        probe_routes(sorted(records), SMTP, concurrency=4, port=mta.port, records=records)
        elapsed = time.monotonic() - started
    assert mta.max_active <= 4
    assert elapsed >= 0.6


def test_a_blackholed_exchanger_costs_one_connect_timeout_once():
    """Twenty domains share a dead primary (SYNs dropped) and a live secondary."""
    dead, live = '127.0.6.201', '127.0.6.202'
    calls = []

    def counting_opener(family, sockaddr, source_address, timeout):
        calls.append(sockaddr[0])
        return open_socket(family, sockaddr, source_address, timeout)

    records = dict(('bh%02d.test' % index, record((10, 'dead.example.test', [dead]), (20, 'live.example.test', [live])))
                   for index in range(20))
    with FakeMta({live: {}}, blackholes=[dead]) as mta:
        route_probe = RouteProbe(sorted(records), dict(SMTP, connect_timeout=0.5), mode='all', port=mta.port,
                                 records=records, opener=counting_opener)
        started = time.monotonic()
        results = route_probe.run()
        elapsed = time.monotonic() - started
    assert calls.count(dead) == 1
    assert calls.count(live) == 20
    assert 0.5 <= elapsed < 1.3
    for result in results:
        verdict = result['verdict']
        assert verdict['deliverable'] is True
        assert verdict['via']['address'] == live
        assert verdict['failures'][0]['kind'] == 'timeout'
        assert verdict['failures'][0]['error'] == 'connect_timeout'


def _open_fds():
    return len(os.listdir('/proc/self/fd'))


def _os_threads():
    return len(os.listdir('/proc/self/task'))


@pytest.mark.skipif(not os.path.isdir('/proc/self/fd'), reason='needs /proc')
def test_no_thread_or_descriptor_is_left_after_a_run():
    addresses = ['127.0.6.%d' % index for index in range(150, 170)]
    behaviours = dict((address, {'banner_delay': 0.05}) for address in addresses[:10])
    behaviours.update((address, {'rcpt_default': '550 5.1.1 unknown'}) for address in addresses[10:15])
    blackholes = addresses[15:18]
    refused = addresses[18:]
    records = dict(('leak%02d.test' % index, record((10, 'mx.leak%02d.test' % index, [address])))
                   for index, address in enumerate(addresses))
    with FakeMta(behaviours, refused=refused, blackholes=blackholes) as mta:
        threads_before = threading.active_count()
        os_threads_before = _os_threads()
        fds_before = _open_fds()
        results = probe_routes(sorted(records), dict(SMTP, connect_timeout=0.3), concurrency=8, port=mta.port, records=records)
        assert threading.active_count() == threads_before
        # A joined thread's OS thread and the servers' side of each socket go away a moment later; a leak stays.
        deadline = time.monotonic() + 3
        while (_open_fds(), _os_threads()) != (fds_before, os_threads_before) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _os_threads() == os_threads_before
        assert _open_fds() == fds_before
    assert sorted(result['verdict']['outcome'] for result in results) == sorted(
        ['deliverable'] * 10 + ['rejected'] * 5 + ['all_timed_out'] * 3 + ['all_refused'] * 2)


@pytest.mark.parametrize('kwargs, option', [
    (dict(domains=[]), 'domains'),
    (dict(domains=['fabrikam.test', 'bad domain']), 'domains'),
    (dict(mode='random'), 'probe'),
    (dict(concurrency=0), 'concurrency'),
    (dict(concurrency=MAX_CONCURRENCY + 1), 'concurrency'),
    (dict(concurrency=True), 'concurrency'),
    (dict(smtp=dict(SMTP, host='mx1.fabrikam.test')), 'host'),
    (dict(smtp=dict(SMTP, addresses=['127.0.0.1'])), 'addresses'),
])
def test_bad_route_options_fail_before_anything_is_sent(kwargs, option):
    domains = kwargs.pop('domains', ['fabrikam.test'])
    smtp = kwargs.pop('smtp', SMTP)
    with pytest.raises(RouteOptionError) as caught:
        RouteProbe(domains, smtp, **kwargs)
    assert caught.value.option == option
    assert str(caught.value).startswith(option)


def test_smtp_option_errors_come_from_the_smtp_engine():
    with pytest.raises(ProbeOptionError) as caught:
        RouteProbe(['fabrikam.test'], dict(SMTP, rcpt_to=['kate@fabrikam.test\r\nDATA']))
    assert caught.value.option == 'rcpt_to[0]'


@pytest.mark.parametrize('kwargs, option', [
    (dict(dns_port=0), 'dns_port'),
    (dict(dns_timeout=0), 'dns_timeout'),
    (dict(dns_lifetime=-1), 'dns_lifetime'),
    (dict(nameservers=['ns1.fabrikam.test']), 'nameservers'),
])
def test_dns_option_errors_use_the_mx_probe_names(kwargs, option):
    with pytest.raises(RouteOptionError) as caught:
        dns_options(**kwargs)
    assert caught.value.option == option
    assert str(caught.value).startswith(option)
