# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vendor knowledge beyond Exchange and Postfix (Exim, OpenSMTPD, Sendmail, the gateways), and identify_server()."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose, explain, identify_server
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import catalog


@pytest.mark.parametrize('line,step,category,vendor,status', [
    # Exim: the lab's replies, its default ACLs
    ('550 Unrouteable address', 'rcpt', 'user_unknown', 'exim', 'permanent'),
    ('550 relay not permitted', 'rcpt', 'relay_denied', 'exim', 'permanent'),
    ('451 Temporary local problem - please try later', 'rcpt', 'local_error', 'exim', 'transient'),
    (['550-Verification failed for <noreply@nowhere.test>', '550-Unrouteable address', '550 Sender verify failed'],
     'rcpt', 'sender_verification_failed', 'exim', 'permanent'),
    ('451 Sender rate 31.2 / 1h exceeds the limit', 'mail', 'rate_limited', 'exim', 'transient'),
    # OpenSMTPD: lka_session.c
    ('524 5.2.4 Mailing list expansion problem: <nobody@fabrikam.test>', 'rcpt', 'user_unknown', 'opensmtpd',
     'permanent'),
    ('424 4.2.4 Mailing list expansion problem: <kate@fabrikam.test>', 'rcpt', 'lookup_failure', 'opensmtpd',
     'transient'),
    ('550 Invalid recipient: <kate@contoso.test>', 'rcpt', 'recipient_not_accepted', 'opensmtpd', 'permanent'),
    # Sendmail: proto.m4 and the user-unknown reply
    ('550 5.1.1 <nobody@fabrikam.test>... User unknown', 'rcpt', 'user_unknown', 'sendmail', 'permanent'),
    ('553 5.1.8 <kate@nowhere.test>... Domain of sender address kate@nowhere.test does not exist', 'mail',
     'sender_domain_not_found', 'sendmail', 'permanent'),
    ('451 4.1.8 Domain of sender address kate@slow.test does not resolve', 'mail', 'sender_domain_not_found',
     'sendmail', 'transient'),
    # Microsoft 365 EOP
    ('550 5.7.1 Service unavailable, Client host [192.0.2.7] blocked using Spamhaus. To request removal from this '
     'list see https://www.spamhaus.org/query/ip/192.0.2.7 (AS16012609)', 'rcpt', 'dnsbl_listed', 'exchange_online',
     'permanent'),
    ('550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.', 'rcpt',
     'traffic_not_accepted_from_ip', 'exchange_online', 'permanent'),
    ('550 5.7.709 Access denied: the tenant is blocked', 'rcpt', 'tenant_sending_blocked', 'exchange_online',
     'permanent'),
    ('550 5.7.606 Access denied, banned sending IP [192.0.2.7]', 'rcpt', 'banned_sending_ip', 'exchange_online',
     'permanent'),
    ('451 4.7.500 Server busy. Please try again later from [192.0.2.7]. (AS761)', 'rcpt', 'throttled_by_provider',
     'exchange_online', 'transient'),
    ('550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains', 'mail',
     'unregistered_domain_blocked', 'exchange_online', 'permanent'),
    # Mimecast
    ('451 Internal resource temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451', 'rcpt',
     'greylisted', 'mimecast', 'transient'),
    ('550 Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550',
     'rcpt', 'sender_blocked_by_policy', 'mimecast', 'permanent'),
    ('421 Sender address blocked', 'banner', 'sender_blocked_by_policy', 'mimecast', 'transient'),
    # Proofpoint
    ('554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.7', 'rcpt',
     'sending_ip_reputation_blocked', 'proofpoint', 'permanent'),
    ('550 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.7', 'mail',
     'sending_ip_reputation_blocked', 'proofpoint', 'permanent'),
    # Cisco Secure Email
    ('421 Too many concurrent SMTP connections from this IP address; please try again later.', 'banner',
     'connection_limit', 'cisco', 'transient'),
    ('452 Too many recipients received this hour', 'rcpt', 'recipient_rate_limited', 'cisco', 'transient'),
    # Barracuda
    ('554 Service unavailable; Client host [192.0.2.7] blocked using Barracuda Reputation; '
     'http://bbl.barracudacentral.com/q.cgi?ip=192.0.2.7', 'data', 'dnsbl_listed', 'barracuda', 'permanent'),
    ('550 permanent failure for one or more recipients (kate@fabrikam.test:blocked)', 'message',
     'recipient_policy_rejected', 'barracuda', 'permanent'),
])
def test_vendor_reply(line, step, category, vendor, status):
    result = explain(line, step=step)
    assert (result['category'], result['vendor'], result['status']) == (category, vendor, status)
    assert result['references']


def test_opensmtpd_524_is_an_unknown_recipient_not_a_list_problem():
    result = explain('524 5.2.4 Mailing list expansion problem: <nobody@fabrikam.test>', step='rcpt')
    assert (result['category'], result['vendor'], result['status']) == ('user_unknown', 'opensmtpd', 'permanent')
    assert 'unknown recipient' in ' '.join(result['causes'])
    # The RFC 3463 reading stays for other servers' 5.2.4.
    assert diagnose(code=550, enhanced='5.2.4', text='list owner unreachable')['category'] == 'list_expansion_problem'


def test_postfix_dnsbl_is_not_read_as_microsoft():
    postfix = explain('554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; '
                      'https://www.spamhaus.org/query/ip/192.0.2.7')
    assert (postfix['category'], postfix['vendor']) == ('dnsbl_listed', 'postfix')


@pytest.mark.parametrize('lines,server', [
    (['220 mx1.fabrikam.test ESMTP Postfix'], 'postfix'),
    (['220 mx1.fabrikam.test ESMTP Postfix (Debian/GNU)', '250-PIPELINING'], 'postfix'),
    (['220 mx3.fabrikam.test ESMTP Exim 4.96 Fri, 04 Dec 2026 17:00:00 +0000'], 'exim'),
    (['220 mx4.fabrikam.test ESMTP OpenSMTPD'], 'opensmtpd'),
    (['220 mail.contoso.test ESMTP Sendmail 8.17.1/8.17.1; Fri, 4 Dec 2026 17:00:00 GMT'], 'sendmail'),
    (['220 mail1.fabrikam.test Microsoft ESMTP MAIL Service ready at Fri, 4 Dec 2026 17:00:00 +0000'], 'exchange'),
    (['220 mail1.fabrikam.test', '250-mail1.fabrikam.test Hello [192.0.2.5]', '250-X-EXPS GSSAPI NTLM', '250 XRDST'],
     'exchange'),
    (['220 BN8NAM11FT012.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Fri, 4 Dec 2026'],
     'exchange_online'),
    (['220 eu-smtp-inbound-1.mimecast.com ESMTP'], 'mimecast'),
    (['220 mx0a-00123456.pphosted.com ESMTP mfa-m0000001'], 'proofpoint'),
    (['220 mx1-us1.ppe-hosted.com ESMTP'], 'proofpoint'),
    (['220 esa1.hc1234-56.iphmx.com ESMTP'], 'cisco'),
    (['220 d123456a.ess.barracudanetworks.com ESMTP (a1b2c3)'], 'barracuda'),
    (['220 mx.fabrikam.test ESMTP ready', '250-PIPELINING', '250 8BITMIME'], None),
    ([], None),
    ('220 mx1.fabrikam.test ESMTP Postfix', 'postfix'),
    ([b'220 mx1.fabrikam.test ESMTP Postfix'], 'postfix'),
    (None, None),
    (42, None),
    ([None, 42], None),
])
def test_identify_server(lines, server):
    assert identify_server(lines) == server


def test_signatures_are_data_with_sources():
    vendors = [row['vendor'] for row in catalog.SERVER_SIGNATURES]
    assert len(vendors) == len(set(vendors))
    # Exchange Online banners also say "Microsoft ESMTP MAIL Service": its row must come first.
    assert vendors.index('exchange_online') < vendors.index('exchange')
