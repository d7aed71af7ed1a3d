# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sender_policy and smtp_smuggling have no Windows path: a PowerShell host gets one clear line. egress_identity has
one (it runs on the controller, see the windows_probes target)."""

from __future__ import annotations

import importlib

import pytest


class PowerShell(object):
    SHELL_FAMILY = 'powershell'


class Connection(object):
    _shell = PowerShell()


@pytest.mark.parametrize('module', ['sender_policy', 'smtp_smuggling'])
def test_windows_hosts_are_refused_with_one_line(module):
    plugin = importlib.import_module('ansible_collections.mailops.mailflow.plugins.action.%s' % module)
    action = plugin.ActionModule.__new__(plugin.ActionModule)
    action._connection = Connection()
    result = action.run(task_vars={})
    assert result == {'failed': True, 'msg': '%s runs on Linux hosts only (no Windows path): delegate it to a Linux '
                                             'host or the controller (delegate_to: localhost)' % module}


def test_egress_identity_on_a_windows_host_is_checked_on_the_controller(monkeypatch):
    from ansible_collections.mailops.mailflow.plugins.modules import egress_identity
    from ansible_collections.mailops.mailflow.plugins.plugin_utils._windows import WindowsPath

    def checked(params):
        entry = {'address': params['address'], 'passed': True}
        return dict(entry, ansible_facts={'mailflow': {'egress': {params['address']: dict(entry)}}}, changed=False)
    monkeypatch.setattr(egress_identity, 'egress_task', checked)

    class Task:
        check_mode = False
        action = 'mailops.mailflow.egress_identity'

    class Action:
        _task = Task()

    result = WindowsPath(Action(), {}).run('egress_identity', {'address': '192.0.2.10', 'nameservers': ['127.0.0.1']})
    assert result['asked_from'] == 'controller' and result['passed'] is True
    assert result['ansible_facts']['mailflow']['egress']['192.0.2.10']['asked_from'] == 'controller'
    refused = WindowsPath(Action(), {}).run('egress_identity', {'address': '192.0.2.10', 'bogus': 1})
    assert refused['failed'] is True and 'bogus' in refused['msg']
