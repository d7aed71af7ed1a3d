# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transcript lines and the redaction safety net."""

from __future__ import annotations

import base64

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.transcript import MASK, Redactor, Transcript


def test_lines_are_marked_by_direction():
    transcript = Transcript()
    transcript.received(['220 mx1 ESMTP'])
    transcript.sent('EHLO contoso.test')
    transcript.event('TLS established')
    assert transcript.as_list() == ['<- 220 mx1 ESMTP', '-> EHLO contoso.test', '-- TLS established']


def test_redactor_masks_the_secret_and_its_base64_form():
    redact = Redactor(['Pa55-word'])
    encoded = base64.b64encode(b'Pa55-word').decode()
    assert redact('535 bad Pa55-word') == '535 bad ' + MASK
    assert redact('334 %s' % encoded) == '334 ' + MASK
    assert redact('nothing here') == 'nothing here'


def test_transcript_applies_the_redactor_to_every_line():
    redact = Redactor(['hunter2'])
    transcript = Transcript(redact)
    transcript.received(['501 cannot decode hunter2'])
    transcript.sent('AUTH PLAIN hunter2')
    assert 'hunter2' not in ''.join(transcript.as_list())


def test_transcript_is_bounded():
    transcript = Transcript(max_lines=10)
    transcript.sent_lines(['line %d' % index for index in range(100)])
    lines = transcript.as_list()
    assert len(lines) == 11
    assert lines[-1] == '-- 90 more lines not kept'


def test_empty_redactor_is_falsy_and_passes_text_through():
    redact = Redactor()
    assert not redact
    assert redact('x') == 'x'
