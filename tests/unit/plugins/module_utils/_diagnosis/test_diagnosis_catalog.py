# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog's shape and coverage: every entry complete, every required code and condition present."""

from __future__ import annotations

import re

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import catalog, classifier, errors
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose

SLUG = re.compile(r'^[a-z][a-z0-9_]*$')
ALL_ENTRIES = [(kind, entry) for kind, entries in catalog.KINDS for entry in entries]
ALL_ENTRIES += [('success', entry) for entry in catalog.SUCCESS] + [('unknown', catalog.UNKNOWN)]
# Kinds whose status may be left to the reply class (None): class-agnostic RFC 3463 rows and vendor codes used with
# both 4xx and 5xx replies.
CLASS_DECIDES = ('rfc3463', 'rfc3463_subject', 'vendor')

RFC5321_CODES = (211, 214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452, 455,
                 500, 501, 502, 503, 504, 550, 551, 552, 553, 554, 555)
RFC3463_REGISTRY = (
    ['0.0'] + ['1.%d' % n for n in range(0, 11)] + ['2.%d' % n for n in range(0, 5)]
    + ['3.%d' % n for n in range(0, 7)] + ['4.%d' % n for n in range(0, 8)] + ['5.%d' % n for n in range(0, 7)]
    + ['6.%d' % n for n in range(0, 11)] + ['7.%d' % n for n in range(0, 31)]
)


@pytest.mark.parametrize('kind,entry', ALL_ENTRIES, ids=lambda value: value if isinstance(value, str) else '')
def test_entry_is_complete(kind, entry):
    assert SLUG.match(entry['category']), entry['category']
    assert isinstance(entry['summary'], str) and entry['summary'].strip()
    assert isinstance(entry['remedy'], str) and entry['remedy'].strip()
    assert isinstance(entry['causes'], tuple) and entry['causes']
    assert all(isinstance(cause, str) and cause.strip() for cause in entry['causes'])
    assert isinstance(entry.get('references', ()), tuple)
    if entry['status'] is None:
        assert kind in CLASS_DECIDES, 'only class-agnostic entries may leave the status to the reply class'
        assert 'error' not in entry['match']
    else:
        assert entry['status'] in catalog.STATUSES
    if entry.get('vendor') is not None:
        assert entry['vendor'] in catalog.VENDORS
    for pattern in (entry['match'].get('text'),):
        if pattern is not None:
            re.compile(pattern)


def test_every_error_name_has_an_entry():
    for name in sorted(errors.ALL):
        result = diagnose(error=name)
        assert result['matched_by'] == 'error', name
        assert result['category'] != 'unknown', name
        assert result['status'] in catalog.STATUSES, name
        assert result['causes'] and result['remedy']


def test_error_entries_name_real_conditions():
    names = set(entry['match']['error'] for entry in catalog.TRANSPORT)
    assert names <= errors.ALL
    assert names == errors.ALL


# Vendors the catalog has covered in depth from the start; the others get what their documentation, source or the lab
# shows, each entry naming it.
MAJOR_VENDORS = ('exchange', 'exchange_online', 'postfix', 'gmail')


def test_vendor_entries_at_least_forty():
    tagged = [entry for kind, entry in ALL_ENTRIES if entry.get('vendor') in catalog.VENDORS]
    assert len(tagged) >= 40
    per_vendor = dict((vendor, sum(1 for entry in tagged if entry['vendor'] == vendor)) for vendor in catalog.VENDORS)
    assert all(per_vendor[vendor] >= 8 for vendor in MAJOR_VENDORS), per_vendor
    assert all(count >= 2 for count in per_vendor.values()), per_vendor
    assert classifier.CATALOG_STATS['by_kind']['vendor'] == len(catalog.VENDOR)


def test_every_vendor_entry_names_its_source():
    for _kind, entry in ALL_ENTRIES:
        if entry.get('vendor') is not None:
            assert entry.get('references'), entry['match']
    for row in catalog.SERVER_SIGNATURES:
        assert row['vendor'] in catalog.SERVERS and row['source'].strip()
        re.compile(row['pattern'])
    assert set(row['vendor'] for row in catalog.SERVER_SIGNATURES) == set(catalog.SERVERS)


def test_when_conditions_name_context_keys():
    for _kind, entry in ALL_ENTRIES:
        assert set(entry.get('when') or {}) <= set(catalog.CONTEXT_KEYS), entry['match']
    for row in catalog.CONTEXT_NOTES:
        assert set(row['when']) <= set(catalog.CONTEXT_KEYS) and row['note'].strip()
    with pytest.raises(ValueError):
        classifier._conditions({'match': {}, 'when': {'authentificated': True}})


@pytest.mark.parametrize('code', RFC5321_CODES)
def test_every_rfc5321_code_has_its_own_entry(code):
    result = diagnose(code=code)
    assert result['matched_by'] == 'code'
    assert any(ref.startswith('RFC 5321 4.2') for ref in result['references'])


@pytest.mark.parametrize('subject_detail', RFC3463_REGISTRY)
def test_every_registered_enhanced_code_is_in_the_catalog(subject_detail):
    registered = set(entry['match']['enhanced'] for entry in catalog.RFC3463)
    assert 'X.' + subject_detail in registered
    result = diagnose(enhanced='5.' + subject_detail)
    assert result['matched_by'] == 'enhanced_any_class'


def test_subjects_and_classes_complete():
    assert sorted(entry['match']['subject'] for entry in catalog.RFC3463_SUBJECTS) == list(range(0, 8))
    assert sorted(entry['match']['code_class'] for entry in catalog.CLASSES) == [2, 3, 4, 5]
    assert sorted(catalog.SECOND_DIGIT) == [0, 1, 2, 3, 4, 5]


def test_no_entry_is_shadowed():
    """Within one lookup key, at most one entry may lack a tie-breaker: a second one could never be reached."""
    for tier, tier_index in classifier._INDEX.items():
        for key, candidates in tier_index.items():
            plain = [c for c in candidates if c['text'] is None and not c['when']]
            assert len(plain) <= 1, (tier, key, [c['category'] for c in plain])
            constraints = [-c['rank'][0] for c in candidates]
            assert constraints == sorted(constraints, reverse=True), (tier, key)


def test_ranges_are_expanded():
    assert diagnose(code=550, enhanced='5.7.606')['category'] == 'banned_sending_ip'
    assert diagnose(code=550, enhanced='5.7.649')['category'] == 'banned_sending_ip'
    assert diagnose(code=550, enhanced='5.7.650')['category'] != 'banned_sending_ip'
    assert diagnose(code=550, enhanced='5.7.605')['category'] != 'banned_sending_ip'


def test_unindexable_match_is_refused():
    with pytest.raises(ValueError):
        classifier._keys({'text': 'x'})
    with pytest.raises(ValueError):
        classifier._keys({})


def test_stats_add_up():
    stats = classifier.CATALOG_STATS
    assert stats['total'] == sum(len(entries) for _kind, entries in catalog.KINDS) + len(catalog.SUCCESS)
    assert sum(stats['by_vendor'].values()) >= 40
