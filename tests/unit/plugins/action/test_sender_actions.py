# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sender_policy, egress_identity and smtp_smuggling have no Windows path: a PowerShell host gets one clear line."""

from __future__ import annotations

import importlib

import pytest


class PowerShell(object):
    SHELL_FAMILY = 'powershell'


class Connection(object):
    _shell = PowerShell()


@pytest.mark.parametrize('module', ['sender_policy', 'egress_identity', 'smtp_smuggling'])
def test_windows_hosts_are_refused_with_one_line(module):
    plugin = importlib.import_module('ansible_collections.mailops.mailflow.plugins.action.%s' % module)
    action = plugin.ActionModule.__new__(plugin.ActionModule)
    action._connection = Connection()
    result = action.run(task_vars={})
    assert result == {'failed': True, 'msg': '%s runs on Linux hosts only (no Windows path): delegate it to a Linux '
                                             'host or the controller (delegate_to: localhost)' % module}
