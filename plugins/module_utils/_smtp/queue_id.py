# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Queue identifiers in the final reply to DATA, as data: the first pattern that matches wins."""

from __future__ import annotations

import re

QUEUE_ID_PATTERNS = tuple(re.compile(pattern, re.IGNORECASE) for pattern in (
    # Exchange: `<id@host> [InternalId=..., Hostname=...] Queued mail for delivery`
    r'<([^<>\s]+)>\s*\[InternalId=',
    # Postfix: `Ok: queued as D50CD160033`; also many others say `queued as`
    r'\bqueued as\s+<?([^\s<>,;]+?)>?(?:[\s,;]|$)',
    # Exim: `OK id=1tAbCd-000123-Xy`
    r'\bid=<?([^\s<>,;]+?)>?(?:[\s,;]|$)',
    # Gmail: `OK  1700000000 a1b2c3si4567abc.12 - gsmtp`
    r'\bOK\s+\d+\s+(\S+)\s+-\s+gsmtp\b',
    # Sendmail: `4ABCDE123456 Message accepted for delivery`
    r'^([0-9A-Za-z]{6,})\s+Message accepted for delivery',
    # qmail: `ok 1700000000 qp 12345`
    r'\bok\s+(\d+\s+qp\s+\d+)',
    # Exchange without brackets, and other `<id> ... queued` forms
    r'^<([^<>\s]+)>.*\bqueued\b',
))


def extract_queue_id(text, patterns=QUEUE_ID_PATTERNS):
    """The queue identifier the server named in ``text`` (reply text without codes), or None."""
    if not text:
        return None
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None
