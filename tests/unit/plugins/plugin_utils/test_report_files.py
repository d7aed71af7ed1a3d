# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report_files and baseline_take actions' Python side: facts read raw, files written whole, check mode."""

from __future__ import annotations

import json
import os

from ansible_collections.mailops.mailflow.plugins.modules import report_files as report_files_module
from ansible_collections.mailops.mailflow.plugins.plugin_utils import _report as R
from ansible_collections.mailops.mailflow.plugins.plugin_utils._report_files import (
    FORMATS, build_report, facts_by_host, host_facts, write_file)

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'lab_full.json')


def lab_facts():
    with open(FIXTURE, encoding='utf-8') as handle:
        return json.load(handle)['mailflow']


class RawHostvars(dict):
    """Stands in for ansible's HostVars: item access would template, raw_get does not."""

    def __getitem__(self, host):
        raise AssertionError('hostvars[%s] templates every value; the actions read raw_get' % host)

    def raw_get(self, host):
        return dict.__getitem__(self, host)


def test_the_module_documents_the_formats_the_actions_write():
    assert report_files_module.FORMATS == list(FORMATS)
    assert report_files_module.ARGUMENT_SPEC['formats']['choices'] == list(FORMATS)


def test_facts_are_read_raw_and_a_host_without_facts_has_no_checks():
    hostvars = RawHostvars(edge1={'ansible_facts': {'mailflow': lab_facts()}}, edge2={}, edge3={'ansible_facts': {}})
    assert host_facts(hostvars, 'edge1')['smtp']
    assert host_facts(hostvars, 'edge2') == {} and host_facts(hostvars, 'edge3') == {} and host_facts(hostvars, 'nope') == {}
    hosts, facts = facts_by_host({'hostvars': hostvars, 'ansible_play_hosts_all': ['edge1', 'edge2']}, [])
    assert hosts == ['edge1', 'edge2'] and facts['edge2'] == {}
    hosts, facts = facts_by_host({'hostvars': hostvars}, [], {'other': lab_facts()})
    assert hosts == ['other']


def test_the_files_are_the_filters_renderings(tmp_path):
    facts = {'edge1': lab_facts()}
    summary, markdown, paths, count = build_report(facts, ['edge1'], title='t', formats=list(FORMATS), dest=str(tmp_path / 'r'))
    records = R.check_records(facts, hosts=['edge1'])
    assert count == len(records) == 17 and summary == R.summarize(records, hosts=['edge1'])
    assert sorted(os.listdir(tmp_path / 'r')) == ['report.html', 'report.json', 'report.md', 'report.xml']
    assert (tmp_path / 'r' / 'report.md').read_text(encoding='utf-8') == markdown == R.render_markdown(records, hosts=['edge1'], title='t')
    document = json.loads((tmp_path / 'r' / 'report.json').read_text(encoding='utf-8'))
    assert len(document['checks']) == 17
    assert oct(os.stat(paths['html']).st_mode & 0o777) == '0o644'


def test_check_mode_writes_nothing(tmp_path):
    _summary, _markdown, paths, _count = build_report({'edge1': lab_facts()}, ['edge1'], formats=['json'],
                                                      dest=str(tmp_path / 'r'), write=False)
    assert paths == {'json': str(tmp_path / 'r' / 'report.json')} and not (tmp_path / 'r').exists()


def test_a_file_is_replaced_whole_and_a_failed_write_leaves_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / 'report.md'
    write_file(str(path), 'old\n')

    def broken(*_args):
        raise OSError('disk full')
    monkeypatch.setattr(os, 'replace', broken)
    try:
        write_file(str(path), 'new\n')
    except OSError:
        pass
    assert path.read_text(encoding='utf-8') == 'old\n' and os.listdir(tmp_path) == ['report.md']
