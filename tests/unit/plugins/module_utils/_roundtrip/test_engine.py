# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The round-trip engine with a scripted clock, a stand-in for the SMTP engine and a real Maildir in tmp_path:
latency maths, the diagnosis each outcome gets, what is removed, what check mode does, where secrets go."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._roundtrip.engine import run_roundtrip
from ansible_collections.mailops.mailflow.plugins.module_utils._roundtrip.mailbox import MailboxError
from ansible_collections.mailops.mailflow.plugins.module_utils._roundtrip.options import RoundtripOptionError

from ansible_collections.mailops.mailflow.tests.unit.plugins.module_utils._roundtrip.samples import SLOW_CHAIN

PASSWORD = 'S3cret-pass-phrase'
SENT_AT = 1796408246.0  # Fri, 04 Dec 2026 18:17:26 UTC, the first hop of SLOW_CHAIN


class Clock(object):
    """monotonic, wall and sleep that advance only when the engine sleeps."""

    def __init__(self):
        self.now = 100.0
        self.slept = []

    def monotonic(self):
        return self.now

    def wall(self):
        return SENT_AT + (self.now - 100.0)

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def accepted_probe(calls):
    def probe(options):
        calls.append(options)
        return {'passed': True, 'message_accepted': True, 'queued_as': 'D18EB17013D', 'target': {'host': options['host'],
                'port': options['port']}, 'steps': [], 'tls': {}, 'transcript': ['-> AUTH PLAIN ********'],
                'diagnosis': {'status': 'ok', 'step': 'message', 'code': 250}, 'warnings': []}
    return probe


def write_message(maildir, folder, token, received, name='1.M1P1.host'):
    base = maildir if folder == 'INBOX' else os.path.join(maildir, '.' + folder)
    for sub in ('new', 'cur', 'tmp'):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    headers = ''.join('Received: %s\n' % value.replace('\r\n', '\n') for value in received)
    path = os.path.join(base, 'new', name)
    with open(path, 'w') as handle:
        handle.write('%sX-Mailflow-Roundtrip: %s\nSubject: test %s\n\nbody\n' % (headers, token, token))
    return path


def options(maildir, **changes):
    values = {'via': 'submission', 'host': 'smtp.contoso.com', 'sender': 'kate@contoso.com',
              'recipient': 'kate@contoso.com', 'auth': {'username': 'kate@contoso.com', 'password': PASSWORD},
              'mailbox': {'type': 'maildir', 'path': str(maildir)}, 'timeout': 10.0, 'poll_interval': 1.0}
    values.update(changes)
    return values


@pytest.fixture
def maildir(tmp_path):
    path = tmp_path / 'kate'
    for sub in ('new', 'cur', 'tmp'):
        (path / sub).mkdir(parents=True)
    return path


def arriving(maildir, folder, token, after_polls, received=tuple(SLOW_CHAIN)):
    """A probe that makes the message appear after the given number of polls (via the clock's sleeps)."""
    state = {'polls': 0}

    class Box(object):
        def __init__(self, inner):
            self.inner = inner
            self.tls_info = None

        def open(self):
            return self.inner.open()

        def find(self, wanted, folders):
            state['polls'] += 1
            if state['polls'] == after_polls + 1:
                write_message(str(maildir), folder, token, received)
            return self.inner.find(wanted, folders)

        def header(self, found):
            return self.inner.header(found)

        def remove(self, found):
            return self.inner.remove(found)

        def close(self):
            return None
    return Box


def run(maildir, box_class=None, clock=None, calls=None, token='mailflow-rt-t1', **changes):
    from ansible_collections.mailops.mailflow.plugins.module_utils._roundtrip.engine import open_mailbox
    clock = clock or Clock()
    calls = [] if calls is None else calls

    def factory(box, connect_timeout, command_timeout):
        inner = open_mailbox(box, connect_timeout, command_timeout)
        return box_class(inner) if box_class else inner
    return run_roundtrip(options(maildir, **changes), token=token, mailbox_factory=factory,
                         probe=accepted_probe(calls), monotonic=clock.monotonic, wall=clock.wall, sleep=clock.sleep)


def test_delivered_after_three_polls_has_the_latency_of_three_intervals(maildir):
    clock = Clock()
    result = run(maildir, arriving(maildir, 'INBOX', 'mailflow-rt-t1', 3), clock)
    assert result['passed']
    assert result['diagnosis']['category'] == 'delivered'
    assert result['latency_s'] == 3.0
    assert clock.slept == [1.0, 1.0, 1.0]
    assert result['sent_at'] == '2026-12-04T18:17:26.000+00:00'
    assert result['delivered_at'] == '2026-12-04T18:17:29.000+00:00'
    assert result['header_latency_s'] == 4.0
    assert len(result['hops']) == 4
    assert result['hops'][0]['delay_s'] == 0.0
    assert result['diagnosis']['summary'] == 'delivered to INBOX in 3.0 s over 4 hops'


def test_over_max_latency_is_delayed_and_names_the_hop(maildir):
    result = run(maildir, arriving(maildir, 'INBOX', 'mailflow-rt-t1', 5), max_latency=2.0)
    assert not result['passed']
    assert result['diagnosis']['category'] == 'delayed'
    assert result['slowest_hop']['held_by'] == 'relay.roundtrip.test'
    assert 'relay.roundtrip.test held it 4.0 s (hop 2: to mx.roundtrip.test)' in result['diagnosis']['summary']


def test_exactly_max_latency_is_not_delayed(maildir):
    result = run(maildir, arriving(maildir, 'INBOX', 'mailflow-rt-t1', 2), max_latency=2.0)
    assert result['passed']


def test_junk_folder_is_named(maildir):
    result = run(maildir, arriving(maildir, 'Junk', 'mailflow-rt-t1', 0))
    assert result['folder'] == 'Junk' and result['junk']
    assert result['diagnosis']['category'] == 'delivered_to_junk'
    assert result['latency_s'] == 0.0


def test_never_delivered_waits_the_timeout_and_names_the_queue_id(maildir):
    clock = Clock()
    result = run(maildir, clock=clock, timeout=2.5)
    assert not result['delivered']
    assert result['diagnosis']['category'] == 'not_delivered'
    # The last wait is cut to the deadline, not a whole interval past it.
    assert clock.slept == [1.0, 1.0, 0.5]
    assert result['diagnosis']['notes'] == [
        'last seen: smtp.contoso.com:587 accepted it as D18EB17013D; no later hop is known (the message never '
        'arrived, so no Received header can tell)']
    assert result['removed'] is None


def test_only_the_own_message_is_removed(maildir):
    other = write_message(str(maildir), 'INBOX', 'mailflow-rt-someone-else', SLOW_CHAIN, name='0.M0P0.host')
    plain = maildir / 'new' / '2.M2P2.host'
    plain.write_text('Subject: mailflow-rt-t1 in the subject only\n\nnot a test message\n')
    result = run(maildir, arriving(maildir, 'INBOX', 'mailflow-rt-t1', 1))
    assert result['removed'] is True
    assert sorted(os.listdir(str(maildir / 'new'))) == ['0.M0P0.host', '2.M2P2.host']
    assert os.path.exists(other)


def test_cleanup_false_keeps_it(maildir):
    result = run(maildir, arriving(maildir, 'INBOX', 'mailflow-rt-t1', 0), cleanup=False)
    assert result['removed'] is False
    assert os.listdir(str(maildir / 'new')) == ['1.M1P1.host']


def test_the_token_goes_in_the_subject_and_the_header(maildir):
    calls = []
    run(maildir, calls=calls, timeout=0.5, subject='change window')
    content = calls[0]['content']
    assert content['subject'] == 'change window mailflow-rt-t1'
    assert content['headers']['X-Mailflow-Roundtrip'] == 'mailflow-rt-t1'


def test_check_mode_sends_nothing_and_opens_nothing(maildir):
    calls = []
    opened = []

    def factory(*args):
        opened.append(args)
    result = run_roundtrip(options(maildir), check_mode=True, mailbox_factory=factory, probe=accepted_probe(calls))
    assert calls == [] and opened == []
    assert not result['sent']
    assert result['check_mode_note'].startswith('would send a message marked with a new token from kate@contoso.com '
                                                'to kate@contoso.com through submission smtp.contoso.com:587')


def test_an_unreadable_mailbox_sends_nothing(tmp_path):
    calls = []
    result = run_roundtrip(options(tmp_path / 'missing'), probe=accepted_probe(calls))
    assert calls == []
    assert not result['sent']
    assert result['diagnosis']['category'] == 'mailbox_unreachable'
    assert result['mailbox_error']['condition'] == 'maildir_missing'


def test_a_refused_message_is_refused_at_submission(maildir):
    def refusing(options):
        return {'passed': False, 'message_accepted': False, 'queued_as': None, 'steps': [], 'tls': {},
                'transcript': [], 'target': {'host': options['host'], 'port': options['port']}, 'warnings': [],
                'diagnosis': {'status': 'auth', 'step': 'auth', 'code': 535, 'enhanced': '5.7.8',
                              'summary': 'Authentication failed.'}}
    result = run_roundtrip(options(maildir), probe=refusing)
    assert result['diagnosis']['category'] == 'refused_at_submission'
    assert result['diagnosis']['summary'] == 'smtp.contoso.com:587 refused the message at auth (535 5.7.8): ' \
                                             'Authentication failed.'


def test_a_password_echoed_anywhere_is_masked(maildir):
    class Leaky(object):
        tls_info = None

        def open(self):
            raise MailboxError('imap_login_failed', 'login refused: server echoed %s' % PASSWORD)

        def close(self):
            return None
    result = run_roundtrip(options(maildir), mailbox_factory=lambda *args: Leaky(), probe=accepted_probe([]))
    assert PASSWORD not in json.dumps(result)
    assert result['mailbox_error']['message'] == 'login refused: server echoed ********'


@pytest.mark.parametrize('changes, option', [
    ({'via': 'relay', 'host': None}, 'host'),
    ({'via': 'mx', 'host': 'smtp.contoso.com'}, 'host'),
    ({'auth': None}, 'auth'),
    ({'recipient': 'not-an-address'}, 'recipient'),
    ({'timeout': 0}, 'timeout'),
    ({'timeout': 5, 'max_latency': 5}, 'max_latency'),
    ({'headers': {'x-mailflow-roundtrip': 'mine'}}, 'headers'),
    ({'mailbox': {'type': 'imap', 'username': 'kate', 'password': PASSWORD}}, 'mailbox.host'),
    ({'mailbox': {'type': 'maildir'}}, 'mailbox.path'),
    ({'mailbox': {'type': 'imap', 'host': 'imap.contoso.com', 'username': 'kate', 'password': 'a\nb'}},
     'mailbox.password'),
    ({'mailbox': {'type': 'maildir', 'path': '/tmp', 'folders': ['INBOX', 'bad\r\nname']}}, 'mailbox.folders[1]'),
    ({'helo_name': 'bad name with spaces'}, 'helo_name'),
])
def test_bad_options_are_refused_before_anything_is_opened(maildir, changes, option):
    opened = []
    with pytest.raises(RoundtripOptionError) as caught:
        run_roundtrip(options(maildir, **changes), mailbox_factory=lambda *args: opened.append(args),
                      probe=accepted_probe([]))
    assert caught.value.option == option
    assert opened == []
    assert PASSWORD not in str(caught.value)
