# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the mail_roundtrip module and merges its facts with earlier ones."""

from __future__ import annotations

from ansible_collections.mailops.mailflow.plugins.plugin_utils._facts import MailflowFactsAction


class ActionModule(MailflowFactsAction):
    MODULE = 'mail_roundtrip'
