# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session transcript (``<-`` received, ``->`` sent, ``--`` events) and secret redaction."""

from __future__ import annotations

import base64

MASK = '********'
# A transcript keeps at most this many lines; the rest is counted, not stored.
MAX_TRANSCRIPT_LINES = 5000


class Redactor(object):
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


class Transcript(object):
    """Lines as telnet would show them, with secrets masked."""

    def __init__(self, redactor=None, max_lines=MAX_TRANSCRIPT_LINES):
        self.lines = []
        self.dropped = 0
        self._redact = redactor or Redactor()
        self._max_lines = max_lines

    def _add(self, line):
        if len(self.lines) < self._max_lines:
            self.lines.append(self._redact(line))
        else:
            self.dropped += 1

    def sent(self, display):
        for line in display.split('\r\n'):
            self._add('-> ' + line)

    def sent_lines(self, lines):
        for line in lines:
            self._add('-> ' + line)

    def received(self, lines):
        for line in lines:
            self._add('<- ' + line)

    def event(self, text):
        self._add('-- ' + text)

    def as_list(self):
        if self.dropped:
            return self.lines + ['-- %d more lines not kept' % self.dropped]
        return list(self.lines)
