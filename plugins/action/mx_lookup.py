# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the mx_lookup module (on Windows hosts: its Windows path) and merges its facts with earlier ones."""

from __future__ import annotations

from ansible_collections.mailops.mailflow.plugins.plugin_utils._facts import MailflowFactsAction


class ActionModule(MailflowFactsAction):
    MODULE = 'mx_lookup'
