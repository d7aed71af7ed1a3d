#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: mail_roundtrip
short_description: Send a marked test message, wait for it in a mailbox, and report whether, where and how fast it arrived
version_added: 0.1.0
description:
  - What C(Test-Mailflow) does between Exchange mailboxes, for any estate and from any host. A probe proves that a
    server accepts a message; this proves that mail arrives.
  - Sends one message with a unique token (in the C(Subject) and in the C(X-Mailflow-Roundtrip) header) through the
    path O(via) names, then waits up to O(timeout) seconds for it in a mailbox, over IMAP or in a Maildir on the
    managed host.
  - Reports whether the first server accepted it (RV(queued_as)), whether and when it was delivered (RV(latency_s)),
    the folder it landed in (RV(folder), RV(junk)), and the C(Received) chain parsed into RV(hops) (host, time, delay
    since the previous hop, TLS protocol and cipher where the header says).
  - A diagnosis (RV(diagnosis)) explains what went wrong, with causes and a remedy, from a catalog kept as
    data. It says whether the mailbox could not be opened, the message was refused at submission, not delivered within the timeout
    (with the last host known to have it), delivered to a junk folder, or delayed beyond O(max_latency) (with the
    hop that held it).
  - The mailbox is opened before anything is sent, so a wrong password costs no message. After the message is found
    it is removed (O(cleanup)); the search and the removal use the token only, nothing else in the mailbox is read
    or touched.
  - A round trip that did not pass fails the task (see O(fail_on_failure)); the failed result keeps every return
    value. The result is also stored in C(ansible_facts.mailflow.roundtrip[<name>]); the action plugin merges it with
    earlier facts.
options:
  name:
    description:
      - The key under C(ansible_facts.mailflow.roundtrip). Default is the recipient address.
    type: str
  via:
    description:
      - V(submission) sends through a submission service (port 587 with AUTH), by default the managed host's own
        (O(host=localhost)).
      - V(relay) sends through the server in O(host) (a smart host or an internal relay), with AUTH when O(auth) is
        given.
      - V(mx) sends to the recipient domain's MX, chosen as M(mailops.mailflow.mx_probe) with O(mailops.mailflow.mx_probe#module:probe=first_success)
        chooses it (lowest preference first, the next exchanger when one does not take the message).
    type: str
    choices: [submission, relay, mx]
    default: submission
  host:
    description:
      - The server to send through, as a name or an IP address. Default V(localhost) with O(via=submission);
        required with O(via=relay); not allowed with O(via=mx).
    type: str
  port:
    description:
      - The SMTP port. Default V(587) with O(via=submission), V(25) otherwise.
    type: int
  recipient:
    description:
      - The monitored mailbox's address. The message goes there, and O(mailbox) is where it is read.
    type: str
    required: true
  sender:
    description:
      - The envelope sender and the C(From) header. Bounces of the test message go there.
    type: str
    required: true
  tls:
    description:
      - TLS towards the SMTP server, as in M(mailops.mailflow.smtp_probe).
    type: str
    choices: [starttls, required, implicit, none]
    default: starttls
  tls_verify:
    description:
      - Refuse to send when the SMTP server's certificate does not verify.
    type: bool
    default: false
  ca_path:
    description:
      - CA bundle that verifies the SMTP server and, unless O(mailbox.ca_path) is set, the IMAP server. Default is the
        managed host's trust store.
    type: path
  server_name:
    description:
      - The SMTP server's name for SNI and the certificate check when O(host) is an address.
    type: str
  helo_name:
    description:
      - The name said in C(EHLO). Default is the managed host's FQDN.
    type: str
  auth:
    description:
      - SMTP AUTH credentials; required with O(via=submission).
    type: dict
    suboptions:
      username:
        description: The user name.
        type: str
        required: true
      password:
        description: The password. It never appears in the output, the facts or the transcript.
        type: str
        required: true
      mechanism:
        description: V(auto) picks PLAIN, then LOGIN, from what the server offers.
        type: str
        choices: [auto, plain, login]
        default: auto
  nameservers:
    description:
      - With O(via=mx), the nameservers to ask for the MX. Default is the managed host's C(/etc/resolv.conf).
    type: list
    elements: str
  dns_port:
    description:
      - With O(via=mx), the nameservers' port.
    type: int
    default: 53
  subject:
    description:
      - The subject; the token is appended to it.
    type: str
    default: mailflow round trip
  headers:
    description:
      - Extra headers for the message (for example C(X-Spam-Flag) to test a filter). C(X-Mailflow-Roundtrip) is
        the module's own.
    type: dict
    default: {}
  mailbox:
    description:
      - Where the message is awaited.
    type: dict
    required: true
    suboptions:
      type:
        description:
          - V(imap) logs in to an IMAP server (Python's C(imaplib)) over verified TLS.
          - V(maildir) reads a Maildir (Maildir++ folders, as Dovecot and Postfix write them) on the managed host.
        type: str
        choices: [imap, maildir]
        default: imap
      host:
        description: The IMAP server (with V(imap)).
        type: str
      port:
        description: The IMAP port. Default V(993) with O(mailbox.tls=implicit), V(143) with V(starttls).
        type: int
      tls:
        description: Implicit TLS (port 993) or C(STARTTLS) (port 143). The certificate is always verified.
        type: str
        choices: [implicit, starttls]
        default: implicit
      server_name:
        description: The IMAP server's name for SNI and the certificate check when O(mailbox.host) is an address.
        type: str
      username:
        description: The IMAP user.
        type: str
      password:
        description: The IMAP password. It never appears in the output, the facts or the report.
        type: str
      ca_path:
        description: CA bundle that verifies the IMAP server. Default is O(ca_path), else the trust store.
        type: path
      path:
        description: The Maildir (with V(maildir)), the directory holding C(new/) and C(cur/).
        type: path
      folders:
        description: The folders to look in, in order. A Maildir's folder C(X) is its C(.X) directory.
        type: list
        elements: str
        default: [INBOX, Junk]
      junk_folders:
        description: Which of O(mailbox.folders) are junk; a message found there does not pass.
        type: list
        elements: str
        default: [Junk]
  timeout:
    description:
      - Seconds to wait for the message after sending it (at most 3600).
    type: float
    default: 60
  poll_interval:
    description:
      - Seconds between two looks into the mailbox; the latency is measured to this resolution.
    type: float
    default: 1
  max_latency:
    description:
      - Seconds. A message that takes longer does not pass (diagnosis V(delayed), naming the hop that held it).
        Must be below O(timeout).
    type: float
  cleanup:
    description:
      - Remove the test message once it was found (IMAP C(UID EXPUNGE), which touches no other message; a server
        without C(UIDPLUS) keeps it, with a note).
    type: bool
    default: true
  connect_timeout:
    description: Seconds for each TCP connection (SMTP and IMAP).
    type: float
    default: 10
  command_timeout:
    description: Seconds to wait for each SMTP reply.
    type: float
    default: 30
  labels:
    description:
      - Free-form data returned unchanged in RV(labels), for the collection's report (C(check), C(role), C(domain),
        C(target), C(required)).
    type: dict
    default: {}
  fail_on_failure:
    description:
      - When true, a round trip that did not pass fails the task; when false it is a result and RV(passed) says how
        it went. Invalid options fail the task either way, before anything is sent.
    type: bool
    default: true
notes:
  - Latency is measured from the start of the SMTP dialogue to the poll that found the message, so to
    O(poll_interval). RV(header_latency_s) is what the C(Received) headers say (whole seconds).
  - Hop delays come from the clocks of the hosts on the path; a skewed clock shows as a negative or inflated delay.
seealso:
  - module: mailops.mailflow.smtp_probe
    description: The SMTP dialogue this module uses to send.
  - module: mailops.mailflow.mx_probe
    description: How O(via=mx) picks the exchanger.
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
    details: Nothing is sent and the mailbox is not opened; RV(check_mode_note) says what would be done.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Send from Kate's submission account to her own mailbox and confirm arrival within a minute
  mailops.mailflow.mail_roundtrip:
    name: contoso_to_fabrikam
    host: smtp.roundtrip.contoso.com
    server_name: smtp.roundtrip.contoso.com
    tls: required
    tls_verify: true
    ca_path: /etc/ssl/certs/fabrikam-ca.pem
    auth:
      username: kate@roundtrip.contoso.com
      password: "{{ vault_kate_password }}"
    sender: kate@roundtrip.contoso.com
    recipient: kate@roundtrip.contoso.com
    mailbox:
      host: imap.roundtrip.contoso.com
      username: kate@roundtrip.contoso.com
      password: "{{ vault_kate_password }}"
    timeout: 60
    max_latency: 30
  register: roundtrip

- name: Show where it went and how long each hop took
  ansible.builtin.debug:
    msg: "{{ roundtrip.folder }} after {{ roundtrip.latency_s }} s: {{ roundtrip.hops | map(attribute='by') | join(' -> ') }}"

- name: Straight to the recipient domain's MX, waiting in a Maildir on this host; report instead of failing
  mailops.mailflow.mail_roundtrip:
    via: mx
    sender: kate@roundtrip.contoso.com
    recipient: kate@roundtrip.contoso.com
    mailbox:
      type: maildir
      path: /var/mail/roundtrip/kate
    timeout: 30
    fail_on_failure: false
'''

RETURN = r'''
token:
  description: The token of the test message (in its Subject and C(X-Mailflow-Roundtrip) header).
  returned: always
  type: str
  sample: mailflow-rt-3f2a9c0d1e2b4a5968778695
via:
  description: O(via).
  returned: always
  type: str
  sample: submission
sender:
  description: The envelope sender.
  returned: always
  type: str
recipient:
  description: The recipient.
  returned: always
  type: str
target:
  description: The server sent through (null with O(via=mx), where RV(smtp) names the exchanger).
  returned: always
  type: dict
  sample: {host: smtp.contoso.com, port: 587}
mailbox:
  description: Where the message was awaited, without the password; C(tls_session) is the IMAP TLS version and cipher.
  returned: always
  type: dict
  sample: {type: imap, host: imap.contoso.com, port: 993, tls: implicit, username: kate@contoso.com,
           folders: [INBOX, Junk], junk_folders: [Junk], tls_session: {version: TLSv1.3, cipher: TLS_AES_256_GCM_SHA384}}
mailbox_error:
  description: Why the mailbox could not be opened (C(condition), C(message)).
  returned: when the mailbox could not be opened
  type: dict
  sample: {condition: imap_login_failed, message: "login as kate@contoso.com refused: [AUTHENTICATIONFAILED] Authentication failed."}
timeout:
  description: O(timeout).
  returned: always
  type: float
max_latency:
  description: O(max_latency).
  returned: always
  type: float
sent:
  description: Whether a message was sent (an SMTP dialogue ran).
  returned: always
  type: bool
accepted:
  description: Whether the first server accepted the message.
  returned: always
  type: bool
queued_as:
  description: The queue id the first server gave.
  returned: always
  type: str
  sample: 4B7E91703FA
delivered:
  description: Whether the message was found in the mailbox before O(timeout).
  returned: always
  type: bool
folder:
  description: The folder it was found in.
  returned: always
  type: str
  sample: INBOX
junk:
  description: Whether that folder is one of O(mailbox.junk_folders).
  returned: always
  type: bool
latency_s:
  description: Seconds from the start of sending to finding the message (resolution O(poll_interval)).
  returned: always
  type: float
  sample: 1.02
header_latency_s:
  description: Seconds between the first and the last C(Received) header (whole seconds).
  returned: always
  type: float
  sample: 0.0
sent_at:
  description: When sending started (ISO 8601, UTC).
  returned: always
  type: str
delivered_at:
  description: When the message was found (ISO 8601, UTC).
  returned: always
  type: str
hops:
  description: The C(Received) chain, oldest hop first.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: Position on the path, 0 for the first server.
      type: int
    from:
      description: The host that handed the message over, as the header names it.
      type: str
      sample: relay.contoso.com
    from_ip:
      description: Its address, when the header gives one.
      type: str
    from_detail:
      description: The comments after C(from) (reverse name, address, TLS details).
      type: str
    by:
      description: The host that received it.
      type: str
      sample: mx.fabrikam.com
    with:
      description: The protocol (ESMTPS, ESMTPSA, LMTP, ...).
      type: str
    id:
      description: The receiver's queue id.
      type: str
    for:
      description: The recipient the header names.
      type: str
    time:
      description: The header's time (ISO 8601, UTC).
      type: str
    delay_s:
      description: Seconds since the previous hop (the first hop, since sending started), in whole seconds.
      type: float
    tls:
      description: C(protocol) and C(cipher) when the header says TLS was used (both null when it says so only by
        ESMTPS); null when it does not.
      type: dict
      sample: {protocol: TLSv1.3, cipher: TLS_AES_256_GCM_SHA384}
    raw:
      description: The header, unfolded.
      type: str
slowest_hop:
  description: The hop with the largest delay; C(held_by) is the host that had the message meanwhile.
  returned: always
  type: dict
  sample: {index: 2, by: mx.fabrikam.com, from: relay.contoso.com, delay_s: 4.0, held_by: relay.contoso.com}
removed:
  description: Whether the test message was removed; null when it was not found.
  returned: always
  type: bool
smtp:
  description: The sending dialogue, trimmed (target, passed, message_accepted, queued_as, tls, steps with their codes,
    the SMTP diagnosis, the transcript with secrets masked); C(exchanger) with O(via=mx).
  returned: when a message was sent
  type: dict
diagnosis:
  description: What the outcome means. Null in check mode.
  returned: always
  type: dict
  contains:
    category:
      description: delivered, mailbox_unreachable, refused_at_submission, not_delivered, delivered_to_junk or delayed.
      type: str
    status:
      description: ok, mailbox, refused, not_delivered, junk or delayed.
      type: str
    summary:
      description: One line.
      type: str
    causes:
      description: Likely causes.
      type: list
      elements: str
    remedy:
      description: What to do.
      type: str
    notes:
      description: Extra remarks (the last host known to have the message, why it was not removed).
      type: list
      elements: str
passed:
  description: Delivered to a folder that is not junk, within O(max_latency) when set.
  returned: always
  type: bool
warnings:
  description: What the SMTP engine or the mailbox reported on the way.
  returned: always
  type: list
  elements: str
elapsed_ms:
  description: Milliseconds for the whole round trip.
  returned: always
  type: float
labels:
  description: O(labels), unchanged.
  returned: always
  type: dict
  sample: {check: roundtrip, role: roundtrip, domain: fabrikam.com, target: kate@fabrikam.com, required: true}
check_mode_note:
  description: In check mode, what would have been done.
  returned: in check mode
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message, roundtrip_summary
from ansible_collections.mailops.mailflow.plugins.module_utils._roundtrip.engine import run_roundtrip
from ansible_collections.mailops.mailflow.plugins.module_utils._roundtrip.options import (
    DEFAULT_FOLDERS, DEFAULT_JUNK_FOLDERS, DEFAULT_SUBJECT, IMAP_TLS, MAILBOX_TYPES, VIA, RoundtripOptionError)
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import AUTH_MECHANISMS, TLS_MODES


def argument_spec():
    return dict(
        name=dict(type='str'),
        via=dict(type='str', default='submission', choices=list(VIA)),
        host=dict(type='str'),
        port=dict(type='int'),
        recipient=dict(type='str', required=True),
        sender=dict(type='str', required=True),
        tls=dict(type='str', default='starttls', choices=list(TLS_MODES)),
        tls_verify=dict(type='bool', default=False),
        ca_path=dict(type='path'),
        server_name=dict(type='str'),
        helo_name=dict(type='str'),
        auth=dict(type='dict', options=dict(
            username=dict(type='str', required=True),
            password=dict(type='str', required=True, no_log=True),
            mechanism=dict(type='str', default='auto', choices=list(AUTH_MECHANISMS)),
        )),
        nameservers=dict(type='list', elements='str'),
        dns_port=dict(type='int', default=53),
        subject=dict(type='str', default=DEFAULT_SUBJECT),
        headers=dict(type='dict', default={}),
        mailbox=dict(type='dict', required=True, options=dict(
            type=dict(type='str', default='imap', choices=list(MAILBOX_TYPES)),
            host=dict(type='str'),
            port=dict(type='int'),
            tls=dict(type='str', default='implicit', choices=list(IMAP_TLS)),
            server_name=dict(type='str'),
            username=dict(type='str'),
            password=dict(type='str', no_log=True),
            ca_path=dict(type='path'),
            path=dict(type='path'),
            folders=dict(type='list', elements='str', default=list(DEFAULT_FOLDERS)),
            junk_folders=dict(type='list', elements='str', default=list(DEFAULT_JUNK_FOLDERS)),
        )),
        timeout=dict(type='float', default=60.0),
        poll_interval=dict(type='float', default=1.0),
        max_latency=dict(type='float'),
        cleanup=dict(type='bool', default=True),
        connect_timeout=dict(type='float', default=10.0),
        command_timeout=dict(type='float', default=30.0),
        labels=dict(type='dict', default={}),
        fail_on_failure=dict(type='bool', default=True),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = dict(module.params)
    fail_on_failure = params.pop('fail_on_failure')
    name = params.pop('name')
    labels = params.pop('labels')
    if name is not None and not name.strip():
        module.fail_json(msg='name: must not be empty')
    try:
        result = run_roundtrip(params, check_mode=module.check_mode)
    except RoundtripOptionError as exc:
        module.fail_json(msg=to_native(exc), option=exc.option)
    result['labels'] = labels
    facts = {'mailflow': {'roundtrip': {name or result['recipient']: dict(result)}}}
    for warning in result['warnings']:
        module.warn(warning)
    changed = bool(result['sent'] and result['accepted'])
    failure = failure_message('mail_roundtrip', result) if fail_on_failure else None
    if failure:
        module.fail_json(msg=failure, changed=changed, ansible_facts=facts, **result)
    module.exit_json(msg=roundtrip_summary(result), changed=changed, ansible_facts=facts, **result)


if __name__ == '__main__':
    main()
