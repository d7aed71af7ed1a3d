# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report and baseline filters: registered, documented, thin, and errors become AnsibleFilterError."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.mailflow.plugins.filter import mailflow_report as plugin
from ansible_collections.mailops.mailflow.plugins.plugin_utils import _report

FILTER_DIR = os.path.dirname(plugin.__file__)
FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'plugin_utils', 'fixtures', 'lab_facts.json')
NAMES = ['report_checks', 'report_summary', 'report_matrix', 'report_document', 'report_markdown', 'report_junit',
         'report_html', 'baseline_snapshot', 'baseline_diff', 'baseline_markdown']


def facts_by_host():
    with open(FIXTURE, encoding='utf-8') as handle:
        facts = json.load(handle)['mailflow']
    return {'edge1': facts, 'edge2': facts}


def test_every_filter_is_registered_and_documented():
    filters = plugin.FilterModule().filters()
    assert sorted(filters) == sorted(NAMES)
    for name in NAMES:
        with open(os.path.join(FILTER_DIR, name + '.yml'), encoding='utf-8') as handle:
            docs = yaml.safe_load(handle)
        assert docs['DOCUMENTATION']['name'] == name
        assert set(docs) == {'DOCUMENTATION', 'EXAMPLES', 'RETURN'}
        assert filters[name].__name__ == name


def test_filters_chain_like_the_roles_use_them():
    facts = facts_by_host()
    checks = plugin.report_checks(facts, hosts=['edge1', 'edge2'])
    assert plugin.report_summary(checks)['verdict'] == 'failed'
    assert plugin.report_matrix(checks)['hosts'] == ['edge1', 'edge2']
    assert plugin.report_document(checks, title='x')['title'] == 'x'
    assert plugin.report_markdown(checks).startswith('# Mail flow report')
    assert ET.fromstring(plugin.report_junit(checks).encode('utf-8')).get('tests') == str(len(checks))
    assert plugin.report_html(checks).startswith('<!DOCTYPE html>')
    saved = plugin.baseline_snapshot(facts)
    diff = plugin.baseline_diff(json.loads(json.dumps(saved)), plugin.baseline_snapshot(facts))
    assert diff['verdict'] == 'ok'
    assert 'Nothing changed.' in plugin.baseline_markdown(diff)


def test_errors_become_filter_errors(monkeypatch):
    with pytest.raises(AnsibleFilterError, match='report_checks: invalid jmespath'):
        plugin.report_checks(facts_by_host(), select='[?')
    with pytest.raises(AnsibleFilterError, match='baseline_diff: the baseline file is not a mailops.mailflow baseline'):
        plugin.baseline_diff({}, plugin.baseline_snapshot(facts_by_host()))
    monkeypatch.setattr(_report, 'jmespath', None)
    with pytest.raises(AnsibleFilterError, match='jmespath'):
        plugin.report_summary([])
