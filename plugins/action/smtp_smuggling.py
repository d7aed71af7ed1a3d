# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the smtp_smuggling module and merges its facts with earlier ones. It has no Windows path: on a PowerShell host
the task fails with a message saying so, instead of the Windows path's argument errors."""

from __future__ import annotations

from ansible_collections.mailops.mailflow.plugins.plugin_utils._facts import MailflowFactsAction
from ansible_collections.mailops.mailflow.plugins.plugin_utils._windows import uses_powershell


class ActionModule(MailflowFactsAction):
    MODULE = 'smtp_smuggling'

    def run(self, tmp=None, task_vars=None):
        if uses_powershell(self._connection):
            return {'failed': True, 'msg': f'{self.MODULE} runs on Linux hosts only (no Windows path): delegate it to a Linux host '
                                           'or the controller (delegate_to: localhost)'}
        return super().run(tmp, task_vars)
