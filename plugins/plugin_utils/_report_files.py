# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report and baseline files, written from Python (the report_files and baseline_take actions; the report and
baseline roles run them).

Templating tens of MB of facts and the rendered text through Jinja2 task by task took 20 s for a fleet of 20 hosts
with 200 domains each (bench/bench_report.py); in Python, 4 s. Most of it was reading the facts: hostvars[host]
templates every value on access, so the actions read them raw.
"""

from __future__ import annotations

import json
import os
import tempfile

from ansible.plugins.action import ActionBase

from ansible_collections.mailops.mailflow.plugins.plugin_utils import _report

# format -> (file name, rendering)
FORMATS = {
    'json': ('report.json', lambda records, hosts, title, layout: json.dumps(
        _report.report_document(records, hosts=hosts, title=title), indent=2, sort_keys=True, ensure_ascii=False) + '\n'),
    'markdown': ('report.md', lambda records, hosts, title, layout: _report.render_markdown(
        records, hosts=hosts, title=title, layout=layout)),
    'junit': ('report.xml', lambda records, hosts, title, layout: _report.render_junit(records, hosts=hosts)),
    'html': ('report.html', lambda records, hosts, title, layout: _report.render_html(
        records, hosts=hosts, title=title, layout=layout)),
}


def host_facts(hostvars, host):
    """A host's ansible_facts.mailflow, {} when it never gathered facts or probed nothing. Read raw: facts hold no
    templates, and templating every host's facts on access took 17 of the 21 s for 20 hosts x 200 domains."""
    if host not in hostvars:
        return {}
    variables = hostvars.raw_get(host) if hasattr(hostvars, 'raw_get') else hostvars[host]
    facts = variables.get('ansible_facts') if hasattr(variables, 'get') else None
    return (facts or {}).get('mailflow') or {}


def facts_by_host(task_vars, hosts, facts=None):
    """(hosts, host -> ansible_facts.mailflow): the given facts, else the hosts' own. Hosts default to the keys of
    ``facts``, else every host of the play."""
    hosts = list(hosts or (list(facts) if facts else task_vars.get('ansible_play_hosts_all') or []))
    if facts:
        return hosts, facts
    hostvars = task_vars.get('hostvars') or {}
    return hosts, dict((host, host_facts(hostvars, host)) for host in hosts)


class ControllerFactsAction(ActionBase):
    """An action that runs on the controller only and reads the mail-flow facts of the hosts (report_files,
    baseline_take): ``ARGUMENT_SPEC`` (and ``MUTUALLY_EXCLUSIVE``) validate its arguments, which have ``hosts`` and
    ``facts``."""

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = None
    MUTUALLY_EXCLUSIVE = None

    def _start(self, tmp, task_vars):
        """(result, args, hosts, host -> ansible_facts.mailflow)."""
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC,
                                                        mutually_exclusive=self.MUTUALLY_EXCLUSIVE)
        hosts, facts = facts_by_host(task_vars, args['hosts'], args['facts'])
        return result, args, hosts, facts


def write_file(path, text, mode=0o644):
    """Write ``text`` to ``path`` whole or not at all: a reader never sees half a report."""
    directory = os.path.dirname(path) or '.'
    handle, temporary = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def build_report(facts_by_host, hosts, select=None, title=None, layout='auto', formats=(), dest=None, write=True):
    """(summary, markdown, {format: path}) of the report; the files are written into ``dest`` when ``write``."""
    records = _report.check_records(facts_by_host, hosts=hosts, select=select)
    summary = _report.summarize(records, hosts=hosts)
    markdown = _report.render_markdown(records, hosts=hosts, title=title, layout=layout)
    paths = {}
    if formats and write:
        os.makedirs(dest, mode=0o755, exist_ok=True)
    for name in formats:
        file_name, render = FORMATS[name]
        paths[name] = os.path.join(dest, file_name)
        if write:
            write_file(paths[name], markdown if name == 'markdown' else render(records, hosts, title, layout))
    return summary, markdown, paths, len(records)
