# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hardening fuzz runs (issue 8): the reply parser, the EHLO capability parser, the diagnosis classifier and the
dialogue that joins them, fed with input shaped like SMTP and then broken.

The per-module property tests (_smtp/test_reply.py, _smtp/test_capabilities.py,
_diagnosis/test_diagnosis_properties.py) fuzz each function with raw random values. These runs generate
grammar-aware hostile input instead (codes, separators, line ends and keywords, mutated), check stronger
invariants (agreement between the streaming reader and the line parser, JSON-safe results, catalog data that
callers cannot corrupt, no DATA and no secret from the dialogue), and are bounded. Each prints the number of
examples it ran (`pytest -rP` shows it; in ansible-test's junit XML it is the property fuzz_examples) and fails
if hypothesis ran far fewer than asked.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re

from hypothesis import HealthCheck, event, given, settings, strategies as st

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import catalog, diagnose, diagnose_success, errors, explain
from ansible_collections.mailops.mailflow.plugins.module_utils._dns import validate
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.capabilities import parse_ehlo
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.dialogue import run_probe
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import STEP_NAMES, ProbeOptionError, validate_options
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.reply import (
    ReplyError, ReplyLimits, ReplyReader, parse_reply_lines)
import idna
from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._smtp.fakesmtp import FakeSocket, fake_transport

MAX_EXAMPLES = 3000
# The dialogue run builds a whole probe per example; fewer examples keep it within seconds.
DIALOGUE_EXAMPLES = 1500
# The limit and name runs draw from small spaces: fewer examples cover them.
SMALL_EXAMPLES = 1000
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ENHANCED_RE = re.compile(r'^[245]\.\d{1,3}\.\d{1,3}$')


def run_counted(test, expected, label, record_property):
    """Run a hypothesis test whose body increments ``count[0]``; print, record (junit XML) and check the number
    of examples."""
    count = [0]
    test(count)
    print('fuzz %s: %d examples' % (label, count[0]))
    record_property('fuzz_examples', count[0])
    # Hypothesis may stop early only when it has exhausted the input space; these spaces are far larger.
    assert count[0] >= expected // 2, 'only %d of %d examples ran' % (count[0], expected)
    return count[0]


# --- SMTP-shaped input, then broken -----------------------------------------------------------------------------

codes = st.one_of(
    st.sampled_from([b'220', b'221', b'235', b'250', b'251', b'334', b'354', b'421', b'450', b'451', b'452',
                     b'500', b'501', b'502', b'503', b'530', b'535', b'550', b'552', b'554', b'556']),
    st.from_regex(rb'\A[0-9]{3}\Z'),
    # the fault server's bad codes and their relatives: non-numeric, short, long, empty, non-ASCII digits
    st.sampled_from([b'2x0', b'99', b'', b'2500', b'25', b'-250', b' 250', b'\xef\xbc\x92\xef\xbc\x95\xef\xbc\x90',
                     b'25\x00', b'\x00\x00\x00']),
)
separators = st.sampled_from([b' ', b'-', b'', b'\t', b'x', b'--', b'\x00'])
texts = st.one_of(
    st.sampled_from([b'', b'2.1.5 Ok', b'5.1.1 <kate@fabrikam.test>: User unknown', b'mx1.fabrikam.test Hello [127.0.0.1]',
                     b'4.7.0 TLS required', b'5.7.1 Client host rejected', b'2.0.0 Ok: queued as D50CD160033',
                     b'SIZE 37748736', b'AUTH PLAIN LOGIN', b'PIPELINING', b'5.5.5.5 too many dots', b'2.0 short']),
    st.binary(max_size=80),
    st.text(max_size=40).map(lambda text: text.encode('utf-8')),
)
line_ends = st.sampled_from([b'\r\n', b'\r\n', b'\r\n', b'\n', b'\r', b'', b'\r\r\n', b'\n\r'])


@st.composite
def reply_streams(draw):
    """Bytes a hostile server could send: reply-shaped lines with broken codes, separators, ends and lengths."""
    pieces = []
    for _index in range(draw(st.integers(min_value=0, max_value=12))):
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            pieces.append(draw(st.binary(max_size=300)))
            continue
        line = draw(codes) + draw(separators) + draw(texts)
        if draw(st.integers(min_value=0, max_value=19)) == 0:
            line += b'x' * draw(st.integers(min_value=100, max_value=2000))
        pieces.append(line + draw(line_ends))
    return b''.join(pieces)


def chunked_recv(data, chunk):
    state = {'pos': 0}

    def recv(size):
        piece = data[state['pos']:state['pos'] + min(size, chunk)]
        state['pos'] += len(piece)
        return piece

    return recv


def raw_lines_of(consumed):
    """The lines of a consumed reply as the reader saw them: split at LF, one CR before it dropped."""
    lines = consumed.split(b'\n')[:-1]
    return [line[:-1] if line.endswith(b'\r') else line for line in lines]


def test_fuzz_reply_reader_agrees_with_the_line_parser(record_property):
    @FUZZ
    @given(data=reply_streams(), chunk=st.integers(min_value=1, max_value=700),
           max_line=st.integers(min_value=8, max_value=1024), max_lines=st.integers(min_value=1, max_value=12),
           max_bytes=st.integers(min_value=16, max_value=4096))
    def run(count, data, chunk, max_line, max_lines, max_bytes):
        count[0] += 1
        limits = ReplyLimits(max_line=max_line, max_lines=max_lines, max_bytes=max_bytes)
        reader = ReplyReader(chunked_recv(data, chunk), limits)
        position = 0
        for _index in range(40):
            try:
                reply = reader.read_reply()
            except ReplyError as exc:
                event('reader stopped: %s' % exc.condition)
                assert exc.condition in errors.ALL
                assert isinstance(exc.message, str) and '\n' not in exc.message
                assert len(exc.lines) <= 20 and all(len(line) <= 512 for line in exc.lines)
                break
            consumed = data[position:position + reply.size]
            position += reply.size
            # Bounded by the limits, whatever the server sent.
            assert 200 <= reply.code <= 599
            assert 1 <= len(reply.lines) <= max_lines
            assert reply.size <= max_bytes
            assert all(line[:3] == str(reply.code) for line in reply.lines)
            assert reply.enhanced is None or ENHANCED_RE.match(reply.enhanced)
            json.dumps(reply.as_dict(True))
            # The streaming reader and the line parser agree on every reply the reader accepts.
            again = parse_reply_lines(raw_lines_of(consumed), reply.bare_lf)
            assert (again.code, again.lines, again.texts, again.enhanced) == (reply.code, reply.lines, reply.texts, reply.enhanced)
            assert reader.pending <= max_bytes + chunk

    run_counted(run, MAX_EXAMPLES, 'reply reader vs line parser', record_property)


@st.composite
def replies_near_the_limits(draw):
    """(limits, a well-formed reply, where it arrives cut) with line lengths, line counts and sizes drawn around the
    limits, and cuts where they matter: right after a CR, before a CR, or anywhere."""
    max_line = draw(st.integers(min_value=8, max_value=64))
    max_lines = draw(st.integers(min_value=1, max_value=6))
    length = st.one_of(st.sampled_from([max_line - 1, max_line, max_line + 1]), st.integers(min_value=4, max_value=max_line + 2))
    lengths = draw(st.lists(length, min_size=1, max_size=max_lines + 2))
    size = sum(length + 2 for length in lengths)
    max_bytes = draw(st.integers(min_value=max(16, size - 3), max_value=max(16, size + 3)))
    lines = [b'250-' + b'x' * (length - 4) for length in lengths[:-1]] + [b'250 ' + b'y' * (lengths[-1] - 4)]
    data = b''.join(line + b'\r\n' for line in lines)
    crs = [index for index, byte in enumerate(data) if byte == 0x0d]
    cut = st.one_of(st.sampled_from(crs).map(lambda index: index + 1), st.sampled_from(crs), st.integers(min_value=1, max_value=len(data) - 1))
    cuts = sorted(set(draw(st.lists(cut, max_size=6))))
    return ReplyLimits(max_line=max_line, max_lines=max_lines, max_bytes=max_bytes), lines, data, cuts


def cut_recv(data, cuts):
    pieces = [data[start:end] for start, end in zip([0] + cuts, cuts + [len(data)])]
    return lambda size: pieces.pop(0) if pieces else b''


def test_fuzz_reply_limits_hold_exactly_whatever_the_chunks(record_property):
    """A reply within every limit is read, one over any limit is refused, on the whole-reply path (one piece) and
    the line-by-line path (any cuts) alike."""
    @settings(FUZZ, max_examples=SMALL_EXAMPLES)
    @given(case=replies_near_the_limits())
    def run(count, case):
        count[0] += 1
        limits, lines, data, cuts = case
        within = all(len(line) <= limits.max_line for line in lines) and len(lines) <= limits.max_lines and len(data) <= limits.max_bytes
        reader = ReplyReader(cut_recv(data, cuts), limits)
        try:
            reply = reader.read_reply()
        except ReplyError as exc:
            event('refused: %s' % exc.condition)
            assert not within, 'refused (%s) within the limits' % exc.condition
            assert exc.condition in (errors.REPLY_LINE_TOO_LONG, errors.REPLY_TOO_MANY_LINES, errors.REPLY_TOO_LARGE)
            return
        event('read')
        assert within, 'read a reply over the limits'
        assert reply.lines == [line.decode() for line in lines] and reply.size == len(data)

    run_counted(run, SMALL_EXAMPLES, 'reply limits, whole and chunked', record_property)


# --- EHLO: keywords and parameters, mutated; through the reader as a server sends them ---------------------------

keywords = st.sampled_from(['PIPELINING', 'STARTTLS', 'DSN', 'SMTPUTF8', '8BITMIME', 'CHUNKING', 'ENHANCEDSTATUSCODES',
                            'SIZE', 'AUTH', 'AUTH=LOGIN', 'AUTH=', 'X-EXPS', 'XRDST', 'BINARYMIME', 'VRFY', 'ETRN',
                            'X-ANONYMOUSTLS', 'DELIVERBY', 'MT-PRIORITY', 'REQUIRETLS'])
# Mostly the values servers send, sometimes any text (drawing text is what makes an example slow).
parameters = st.one_of(
    st.sampled_from(['37748736', '0', '', '-1', '99999999999999999999999', '1e9', '٣٧', '１０２４', 'PLAIN', 'LOGIN',
                     'CRAM-MD5', 'GSSAPI NTLM', 'XOAUTH2', 'plain login', 'PLAIN PLAIN', 'AUTH', 'SIZE']),
    st.integers(min_value=-10, max_value=10 ** 25).map(str),
    st.text(max_size=30),
)


@st.composite
def ehlo_texts(draw):
    greeting = draw(st.one_of(
        st.sampled_from(['mx1.fabrikam.test Hello [172.16.0.5]', 'mx.example Hello name [192.0.2.1]',
                         'mx.google.com at your service, [2001:db8::1]', 'mx Hello [IPv6:::1]', 'mx [999.1.1.1]',
                         'mx [::ffff:127.0.0.1] [127.0.0.2]', '']),
        st.text(max_size=60)))
    lines = [greeting]
    for _index in range(draw(st.integers(min_value=0, max_value=15))):
        keyword = draw(st.sampled_from([str.upper, str.lower, str.title]))(draw(keywords))
        words = [keyword] + [draw(parameters) for _word in range(draw(st.integers(min_value=0, max_value=3)))]
        lines.append(draw(st.sampled_from([' ', '  ', '\t'])).join(words))
    return lines


def check_capabilities(caps, texts):
    assert caps['esmtp'] is True
    assert caps['greeting'] == (texts[0] if texts else '')
    for flag in ('pipelining', 'starttls', 'dsn', 'smtputf8', 'eightbitmime', 'chunking', 'enhancedstatuscodes'):
        assert isinstance(caps[flag], bool)
    assert caps['size'] is None or (isinstance(caps['size'], int) and 0 <= caps['size'] < 10 ** 20)
    assert len(caps['auth']) == len(set(caps['auth']))
    assert all(mechanism and mechanism == mechanism.upper() and not any(char.isspace() for char in mechanism)
               for mechanism in caps['auth'])
    assert len(caps['other']) <= 100 and all(isinstance(item, str) for item in caps['other'])
    if caps['seen_client_address'] is not None:
        ipaddress.ip_address(caps['seen_client_address'])
    # What a keyword line announces is what the capabilities say.
    announced = set(line.split()[0].upper() for line in texts[1:] if line.split())
    assert caps['pipelining'] == ('PIPELINING' in announced)
    assert caps['starttls'] == ('STARTTLS' in announced)
    if 'SIZE' not in announced:
        assert caps['size'] is None
    json.dumps(caps)


def test_fuzz_ehlo_capabilities_from_the_wire(record_property):
    @FUZZ
    @given(lines=ehlo_texts(), chunk=st.integers(min_value=1, max_value=300))
    def run(count, lines, chunk):
        count[0] += 1
        wire = b''.join(('250%s%s\r\n' % ('-' if index < len(lines) - 1 else ' ', line)).encode('utf-8')
                        for index, line in enumerate(lines) if '\n' not in line and '\r' not in line)
        if not wire:
            return
        reader = ReplyReader(chunked_recv(wire, chunk), ReplyLimits(max_line=4096, max_lines=500, max_bytes=64 * 1024))
        try:
            reply = reader.read_reply()
        except ReplyError as exc:
            # Only a stream cut on a continuation line (a dropped last line) ends without a reply.
            assert exc.condition == errors.CONNECTION_CLOSED
            return
        texts = reply.texts
        caps = parse_ehlo(texts)
        check_capabilities(caps, texts)
        assert parse_ehlo(texts) == caps

    run_counted(run, MAX_EXAMPLES, 'EHLO capabilities from the wire', record_property)


# --- the diagnosis classifier: every catalog key, mutated ---------------------------------------------------------

def catalog_matches():
    for _kind, entries in catalog.KINDS:
        for entry in entries:
            yield entry['match']


CATALOG_CODES = sorted(set(match['code'] for match in catalog_matches() if isinstance(match.get('code'), int)))
CATALOG_ENHANCED = sorted(set(value for match in catalog_matches()
                              for value in ((match['enhanced'],) if isinstance(match.get('enhanced'), str)
                                            else tuple(match.get('enhanced') or ()))))
CATALOG_STEPS = sorted(set(step for match in catalog_matches() for step in tuple(match.get('step') or ())))
CATALOG_ERRORS = sorted(errors.ALL)

steps = st.one_of(st.sampled_from(list(STEP_NAMES) + CATALOG_STEPS + ['mx', 'a', 'aaaa']), st.none(), st.text(max_size=10))
reply_codes = st.one_of(st.sampled_from(CATALOG_CODES), st.integers(min_value=-1000, max_value=1000),
                        st.sampled_from(CATALOG_CODES).map(str), st.none(), st.text(max_size=5))
enhanced_codes = st.one_of(
    st.sampled_from(CATALOG_ENHANCED),
    st.sampled_from(CATALOG_ENHANCED).map(lambda value: value.replace('X.', '%s.' % '245'[len(value) % 3])),
    st.from_regex(r'\A[0-9]\.[0-9]{1,4}\.[0-9]{1,4}\Z'), st.none(), st.text(max_size=12))
conditions = st.one_of(st.sampled_from(CATALOG_ERRORS), st.none(), st.text(max_size=20))
reply_texts = st.one_of(st.none(), texts.map(lambda raw: raw.decode('utf-8', 'replace')),
                        st.sampled_from(['Microsoft ESMTP MAIL Service ready', 'User unknown in virtual mailbox table',
                                         'Relay access denied', 'TenantAttribution', 'Greylisted', 'try again later']))
ports = st.one_of(st.none(), st.sampled_from([25, 465, 587, 2525]), st.integers(min_value=-1, max_value=70000))


def check_diagnosis(result):
    assert result['status'] in catalog.STATUSES
    assert result['category'] and result['summary'] and result['causes'] and result['remedy']
    assert result['code'] is None or isinstance(result['code'], int)
    assert result['enhanced'] is None or ENHANCED_RE.match(result['enhanced'])
    assert all(isinstance(note, str) for note in result['notes'])
    # Ansible returns it as JSON: it must serialise as it is.
    json.dumps(result)


def test_fuzz_diagnose_every_catalog_key(record_property):
    @FUZZ
    @given(step=steps, code=reply_codes, enhanced=enhanced_codes, error=conditions, text=reply_texts, port=ports,
           trusted=st.one_of(st.none(), st.booleans()))
    def run(count, step, code, enhanced, error, text, port, trusted):
        count[0] += 1
        result = diagnose(step=step, code=code, enhanced=enhanced, error=error, text=text, port=port, enhanced_trusted=trusted)
        check_diagnosis(result)
        # A caller that edits its result must not change the catalog: the next answer is the same.
        pristine = json.dumps(result, sort_keys=True)
        result['causes'].append('edited by the caller')
        result['notes'].append('edited by the caller')
        result['references'].append('edited by the caller')
        result['summary'] = 'edited'
        again = diagnose(step=step, code=code, enhanced=enhanced, error=error, text=text, port=port, enhanced_trusted=trusted)
        assert json.dumps(again, sort_keys=True) == pristine
        success = diagnose_success(step=step, code=code, enhanced=enhanced)
        check_diagnosis(success)
        assert success['status'] == 'ok'

    run_counted(run, MAX_EXAMPLES, 'diagnose over catalog keys', record_property)


@st.composite
def pasted_replies(draw):
    """What a user pastes into explain(): reply lines (one or many, a string or a list), a step dict, a code."""
    code = draw(st.one_of(st.sampled_from(CATALOG_CODES), st.integers(min_value=200, max_value=599)))
    enhanced = draw(st.one_of(st.sampled_from([value for value in CATALOG_ENHANCED if not value.startswith('X.')]),
                              st.just('')))
    text = draw(reply_texts) or ''
    count = draw(st.integers(min_value=1, max_value=4))
    lines = ['%d%s%s %s' % (code, '-' if index < count - 1 else ' ', enhanced, text) for index in range(count)]
    shape = draw(st.sampled_from(['line', 'lines', 'list', 'step', 'reply', 'bytes', 'code']))
    if shape == 'line':
        return lines[-1], code
    if shape == 'lines':
        return draw(st.sampled_from(['\r\n', '\n'])).join(lines), code
    if shape == 'list':
        return lines, code
    if shape == 'step':
        return {'name': draw(steps), 'reply': {'code': code, 'enhanced': enhanced or None, 'lines': lines, 'text': text}}, code
    if shape == 'reply':
        return {'lines': lines}, code
    if shape == 'bytes':
        return lines[-1].encode('utf-8'), code
    return str(code), code


def test_fuzz_explain_pasted_replies(record_property):
    @FUZZ
    @given(pasted=pasted_replies(), step=steps, port=ports)
    def run(count, pasted, step, port):
        count[0] += 1
        value, code = pasted
        result = explain(value, step=step, port=port)
        check_diagnosis(result)
        # A well-formed reply is read for its code, whatever its shape.
        assert result['code'] == code

    run_counted(run, MAX_EXAMPLES, 'explain on pasted replies', record_property)


# --- the dialogue: a scripted hostile server in memory; the diagnosis is what joins the parts -------------------

PASSWORD = 'fuzz-Secret-7f3a9c'
SECRET_FORMS = (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
                base64.b64encode(b'\x00chris@contoso.test\x00' + PASSWORD.encode()).decode())


@st.composite
def server_scripts(draw):
    """Per command, what the server answers: a good reply, a hostile one (reply_streams), silence, or a close."""
    good = {b'EHLO': b'250-mx1.fabrikam.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n',
            b'AUTH': b'235 2.7.0 Authentication successful\r\n', b'MAIL': b'250 2.1.0 Ok\r\n',
            b'RCPT': b'250 2.1.5 Ok\r\n', b'RSET': b'250 2.0.0 Ok\r\n', b'QUIT': b'221 2.0.0 Bye\r\n',
            b'DATA': b'354 go ahead\r\n', b'<end of data>': b'250 2.0.0 Ok: queued as ABC123\r\n'}
    script = {}
    for verb, answer in good.items():
        choice = draw(st.integers(min_value=0, max_value=9))
        if choice == 0:
            script[verb] = draw(reply_streams()) or None
        elif choice == 1:
            script[verb] = None
        elif choice == 2:
            script[verb] = b'<close>'
        else:
            script[verb] = answer
    # Mostly a good banner, so the later steps get their share of hostile replies.
    good_banner = st.just(b'220 mx1.fabrikam.test ESMTP\r\n')
    banner = draw(st.one_of(good_banner, good_banner, good_banner, reply_streams()))
    return banner, script


def test_fuzz_dialogue_never_raises_leaks_or_sends_data(record_property):
    @settings(max_examples=DIALOGUE_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(server=server_scripts(), chunk=st.one_of(st.none(), st.integers(min_value=1, max_value=64)),
           pipelining=st.sampled_from(['auto', 'never', 'always']), with_auth=st.booleans(),
           quit_after=st.sampled_from([None, 'banner', 'ehlo', 'auth', 'mail', 'rcpt']))
    def run(count, server, chunk, pipelining, with_auth, quit_after):
        count[0] += 1
        banner, script = server

        def answer(line):
            verb = line if line == b'<end of data>' else line.split(b' ', 1)[0].split(b':', 1)[0].upper()
            if verb not in script and line not in (b'<end of data>',):
                # AUTH continuation lines (base64) and anything else unknown
                verb = b'AUTH'
            return script.get(verb)

        sock = FakeSocket(answer, banner=banner, chunk=chunk)
        opener, resolver = fake_transport(sock)
        options = {'host': 'mx1.fabrikam.test', 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test',
                   'rcpt_to': ['kate@fabrikam.test', 'admin@fabrikam.test'], 'tls': 'none', 'pipelining': pipelining,
                   'command_timeout': 5, 'deadline': 10, 'quit_after': quit_after}
        if with_auth:
            options['auth'] = {'username': 'chris@contoso.test', 'password': PASSWORD}
        result = run_probe(options, opener=opener, resolver=resolver)
        rendered = json.dumps(result)
        event('diagnosis: %s/%s' % (result['diagnosis']['status'], result['diagnosis']['category']))
        assert result['steps'] and all(step['name'] in STEP_NAMES for step in result['steps'])
        assert isinstance(result['passed'], bool)
        check_diagnosis(result['diagnosis'])
        assert not any(form in rendered for form in SECRET_FORMS)
        assert not any(b'\r\nDATA\r\n' in b'\r\n' + write for write in sock.writes)
        assert result['message_accepted'] is False
        assert result['elapsed_ms'] <= 10 * 1000 + 150

    run_counted(run, DIALOGUE_EXAMPLES, 'dialogue against scripted hostile servers', record_property)


# --- options: whatever a user writes, a validated name is ASCII and the error names the option ------------------------

name_parts = st.one_of(
    st.sampled_from(['fabrikam', 'test', 'straße', 'bücher', 'ＢＵＣＨＥＲ', '例え', 'テスト', 'ς', '☃', 'xn--strae-oqa', '-x', 'x-',
                     '_dmarc', 'mx1', '25', 'IPv6', '::1', '[127.0.0.1]', '', ' ', '\r\n', '\x00', ':', '@', '.', '．']),
    st.text(max_size=12),
)
names = st.lists(name_parts, min_size=1, max_size=4).map('.'.join)


def test_fuzz_validated_names_are_ascii(record_property, monkeypatch):
    monkeypatch.setattr(validate, 'idna', idna)

    @settings(FUZZ, max_examples=SMALL_EXAMPLES)
    @given(host=names, helo=names, sender_domain=names, recipient_domain=names, local=st.sampled_from(['chris', 'jürgen']))
    def run(count, host, helo, sender_domain, recipient_domain, local):
        count[0] += 1
        raw = {'host': host, 'helo_name': helo, 'mail_from': '%s@%s' % (local, sender_domain),
               'rcpt_to': ['kate@%s' % recipient_domain]}
        try:
            validated = validate_options(raw)
        except ProbeOptionError as exc:
            event('refused: %s' % exc.option)
            assert exc.option in ('host', 'helo_name', 'mail_from', 'rcpt_to[0]')
            assert str(exc).startswith(exc.option + ': ') and '\n' not in str(exc) and '\r' not in str(exc)
            return
        event('accepted')
        assert validated['host'].isascii() and validated['helo_name'].isascii()
        for address in [validated['mail_from']] + validated['rcpt_to']:
            assert address.rsplit('@', 1)[1].isascii()
        assert validated['mail_from'].startswith(local + '@')

    run_counted(run, SMALL_EXAMPLES, 'validated names are ASCII', record_property)
