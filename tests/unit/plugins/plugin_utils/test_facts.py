# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fact merging: later probes add to ansible_facts.mailflow, within a loop too."""

from __future__ import annotations

from unittest import mock

from ansible_collections.mailops.mailflow.plugins.plugin_utils import _facts


def _action(uuid='task-1'):
    task = mock.MagicMock()
    task._uuid = uuid
    task.async_val = 0
    task.check_mode = False
    task.diff = False
    play_context = mock.MagicMock()
    play_context.check_mode = False
    action = _facts.MailflowFactsAction(task, mock.MagicMock(), play_context, None, None, None)
    return action


def _run(action, entry, task_vars):
    action._task.args = {}
    module_result = {'changed': False, 'ansible_facts': {'mailflow': {'smtp': {entry: {'passed': True}}}}}
    with mock.patch.object(_facts.ActionBase, 'run', return_value={}), \
            mock.patch.object(action, '_execute_module', return_value=module_result):
        return action.run(task_vars=task_vars)


def test_merge_keeps_other_sections_and_entries():
    existing = {'smtp': {'a': 1}, 'mx': {'fabrikam.test': 2}}
    merged = _facts.merge_mailflow_facts(existing, {'smtp': {'b': 3, 'a': 4}, 'routes': {'r': 5}})
    assert merged == {'smtp': {'a': 4, 'b': 3}, 'mx': {'fabrikam.test': 2}, 'routes': {'r': 5}}
    assert existing == {'smtp': {'a': 1}, 'mx': {'fabrikam.test': 2}}


def test_a_probe_adds_to_the_facts_of_earlier_tasks():
    task_vars = {'inventory_hostname': 'edge1', 'ansible_facts': {'mailflow': {'smtp': {'earlier': {'passed': False}}}}}
    result = _run(_action(), 'later', task_vars)
    assert sorted(result['ansible_facts']['mailflow']['smtp']) == ['earlier', 'later']


def test_loop_items_keep_each_other_when_the_core_does_not_pass_facts_on():
    # ansible-core < 2.20 hands every item the facts from before the loop.
    before_loop = {'inventory_hostname': 'edge1', 'ansible_loop_var': 'item',
                   'ansible_facts': {'mailflow': {'mx': {'fabrikam.test': {}}}}}
    action = _action('loop-task')
    _run(action, 'first', dict(before_loop))
    result = _run(action, 'second', dict(before_loop))
    facts = result['ansible_facts']['mailflow']
    assert sorted(facts['smtp']) == ['first', 'second']
    assert 'fabrikam.test' in facts['mx']


def test_loop_memory_is_per_host_and_task():
    task_vars = {'inventory_hostname': 'edge2', 'ansible_loop_var': 'item', 'ansible_facts': {}}
    _run(_action('loop-a'), 'from_a', dict(task_vars))
    result = _run(_action('loop-b'), 'from_b', dict(task_vars))
    assert sorted(result['ansible_facts']['mailflow']['smtp']) == ['from_b']


def test_control_characters_are_named_by_option_path():
    find = _facts.find_control_characters
    assert find({'host': '127.0.0.1', 'rcpt_to': ['a@b.test', 'c@d.test\r\nDATA']}) == (
        'rcpt_to[1]', 'rcpt_to[1]: contains a line break (CR/LF), refusing to send it')
    assert find({'auth': {'username': 'u', 'password': 'p\x00'}})[1] == 'auth.password: contains a NUL byte, refusing to send it'
    assert find({'dsn': {'notify': ['success\nRCPT TO:<x@y.test>']}})[0] == 'dsn.notify[0]'
    assert find({'content': {'headers': {'X-Test\r\nBcc': 'v'}}})[0] == 'content.headers'


def test_body_labels_and_expectations_may_hold_line_breaks():
    find = _facts.find_control_characters
    assert find({'content': {'body': 'line one\r\n.line two\n'}, 'labels': {'note': 'a\nb'}, 'host': 'h'}) is None
    assert find({'content': {'body': 'nul\x00'}})[0] == 'content.body'


def test_the_action_refuses_before_running_the_module():
    action = _action()
    action._task.args = {'host': '127.0.0.1', 'helo_name': 'contoso.test\r\nMAIL FROM:<x@y.test>'}
    with mock.patch.object(_facts.ActionBase, 'run', return_value={}), \
            mock.patch.object(action, '_execute_module') as execute:
        result = action.run(task_vars={})
    execute.assert_not_called()
    assert result['failed'] and result['option'] == 'helo_name'
    assert '\n' not in result['msg']
