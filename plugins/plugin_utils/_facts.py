# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side fact merging shared by the collection's action plugins.

Ansible replaces a top-level fact key wholesale, so a second probe would erase the
first one's ``ansible_facts.mailflow``. The action plugins merge instead.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import canonical_option_case
from ansible_collections.mailops.mailflow.plugins.plugin_utils._windows import run_on_windows, uses_powershell

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


# Options whose text may hold line breaks: the message body (dot-stuffed by the engine) and data never sent.
_MULTILINE_OPTIONS = frozenset(('content.body',))
_UNSENT_OPTIONS = frozenset(('labels', 'expect'))


def find_control_characters(args, path=''):
    """(option path, problem) for the first CR, LF or NUL in a task argument, or None.

    The modules refuse these too, but ansible-core gets there first: it logs the invocation to syslog (which
    fails on a NUL) and its choices check echoes the value, line breaks included. Checking here gives one line
    that names the option, before anything reaches the managed host or the wire.
    """
    if isinstance(args, dict):
        for key, value in args.items():
            child = f'{path}.{key}' if path else str(key)
            if child in _UNSENT_OPTIONS:
                continue
            problem = _text_problem(str(key), path or child) if path else None
            found = problem or find_control_characters(value, child)
            if found:
                return found
    elif isinstance(args, (list, tuple)):
        for index, value in enumerate(args):
            found = find_control_characters(value, f'{path}[{index}]')
            if found:
                return found
    elif isinstance(args, str):
        return _text_problem(args, path, path in _MULTILINE_OPTIONS)
    return None


def _text_problem(text, path, allow_newlines=False):
    if '\x00' in text:
        return path, f'{path}: contains a NUL byte, refusing to send it'
    if not allow_newlines and ('\r' in text or '\n' in text):
        return path, f'{path}: contains a line break (CR/LF), refusing to send it'
    return None


# The facts merged so far by the items of a loop, per (host, task), in this worker process (one worker runs a
# whole loop). ansible-core before 2.20 gives every item the facts as they were before the loop, so without this
# each item would erase the ones before it.
_LOOP_FACTS = {}


class MailflowFactsAction(ActionBase):
    """Run the module of the same name, then merge its facts into the host's.

    On a host with a PowerShell shell (Windows) the Windows path runs instead (``_windows.py``):
    the same options, checks, result and facts, with the host doing only the DNS and SMTP I/O.
    """

    # The collection's module this action plugin runs (set by each action plugin).
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        problem = find_control_characters(self._task.args)
        if problem:
            result.update(failed=True, option=problem[0], msg=problem[1])
            return result
        # ansible-core's choices check is case-sensitive; the engines' own checks are not.
        args = canonical_option_case(self._task.args)
        if self.MODULE and uses_powershell(self._connection):
            result.update(run_on_windows(self, self.MODULE, args, task_vars))
        else:
            result.update(self._execute_module(module_args=args, task_vars=task_vars))
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
