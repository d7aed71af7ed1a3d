# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Takes the baseline snapshot of the hosts' facts on the controller, writes it or compares it with a saved one when
asked (see the module's docs)."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail

from ansible_collections.mailops.mailflow.plugins.modules.baseline_take import ARGUMENT_SPEC, MUTUALLY_EXCLUSIVE
from ansible_collections.mailops.mailflow.plugins.plugin_utils._baseline import (
    LATENCY_GROWTH_FACTOR,
    LATENCY_GROWTH_S,
    build_snapshot,
    compare,
)
from ansible_collections.mailops.mailflow.plugins.plugin_utils._report import ReportError
from ansible_collections.mailops.mailflow.plugins.plugin_utils._report_files import ControllerFactsAction, write_file


class ActionModule(ControllerFactsAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    MUTUALLY_EXCLUSIVE = MUTUALLY_EXCLUSIVE

    def run(self, tmp=None, task_vars=None):
        result, args, hosts, facts = self._start(tmp, task_vars)
        try:
            snapshot = build_snapshot(facts, hosts=hosts, select=args['select'] or None)
        except ReportError as exc:
            raise AnsibleActionFail(f'baseline_take: {exc}') from exc
        checks = sum(len(entries) for entries in snapshot['hosts'].values())
        written = False
        if args['dest'] and not self._task.check_mode and (checks or args['write_empty']):
            dest = os.path.abspath(os.path.expanduser(args['dest']))
            try:
                os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
                write_file(dest, json.dumps(snapshot, indent=2, sort_keys=True, ensure_ascii=False) + '\n')
            except OSError as exc:
                raise AnsibleActionFail(f'dest: cannot write the baseline to {dest}: {exc}') from exc
            written = True
        result.update(changed=written, hosts=hosts, host_count=len(snapshot['hosts']), checks=checks)
        if args['dest']:
            result['dest'] = os.path.abspath(os.path.expanduser(args['dest']))
        saved = args['baseline']
        if args['compare_with']:
            path = os.path.abspath(os.path.expanduser(args['compare_with']))
            try:
                with open(path, encoding='utf-8') as handle:
                    saved = json.load(handle)
            except (OSError, ValueError) as exc:
                raise AnsibleActionFail(f'compare_with: cannot read the baseline {path}: {exc}') from exc
        if saved is not None:
            raw = self._task.args
            try:
                result['diff'] = compare(
                    saved, snapshot, fail_on_removed=args['fail_on_removed'],
                    latency_growth_s=args['latency_growth_s'] if 'latency_growth_s' in raw else LATENCY_GROWTH_S,
                    latency_growth_factor=args['latency_growth_factor'] if 'latency_growth_factor' in raw else LATENCY_GROWTH_FACTOR)
            except ReportError as exc:
                raise AnsibleActionFail(f'baseline_take: {exc}') from exc
        if args['return_snapshot']:
            result['snapshot'] = snapshot
        return result
