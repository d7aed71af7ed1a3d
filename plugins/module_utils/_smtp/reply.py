# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SMTP reply parsing with hard limits (RFC 5321 4.2, enhanced codes per RFC 3463/2034).

The parser never holds more than ``max_reply_bytes`` plus one receive buffer in memory,
whatever the server sends.
"""

from __future__ import annotations

import re

from .._diagnosis import errors

# RFC 5321 allows 512 octets per reply line; real servers exceed it, so be lenient.
DEFAULT_MAX_LINE = 4096
DEFAULT_MAX_LINES = 500
DEFAULT_MAX_REPLY_BYTES = 64 * 1024
RECV_SIZE = 16384

_DIGITS = frozenset(b'0123456789')
_FIRST_DIGITS = frozenset(b'2345')
_CR = 0x0d
# class.subject.detail at the start of the text, followed by white space or the end.
_ENHANCED_RE = re.compile(r'([245])\.(\d{1,3})\.(\d{1,3})(?=[ \t]|$)')
# A whole well-formed reply at the start of the buffer: every line CRLF-terminated, one code throughout.
# Anything else (bare LF, stray CR, a changing code, an incomplete reply) goes to the line-by-line reader.
_WHOLE_REPLY_RE = re.compile(rb'([2-5][0-9][0-9])(?:-[^\r\n]*\r\n\1)*(?: [^\r\n]*)?\r\n')


class ReplyLimits:
    """How much a single reply may hold before reading stops."""

    __slots__ = ('max_line', 'max_lines', 'max_bytes')

    def __init__(self, max_line=DEFAULT_MAX_LINE, max_lines=DEFAULT_MAX_LINES, max_bytes=DEFAULT_MAX_REPLY_BYTES):
        self.max_line = max_line
        self.max_lines = max_lines
        self.max_bytes = max_bytes


class ReplyError(Exception):
    """A reply could not be read: ``condition`` is a name from ``_diagnosis.errors``.

    ``lines`` holds what was read of the reply before the problem (bounded).
    """

    def __init__(self, condition, message, lines=None, code=None):
        super().__init__(message)
        self.condition = condition
        self.message = message
        self.lines = list(lines or [])
        self.code = code


class Reply:
    """One complete SMTP reply.

    The code and lines are set when the reply is read; the texts and the enhanced code are worked
    out on first use, so deciding the next command needs nothing but the code.
    """

    __slots__ = ('code', 'lines', 'bare_lf', 'size', '_texts', '_enhanced')

    def __init__(self, code, lines, bare_lf, size):
        self.code = code
        self.lines = lines
        self.bare_lf = bare_lf
        self.size = size
        self._texts = None
        self._enhanced = None

    def _split(self):
        texts = [line[4:] for line in self.lines]
        enhanced = None
        first = texts[0]
        if first[:1] in ('2', '4', '5'):
            enhanced, texts[0] = split_enhanced(first)
        if enhanced is not None and len(texts) > 1:
            size_enhanced = len(enhanced)
            texts[1:] = [text[size_enhanced:].lstrip(' \t') if text.startswith(enhanced) else text for text in texts[1:]]
        self._enhanced = enhanced
        self._texts = texts

    @property
    def texts(self):
        """Each line's text without the code (and without the enhanced code where it repeats)."""
        if self._texts is None:
            self._split()
        return self._texts

    @property
    def enhanced(self):
        """The enhanced status code (x.y.z) at the start of the text, or None."""
        if self._texts is None:
            self._split()
        return self._enhanced

    @property
    def enhanced_class_matches(self):
        enhanced = self.enhanced
        return enhanced is not None and int(enhanced[0]) == self.code // 100

    @property
    def text(self):
        """The reply text without codes, lines joined by newlines."""
        return '\n'.join(self.texts)

    @property
    def klass(self):
        return self.code // 100

    def enhanced_trusted(self, server_offers_enhanced):
        """RFC 2034: trust the enhanced code when advertised, or when its class agrees with the reply code."""
        if self.enhanced is None:
            return False
        return bool(server_offers_enhanced) or self.enhanced_class_matches

    def as_dict(self, server_offers_enhanced=False):
        return {
            'code': self.code,
            'enhanced': self.enhanced if self.enhanced_trusted(server_offers_enhanced) else None,
            'lines': list(self.lines),
            'text': self.text,
        }


def _decode(raw):
    return raw.decode('utf-8', 'replace')


def split_enhanced(text):
    """Return (enhanced code or None, the text after it) for one reply line's text."""
    match = _ENHANCED_RE.match(text)
    if match is None:
        return None, text
    return match.group(0), text[match.end():].lstrip(' \t')


def _valid_code(head):
    return len(head) == 3 and head[0] in _FIRST_DIGITS and head[1] in _DIGITS and head[2] in _DIGITS


def _check_line(raw, code_bytes, lines):
    """Validate one raw line against the reply so far; return (its code bytes, whether it ends the reply)."""
    head = raw[:3]
    if head != code_bytes:
        if not _valid_code(head):
            raise ReplyError(errors.REPLY_MALFORMED, f'invalid reply code in line {_decode(raw[:64])!r}', lines,
                             int(code_bytes) if code_bytes else None)
        if code_bytes is not None:
            raise ReplyError(errors.REPLY_MALFORMED, f'reply code changed from {code_bytes.decode()} to {head.decode()} in a multi-line reply',
                             lines, int(code_bytes))
    separator = raw[3:4]
    if separator == b'-':
        return head, False
    if separator == b' ' or not separator:
        return head, True
    raise ReplyError(errors.REPLY_MALFORMED, f'invalid separator after the reply code in line {_decode(raw[:64])!r}', lines, int(head))


def _build_reply(code, raw_lines, bare_lf, size):
    # One decode for the whole reply: line breaks were removed, so splitting again is exact.
    return Reply(code, b'\n'.join(raw_lines).decode('utf-8', 'replace').split('\n'), bare_lf, size)


def parse_reply_lines(raw_lines, bare_lf=False):
    """Build a Reply from complete raw lines (bytes, without line ends).

    Raises ReplyError(REPLY_MALFORMED) for an invalid code or a code that changes mid reply.
    Used by tests and fuzzers; the reader validates line by line as bytes arrive.
    """
    if not raw_lines:
        raise ReplyError(errors.REPLY_MALFORMED, 'empty reply')
    code_bytes = None
    last = len(raw_lines) - 1
    for index, raw in enumerate(raw_lines):
        code_bytes, is_last = _check_line(raw, code_bytes, None)
        if is_last != (index == last):
            raise ReplyError(errors.REPLY_MALFORMED, 'continuation marks do not match the reply end', None, int(code_bytes))
    return _build_reply(int(code_bytes), raw_lines, bare_lf, sum(len(raw) + 2 for raw in raw_lines))


class ReplyReader:
    """Reads replies from a byte source, keeping leftover bytes for the next reply (pipelining).

    ``recv(size)`` returns bytes, or b'' at end of stream; timeouts are its business (the
    connection raises TransportError).
    """

    def __init__(self, recv, limits=None):
        self._recv = recv
        self._buffer = bytearray()
        self.limits = limits or ReplyLimits()
        # Above this size, or past the first newline of a reply the pattern cannot take whole, the
        # line-by-line reader takes over.
        self._whole_max = min(self.limits.max_line, self.limits.max_bytes)

    @property
    def pending(self):
        """Bytes received but not yet consumed by a reply."""
        return len(self._buffer)

    def discard_pending(self):
        data = bytes(self._buffer[:256])
        del self._buffer[:]
        return data

    def read_reply(self):
        """Read one complete reply; raise ReplyError on a limit, bad syntax or end of stream."""
        buffer = self._buffer
        # A small, well-formed reply usually arrives whole: match it in one step. The first newline
        # of anything else hands over to the line-by-line reader, which checks every limit.
        slow_at = self._whole_max
        while True:
            if buffer:
                match = _WHOLE_REPLY_RE.match(buffer)
                if match is not None:
                    end = match.end()
                    if end <= slow_at and buffer.count(b'\n', 0, end) <= self.limits.max_lines:
                        code = int(match.group(1))
                        lines = buffer[:end - 2].decode('utf-8', 'replace').split('\r\n')
                        del buffer[:end]
                        return Reply(code, lines, False, end)
                if b'\n' in buffer or len(buffer) > slow_at:
                    return self._read_lines()
            chunk = self._recv(RECV_SIZE)
            if not chunk:
                partial = len(buffer)
                self._drop(partial)
                raise ReplyError(errors.CONNECTION_CLOSED, 'the server closed the connection in the middle of a reply'
                                 if partial else 'the server closed the connection', [], None)
            buffer += chunk

    def _read_lines(self):
        """Read one reply line by line, checking each line and every limit as bytes arrive."""
        limits = self.limits
        buffer = self._buffer
        raw_lines = []
        code = None
        code_bytes = None
        consumed = 0
        scan_from = 0
        bare_lf = False
        while True:
            newline = buffer.find(b'\n', consumed + scan_from)
            if newline < 0:
                partial = len(buffer) - consumed
                # A line right at the limit may have its CR in this chunk and its LF in the next.
                if partial > limits.max_line + 1 or (partial > limits.max_line and buffer[-1] != _CR):
                    self._drop(len(buffer))
                    raise ReplyError(errors.REPLY_LINE_TOO_LONG, f'a reply line exceeded {limits.max_line} bytes', self._decoded(raw_lines), code)
                if len(buffer) > limits.max_bytes:
                    self._drop(len(buffer))
                    raise ReplyError(errors.REPLY_TOO_LARGE, f'the reply exceeded {limits.max_bytes} bytes', self._decoded(raw_lines), code)
                scan_from = partial
                chunk = self._recv(RECV_SIZE)
                if not chunk:
                    self._drop(len(buffer))
                    if raw_lines or partial:
                        message = 'the server closed the connection in the middle of a reply'
                    else:
                        message = 'the server closed the connection'
                    raise ReplyError(errors.CONNECTION_CLOSED, message, self._decoded(raw_lines), code)
                buffer += chunk
                continue
            scan_from = 0
            end = newline
            if end > consumed and buffer[end - 1] == _CR:
                end -= 1
            else:
                bare_lf = True
            if end - consumed > limits.max_line:
                self._drop(newline + 1)
                raise ReplyError(errors.REPLY_LINE_TOO_LONG, f'a reply line exceeded {limits.max_line} bytes', self._decoded(raw_lines), code)
            raw = bytes(buffer[consumed:end])
            try:
                code_bytes, is_last = _check_line(raw, code_bytes, None)
            except ReplyError as exc:
                self._drop(newline + 1)
                exc.lines = self._decoded(raw_lines)
                raise
            consumed = newline + 1
            raw_lines.append(raw)
            if consumed > limits.max_bytes:
                self._drop(consumed)
                raise ReplyError(errors.REPLY_TOO_LARGE, f'the reply exceeded {limits.max_bytes} bytes', self._decoded(raw_lines), code)
            if is_last:
                del buffer[:consumed]
                return _build_reply(int(code_bytes), raw_lines, bare_lf, consumed)
            code = int(code_bytes) if code is None else code
            if len(raw_lines) >= limits.max_lines:
                self._drop(consumed)
                raise ReplyError(errors.REPLY_TOO_MANY_LINES, f'the reply exceeded {limits.max_lines} lines', self._decoded(raw_lines), code)

    def _drop(self, count):
        del self._buffer[:count]

    @staticmethod
    def _decoded(raw_lines):
        # Bounded sample for the transcript: the first lines only.
        return [_decode(raw[:512]) for raw in raw_lines[:20]]
