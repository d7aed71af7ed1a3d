# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The policy checks' entries (MTA-STS, TLS-RPT, DANE; SPF, DMARC, egress, smuggling) are kinds of the one catalog:
reachable through diagnose() and explain() and the smtp_explain filter, each condition once."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.filter.smtp_explain import FilterModule
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import catalog, classifier, diagnose, explain
from ansible_collections.mailops.mailflow.plugins.module_utils._policy import catalog as policy_catalog
from ansible_collections.mailops.mailflow.plugins.module_utils._policy import sender_catalog
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.common import policy_diagnosis

POLICY_CONDITIONS = [entry['match']['error'] for entry in policy_catalog.POLICY]
SENDER_CONDITIONS = [entry['match']['error'] for entry in sender_catalog.SENDER]


def test_policy_and_sender_are_kinds_of_the_catalog_without_copies():
    kinds = dict(catalog.KINDS)
    assert kinds['policy'] is policy_catalog.POLICY
    assert kinds['sender'] is sender_catalog.SENDER
    assert classifier.CATALOG_STATS['by_kind']['policy'] == len(policy_catalog.POLICY)
    assert classifier.CATALOG_STATS['by_kind']['sender'] == len(sender_catalog.SENDER)
    # one entry per policy condition, and none of them is a condition of another kind: nothing duplicated or shadowed
    names = POLICY_CONDITIONS + SENDER_CONDITIONS
    assert len(names) == len(set(names))
    others = set(entry['match'].get('error') for kind, entries in catalog.KINDS if kind not in ('policy', 'sender')
                 for entry in entries)
    assert not others & set(names)
    assert set(POLICY_CONDITIONS + SENDER_CONDITIONS) <= classifier.CONDITIONS


@pytest.mark.parametrize('condition', POLICY_CONDITIONS + SENDER_CONDITIONS)
def test_each_condition_is_explained_by_the_classifier(condition):
    result = diagnose(error=condition)
    assert result['matched_by'] == 'error' and result['error'] == condition
    assert result['category'] != 'unknown' and result['causes'] and result['remedy']
    assert result['status'] in catalog.STATUSES
    # a pasted condition name, as smtp_explain takes it
    pasted = explain(condition)
    assert (pasted['category'], pasted['summary']) == (result['category'], result['summary'])


def test_smtp_explain_filter_answers_for_policy_conditions():
    smtp_explain = FilterModule().filters()['smtp_explain']
    dane = smtp_explain('dane_no_match')
    assert dane['category'] == 'dane' and dane['status'] == 'tls'
    assert any(reference.startswith('RFC 7672') for reference in dane['references'])
    smuggling = smtp_explain('smuggling_exposed')
    assert smuggling['category'] == 'smtp_smuggling' and 'CVE-2023-51764' in smuggling['references']
    assert smtp_explain('mta_sts_nonexistent_condition')['category'] == 'unknown'


def test_the_checks_build_their_diagnoses_through_the_classifier():
    result = policy_diagnosis('mta_sts_testing', 'mta_sts', notes=['mx2 would fail', None])
    assert result == dict(diagnose(step='mta_sts', error='mta_sts_testing'),
                          notes=['mx2 would fail'])
    assert result['step'] == 'mta_sts' and result['matched_by'] == 'error'
    sender = sender_catalog.sender_diagnosis('egress_no_ptr', 'egress', detail='no PTR', notes=['n'])
    assert sender['detail'] == 'no PTR' and sender['notes'] == ['n'] and sender['category'] == 'egress_identity'
    with pytest.raises(KeyError):
        policy_diagnosis('no_such_condition', 'mta_sts')
    with pytest.raises(KeyError):
        sender_catalog.sender_diagnosis('no_such_condition', 'spf')
