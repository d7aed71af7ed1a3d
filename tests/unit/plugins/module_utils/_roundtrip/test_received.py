# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Received headers -> hops: hosts, times, delays, TLS; from real lab samples (samples.py)."""

from __future__ import annotations

import calendar

from ansible_collections.mailops.mailflow.plugins.module_utils._roundtrip.received import (
    header_latency,
    parse_chain,
    parse_received,
    slowest_hop,
)

from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._roundtrip.samples import EXCHANGE, EXIM, PLAIN, SLOW_CHAIN

TLS13 = {'protocol': 'TLSv1.3', 'cipher': 'TLS_AES_256_GCM_SHA384'}


def epoch(text):
    return calendar.timegm(tuple(int(part) for part in text.split(',')) + (0, 0, 0))


def test_the_lab_chain_reads_oldest_hop_first_with_hosts_ids_and_protocols():
    hops = parse_chain(SLOW_CHAIN)
    assert [(hop['from'], hop['by'], hop['with'], hop['id']) for hop in hops] == [
        ('vm', 'smtp.roundtrip.test', 'ESMTPSA', 'D18EB17013D'),
        ('smtp.roundtrip.test', 'relay.roundtrip.test', 'ESMTPS', 'E4855170152'),
        ('relay.roundtrip.test', 'mx.roundtrip.test', 'ESMTPS', 'E5E1E17013D'),
        ('mx.roundtrip.test', 'imap.roundtrip.test', 'LMTP', 'SGQ+OLoDE2u5HgAAg+zDdQ'),
    ]
    assert [hop['index'] for hop in hops] == [0, 1, 2, 3]
    assert [hop['for'] for hop in hops] == ['slow@roundtrip.test'] * 3 + ['kate@roundtrip.test']
    assert hops[1]['from_ip'] == '127.0.0.1'
    assert hops[3]['from_ip'] is None


def test_times_are_utc_and_delays_are_the_gaps_between_hops():
    hops = parse_chain(SLOW_CHAIN)
    assert [hop['time'] for hop in hops] == ['2026-12-04T18:17:26+00:00'] * 2 + ['2026-12-04T18:17:30+00:00'] * 2
    # Without a send time the first hop has no delay.
    assert [hop['delay_s'] for hop in hops] == [None, 0.0, 4.0, 0.0]


def test_the_first_delay_counts_from_the_send_time_in_whole_seconds():
    sent = epoch('2026,12,4,18,17,24') + 0.9
    hops = parse_chain(SLOW_CHAIN, sent_at=sent)
    assert hops[0]['delay_s'] == 2.0
    assert hops[2]['delay_s'] == 4.0


def test_the_slowest_hop_names_the_host_that_held_the_message():
    slowest = slowest_hop(parse_chain(SLOW_CHAIN))
    assert slowest == {'index': 2, 'by': 'mx.roundtrip.test', 'from': 'relay.roundtrip.test', 'delay_s': 4.0,
                       'held_by': 'relay.roundtrip.test'}


def test_header_latency_spans_first_to_last_hop():
    assert header_latency(parse_chain(SLOW_CHAIN)) == 4.0
    assert header_latency(parse_chain(SLOW_CHAIN[:1])) is None


def test_postfix_tls_details_and_lmtp_without_tls():
    hops = parse_chain(SLOW_CHAIN)
    assert [hop['tls'] for hop in hops] == [TLS13, TLS13, TLS13, None]


def test_exim_tls_and_address_literal_sender():
    hop = parse_received(EXIM)
    assert hop['by'] == 'mx.exim.test'
    assert hop['with'] == 'esmtps'
    assert hop['id'] == '1xZXzJ-00021p-2K'
    assert hop['for'] == 'kate@exim.test'
    assert hop['from'] == '[127.0.0.1]'
    assert hop['from_ip'] == '127.0.0.1'
    assert hop['tls'] == {'protocol': 'TLS1.3', 'cipher': 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'}
    assert hop['time'] == '2026-12-04T18:26:29+00:00'


def test_exchange_tls_and_a_local_time_zone():
    hop = parse_received(EXCHANGE)
    assert (hop['from'], hop['by'], hop['from_ip']) == ('MAIL1.contoso.com', 'MAIL2.contoso.com', '10.0.0.11')
    assert hop['tls'] == {'protocol': 'TLS1_2', 'cipher': 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'}
    assert hop['time'] == '2026-12-04T18:00:05+00:00'


def test_no_tls_when_the_header_says_none():
    assert parse_received(PLAIN)['tls'] is None


def test_esmtps_without_details_is_tls_of_unknown_protocol():
    hop = parse_received('from a.contoso.com by b.fabrikam.com with ESMTPS id X1; Fri, 4 Dec 2026 18:00:00 +0000')
    assert hop['tls'] == {'protocol': None, 'cipher': None}


def test_a_header_without_a_date_has_no_time_and_no_delay():
    hops = parse_chain(['from b.contoso.com by c.contoso.com with SMTP id 2',
                        'from a.contoso.com by b.contoso.com with SMTP id 1; Fri, 4 Dec 2026 18:00:00 +0000'])
    assert hops[1]['time'] is None
    assert hops[1]['delay_s'] is None
    assert slowest_hop(hops) is None


def test_a_garbled_date_is_no_time():
    assert parse_received('from a by b; not a date at all')['time'] is None


def test_a_clock_behind_gives_a_negative_delay_not_a_hidden_one():
    hops = parse_chain(['from b by c with SMTP; Fri, 4 Dec 2026 18:00:00 +0000',
                        'from a by b with SMTP; Fri, 4 Dec 2026 18:00:03 +0000'])
    assert hops[1]['delay_s'] == -3.0
