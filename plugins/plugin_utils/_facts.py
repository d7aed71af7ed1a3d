# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side fact merging shared by the collection's action plugins.

Ansible replaces a top-level fact key wholesale, so a second probe would erase the
first one's ``ansible_facts.mailflow``. The action plugins merge instead.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

FACTS_KEY = 'mailflow'


def merge_mailflow_facts(existing, new):
    """Return existing facts with new ones laid over them, section by section.

    Sections are ``smtp``, ``mx``, ``routes``; an entry with the same name is replaced,
    every other entry is kept.
    """
    merged = {}
    for section in set(existing or {}) | set(new or {}):
        old_entries = (existing or {}).get(section)
        new_entries = (new or {}).get(section)
        if isinstance(old_entries, dict) and isinstance(new_entries, dict):
            entries = dict(old_entries)
            entries.update(new_entries)
            merged[section] = entries
        elif new_entries is not None:
            merged[section] = new_entries
        else:
            merged[section] = old_entries
    return merged


# The facts merged so far by the items of a loop, per (host, task), in this worker process (one worker runs a
# whole loop). ansible-core before 2.20 gives every item the facts as they were before the loop, so without this
# each item would erase the ones before it.
_LOOP_FACTS = {}


class MailflowFactsAction(ActionBase):
    """Run the module of the same name, then merge its facts into the host's."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(MailflowFactsAction, self).run(tmp, task_vars)
        result.update(self._execute_module(task_vars=task_vars))
        new_facts = (result.get('ansible_facts') or {}).get(FACTS_KEY)
        if isinstance(new_facts, dict):
            existing = (task_vars.get('ansible_facts') or {}).get(FACTS_KEY) or {}
            loop_key = (task_vars.get('inventory_hostname'), self._task._uuid) if 'ansible_loop_var' in task_vars else None
            if loop_key in _LOOP_FACTS:
                existing = merge_mailflow_facts(existing, _LOOP_FACTS[loop_key])
            merged = merge_mailflow_facts(existing, new_facts)
            if loop_key is not None:
                _LOOP_FACTS[loop_key] = merged
            result['ansible_facts'][FACTS_KEY] = merged
        return result
