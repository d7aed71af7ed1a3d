# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builds the fleet report from the hosts' facts and writes its files, on the controller (see the module's docs)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail

from ansible_collections.mailops.mailflow.plugins.modules.report_files import ARGUMENT_SPEC
from ansible_collections.mailops.mailflow.plugins.plugin_utils._report import ReportError
from ansible_collections.mailops.mailflow.plugins.plugin_utils._report_files import ControllerFactsAction, build_report


class ActionModule(ControllerFactsAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def run(self, tmp=None, task_vars=None):
        result, args, hosts, facts = self._start(tmp, task_vars)
        dest = os.path.abspath(os.path.expanduser(args['dest']))
        try:
            summary, markdown, paths, count = build_report(
                facts, hosts, select=args['select'] or None, title=args['title'], layout=args['layout'],
                formats=args['formats'], dest=dest, write=not self._task.check_mode)
        except ReportError as exc:
            raise AnsibleActionFail(f'report_files: {exc}') from exc
        except OSError as exc:
            raise AnsibleActionFail(f'dest: cannot write the report into {dest}: {exc}') from exc
        result.update(changed=bool(paths) and not self._task.check_mode, summary=summary, markdown=markdown,
                      files=paths, checks=count, hosts=hosts, dest=dest)
        return result
