# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DANE TLSA matching (RFC 6698 2.1, RFC 7672 3.1) against fixed certificates.

The expected association data was computed with the openssl CLI when the certificates were made
(`openssl x509 -outform DER | sha256sum`, `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum`),
so the code under test is checked against another implementation, not against itself.
"""

from __future__ import annotations

import base64

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._policy import dane

# EC P-256 leaf for mx1.fabrikam.test, issued by CA below (throwaway; private keys discarded).
LEAF = base64.b64decode(
    'MIIBgjCCASigAwIBAgIBBzAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAx1bml0IHRlc3QgQ0EwHhcNMjYxMjA0MTgxNjMxWhcNMzYxMjAxMTgxNjMx'
    'WjAcMRowGAYDVQQDDBFteDEuZmFicmlrYW0udGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABA+R84hqz7IjMSCHF/rzw2suS5L473QFgDS+'
    'TR2FrXJc2+swTI5AsEPPrDZzWbcf5ROSeKvrK7M8clkxzaUgQMGjYDBeMBwGA1UdEQQVMBOCEW14MS5mYWJyaWthbS50ZXN0MB0GA1UdDgQWBBTm'
    'IhV0BYVHyTWNO/9eGyoXrVV6kjAfBgNVHSMEGDAWgBSLAUaqIfmGqbxmfmBxT4Oxux8KnDAKBggqhkjOPQQDAgNIADBFAiEAyh68xXUbpUeLvhKZ'
    'cT2I7cuS1apuSBgA2kbXu3BwoGkCIBNPzEsCQEjob7qLYkwSljDnS1emZLr4+Meo7WKs2rqo')
CA = base64.b64decode(
    'MIIBgzCCASmgAwIBAgIUWgdXZcZ1jOLKTdAda6pARF/5r7swCgYIKoZIzj0EAwIwFzEVMBMGA1UEAwwMdW5pdCB0ZXN0IENBMB4XDTI2MTIwNDE4'
    'MTYzMVoXDTM2MTIwMTE4MTYzMVowFzEVMBMGA1UEAwwMdW5pdCB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI7mpkGI/3pv5Ehwt'
    'ZE9uFUbMEkhTzrNKFUt6XQJaa1Fy3KPYkZeuAv+7F/6ONcGPlXrvOVuc8TQqZqpTaJd0N6NTMFEwHQYDVR0OBBYEFIsBRqoh+YapvGZ+YHFPg7G7'
    'HwqcMB8GA1UdIwQYMBaAFIsBRqoh+YapvGZ+YHFPg7G7HwqcMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgMFzDjpRVm9JHTDnk'
    '9sRegGRbxjg33FxbWQ0+l9i8rUgCIQDy0WNmLpsrn5p4pC7fjDQ0RuEseZ23sK+qhJJISDhvDg==')
OPENSSL = {
    'leaf': {
        (0, 1): '19790489a6bab8528229cacc83b2cfc0f3b49aaa23eb8f2cee9383da3e3b2da0',
        (0, 2): 'ce69a5bb218912a0e9ac1fb38977e81354dd7f4009b542e98d3bccb5c745cc1485a9533d320651cf77bbb4a9e30852968de62ff'
                'ae3d0d3709af115b7d084e322',
        (1, 0): '3059301306072a8648ce3d020106082a8648ce3d030107034200040f91f3886acfb22331208717faf3c36b2e4b92f8ef74058034'
                'be4d1d85ad725cdbeb304c8e40b043cfac367359b71fe5139278abeb2bb33c725931cda52040c1',
        (1, 1): 'bf708dab05b42c7947f4c35cf2511dbdb6e3ebab85783f83a8d4cbc61a01cf2a',
        (1, 2): '9c3f544810b13924d425ed030d41de3f1e686ced76e11f2440d7b2a9ca300b270c9dd4b6c8250a3c95339d5698fe4c99cad9a0e'
                'abfe8c4ccc7ee85dd9dbe4210',
    },
    'ca': {
        (0, 1): 'd6308fe150077708bd3918a20b5ccdc7aeebf6cf2e0865ab2c98e1ca471a1388',
        (1, 1): 'ab6542d8d68f7fa940593d7634c80be2240a5db09c2dcb076b0344e586ca1865',
    },
}


def tlsa(usage, selector, matching, data):
    return {'usage': usage, 'selector': selector, 'matching_type': matching, 'data': data}


def expected(which, selector, matching):
    if (selector, matching) == (0, 0):
        return (LEAF if which == 'leaf' else CA).hex()
    return OPENSSL[which][(selector, matching)]


@pytest.mark.parametrize('selector, matching', [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_association_data_equals_openssl(selector, matching):
    assert dane.association_data(LEAF, selector, matching) == expected('leaf', selector, matching)


@pytest.mark.parametrize('selector, matching', [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_dane_ee_matches_the_leaf_for_every_selector_and_matching_type(selector, matching):
    record = tlsa(3, selector, matching, expected('leaf', selector, matching))
    result = dane.match_tlsa([record], LEAF)
    assert result['outcome'] == 'match'
    assert result['matched'].startswith('3 %d %d ' % (selector, matching))


def test_dane_ee_is_case_insensitive_on_the_hex_data():
    assert dane.match_tlsa([tlsa(3, 1, 1, OPENSSL['leaf'][(1, 1)].upper())], LEAF)['outcome'] == 'match'


def test_no_match_lists_what_was_tried():
    records = [tlsa(3, 1, 1, OPENSSL['ca'][(1, 1)]), tlsa(3, 0, 1, OPENSSL['ca'][(0, 1)])]
    result = dane.match_tlsa(records, LEAF)
    assert result['outcome'] == 'no_match'
    assert result['matched'] is None
    assert len(result['tried']) == 2
    assert result['tried'][0].startswith('3 1 1 (DANE-EE SPKI SHA2-256) ab6542d8d68f7fa9')


def test_the_ca_key_does_not_match_as_dane_ee():
    assert dane.match_tlsa([tlsa(3, 1, 1, OPENSSL['ca'][(1, 1)])], LEAF)['outcome'] == 'no_match'


def test_a_later_record_can_match():
    records = [tlsa(3, 1, 1, '00' * 32), tlsa(3, 1, 1, OPENSSL['leaf'][(1, 1)])]
    result = dane.match_tlsa(records, LEAF)
    assert result['outcome'] == 'match' and result['tried'] == [dane.describe(record) for record in records]


@pytest.mark.parametrize('selector, matching', [(0, 1), (1, 1)])
def test_dane_ta_matches_a_certificate_of_the_chain_above_the_leaf(selector, matching):
    record = tlsa(2, selector, matching, OPENSSL['ca'][(selector, matching)])
    assert dane.match_tlsa([record], LEAF, [LEAF, CA])['outcome'] == 'match'


def test_dane_ta_does_not_match_the_leaf_itself():
    record = tlsa(2, 1, 1, OPENSSL['leaf'][(1, 1)])
    assert dane.match_tlsa([record], LEAF, [LEAF, CA])['outcome'] == 'no_match'


def test_dane_ta_without_the_chain_is_not_guessed():
    records = [tlsa(2, 1, 1, OPENSSL['ca'][(1, 1)]), tlsa(3, 1, 1, '00' * 32)]
    result = dane.match_tlsa(records, LEAF, None)
    assert result['outcome'] == 'chain_unavailable'
    assert result['untried'] == [dane.describe(records[0])]
    assert result['tried'] == [dane.describe(records[1])]
    assert result['note']


def test_dane_ee_match_decides_even_without_the_chain():
    records = [tlsa(2, 1, 1, OPENSSL['ca'][(1, 1)]), tlsa(3, 1, 1, OPENSSL['leaf'][(1, 1)])]
    assert dane.match_tlsa(records, LEAF, None)['outcome'] == 'match'


def test_pkix_usages_are_skipped_as_unusable_for_smtp():
    records = [tlsa(1, 1, 1, OPENSSL['leaf'][(1, 1)]), tlsa(0, 1, 1, OPENSSL['ca'][(1, 1)])]
    result = dane.match_tlsa(records, LEAF)
    assert result['outcome'] == 'unusable'
    assert len(result['skipped']) == 2 and result['skipped'][0].startswith('1 1 1 (PKIX-EE SPKI SHA2-256)')


def test_unknown_matching_type_is_skipped():
    result = dane.match_tlsa([tlsa(3, 1, 9, 'ab'), tlsa(3, 1, 1, OPENSSL['leaf'][(1, 1)])], LEAF)
    assert result['outcome'] == 'match' and len(result['skipped']) == 1


def test_chain_support_says_which_python():
    supported, why = dane.chain_support()
    assert supported or 'Python %d.%d' % __import__('sys').version_info[:2] in why


def test_spki_of_a_truncated_certificate_raises():
    with pytest.raises(ValueError):
        dane.spki_der(LEAF[:100])
