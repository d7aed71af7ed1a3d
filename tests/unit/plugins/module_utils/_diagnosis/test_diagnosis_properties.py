# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests: explain() and diagnose() never raise, and well-formed replies round-trip."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import catalog, diagnose, errors, explain
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose_success, identify_server

SETTINGS = settings(max_examples=2000, deadline=None)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(), st.binary(),
    st.sampled_from(sorted(errors.ALL)), st.from_regex(r'\A[0-9]{3}[ -][245]\.[0-9]{1,3}\.[0-9]{1,3} .*\Z'),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.sampled_from(['code', 'enhanced', 'text', 'lines', 'reply', 'name',
                                                                'step', 'error', 'port', 'other']),
                                               children, max_size=6)),
    max_leaves=12,
)


contexts = st.one_of(
    scalars,
    st.dictionaries(st.sampled_from(['authenticated', 'tls', 'port', 'server', 'other']),
                    st.one_of(scalars, st.sampled_from(list(catalog.SERVERS))), max_size=5),
)


def check(result):
    assert isinstance(result, dict)
    assert result['status'] in catalog.STATUSES
    assert result['category'] and result['summary'] and result['causes'] and result['remedy']
    assert isinstance(result['notes'], list)


@SETTINGS
@given(values, scalars, scalars, st.one_of(st.none(), st.booleans()))
def test_explain_never_raises(value, step, port, trusted):
    check(explain(value, step=step, port=port, enhanced_trusted=trusted))


@SETTINGS
@given(scalars, scalars, scalars, scalars, scalars, scalars, st.one_of(st.none(), st.booleans(), st.integers()), contexts)
def test_diagnose_never_raises(step, code, enhanced, error, text, port, trusted, context):
    check(diagnose(step=step, code=code, enhanced=enhanced, error=error, text=text, port=port, enhanced_trusted=trusted,
                   context=context))
    check(diagnose_success(step=step, code=code, enhanced=enhanced, notes=text, context=context))


@SETTINGS
@given(values)
def test_identify_server_never_raises(lines):
    assert identify_server(lines) in catalog.SERVERS + (None,)


@SETTINGS
@given(st.integers(200, 599), st.integers(0, 999), st.integers(0, 999), st.text(alphabet=st.characters(
    blacklist_categories=('Cs', 'Cc', 'Zl', 'Zp')), max_size=40))
def test_reply_lines_round_trip(code, subject, detail, text):
    enhanced_class = {2: 2, 3: 2, 4: 4, 5: 5}[code // 100]
    enhanced = '%d.%d.%d' % (enhanced_class, subject, detail)
    result = explain('%d %s %s' % (code, enhanced, text))
    assert result['code'] == code
    if code // 100 != 3:
        assert result['enhanced'] == enhanced
        expected_status_class = {2: 'ok', 3: 'ok'}.get(code // 100)
        if expected_status_class:
            assert result['status'] == 'ok'
    assert result['category'] != 'unknown'
