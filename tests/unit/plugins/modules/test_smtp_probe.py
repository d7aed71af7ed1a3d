# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""smtp_probe module: option errors before any connection, check mode, facts, changed, transcript file, secrets."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailops.mailflow.plugins.modules import smtp_probe
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._smtp.smtp_server import Mta, ScriptedServer

PASSWORD = 'Zq7-unique-password-Xv9'


@pytest.fixture
def server():
    mta = Mta(tls=False, auth=('chris@contoso.test', PASSWORD), auth_before_tls=True)
    with ScriptedServer(mta) as scripted:
        scripted.mta = mta
        yield scripted


def run(capsys, args, check_mode=False, whole=True):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    if whole:
        # These tests read the whole result and the facts; test_detail_* below run with the defaults.
        args = dict({'detail': 'full', 'facts': True}, **args)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            smtp_probe.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def guide_args(server, **changes):
    args = {'host': '127.0.0.1', 'port': server.port, 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test',
            'rcpt_to': ['kate@fabrikam.test'], 'dsn': {'notify': ['success', 'failure']}, 'tls': 'none',
            'content': {'subject': 'Test from Contoso', 'body': 'This is a test message'}}
    args.update(changes)
    return args


@pytest.mark.parametrize('changes, prefix', [
    ({'rcpt_to': ['kate@fabrikam.test', 'x@y.test\r\nDATA']}, 'rcpt_to[1]: '),
    ({'helo_name': 'contoso.test\nRSET'}, 'helo_name: '),
    ({'mail_from': 'chris@contoso.test\x00'}, 'mail_from: '),
    ({'dsn': {'envid': 'a\rb'}}, 'dsn.envid: '),
    ({'content': {'headers': {'X-A': 'b\r\nBcc: c@d.test'}}}, 'content.headers.X-A: '),
    ({'port': 70000}, 'port: '),
    ({'rcpt_to': []}, 'rcpt_to: '),
    ({'mail_from': 'not an address'}, 'mail_from: '),
    ({'tls': 'none', 'tls_verify': True}, 'tls_verify: '),
    ({'deadline': 1, 'connect_timeout': 5}, 'deadline: '),
    ({'expect': {'rcpt': ['nonsense']}}, 'expect.rcpt[0]: '),
    ({'quit_after': 'data'}, 'quit_after: '),
    ({'tls': 'none', 'tls_min_days': 30}, 'tls_min_days: '),
    ({'tls_min_days': -1}, 'tls_min_days: '),
])
def test_bad_options_fail_before_any_connection(capsys, server, changes, prefix):
    result, _out = run(capsys, guide_args(server, **changes))
    assert result['failed'] is True
    assert server.sessions == []
    if '\\x00' in repr(changes) and 'syslog' in result['msg']:
        # AnsibleModule itself refuses a NUL while logging the invocation; still nothing was sent.
        return
    assert result['msg'].startswith(prefix)


def test_the_guides_session_sends_and_reports_changed(capsys, server):
    result, _out = run(capsys, guide_args(server, send_message=True))
    assert result['changed'] is True
    assert result['passed'] is True
    assert result['queued_as'] == 'D50CD160033'
    assert [step['name'] for step in result['steps']] == ['connect', 'banner', 'ehlo', 'mail', 'rcpt', 'data', 'message', 'quit']
    assert result['steps'][4]['command'] == 'RCPT TO:<kate@fabrikam.test> NOTIFY=SUCCESS,FAILURE'
    label = '127.0.0.1:%d' % server.port
    facts = result['ansible_facts']['mailflow']['smtp'][label]
    assert facts['queued_as'] == 'D50CD160033' and facts['passed'] is True
    assert result['msg'] == '%s passed: %s; queued as D50CD160033 for 1 of 1 recipient' % (label, result['diagnosis']['summary'])
    assert b'Subject: Test from Contoso' in server.mta.messages[0]


def test_check_mode_never_sends_data(capsys, server):
    result, _out = run(capsys, guide_args(server, send_message=True, quit_after='data'), check_mode=True)
    assert result['changed'] is False
    assert 'check mode' in result['check_mode_note']
    assert server.mta.messages == []
    assert not any(line.startswith(b'DATA') for session in server.sessions for line in session.commands)
    assert [step['name'] for step in result['steps']][-2:] == ['rset', 'quit']


def test_default_stops_after_rcpt_and_is_not_a_change(capsys, server):
    result, _out = run(capsys, guide_args(server, name='fabrikam-mx'))
    assert result['changed'] is False and result['passed'] is True
    assert list(result['ansible_facts']['mailflow']['smtp']) == ['fabrikam-mx']
    assert not any(line.startswith(b'DATA') for session in server.sessions for line in session.commands)


def test_a_probe_that_did_not_pass_fails_the_task_in_one_line_and_keeps_the_result(capsys, server):
    result, _out = run(capsys, guide_args(server, rcpt_to=['nobody@fabrikam.test']))
    assert result['failed'] is True
    assert result['passed'] is False
    assert result['msg'] == '127.0.0.1:%d failed at rcpt (550 5.1.1): %s' % (server.port, result['diagnosis']['summary'])
    assert '\n' not in result['msg']
    # Every return value and the facts stay, so a report or a rescue still sees the probe.
    assert result['recipients']['nobody@fabrikam.test']['code'] == 550
    assert [step['name'] for step in result['steps']][-2:] == ['rset', 'quit']
    assert result['ansible_facts']['mailflow']['smtp']['127.0.0.1:%d' % server.port]['passed'] is False


def test_fail_on_failure_false_keeps_a_failed_probe_a_result(capsys, server):
    result, _out = run(capsys, guide_args(server, rcpt_to=['nobody@fabrikam.test'], fail_on_failure=False))
    assert result.get('failed') is not True
    assert result['passed'] is False
    assert result['msg'].endswith('failed at rcpt (550 5.1.1): %s' % result['diagnosis']['summary'])


def test_a_failing_probe_fails_in_check_mode_too_and_sends_nothing(capsys, server):
    result, _out = run(capsys, guide_args(server, rcpt_to=['nobody@fabrikam.test'], send_message=True), check_mode=True)
    assert result['failed'] is True
    assert 'failed at rcpt (550 5.1.1)' in result['msg']
    assert server.mta.messages == []
    assert not any(line.startswith(b'DATA') for session in server.sessions for line in session.commands)


def test_a_connection_failure_names_the_condition(capsys, server):
    result, _out = run(capsys, guide_args(server, port=1, quit_after='banner', connect_timeout=2, deadline=5))
    assert result['failed'] is True
    assert result['msg'].startswith('127.0.0.1:1 failed at connect (connection_refused): ')


def test_a_message_queued_for_some_recipients_says_so_and_who_was_refused(capsys, server):
    result, _out = run(capsys, guide_args(server, rcpt_to=['kate@fabrikam.test', 'nobody@fabrikam.test'], send_message=True,
                                          fail_on_failure=False))
    assert result['passed'] is False and result['message_accepted'] is True and result['changed'] is True
    assert result['msg'] == (
        '127.0.0.1:%d failed at rcpt (550 5.1.1); queued as D50CD160033 for 1 of 2 recipients; '
        'refused at rcpt: nobody@fabrikam.test (550 5.1.1): %s' % (server.port, result['diagnosis']['summary']))


def test_expected_negative_reply_passes(capsys, server):
    result, _out = run(capsys, guide_args(server, rcpt_to=['nobody@fabrikam.test'], expect={'rcpt': [550]}))
    assert result['passed'] is True
    assert 'got the expected 550 5.1.1' in result['msg']


def test_transcript_file_is_private_and_has_no_secret(capsys, server, tmp_path):
    path = tmp_path / 'TelnetTest.txt'
    path.write_text('old content')
    os.chmod(str(path), 0o644)
    result, out = run(capsys, guide_args(server, transcript_path=str(path), auth={'username': 'chris@contoso.test', 'password': PASSWORD}))
    assert result['passed'] is True
    content = path.read_text()
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    assert content.splitlines() == result['transcript']
    assert '-> AUTH PLAIN ********' in content
    for text in (out, content):
        assert PASSWORD not in text


def test_warnings_are_warnings(capsys, server):
    result, _out = run(capsys, guide_args(server, tls='starttls'))
    facts = result['ansible_facts']['mailflow']['smtp']['127.0.0.1:%d' % server.port]
    assert facts['warnings'] == ['the server did not offer STARTTLS: the session continues unencrypted']
    # Shown as task warnings (strings before ansible-core 2.20, structured events after).
    assert facts['warnings'][0] in json.dumps(result['warnings'])


def test_unwritable_transcript_path_fails_with_the_result(capsys, server, tmp_path):
    result, _out = run(capsys, guide_args(server, transcript_path=str(tmp_path / 'missing' / 'log.txt')))
    assert result['failed'] is True
    assert result['msg'].startswith('transcript_path: ')
    assert result['steps']


def test_labels_come_back_unchanged_in_result_and_facts(capsys, server):
    labels = {'check': 'recipient_validation', 'role': 'inbound', 'domain': 'fabrikam.test', 'target': '127.0.0.1',
              'required': False, 'extra': [1, {'nested': True}]}
    result, _out = run(capsys, guide_args(server, labels=labels, name='inbound:fabrikam.test:127.0.0.1:recipient_validation'))
    assert result['labels'] == labels
    facts = result['ansible_facts']['mailflow']['smtp']['inbound:fabrikam.test:127.0.0.1:recipient_validation']
    assert facts['labels'] == labels and facts['passed'] is result['passed']


def test_labels_default_to_an_empty_dict(capsys, server):
    result, _out = run(capsys, guide_args(server))
    assert result['labels'] == {}


def test_detail_defaults_to_a_summary_without_facts(capsys, server):
    result, out = run(capsys, guide_args(server), whole=False)
    assert 'ansible_facts' not in result
    assert 'transcript' not in result and 'capabilities_before_tls' not in result
    rcpt = [step for step in result['steps'] if step['name'] == 'rcpt'][0]
    assert rcpt == {'name': 'rcpt', 'code': 250, 'enhanced': rcpt['enhanced'], 'text': rcpt['text'], 'ok': True,
                    'elapsed_ms': rcpt['elapsed_ms'], 'command': 'RCPT TO:<kate@fabrikam.test> NOTIFY=SUCCESS,FAILURE'}
    assert 'references' not in result['diagnosis'] and result['diagnosis']['status'] == 'ok'
    full, full_out = run(capsys, guide_args(server))
    assert len(out) * 2 < len(full_out)


def test_a_summary_of_a_failure_keeps_the_transcript_and_the_whole_diagnosis(capsys, server):
    result, _out = run(capsys, guide_args(server, rcpt_to=['nobody@fabrikam.test'], fail_on_failure=False), whole=False)
    assert result['passed'] is False and result['transcript']
    failed = [step for step in result['steps'] if not step['ok']][0]
    assert failed['lines'][0].startswith('550 5.1.1') and result['diagnosis']['references']


def test_facts_hold_the_result_at_its_detail_only_when_asked(capsys, server):
    result, _out = run(capsys, guide_args(server, facts=True, name='mx'), whole=False)
    facts = result['ansible_facts']['mailflow']['smtp']['mx']
    assert facts['steps'] == result['steps'] and facts['diagnosis'] == result['diagnosis']
