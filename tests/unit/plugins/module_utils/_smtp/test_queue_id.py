# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""queued_as from the final reply to the message."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.queue_id import extract_queue_id


@pytest.mark.parametrize('text, queue_id', [
    ('Ok: queued as D50CD160033', 'D50CD160033'),
    ('<a1b2c3d4@mail1.fabrikam.com> [InternalId=12345, Hostname=MAIL1.fabrikam.com] Queued mail for delivery',
     'a1b2c3d4@mail1.fabrikam.com'),
    ('<a1b2c3d4@mail1.fabrikam.com> Queued mail for delivery', 'a1b2c3d4@mail1.fabrikam.com'),
    ('OK id=1tAbCd-000123-Xy', '1tAbCd-000123-Xy'),
    ('OK  1700000000 a1b2c3si4567abc.12 - gsmtp', 'a1b2c3si4567abc.12'),
    ('4ABCDE123456 Message accepted for delivery', '4ABCDE123456'),
    ('ok 1700000000 qp 12345', '1700000000 qp 12345'),
    ('Message queued as <ABC123>', 'ABC123'),
    ('OK', None),
    ('', None),
    (None, None),
])
def test_extract_queue_id(text, queue_id):
    assert extract_queue_id(text) == queue_id
