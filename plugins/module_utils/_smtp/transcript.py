# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session transcript (``<-`` received, ``->`` sent, ``--`` events) and secret redaction."""

from __future__ import annotations

import base64

MASK = '********'
# A transcript keeps at most this many lines; the rest is counted, not stored.
MAX_TRANSCRIPT_LINES = 5000


class Redactor:
    """Removes secrets (and their base64 forms) from any text that leaves the engine.

    Commands carrying credentials are built with a masked display form in the first place;
    this is the safety net for servers that echo what they received.
    """

    def __init__(self, secrets=()):
        self._secrets = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret):
        if not secret:
            return
        forms = {secret}
        if isinstance(secret, str):
            forms.add(base64.b64encode(secret.encode('utf-8')).decode('ascii'))
        for form in forms:
            if form and form not in self._secrets:
                self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text):
        if not self._secrets or not text:
            return text
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __bool__(self):
        return bool(self._secrets)


class Transcript:
    """Lines as telnet would show them, with secrets masked; at most ``max_lines`` are kept, the rest counted."""

    def __init__(self, redactor=None, max_lines=MAX_TRANSCRIPT_LINES):
        self.lines = []
        self.dropped = 0
        self._redact = redactor if redactor else None
        self._max_lines = max_lines

    def _add(self, prefix, lines):
        room = self._max_lines - len(self.lines)
        if len(lines) > room:
            self.dropped += len(lines) - max(room, 0)
            lines = lines[:max(room, 0)]
        redact = self._redact
        if redact is None:
            self.lines.extend([prefix + line for line in lines])
        else:
            self.lines.extend([redact(prefix + line) for line in lines])

    def sent(self, display):
        self._add('-> ', display.split('\r\n'))

    def sent_lines(self, lines):
        self._add('-> ', lines)

    def received(self, lines):
        self._add('<- ', lines)

    def event(self, text):
        self._add('-- ', (text,))

    def as_list(self):
        if self.dropped:
            return self.lines + [f'-- {self.dropped} more lines not kept']
        return list(self.lines)
