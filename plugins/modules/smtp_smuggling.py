#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: smtp_smuggling
short_description: Test whether a mail server ends a message at a non-standard end-of-data sequence (SMTP smuggling)
version_added: 0.1.0
description:
  - B(SMTP smuggling) (SEC Consult, December 2023; CVE-2023-51764 Postfix, CVE-2023-51765 Sendmail,
    CVE-2023-51766 Exim) abuses servers that disagree about where a message ends. SMTP ends the data of a message
    with C(<CR><LF>.<CR><LF>). A server that also accepts, say, C(<LF>.<LF>) takes whatever follows as new commands.
    An attacker who can get such a sequence through an outbound server that passes it on unchanged then has the
    receiving server accept a second, smuggled message, with a forged sender that passes SPF for the outbound
    server's domain.
  - For each sequence, on its own connection, the module says C(MAIL FROM), C(RCPT TO) and C(DATA), then writes in
    one go a test message whose last line is followed by the sequence, a smuggled C(MAIL FROM), C(RCPT TO), C(DATA)
    and a second message with the same marker, the real C(<CR><LF>.<CR><LF>), and C(QUIT).
  - B(safe) means the server answered once (it accepted or refused the whole text as one message) and then 221 to
    C(QUIT). B(exposed) means it also answered the smuggled commands (250, 250, 354, 250), so it ended the data at the
    sequence. RV(sequences[].smuggled_accepted) says whether it also queued the smuggled message. B(inconclusive)
    means the test did not get as far as the data (connection, sender or recipient refused); see
    RV(sequences[].reason).
  - B(It sends mail.) Every sequence delivers a test message to O(rcpt_to), and an exposed one a second, smuggled
    message; both carry RV(marker) in the subject so they can be found and deleted. The envelope sender is
    O(mail_from) in both, nothing is forged. Use a mailbox you own. It never runs in check mode, which returns what
    would be sent instead.
  - The connection, C(STARTTLS), C(EHLO) and reply parsing are smtp_probe's engine. A server found exposed fails
    the task (O(fail_on_failure)), as does an inconclusive test. The result is also stored in
    C(ansible_facts.mailflow.smuggling[<name>]).
options:
  host:
    description:
      - The server, as a name or an IP address.
    type: str
    required: true
  port:
    description:
      - The TCP port.
    type: int
    default: 25
  mail_from:
    description:
      - The envelope sender of the test messages (and of the smuggled one). Use an address of your own domain.
    type: str
    required: true
  rcpt_to:
    description:
      - The one recipient of the test messages. The server must accept it; a mailbox you read.
    type: str
    required: true
  sequences:
    description:
      - The end-of-data sequences to test, each on its own connection. V(lf_dot_lf) is C(<LF>.<LF>),
        V(lf_dot_crlf) C(<LF>.<CR><LF>), V(cr_dot_crlf) C(<CR>.<CR><LF>), V(crlf_dot_cr) C(<CR><LF>.<CR>),
        V(crlf_dot_lf) C(<CR><LF>.<LF>) (the five of the SEC Consult research), V(lf_dot_cr) C(<LF>.<CR>),
        V(cr_dot_cr) C(<CR>.<CR>) and V(cr_dot_lf) C(<CR>.<LF>).
    type: list
    elements: str
    choices: [lf_dot_lf, lf_dot_crlf, cr_dot_crlf, crlf_dot_cr, crlf_dot_lf, lf_dot_cr, cr_dot_cr, cr_dot_lf]
    default: [lf_dot_lf, lf_dot_crlf, cr_dot_crlf, crlf_dot_cr, crlf_dot_lf, lf_dot_cr, cr_dot_cr, cr_dot_lf]
  tls:
    description:
      - As smtp_probe's O(mailops.mailflow.smtp_probe#module:tls). V(starttls) uses TLS when offered.
    type: str
    choices: [starttls, required, implicit, none]
    default: starttls
  tls_verify:
    description:
      - Stop when the server certificate does not verify.
    type: bool
    default: false
  ca_path:
    description:
      - CA certificates (file or directory) to verify the server with.
    type: path
  server_name:
    description:
      - The name for SNI and certificate checks when O(host) is an address.
    type: str
  helo_name:
    description:
      - The EHLO name. Default is this host's FQDN.
    type: str
  source_address:
    description:
      - Local address to connect from.
    type: str
  command_timeout:
    description:
      - Seconds to wait for each reply.
    type: float
    default: 30.0
  deadline:
    description:
      - Seconds one sequence's connection may take in all.
    type: float
    default: 60.0
  name:
    description:
      - The key under C(ansible_facts.mailflow.smuggling). Default C(<host>:<port>).
    type: str
  labels:
    description:
      - Free-form data returned unchanged as RV(labels), in the result and its fact entry.
    type: dict
    default: {}
  fail_on_failure:
    description:
      - Fail the task when RV(passed) is false (exposed or inconclusive), with a one-line C(msg) naming the
        sequences. The result keeps every other return value; set V(false) to collect results.
    type: bool
    default: true
notes:
  - Opt-in by nature. It runs only where a task names it, and sends nothing in check mode.
  - Reports C(changed) when the server accepted a test message.
seealso:
  - module: mailops.mailflow.smtp_probe
  - name: SEC Consult, SMTP Smuggling - Spoofing E-Mails Worldwide
    description: The research, with the sequences and the affected servers.
    link: https://sec-consult.com/blog/detail/smtp-smuggling-spoofing-e-mails-worldwide/
  - name: Postfix, SMTP Smuggling
    description: smtpd_forbid_bare_newline and the fixed releases.
    link: https://www.postfix.org/smtp-smuggling.html
author:
  - mailops.mailflow contributors (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: The action plugin merges the facts with earlier ones.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Sends nothing; returns the plan (RV(check_mode_note), RV(would_send)).
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Test the hardened inbound server with every sequence (it must end the data only at CRLF.CRLF)
  mailops.mailflow.smtp_smuggling:
    host: mail4.fabrikam.com
    mail_from: smuggling-test@contoso.com
    rcpt_to: smuggling-test@mail4.fabrikam.com

- name: Collect the exposure of an older server without failing, only the bare-LF sequences
  mailops.mailflow.smtp_smuggling:
    host: mail3.fabrikam.com
    mail_from: smuggling-test@contoso.com
    rcpt_to: smuggling-test@mail3.fabrikam.com
    sequences: [lf_dot_lf, lf_dot_crlf, crlf_dot_lf]
    fail_on_failure: false
  register: smuggling

- name: Name the sequences it took as the end of the data
  ansible.builtin.debug:
    msg: "{{ smuggling.exposed }}: {{ smuggling.diagnosis.remedy }}"
  when: smuggling.verdict == 'exposed'

- name: See what the test would send, without sending anything
  mailops.mailflow.smtp_smuggling:
    host: mail3.fabrikam.com
    mail_from: smuggling-test@contoso.com
    rcpt_to: smuggling-test@mail3.fabrikam.com
  check_mode: true
'''

RETURN = r'''
host:
  description: O(host).
  returned: always
  type: str
port:
  description: O(port).
  returned: always
  type: int
verdict:
  description: V(exposed) when any sequence was taken as the end of the data, else V(inconclusive) when any test
    did not reach the data, else V(safe). V(not_run) in check mode. A baseline compares this value and RV(exposed).
  returned: always
  type: str
passed:
  description: True when the verdict is V(safe); null in check mode.
  returned: always
  type: bool
summary:
  description: One line naming the exposed sequences, or saying how many were safe.
  returned: always
  type: str
exposed:
  description: Names of the sequences the server took as the end of the data.
  returned: always
  type: list
  elements: str
  sample: [lf_dot_lf, lf_dot_crlf, crlf_dot_lf]
safe:
  description: Names of the sequences the server kept inside the message.
  returned: always
  type: list
  elements: str
inconclusive:
  description: Names of the sequences whose test did not reach the data.
  returned: always
  type: list
  elements: str
marker:
  description: The token in the subject of every test message (with the sequence name appended per sequence).
  returned: unless check mode
  type: str
  sample: mailflow-smuggling-3f2a9c01b7de
sequences:
  description: One entry per sequence tested.
  returned: unless check mode
  type: list
  elements: dict
  contains:
    name:
      description: The sequence's name (as in O(sequences)).
      type: str
    sequence:
      description: The sequence, e.g. C(<LF>.<LF>).
      type: str
    verdict:
      description: V(safe), V(exposed) or V(inconclusive).
      type: str
    ended_at_sequence:
      description: Whether the server ended the data at the sequence (null when inconclusive).
      type: bool
    smuggled_accepted:
      description: Whether the server also queued the smuggled message.
      type: bool
    replies:
      description: The replies read after the message was written (code, text), in order; a safe server gives
        two (the message, QUIT), an exposed one six.
      type: list
      elements: dict
    reason:
      description: Why the test was inconclusive (the step and its reply or error), else null.
      type: str
    address:
      description: The server address connected to.
      type: str
    source_address:
      description: The local address the connection came from.
      type: str
    steps:
      description: The dialogue's steps (name, command, reply lines, error, error_message, elapsed_ms).
      type: list
      elements: dict
    transcript:
      description: The session as text lines.
      type: list
      elements: str
    elapsed_ms:
      description: Milliseconds for this sequence.
      type: float
diagnosis:
  description: C(smuggling_exposed), C(smuggling_inconclusive) or C(smuggling_safe), with causes and remedy (keys
    as sender_policy's diagnosis).
  returned: unless check mode
  type: dict
would_send:
  description: In check mode, what each sequence would send.
  returned: in check mode
  type: list
  elements: str
check_mode_note:
  description: In check mode, that nothing was sent.
  returned: in check mode
  type: str
labels:
  description: O(labels), unchanged.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_catalog import (
    SMUGGLING_EXPOSED,
    SMUGGLING_INCONCLUSIVE,
    SMUGGLING_SAFE,
    sender_diagnosis,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_policy import smuggling_summary
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import ProbeOptionError, validate_options
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.smuggling import SEQUENCE_NAMES, SEQUENCES, run_smuggling

ARGUMENT_SPEC = dict(
    host=dict(type='str', required=True),
    port=dict(type='int', default=25),
    mail_from=dict(type='str', required=True),
    rcpt_to=dict(type='str', required=True),
    sequences=dict(type='list', elements='str', choices=list(SEQUENCE_NAMES), default=list(SEQUENCE_NAMES)),
    tls=dict(type='str', default='starttls', choices=['starttls', 'required', 'implicit', 'none']),
    tls_verify=dict(type='bool', default=False),
    ca_path=dict(type='path'),
    server_name=dict(type='str'),
    helo_name=dict(type='str'),
    source_address=dict(type='str'),
    command_timeout=dict(type='float', default=30.0),
    deadline=dict(type='float', default=60.0),
    name=dict(type='str'),
    labels=dict(type='dict', default={}),
    fail_on_failure=dict(type='bool', default=True),
)
_PROBE_OPTIONS = ('host', 'port', 'mail_from', 'tls', 'tls_verify', 'ca_path', 'server_name', 'helo_name',
                  'source_address', 'command_timeout', 'deadline')
_CONDITIONS = {'exposed': SMUGGLING_EXPOSED, 'inconclusive': SMUGGLING_INCONCLUSIVE, 'safe': SMUGGLING_SAFE}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    probe_options = dict((key, params[key]) for key in _PROBE_OPTIONS)
    probe_options['rcpt_to'] = [params['rcpt_to']]
    if not params['sequences']:
        module.fail_json(msg='sequences: must name at least one of {}'.format(', '.join(SEQUENCE_NAMES)), option='sequences')
    if params['name'] is not None and not params['name'].strip():
        module.fail_json(msg='name: must not be empty', option='name')
    try:
        options = validate_options(probe_options)
    except ProbeOptionError as exc:
        module.fail_json(msg=to_native(exc), option=exc.option)
    host = options['host']
    label = '{}:{}'.format(f'[{host}]' if ':' in host else host, options['port'])
    base = {'host': host, 'port': options['port'], 'labels': params['labels']}

    if module.check_mode:
        chosen = [entry for entry in SEQUENCES if entry[0] in params['sequences']]
        would_send = ['{}: MAIL FROM:<{}>, RCPT TO:<{}>, DATA, a test message ending in {} followed by a smuggled '
                      'MAIL FROM/RCPT TO/DATA and message, <CR><LF>.<CR><LF>, QUIT'.format(
                          name, options['mail_from'], params['rcpt_to'], display) for name, _wire, display in chosen]
        module.exit_json(changed=False, verdict='not_run', passed=None, exposed=[], safe=[], inconclusive=[],
                         would_send=would_send, check_mode_note=f'check mode: nothing was sent to {label}',
                         summary=f'check mode: would test {len(chosen)} sequence(s) on {label}',
                         msg=f'check mode: would test {len(chosen)} sequence(s) on {label}', **base)

    result = run_smuggling(options, params['sequences'])
    result.update(base)
    result['passed'] = result['verdict'] == 'safe'
    result['summary'] = smuggling_summary(result)
    detail = result['summary']
    result['diagnosis'] = sender_diagnosis(_CONDITIONS[result['verdict']], 'message', detail)
    changed = any(entry['replies'] and entry['replies'][0]['code'] // 100 == 2 for entry in result['sequences'])
    facts = {'mailflow': {'smuggling': {params['name'] or label: dict(result)}}}
    failure = failure_message('smtp_smuggling', result) if params['fail_on_failure'] else None
    if failure:
        module.fail_json(msg=failure, changed=changed, ansible_facts=facts, **result)
    module.exit_json(msg=result['summary'], changed=changed, ansible_facts=facts, **result)


if __name__ == '__main__':
    main()
