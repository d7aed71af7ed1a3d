# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the egress_identity module and merges its facts with earlier ones. On a Windows host (no Python) the same
check runs on the controller (_windows.py): it only asks DNS about public records."""

from __future__ import annotations

from ansible_collections.mailops.mailflow.plugins.plugin_utils._facts import MailflowFactsAction


class ActionModule(MailflowFactsAction):
    MODULE = 'egress_identity'
