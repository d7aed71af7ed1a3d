# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smtp_explain filter: registered, same answers as the catalog, documented."""

from __future__ import annotations

import yaml

from ansible_collections.mailops.mailflow.plugins.filter import smtp_explain as plugin
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import explain


def test_filter_is_registered():
    filters = plugin.FilterModule().filters()
    assert filters == {'smtp_explain': plugin.smtp_explain}


def test_filter_uses_the_catalog():
    line = '550 5.1.1 <kate@fabrikam.test>: User unknown'
    assert plugin.smtp_explain(line) == explain(line)
    result = plugin.smtp_explain(530, step='mail')
    assert (result['code'], result['category'], result['status']) == (530, 'authentication_required', 'auth')


def test_filter_options():
    step = {'name': 'mail', 'reply': {'code': 530, 'enhanced': '5.7.1', 'text': 'Client was not authenticated'}}
    assert plugin.smtp_explain(step, port=2525)['category'] == 'internal_receive_connector'
    untrusted = plugin.smtp_explain('550 5.7.54 Unable to relay recipient in non-accepted domain', enhanced_trusted=False)
    assert untrusted['category'] == 'mailbox_unavailable'


def test_filter_context_option():
    line = '550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain'
    after_auth = plugin.smtp_explain(line, step='rcpt', context={'authenticated': True, 'port': 587})
    assert after_auth['category'] == 'relay_denied_after_auth'
    assert plugin.smtp_explain(line, step='rcpt')['category'] == 'relay_denied'


def test_filter_never_raises_on_odd_input():
    for value in (None, object(), {'x': 1}, ['x'], 12.5):
        assert plugin.smtp_explain(value)['category'] == 'unknown'


def test_documentation_parses():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['name'] == 'smtp_explain'
    assert doc['positional'] == '_input'
    assert set(doc['options']) == {'_input', 'step', 'port', 'enhanced_trusted', 'context'}
    examples = yaml.safe_load(plugin.EXAMPLES)
    assert all('mailops.mailflow.smtp_explain' in str(task) for task in examples)
    returned = yaml.safe_load(plugin.RETURN)
    assert set(returned['_value']['contains']) >= {'status', 'category', 'summary', 'causes', 'remedy', 'notes'}
