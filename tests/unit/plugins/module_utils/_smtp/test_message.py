# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test message: headers from the stdlib email package, CRLF, dot-stuffing."""

from __future__ import annotations

import email
import email.policy

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.message import MessageTemplate, build_message, dot_stuff


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_the_guides_message():
    raw = build_message('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', 'Test from Contoso', 'This is a test message')
    message = parse(raw)
    assert message['From'] == 'chris@contoso.test'
    assert message['To'] == 'kate@fabrikam.test'
    assert message['Subject'] == 'Test from Contoso'
    assert message['MIME-Version'] == '1.0'
    assert message['Date']
    assert message['Message-ID'].endswith('@contoso.test>')
    assert message.get_content().replace('\r\n', '\n') == 'This is a test message\n'
    assert b'\r\n\r\nThis is a test message\r\n' in raw
    assert b'\n' not in raw.replace(b'\r\n', b'')


def test_custom_headers_add_and_replace():
    raw = build_message('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', 'Old subject', 'x',
                        headers={'X-Mailflow-Test': 'run 7', 'Subject': 'New subject'}, from_header='Chris <chris@contoso.test>')
    message = parse(raw)
    assert message['X-Mailflow-Test'] == 'run 7'
    assert message['Subject'] == 'New subject'
    assert message.get_all('Subject') == ['New subject']
    assert message['From'] == 'Chris <chris@contoso.test>'


def test_null_sender_gets_a_from_header():
    message = parse(build_message('', ['kate@fabrikam.test'], 'contoso.test'))
    assert message['From'] == 'MAILER-DAEMON@contoso.test'


def test_non_ascii_body_is_8bit_only_when_offered():
    body = 'Grüße aus Contoso\n'
    eight = build_message('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', 'Test', body, eight_bit=True)
    seven = build_message('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', 'Test', body, eight_bit=False)
    assert b'Content-Transfer-Encoding: 8bit' in eight
    assert 'Grüße'.encode('utf-8') in eight
    assert b'Content-Transfer-Encoding: 8bit' not in seven
    assert all(byte < 128 for byte in seven)
    assert parse(seven).get_content().replace('\r\n', '\n') == body


def test_non_ascii_subject_is_encoded_words():
    raw = build_message('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', '从 Contoso 进行测试', 'x')
    assert all(byte < 128 for byte in raw)
    assert parse(raw)['Subject'] == '从 Contoso 进行测试'


def test_dot_stuffing_and_terminator():
    assert dot_stuff(b'a\r\n.b\r\n..c\r\n.\r\nend\r\n') == b'a\r\n..b\r\n...c\r\n..\r\nend\r\n.\r\n'


def test_dot_stuffing_normalises_line_ends_and_adds_the_final_crlf():
    assert dot_stuff(b'one\ntwo\rthree') == b'one\r\ntwo\r\nthree\r\n.\r\n'
    assert dot_stuff(b'') == b'.\r\n'


def test_a_body_line_with_a_lone_dot_cannot_end_the_message_early():
    raw = build_message('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', 'x', 'before\n.\nQUIT\nafter\n')
    wire = dot_stuff(raw)
    lines = wire.split(b'\r\n')
    assert lines.count(b'.') == 1 and lines[-2] == b'.'
    assert b'\r\n..\r\nQUIT\r\n' in wire


USER_DATE = 'Mon, 01 Jan 2024 09:00:00 +0000'


@pytest.mark.parametrize('name', ['Date', 'date', 'DATE', 'dAtE'])
def test_a_user_date_header_replaces_the_default_whatever_its_case(name):
    template = MessageTemplate('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', headers={name: USER_DATE})
    built = build_message('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', headers={name: USER_DATE})
    for raw in (template.render(), template.render(eight_bit=True, utf8=True), built):
        assert parse(raw).get_all('Date') == [USER_DATE]
        assert parse(raw)['Message-ID']


@pytest.mark.parametrize('name', ['Message-ID', 'message-id', 'MESSAGE-ID'])
def test_a_user_message_id_replaces_the_default_whatever_its_case(name):
    template = MessageTemplate('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test', headers={name: '<run-7@contoso.test>'})
    message = parse(template.render())
    assert message.get_all('Message-ID') == ['<run-7@contoso.test>']
    assert message['Date']


def test_each_render_gets_its_own_date_and_message_id():
    template = MessageTemplate('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test')
    first, second = parse(template.render()), parse(template.render())
    assert first['Message-ID'] != second['Message-ID']
    assert first.get_all('Date') and len(first.get_all('Date')) == 1


def test_render_takes_the_ehlo_name_for_message_id_and_the_null_sender():
    template = MessageTemplate('', ['kate@fabrikam.test'], None)
    for domain in ('[192.0.2.1]', 'relay.contoso.test'):
        message = parse(template.render(domain=domain))
        assert message['Message-ID'].endswith('@%s>' % domain)
        assert message['From'] == 'MAILER-DAEMON@%s' % domain
    named = MessageTemplate('chris@contoso.test', ['kate@fabrikam.test'], 'contoso.test')
    assert parse(named.render())['Message-ID'].endswith('@contoso.test>')
    assert parse(named.render(domain='[IPv6:2001:db8::1]'))['Message-ID'].endswith('@[IPv6:2001:db8::1]>')
