# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The round-trip diagnosis: which entry the facts pick, and that every entry reads whole."""

from __future__ import annotations

import itertools
import string

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._roundtrip import catalog

FACT_NAMES = ('mailbox_ok', 'accepted', 'delivered', 'junk', 'delayed')


@pytest.mark.parametrize('facts, category', [
    ({'mailbox_ok': False, 'accepted': False, 'delivered': False, 'junk': False, 'delayed': False}, 'mailbox_unreachable'),
    ({'mailbox_ok': True, 'accepted': False, 'delivered': False, 'junk': False, 'delayed': False}, 'refused_at_submission'),
    ({'mailbox_ok': True, 'accepted': True, 'delivered': False, 'junk': False, 'delayed': False}, 'not_delivered'),
    ({'mailbox_ok': True, 'accepted': True, 'delivered': True, 'junk': True, 'delayed': False}, 'delivered_to_junk'),
    # Late and in Junk: Junk is the bigger problem, and is named.
    ({'mailbox_ok': True, 'accepted': True, 'delivered': True, 'junk': True, 'delayed': True}, 'delivered_to_junk'),
    ({'mailbox_ok': True, 'accepted': True, 'delivered': True, 'junk': False, 'delayed': True}, 'delayed'),
    ({'mailbox_ok': True, 'accepted': True, 'delivered': True, 'junk': False, 'delayed': False}, 'delivered'),
])
def test_the_first_matching_rule_is_the_diagnosis(facts, category):
    assert catalog.choose(facts) == category


def test_every_combination_of_facts_has_a_diagnosis():
    for values in itertools.product((False, True), repeat=len(FACT_NAMES)):
        assert catalog.choose(dict(zip(FACT_NAMES, values))) in catalog.ENTRIES


def test_every_rule_has_an_entry_and_every_entry_a_rule():
    assert sorted(category for category, _when in catalog.RULES) == sorted(catalog.ENTRIES)
    assert all(set(when) <= set(FACT_NAMES) for _category, when in catalog.RULES)


def test_only_delivered_is_ok_and_every_problem_has_causes():
    for category, entry in catalog.ENTRIES.items():
        assert entry['status'] == 'ok' if category == 'delivered' else entry['status'] != 'ok'
        assert bool(entry['causes']) == (category != 'delivered')
        assert entry['summary'] and entry['remedy']


def test_templates_use_only_the_fields_the_engine_fills():
    engine_fields = {'folder', 'latency_s', 'hop_count', 'mailbox_error', 'server', 'step', 'reply', 'smtp_summary',
                     'timeout', 'queued_as', 'folders', 'max_latency', 'held_by', 'hold_s', 'hop_index', 'hop_by'}
    for entry in catalog.ENTRIES.values():
        for text in (entry['summary'], entry['remedy']):
            fields = {name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name}
            assert fields <= engine_fields


def test_the_delayed_summary_names_the_hop_that_held_it():
    diagnosis = catalog.explain('delayed', {'latency_s': 4.2, 'max_latency': 2.0, 'held_by': 'relay.contoso.com',
                                            'hold_s': 4.0, 'hop_index': 2, 'hop_by': 'mx.fabrikam.com'})
    assert diagnosis['summary'] == ('delivered in 4.2 s, over max_latency 2.0 s; relay.contoso.com held it 4.0 s '
                                    '(hop 2: to mx.fabrikam.com)')
    assert diagnosis['category'] == 'delayed'
    assert diagnosis['status'] == 'delayed'


def test_a_missing_detail_reads_as_a_question_mark_not_an_error():
    assert catalog.explain('not_delivered', {'timeout': 5})['summary'].startswith('not delivered within 5 s: ? accepted')
