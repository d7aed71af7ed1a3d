# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller-side Windows path: dispatch on the shell family, and the same option errors as the modules."""

from __future__ import annotations

import base64
from unittest import mock

import pytest

from ansible.plugins.loader import shell_loader

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import validate_options
from ansible_collections.mailops.mailflow.plugins.plugin_utils import _facts
from ansible_collections.mailops.mailflow.plugins.plugin_utils._windows import (
    engine_options,
    WindowsTaskFailed,
    uses_powershell,
    validated_params,
)


class _Connection(object):
    def __init__(self, shell_name):
        self._shell = shell_loader.get(shell_name)


@pytest.mark.parametrize('shell_name, expected', [('powershell', True), ('sh', False), ('cmd', True)])
def test_dispatch_follows_the_shell_family(shell_name, expected):
    assert uses_powershell(_Connection(shell_name)) is expected


def test_no_shell_is_not_windows():
    assert not uses_powershell(object())


@pytest.mark.parametrize('module_name, args, message', [
    ('smtp_probe', {'host': 'mx1.fabrikam.test', 'tls': 'bogus'},
     'value of tls must be one of: starttls, required, implicit, none, got: bogus'),
    ('smtp_probe', {}, 'missing required arguments: host'),
    ('mx_lookup', {'domain': 'a.test', 'domains': ['b.test']}, 'parameters are mutually exclusive: domain|domains'),
    ('mx_probe', {}, 'one of the following is required: domain, domains'),
])
def test_bad_input_gets_the_module_message(module_name, args, message):
    with pytest.raises(WindowsTaskFailed) as failure:
        validated_params(module_name, 'mailops.mailflow.' + module_name, args)
    assert failure.value.fields['msg'] == message


def test_unknown_option_names_the_task_module():
    with pytest.raises(WindowsTaskFailed) as failure:
        validated_params('mx_lookup', 'mailops.mailflow.mx_lookup', {'domain': 'a.test', 'bogus': 1})
    assert failure.value.fields['msg'].startswith('Unsupported parameters for (mailops.mailflow.mx_lookup) module: bogus.')


def test_defaults_and_secrets_come_back_as_the_module_sees_them():
    params, no_log_values = validated_params('smtp_probe', 'smtp_probe', {
        'host': 'smtp.contoso.test', 'auth': {'username': 'chris', 'password': 's3cret-pw'}})
    assert params['port'] == 25 and params['fail_on_failure'] is True
    assert 's3cret-pw' in no_log_values


# --- the action plugins' dispatch ------------------------------------------------------------

ZONE = {
    ('fabrikam.test', 'MX'): {'records': [{'Name': 'fabrikam.test', 'Type': 15, 'TTL': 300, 'Section': 1,
                                           'NameExchange': 'mx1.fabrikam.test', 'Preference': 10}]},
    ('mx1.fabrikam.test', 'A'): {'records': [{'Name': 'mx1.fabrikam.test', 'Type': 1, 'TTL': 300, 'Section': 1,
                                              'IPAddress': '127.0.0.11'}]},
    ('nosuchdomain.test', 'MX'): {'error_code': 9003, 'error_message': 'DNS name does not exist'},
}


def _windows_host(calls):
    """Stands in for _execute_module on a Windows host: win_mx_lookup answers from ZONE."""
    def execute(module_name=None, module_args=None, task_vars=None, **_kwargs):
        calls.append((module_name, module_args))
        if module_name != 'mailops.mailflow.win_mx_lookup':
            return {'failed': True, 'msg': 'unexpected module %s' % module_name}
        return {'changed': False, 'answers': [dict(ZONE[(question['name'], question['type'])], **question)
                                              for question in module_args['questions']]}
    return execute


def _action(module, shell_name, args, check_mode=False):
    task = mock.MagicMock()
    task._uuid = 'task-w'
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = False
    task.action = 'mailops.mailflow.' + module
    task.args = args
    play_context = mock.MagicMock()
    play_context.check_mode = check_mode
    action_class = type('ActionModule', (_facts.MailflowFactsAction,), {'MODULE': module})
    return action_class(task, _Connection(shell_name), play_context, None, None, None)


def _run(action, calls):
    with mock.patch.object(_facts.ActionBase, 'run', return_value={}), \
            mock.patch.object(action, '_execute_module', side_effect=_windows_host(calls)):
        return action.run(task_vars={})


def test_a_powershell_host_gets_win_mx_lookup_and_the_python_mx_logic():
    calls = []
    result = _run(_action('mx_lookup', 'powershell', {'domain': 'Fabrikam.test.', 'ip_version': '4'}), calls)
    assert [name for name, _args in calls] == ['mailops.mailflow.win_mx_lookup'] * 2
    assert calls[0][1]['questions'] == [{'name': 'fabrikam.test', 'type': 'MX'}]
    assert calls[1][1]['questions'] == [{'name': 'mx1.fabrikam.test', 'type': 'A'}]
    assert not result.get('failed') and result['passed'] and result['status'] == 'ok'
    assert result['exchangers'][0]['addresses'] == [{'ip': '127.0.0.11', 'family': 'ipv4'}]
    assert result['ansible_facts']['mailflow']['mx']['fabrikam.test']['status'] == 'ok'


def test_a_check_that_did_not_pass_fails_the_task_on_windows_too():
    calls = []
    failed = _run(_action('mx_lookup', 'powershell', {'domain': 'nosuchdomain.test'}), calls)
    assert failed['failed'] and failed['status'] == 'nxdomain' and 'nosuchdomain.test' in failed['msg']
    assert failed['ansible_facts']['mailflow']['mx']['nosuchdomain.test']['status'] == 'nxdomain'
    kept = _run(_action('mx_lookup', 'powershell', {'domain': 'nosuchdomain.test', 'fail_on_failure': False}), [])
    assert not kept.get('failed') and not kept['passed']


def test_bad_input_on_windows_fails_before_the_host_is_asked():
    calls = []
    result = _run(_action('mx_lookup', 'powershell', {'domain': 'fabrikam.test', 'port': 5353}), calls)
    assert result['failed'] and result['option'] == 'port'
    result = _run(_action('smtp_probe', 'powershell', {'host': 'mx1.fabrikam.test', 'tls': 'bogus'}), calls)
    assert result['failed'] and result['msg'].startswith('value of tls must be one of')
    route_args = {'domain': 'fabrikam.test', 'probe': 'first_success', 'concurrency': 0}
    result = _run(_action('mx_probe', 'powershell', route_args), calls)
    assert result['failed'] and result['option'] == 'concurrency'
    assert calls == []


def test_choice_words_are_lower_cased_before_either_path():
    calls = []
    _run(_action('mx_lookup', 'powershell', {'domain': 'fabrikam.test', 'ip_version': '4', 'tcp': True}), calls)
    assert calls[0][1]['tcp'] is True
    action = _action('smtp_probe', 'sh', {'host': 'mx1.fabrikam.test', 'tls': 'STARTTLS'})
    with mock.patch.object(_facts.ActionBase, 'run', return_value={}), \
            mock.patch.object(action, '_execute_module', return_value={'changed': False}) as execute:
        action.run(task_vars={})
    assert execute.call_args.kwargs['module_args']['tls'] == 'starttls'


def test_engine_options_carry_each_message_variant_the_server_may_need():
    options = validate_options({'host': 'mx1.fabrikam.test', 'helo_name': 'mail.contoso.test', 'send_message': True,
                                'mail_from': 'chris@contoso.test', 'rcpt_to': ['kate@fabrikam.test'],
                                'content': {'subject': 'Grüße', 'body': 'Grüße\n.leading dot\n'}})
    values = engine_options(options)
    assert sorted(values['messages']) == ['eight_bit', 'plain']
    eight_bit = base64.b64decode(values['messages']['eight_bit']['wire_b64'])
    assert b'\r\n..leading dot\r\n' in eight_bit and values['messages']['eight_bit']['eight_bit']
    assert not values['messages']['plain']['eight_bit']
    stopped = engine_options(validate_options({'host': 'mx1.fabrikam.test', 'mail_from': 'chris@contoso.test',
                                               'rcpt_to': ['kate@fabrikam.test'], 'quit_after': 'rcpt'}))
    assert 'messages' not in stopped
