# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The differential test of issue 14: the same probe through the Python engine and through the C# engine
(SmtpDialogue.cs under Mono), each raw record turned into the smtp_probe result by the same
``result.build_result``; the results must be equal field by field, except timings and the fields that differ by
design (ENGINE_SPECIFIC). Scenarios run against the real lab (Postfix, Dovecot, faultd, Exim when present).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.dialogue import SmtpProbe
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import validate_options
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.result import build_result
# The options the Windows dispatch sends to win_smtp_probe: the same conversion here.
from ansible_collections.mailops.mailflow.plugins.plugin_utils._windows import engine_options

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION = os.path.dirname(os.path.dirname(HERE))
RUN_ENGINE = os.path.join(HERE, 'run-engine')

# Differences by design, as (path pattern, reason). A path is dotted, list items as [N].
ENGINE_SPECIFIC = (
    (r'^tls\.version$', 'Mono has no TLS 1.3 (TLSv1.2 there); SChannel and OpenSSL negotiate what they support'),
    (r'^tls\.cipher$', 'OpenSSL names the suite; SslStream gives CipherAlgorithm (None under Mono: null) or, on .NET Core 3+, '
                       'the IANA suite name'),
    (r'^tls\.bits$', 'CipherStrength (0 under Mono: null)'),
    (r'^transcript$', 'compared separately: the wire lines must be equal, events carry engine texts (see transcript_differences)'),
)
# Timings never compare.
_TIMING_KEYS = ('elapsed_ms', 'waited_ms')
_QUEUE_ID = re.compile(r'(queued as |id=)[0-9A-Za-z-]+')
# The Exchange persona's banner says when it was sent; the tarpit note says how long a reply took.
_DATE = re.compile(r'[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}')
_SECONDS = re.compile(r'\b\d+\.\d+ s\b')
# Conditions whose error_message is the runtime's exception text (OpenSSL's, or .NET's/Mono's). A close is
# reported as the server's FIN or as the RST that our next write provokes, whichever the kernel gives first (the
# engines report both as connection_closed, with the reset's text in brackets): a race, in either engine.
RUNTIME_MESSAGES = ('tls_handshake_failed', 'connection_reset', 'connection_closed')
# Events whose wording comes from the runtime (exception texts, TLS versions) rather than the dialogue.
_RUNTIME_EVENTS = re.compile(r'^-- (TLS established: |TLS handshake failed: |the TLS handshake |the connection failed during the TLS'
                             r'|reading failed|sending failed|the server reset the connection|the server closed the connection)')


def _labctl():
    return os.environ.get('MAILFLOW_LABCTL') or os.path.join(COLLECTION, 'lab', 'real', 'labctl')


def lab_env():
    """The real lab's MAILFLOW_LAB_* values (labctl env --json)."""
    output = subprocess.run([_labctl(), 'env', '--json'], check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def lab_down():
    """What of the real lab is down (labctl status), or None when all of it is up."""
    status = subprocess.run([_labctl(), 'status'], capture_output=True, text=True, check=False)
    if status.returncode == 0:
        return None
    return ', '.join(line.split()[0] for line in status.stdout.splitlines() if ' down ' in line) or status.stdout.strip()


class FixedTemplate(object):
    """A message template that renders each variant once, so both engines send the same bytes (Date and
    Message-ID otherwise differ between two renders)."""

    def __init__(self, template):
        self._template = template
        self._rendered = {}
        self._lock = threading.Lock()

    def render(self, eight_bit=False, utf8=False, domain=None):
        with self._lock:
            key = (eight_bit, utf8)
            if key not in self._rendered:
                self._rendered[key] = self._template.render(eight_bit=eight_bit, utf8=utf8, domain=domain)
            return self._rendered[key]


def prepare(options):
    """Validated options with a fixed message template."""
    validated = validate_options(options)
    if validated.message_template is not None:
        validated.message_template = FixedTemplate(validated.message_template)
    return validated


def scenarios(env):
    """(name, options) for every real-lab and fault-server scenario."""
    ca = env['MAILFLOW_LAB_CA_FILE']
    with open(env['MAILFLOW_LAB_SASL_PASSWORD_FILE']) as handle:
        sasl_password = handle.read().strip()
    mx1 = {'host': env['MAILFLOW_LAB_MX1_ADDR'], 'port': 25, 'helo_name': 'probe.contoso.test',
           'mail_from': 'chris@contoso.test', 'rcpt_to': ['kate@fabrikam.test'], 'tls': 'none',
           'connect_timeout': 3, 'command_timeout': 5, 'deadline': 10}
    verified = dict(mx1, tls='starttls', tls_verify=True, ca_path=ca, server_name=env['MAILFLOW_LAB_MX1_HOSTNAME'])
    submission = {'host': env['MAILFLOW_LAB_SUBMISSION_ADDR'], 'port': int(env['MAILFLOW_LAB_SUBMISSION_PORT']),
                  'helo_name': 'probe.contoso.test', 'mail_from': env['MAILFLOW_LAB_SASL_USER'],
                  'rcpt_to': ['kate@fabrikam.test'], 'tls': 'starttls', 'tls_verify': True, 'ca_path': ca,
                  'server_name': env['MAILFLOW_LAB_SUBMISSION_HOSTNAME'], 'connect_timeout': 3, 'command_timeout': 10,
                  'deadline': 20,
                  # Dovecot answers a failed AUTH after auth_failure_delay (2 s), and both engines log in at once.
                  'slow_threshold': 4.0}
    auth = {'username': env['MAILFLOW_LAB_SASL_USER'], 'password': sasl_password}
    cases = [
        ('postfix_plain', mx1),
        ('postfix_plain_no_pipelining', dict(mx1, pipelining='never')),
        ('postfix_starttls_lab_ca', verified),
        ('postfix_starttls_no_ca_verify', dict(verified, ca_path=None)),
        ('postfix_starttls_no_ca_lenient', dict(verified, ca_path=None, tls_verify=False)),
        ('postfix_starttls_wrong_name', dict(verified, server_name='wrong.fabrikam.test')),
        ('postfix_tls_required_min_days', dict(verified, tls='required', tls_min_days=100000)),
        ('postfix_unknown_user', dict(mx1, rcpt_to=['nobody@fabrikam.test'])),
        ('postfix_relay_denied', dict(mx1, rcpt_to=['someone@foreign.test'])),
        ('postfix_unknown_user_lockstep', dict(mx1, rcpt_to=['nobody@fabrikam.test'], pipelining='never')),
        ('postfix_two_rcpt_dsn', dict(mx1, rcpt_to=['kate@fabrikam.test', 'nobody@fabrikam.test'],
                                      dsn={'notify': ['success', 'failure'], 'ret': 'hdrs', 'envid': 'probe+1=x', 'orcpt': True})),
        ('postfix_send_message', dict(verified, send_message=True,
                                      content={'subject': 'differential test', 'body': 'hello\n.leading dot\n'})),
        ('postfix_send_8bit', dict(mx1, send_message=True, content={'body': 'Gr\u00fc\u00dfe aus Z\u00fcrich\n'})),
        ('postfix_send_lockstep', dict(mx1, send_message=True, pipelining='never')),
        ('postfix_quit_after_connect', dict(mx1, quit_after='connect')),
        ('postfix_quit_after_banner', dict(mx1, quit_after='banner')),
        ('postfix_quit_after_ehlo', dict(mx1, quit_after='ehlo')),
        ('postfix_quit_after_starttls', dict(verified, quit_after='starttls')),
        ('postfix_quit_after_mail', dict(mx1, quit_after='mail')),
        ('postfix_quit_after_data', dict(mx1, send_message=True, quit_after='data')),
        ('postfix_ipv6', dict(mx1, host=env.get('MAILFLOW_LAB_MX1_ADDR6', '::1'))),
        # Implicit TLS to a port that speaks plain SMTP: the handshake meets the banner (the implicit-TLS path of
        # both engines, and the reconnect that tries to read a certificate).
        ('postfix_implicit_tls_on_plain_port', dict(verified, tls='implicit', port=25)),
        ('postfix_source_address', dict(mx1, source_address='127.0.0.1')),
        # No helo_name: the host's FQDN, else an address literal of the local address, worked out by each engine.
        ('postfix_default_ehlo_name', dict(mx1, helo_name=None)),
        ('postfix_default_ehlo_name_ipv6', dict(mx1, helo_name=None, host=env.get('MAILFLOW_LAB_MX1_ADDR6', '::1'))),
        ('postfix_expect_unknown_user', dict(mx1, rcpt_to=['nobody@fabrikam.test'], expect={'rcpt': ['5.1.1']})),
        ('refused', dict(mx1, host=env['MAILFLOW_LAB_REFUSED_ADDR'])),
        # Addresses given (as mx_probe does): the first refuses, the next one is tried, like an MTA.
        ('addresses_fall_back', dict(mx1, host=env['MAILFLOW_LAB_MX1_HOSTNAME'],
                                     addresses=[env['MAILFLOW_LAB_REFUSED_ADDR'], env['MAILFLOW_LAB_MX1_ADDR']])),
        ('submission_auth_plain', dict(submission, auth=auth, quit_after='rcpt')),
        ('submission_auth_login', dict(submission, auth=dict(auth, mechanism='login'), quit_after='rcpt')),
        # Dovecot delays every later AUTH from an address that failed (auth penalty, up to 15 s): the failing login
        # comes from an address of its own, runs after the others (LAST) and may take that long.
        ('submission_auth_bad_password', dict(submission, auth=dict(auth, password='not-the-password'), source_address='127.0.0.250',
                                              command_timeout=25, deadline=40, slow_threshold=20.0)),
        ('submission_no_auth_530', submission),
        ('submission_auth_plaintext', dict(submission, tls='none', tls_verify=None, ca_path=None, server_name=None, auth=auth,
                                           quit_after='auth')),
        ('submission_port25_no_auth_offered', dict(submission, port=25, auth=auth, quit_after='auth')),
    ]
    if env.get('MAILFLOW_LAB_EXIM_ADDR'):
        exim = dict(mx1, host=env['MAILFLOW_LAB_EXIM_ADDR'], rcpt_to=['kate@%s' % env['MAILFLOW_LAB_EXIM_DOMAIN']])
        cases.append(('exim_plain', exim))
        cases.append(('exim_unknown_user', dict(exim, rcpt_to=['nobody@%s' % env['MAILFLOW_LAB_EXIM_DOMAIN']])))
    with open(env['MAILFLOW_LAB_FAULT_MAP']) as handle:
        fault_map = json.load(handle)
    for behaviour, entry in sorted(fault_map.items(), key=lambda item: item[1]['index']):
        options = {'host': entry['host'], 'port': entry['port'], 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test',
                   'rcpt_to': ['kate@exchange.test'], 'tls': 'none', 'connect_timeout': 3, 'command_timeout': 5, 'deadline': 8}
        if behaviour.startswith('tls_') or behaviour in ('starttls_garbage', 'exchange'):
            options.update(tls='starttls', tls_verify=True, ca_path=entry.get('ca_file') or ca, server_name=entry['hostname'])
        if behaviour == 'data_no_answer':
            options['send_message'] = True
            # The same silence inside TLS: Mono's SslStream reads on a task underneath, where socket timeouts
            # surface as AggregateException.
            in_tls = dict(options, tls='starttls', tls_verify=True, ca_path=entry.get('ca_file') or ca, server_name=entry['hostname'])
            cases.append(('fault_data_no_answer_tls', in_tls))
        if behaviour == 'auth_required':
            with open(entry['password_file']) as handle:
                cases.append(('fault_auth_required_good', dict(options, auth={'username': entry['username'],
                                                                              'password': handle.read().strip()})))
            cases.append(('fault_auth_required_bad', dict(options, auth={'username': entry['username'], 'password': 'wrong'})))
        cases.append(('fault_' + behaviour, options))
    for name, options in cases:
        # Both engines run at once on a shared 2-core machine: a reply can take 0.3 s under load. A fixed threshold
        # keeps "slow" about the server; slow_banner (2 s) keeps the automatic one, tarpit_ok (0.3 s) gets 0.2 s.
        if name == 'fault_tarpit_ok':
            options['slow_threshold'] = 0.2
        elif name != 'fault_slow_banner':
            options.setdefault('slow_threshold', 1.0)
    return cases


def run_python(options):
    probe = SmtpProbe(options)
    return probe.run_raw()


def run_csharp(options_list, concurrency=4):
    """Raw records of the C# engine for several probes, in one Mono process (Engine.RunMany)."""
    request = {'targets': [engine_options(options) for options in options_list], 'concurrency': concurrency}
    completed = subprocess.run([RUN_ENGINE], input=json.dumps(request), capture_output=True, text=True, timeout=240, check=False)
    if completed.returncode != 0:
        raise RuntimeError('run-engine failed (%d): %s' % (completed.returncode, completed.stderr[-2000:]))
    return json.loads(completed.stdout)['results']


def warm_up(env):
    """One dialogue with each kind of lab server before anything is compared: a freshly started lab spawns its
    smtpd processes and Dovecot's auth worker on first use, and that first reply can take seconds."""
    with open(env['MAILFLOW_LAB_SASL_PASSWORD_FILE']) as handle:
        password = handle.read().strip()
    common = {'helo_name': 'warm-up.contoso.test', 'tls': 'none', 'connect_timeout': 5, 'command_timeout': 15, 'deadline': 30,
              'quit_after': 'ehlo'}
    probes = [dict(common, host=env['MAILFLOW_LAB_MX1_ADDR'], port=25),
              dict(common, host=env['MAILFLOW_LAB_SUBMISSION_ADDR'], port=int(env['MAILFLOW_LAB_SUBMISSION_PORT']),
                   auth={'username': env['MAILFLOW_LAB_SASL_USER'], 'password': password}, quit_after='auth'),
              dict(common, host=env['MAILFLOW_LAB_FAULT_BASE'], port=int(env['MAILFLOW_LAB_FAULT_PORT']))]
    if env.get('MAILFLOW_LAB_EXIM_ADDR'):
        probes.append(dict(common, host=env['MAILFLOW_LAB_EXIM_ADDR'], port=25))
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        list(pool.map(lambda options: SmtpProbe(options).run_raw(), probes))


# Scenarios that run after all others (see submission_auth_bad_password).
LAST = ('submission_auth_bad_password',)


def run_both(cases, concurrency=3):
    """{name: (options, python raw, csharp raw)}; both engines run the scenarios concurrently (LAST ones after)."""
    results = _run_both([case for case in cases if case[0] not in LAST], concurrency)
    results.update(_run_both([case for case in cases if case[0] in LAST], concurrency))
    return results


def _run_both(cases, concurrency):
    if not cases:
        return {}
    prepared = [(name, prepare(options)) for name, options in cases]
    with ThreadPoolExecutor(max_workers=concurrency + 1) as pool:
        csharp_future = pool.submit(run_csharp, [options for _name, options in prepared], concurrency)
        with ThreadPoolExecutor(max_workers=concurrency) as python_pool:
            python_raws = list(python_pool.map(run_python, [options for _name, options in prepared]))
        csharp_raws = csharp_future.result()
    return dict((name, (options, python_raw, csharp_raw))
                for (name, options), python_raw, csharp_raw in zip(prepared, python_raws, csharp_raws))


def _mask(value):
    if isinstance(value, str):
        return _SECONDS.sub('<n> s', _DATE.sub('<date>', _QUEUE_ID.sub(r'\1<id>', value)))
    if isinstance(value, dict):
        return dict((key, '<id>' if key == 'queued_as' and item else _mask(item)) for key, item in value.items()
                    if key not in _TIMING_KEYS)
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return value


def _specific(path):
    for pattern, _reason in ENGINE_SPECIFIC:
        if re.search(pattern, path):
            return True
    return False


def differences(left, right, path=''):
    """Paths (with both values) where two results differ, outside ENGINE_SPECIFIC."""
    found = []
    if _specific(path):
        return found
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            child = '%s.%s' % (path, key) if path else key
            if key not in left or key not in right:
                if not _specific(child):
                    found.append((child, left.get(key, '<missing>'), right.get(key, '<missing>')))
                continue
            found.extend(differences(left[key], right[key], child))
        return found
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return [(path, left, right)]
        for index, (one, other) in enumerate(zip(left, right)):
            found.extend(differences(one, other, '%s[%d]' % (path, index)))
        return found
    if left != right:
        found.append((path, left, right))
    return found


def transcript_differences(python_lines, csharp_lines):
    """The wire lines (sent and received) must be equal; events only where their text is the dialogue's own."""
    def keep(lines):
        return [_mask(line) for line in lines if not _RUNTIME_EVENTS.match(line)]
    one, other = keep(python_lines), keep(csharp_lines)
    if one == other:
        return []
    return [('transcript', one, other)]


def compare(options, python_raw, csharp_raw):
    """Differences between the results the builder makes from both raw records (empty: the same result)."""
    python_result = _mask(build_result(options, copy.deepcopy(python_raw)))
    csharp_result = _mask(build_result(options, copy.deepcopy(csharp_raw)))
    for python_step, csharp_step in zip(python_result['steps'], csharp_result['steps']):
        if python_step['error'] == csharp_step['error'] and python_step['error'] in RUNTIME_MESSAGES:
            python_step['error_message'] = csharp_step['error_message'] = '<runtime text>'

    return (differences(python_result, csharp_result)
            + transcript_differences(python_result['transcript'], csharp_result['transcript']))
