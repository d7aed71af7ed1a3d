# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reply parser: multi-line replies, enhanced codes and their trust, limits, malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.reply import (
    RECV_SIZE, ReplyError, ReplyLimits, ReplyReader, parse_reply_lines, split_enhanced)


def reader_for(data, chunk=None, limits=None):
    """A reader over ``data`` delivered in ``chunk``-byte pieces; counts the bytes handed out."""
    state = {'pos': 0, 'calls': 0}

    def recv(size):
        state['calls'] += 1
        step = min(size, chunk or size)
        piece = data[state['pos']:state['pos'] + step]
        state['pos'] += len(piece)
        return piece

    return ReplyReader(recv, limits), state


def test_single_line_reply():
    reader, _state = reader_for(b'250 2.1.5 Recipient OK\r\n')
    reply = reader.read_reply()
    assert reply.code == 250
    assert reply.enhanced == '2.1.5'
    assert reply.lines == ['250 2.1.5 Recipient OK']
    assert reply.text == 'Recipient OK'
    assert reply.bare_lf is False


def test_multi_line_ehlo_reply_from_the_guide():
    data = (b'250-mail1.fabrikam.com Hello [172.16.0.5]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-DSN\r\n'
            b'250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-X-ANONYMOUSTLS\r\n250-AUTH NTLM\r\n250-X-EXPS GSSAPI NTLM\r\n'
            b'250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 XRDST\r\n')
    reader, _state = reader_for(data, chunk=7)
    reply = reader.read_reply()
    assert reply.code == 250
    assert len(reply.lines) == 13
    assert reply.texts[0] == 'mail1.fabrikam.com Hello [172.16.0.5]'
    assert reply.texts[-1] == 'XRDST'
    assert reply.enhanced is None
    assert reader.pending == 0


def test_pipelined_replies_stay_in_the_buffer_for_the_next_read():
    reader, state = reader_for(b'250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <x@y.test>: User unknown\r\n354 Go ahead\r\n')
    codes = [reader.read_reply().code for _index in range(4)]
    assert codes == [250, 250, 550, 354]
    assert state['calls'] == 1


def test_multi_line_error_strips_the_enhanced_code_on_every_line():
    reader, _state = reader_for(b'550-5.7.1 Relaying denied.\r\n550 5.7.1 See the policy page.\r\n')
    reply = reader.read_reply()
    assert reply.enhanced == '5.7.1'
    assert reply.texts == ['Relaying denied.', 'See the policy page.']


@pytest.mark.parametrize('line, enhanced, rest', [
    ('5.1.1 User unknown', '5.1.1', 'User unknown'),
    ('2.6.0 <id@host> Queued mail for delivery', '2.6.0', '<id@host> Queued mail for delivery'),
    ('4.7.0', '4.7.0', ''),
    ('5.1.1234 nope', None, '5.1.1234 nope'),
    ('3.1.1 not a class', None, '3.1.1 not a class'),
    ('5.1.1.2 version-like', None, '5.1.1.2 version-like'),
    ('Ok: queued as D50CD160033', None, 'Ok: queued as D50CD160033'),
])
def test_split_enhanced(line, enhanced, rest):
    assert split_enhanced(line) == (enhanced, rest)


@pytest.mark.parametrize('data, offered, trusted', [
    (b'550 5.1.1 User unknown\r\n', False, True),     # class matches the code
    (b'550 2.1.1 odd\r\n', False, False),             # class disagrees, not offered
    (b'550 2.1.1 odd\r\n', True, True),               # the server offered ENHANCEDSTATUSCODES
    (b'250 Ok\r\n', True, False),                     # no enhanced code at all
])
def test_enhanced_code_trust(data, offered, trusted):
    reader, _state = reader_for(data)
    reply = reader.read_reply()
    assert reply.enhanced_trusted(offered) is trusted
    assert reply.as_dict(offered)['enhanced'] == (reply.enhanced if trusted else None)


def test_bare_lf_is_tolerated_and_noted():
    reader, _state = reader_for(b'250-mx1\n250 SIZE 1000\n')
    reply = reader.read_reply()
    assert reply.code == 250
    assert reply.lines == ['250-mx1', '250 SIZE 1000']
    assert reply.bare_lf is True


def test_code_without_text_is_valid():
    reader, _state = reader_for(b'250\r\n')
    assert reader.read_reply().code == 250


@pytest.mark.parametrize('data', [
    b'2x0 nope\r\n',
    b'99 short\r\n',
    b'\r\n',
    b'600 not smtp\r\n',
    b'150 not smtp\r\n',
    b'250_bad separator\r\n',
    b'HTTP/1.1 400 Bad Request\r\n',
    b'SSH-2.0-OpenSSH_9.2\r\n',
])
def test_invalid_codes_are_malformed(data):
    reader, _state = reader_for(data)
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.REPLY_MALFORMED


def test_code_change_mid_reply_is_malformed_and_stops_at_once():
    reader, state = reader_for(b'250-first\r\n451 second\r\n' + b'250-more\r\n' * 1000, chunk=24)
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.REPLY_MALFORMED
    assert 'changed from 250 to 451' in caught.value.message
    assert caught.value.lines == ['250-first']
    assert state['pos'] <= 48


def test_line_too_long_stops_reading():
    limits = ReplyLimits(max_line=100)
    reader, state = reader_for(b'250 ' + b'x' * 10000 + b'\r\n', chunk=64, limits=limits)
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.REPLY_LINE_TOO_LONG
    assert state['pos'] <= 100 + 64


def test_a_line_that_never_ends_is_bounded_by_the_default_limit():
    endless = b'220 ' + b'A' * (5 * 1024 * 1024)
    reader, state = reader_for(endless)
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.REPLY_LINE_TOO_LONG
    assert state['pos'] <= 4096 + RECV_SIZE


def test_too_many_lines():
    reader, state = reader_for(b'250-line\r\n' * 2000 + b'250 end\r\n')
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.REPLY_TOO_MANY_LINES
    assert state['pos'] <= 500 * 10 + RECV_SIZE
    assert len(caught.value.lines) <= 20


def test_ten_megabyte_reply_is_cut_at_the_byte_limit():
    data = (b'250-' + b'y' * 1000 + b'\r\n') * 10000
    reader, state = reader_for(data)
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.REPLY_TOO_LARGE
    assert state['pos'] <= 64 * 1024 + RECV_SIZE


def test_end_of_stream_mid_reply_is_connection_closed():
    reader, _state = reader_for(b'250-partial\r\n250-more')
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.CONNECTION_CLOSED
    assert 'middle of a reply' in caught.value.message
    assert caught.value.lines == ['250-partial']


def test_end_of_stream_before_a_reply():
    reader, _state = reader_for(b'')
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.CONNECTION_CLOSED


def test_parse_reply_lines_checks_the_final_line_marker():
    with pytest.raises(ReplyError):
        parse_reply_lines([b'250-not final'])
    with pytest.raises(ReplyError):
        parse_reply_lines([b'250 final', b'250 again'])
    with pytest.raises(ReplyError):
        parse_reply_lines([])
    reply = parse_reply_lines([b'221 2.0.0 Bye'])
    assert (reply.code, reply.enhanced, reply.text) == (221, '2.0.0', 'Bye')


def test_non_utf8_bytes_are_replaced_not_raised():
    reader, _state = reader_for(b'220 caf\xe9 \xff ready\r\n')
    reply = reader.read_reply()
    assert reply.code == 220
    assert '\ufffd' in reply.text


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), chunk=st.integers(min_value=1, max_value=512))
def test_fuzz_reader_never_raises_anything_but_reply_error(data, chunk):
    reader, state = reader_for(data, chunk=chunk, limits=ReplyLimits(max_line=200, max_lines=20, max_bytes=1000))
    for _index in range(50):
        try:
            reply = reader.read_reply()
        except ReplyError as exc:
            assert exc.condition in errors.ALL
            break
        assert 200 <= reply.code <= 599
        assert reply.lines
    assert reader.pending <= 1000 + 512


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.from_regex(r'\A[2-5][0-9]{2}[ -][ -~]{0,40}\Z'), min_size=1, max_size=8))
def test_fuzz_reply_shaped_input(lines):
    data = b''.join(line.encode('ascii') + b'\r\n' for line in lines)
    reader, _state = reader_for(data)
    try:
        reply = reader.read_reply()
    except ReplyError as exc:
        # A code change mid reply, or the input ends on a continuation line.
        assert exc.condition in (errors.REPLY_MALFORMED, errors.CONNECTION_CLOSED)
        return
    assert reply.code == int(lines[len(reply.lines) - 1][:3])


# Tight limits for the exact-limit tests: a line of 40 bytes, 3 lines, 100 bytes per reply (line ends included).
TIGHT = ReplyLimits(max_line=40, max_lines=3, max_bytes=100)


def reply_bytes(*line_lengths):
    """A well-formed reply whose lines (without CRLF) have the given lengths, the last one final."""
    lines = [b'250-' + b'x' * (length - 4) for length in line_lengths[:-1]]
    lines.append(b'250 ' + b'y' * (line_lengths[-1] - 4))
    return b''.join(line + b'\r\n' for line in lines)


def outcome(data, chunk, limits=TIGHT):
    reader, _state = reader_for(data, chunk=chunk, limits=limits)
    try:
        reply = reader.read_reply()
    except ReplyError as exc:
        return exc.condition
    assert reply.size == len(data) and reader.pending == 0
    return 'ok'


# Each case: the line lengths, then what every delivery must give. `None` delivers the reply in one piece (the whole-
# reply fast path where it fits); the chunk sizes cut it elsewhere, 41 right between the CR and the LF of a 40-byte line.
@pytest.mark.parametrize('line_lengths, expected', [
    ((40,), 'ok'),                                           # one line at max_line
    ((41,), errors.REPLY_LINE_TOO_LONG),
    ((10, 10, 10), 'ok'),                                    # max_lines lines
    ((10, 10, 10, 10), errors.REPLY_TOO_MANY_LINES),
    ((10, 10, 40), 'ok'),
    ((40, 40, 14), 'ok'),                                    # exactly max_bytes: 42 + 42 + 16
    ((40, 40, 15), errors.REPLY_TOO_LARGE),                  # one byte over
])
@pytest.mark.parametrize('chunk', [None, 1, 2, 7, 41, 42])
def test_reply_limits_hold_at_the_exact_limit_on_every_path(line_lengths, expected, chunk):
    assert outcome(reply_bytes(*line_lengths), chunk) == expected


def test_a_line_at_the_limit_split_between_cr_and_lf_is_not_too_long():
    line = b'250 ' + b'x' * 36
    parts = [line + b'\r', b'\n']
    reader = ReplyReader(lambda size: parts.pop(0) if parts else b'', TIGHT)
    assert reader.read_reply().lines == [line.decode()]


def test_a_line_over_the_limit_is_refused_as_soon_as_its_bytes_arrive():
    # 41 bytes and no line end yet: no need to wait for the rest (the server may never send it).
    parts = [b'250 ' + b'x' * 37]
    reader = ReplyReader(lambda size: parts.pop(0) if parts else b'', TIGHT)
    with pytest.raises(ReplyError) as caught:
        reader.read_reply()
    assert caught.value.condition == errors.REPLY_LINE_TOO_LONG


def test_the_whole_reply_fast_path_checks_the_line_count(monkeypatch):
    # Small enough for the fast path: it must hand the fourth line over, not accept it.
    data = reply_bytes(5, 5, 5, 5)
    assert len(data) < TIGHT.max_line
    assert outcome(data, None) == errors.REPLY_TOO_MANY_LINES
    # And a reply within every limit is taken whole, without the line-by-line reader.
    monkeypatch.setattr(ReplyReader, '_read_lines', lambda self: pytest.fail('the line-by-line reader ran'))
    assert outcome(reply_bytes(5, 5, 5), None) == 'ok'


@pytest.mark.parametrize('limits, data, expected', [
    # max_bytes below max_line: the fast path's size bound is the byte limit, at the exact limit too.
    (ReplyLimits(max_line=4096, max_lines=500, max_bytes=30), reply_bytes(10, 16), 'ok'),
    (ReplyLimits(max_line=4096, max_lines=500, max_bytes=30), reply_bytes(10, 17), errors.REPLY_TOO_LARGE),
    (ReplyLimits(max_line=4096, max_lines=2, max_bytes=64 * 1024), reply_bytes(4, 4), 'ok'),
    (ReplyLimits(max_line=4096, max_lines=2, max_bytes=64 * 1024), reply_bytes(4, 4, 4), errors.REPLY_TOO_MANY_LINES),
])
def test_small_limits_on_the_fast_path(limits, data, expected):
    assert outcome(data, None, limits) == expected
    assert outcome(data, 1, limits) == expected
