#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: smtp_probe
short_description: Hold one scripted SMTP conversation with a mail server and explain every reply
version_added: 0.1.0
description:
  - Does what an Exchange administrator does with C(telnet mail1.fabrikam.com 25) (step 3 of the Microsoft guide
    "Use Telnet to test SMTP communication"), from the managed host, for any number of servers.
  - Opens the port, reads the banner, says C(EHLO) (and C(HELO) when the server rejects C(EHLO)), starts TLS, logs in
    when asked, then C(MAIL FROM), one C(RCPT TO) per recipient and, only with O(send_message=true), C(DATA) with a
    test message built by the Python C(email) package. Every command is a step with its reply code, enhanced status
    code, text and timing.
  - The outcome is explained by the collection's diagnosis catalog (what failed, likely causes, what to do), and
    RV(passed) says whether every step got the reply it should (or the one O(expect) asks for).
  - A probe that did not pass fails the task, as M(ansible.builtin.uri) and M(ansible.builtin.wait_for) do. Its message
    is one line with the step, the reply code and the diagnosis summary, and the failed result keeps every return
    value (Ansible does not store a failed task's facts, see O(fail_on_failure)). With O(fail_on_failure=false) it is
    a result instead, and RV(passed) says whether it passed, for runs that collect results (the collection's roles do
    this; the report decides).
  - Invalid options fail the task before any connection is made, whatever O(fail_on_failure) says.
  - The result is lean by default (O(detail=summary)). It keeps per step the code, enhanced code, text and time, the
    diagnosis in full where something failed or was slow, and the transcript only on failure. O(detail=full) gives
    everything.
  - With O(facts=true) the result is also stored in C(ansible_facts.mailflow.smtp[<name>]), for the report and
    baseline roles. Later probes add to these facts and erase nothing; the action plugin merges them.
options:
  host:
    description:
      - The SMTP server, as a name or an IP address. Every address the name resolves to is tried in order until one
        accepts the connection, like an MTA does.
      - The port goes in O(port), not here (V(127.0.0.1:2525) and V([::1]:25) are refused with a message saying so).
      - An internationalized name is encoded with IDNA 2008 (UTS 46), which needs the Python package C(idna) on the
        managed host; V(straße.de) is probed as C(xn--strae-oqa.de).
    type: str
    required: true
  port:
    description:
      - The TCP port. V(25) for server-to-server mail, V(587) for submission, V(465) for implicit TLS.
      - Port V(2525) on Exchange is an internal receive connector; the diagnosis adds a note about it.
    type: int
    default: 25
  name:
    description:
      - The key under C(ansible_facts.mailflow.smtp). Default is C(<host>:<port>).
    type: str
  tls:
    description:
      - V(starttls) starts TLS when the server offers C(STARTTLS), and goes on without TLS otherwise (with a warning),
        as an MTA does.
      - V(required) fails the probe when C(STARTTLS) is not offered.
      - V(implicit) speaks TLS from the first byte (port 465). V(none) never starts TLS.
      - After C(STARTTLS) the client says C(EHLO) again (step C(ehlo_tls)), and the capabilities are those announced
        over TLS.
      - Protocol words are case-insensitive here and in every other option with choices (V(STARTTLS) is V(starttls)).
    type: str
    choices: [starttls, required, implicit, none]
    default: starttls
  tls_verify:
    description:
      - Fail the probe when the server certificate does not verify (chain, validity dates, name).
      - Either way the certificate is checked and RV(tls.verified) and RV(tls.verify_error) say the outcome; the
        certificate details are reported even when verification fails.
      - The check needs a handshake with verification on. When it fails, the module reconnects once without
        verification, to read the certificate and, with O(tls_verify=false), to carry on like an opportunistic MTA.
        Both connections appear in RV(steps).
      - Not allowed with O(tls=none).
    type: bool
    default: false
  tls_min_days:
    description:
      - The fewest days the server certificate must still be valid. A certificate that expires sooner fails the
        C(starttls) step (the C(connect) step with O(tls=implicit)) with the condition C(tls_cert_expires_soon); the
        dialogue goes on, so the later steps are still tested.
      - RV(tls.certificate.days_left) is compared, whether or not the certificate verified. Not allowed with O(tls=none).
    type: int
  ca_path:
    description:
      - A CA bundle file, or a directory of hashed CA certificates, on the managed host, used instead of the system
        trust store. Not allowed with O(tls=none).
    type: path
  server_name:
    description:
      - The name sent as SNI and checked against the certificate. Default is O(host).
      - Useful when O(host) is an IP address, or when probing one MX host by address.
    type: str
  helo_name:
    description:
      - The name said in C(EHLO)/C(HELO). Default is the managed host's fully qualified domain name. When the host
        has none (only C(localhost) or a name without a dot), an address literal of the local address of the
        connection, such as C([192.0.2.1]) or C([IPv6:2001:db8::1]) (RFC 5321 section 4.1.4), never C(localhost).
      - Remote servers often check that it matches the sending address and domain (the guide's note on source IP).
    type: str
  mail_from:
    description:
      - The envelope sender for C(MAIL FROM). An empty string sends the null sender C(<>).
      - A non-ASCII domain is sent in its IDNA 2008 ASCII form, as in O(host); only a non-ASCII local part needs
        C(SMTPUTF8).
      - Required when the dialogue goes as far as C(MAIL FROM) (see O(quit_after)).
    type: str
  rcpt_to:
    description:
      - The envelope recipients, one C(RCPT TO) step each. Required when the dialogue goes as far as C(RCPT TO).
    type: list
    elements: str
    default: []
  dsn:
    description:
      - Delivery status notification parameters (RFC 3461), sent only when the server offers C(DSN). When it does
        not, they are left out with a warning and a diagnosis note.
    type: dict
    suboptions:
      notify:
        description:
          - C(NOTIFY=) on each C(RCPT TO), for example V([success, failure]) as in the guide. V(never) stands alone.
        type: list
        elements: str
        choices: [success, failure, delay, never]
      ret:
        description: C(RET=) on C(MAIL FROM), return the full message or only its headers in a bounce.
        type: str
        choices: [full, hdrs]
      envid:
        description: C(ENVID=) on C(MAIL FROM), an envelope identifier (printable ASCII, up to 100 characters).
        type: str
      orcpt:
        description: Add C(ORCPT=rfc822;<recipient>) to each C(RCPT TO).
        type: bool
        default: false
  auth:
    description:
      - Log in with C(AUTH) after TLS. Mechanisms C(PLAIN) and C(LOGIN).
      - Credentials are only sent over TLS. With O(tls=starttls) and a server that does not offer C(STARTTLS), the probe
        fails at the C(starttls) step instead; only O(tls=none) allows plain-text C(AUTH).
      - The password never appears in any output, fact or transcript, nor its base64 forms.
    type: dict
    suboptions:
      username:
        description: The user name.
        type: str
        required: true
      password:
        description: The password.
        type: str
        required: true
      mechanism:
        description: V(auto) picks C(PLAIN), then C(LOGIN), among those the server offers.
        type: str
        choices: [auto, plain, login]
        default: auto
  send_message:
    description:
      - Send C(DATA) and a test message. When false, the dialogue ends after C(RCPT TO) with C(RSET) and C(QUIT),
        and no message is ever sent.
      - Check mode always behaves as if this were false, and says so in RV(check_mode_note).
    type: bool
    default: false
  content:
    description:
      - The test message for O(send_message=true). (The name C(message) is reserved by Ansible.) It gets C(From), C(To), C(Subject), C(Date), C(Message-ID) and
        C(MIME-Version) headers, then the body, dot-stuffed and ended with a lone C(.) as the protocol requires.
    type: dict
    suboptions:
      subject:
        description: The subject. Default is C(mailflow test message).
        type: str
      body:
        description: The body text. Non-ASCII text goes as 8bit when the server offers C(8BITMIME), encoded otherwise.
        type: str
      headers:
        description: More headers, name to value. A name that is already set (such as C(Subject)) replaces it.
        type: dict
        default: {}
      from_header:
        description: The C(From) header. Default is O(mail_from).
        type: str
      to_header:
        description: The C(To) header. Default is the recipients.
        type: str
  quit_after:
    description:
      - Stop cleanly right after this step, with C(QUIT) (after C(RSET) when a transaction is open).
      - V(connect) closes without waiting for the banner. V(starttls) includes the C(EHLO) after TLS.
        V(data) needs O(send_message=true); it closes the connection after the C(354) reply, without the final dot,
        so nothing is delivered.
    type: str
    choices: [connect, banner, ehlo, starttls, auth, mail, rcpt, data]
  pipelining:
    description:
      - V(auto) sends C(MAIL FROM), all C(RCPT TO) and C(DATA) (or C(RSET) and C(QUIT)) in one write when the server
        offers C(PIPELINING) (RFC 2920), and attributes each reply to its own step. V(never) waits for each reply.
      - V(always) pipelines even when the server does not offer it, which RFC 2920 forbids; use it only to test how a
        server treats clients that talk too early.
    type: str
    choices: [auto, always, never]
    default: auto
  source_address:
    description: The local IP address to connect from (the managed host must own it).
    type: str
  ip_version:
    description: Connect over IPv4 (V('4')), IPv6 (V('6')) or whichever the name resolves to (V(auto)).
    type: str
    choices: [auto, '4', '6']
    default: auto
  connect_timeout:
    description:
      - Seconds to wait for each address to accept the TCP connection.
      - Default is 10 seconds, or O(deadline) when that is shorter.
    type: float
  command_timeout:
    description:
      - Seconds to wait for the complete reply to one command (or for the banner, or a TLS handshake). A server
        that drips its reply byte by byte still hits this limit.
    type: float
    default: 30.0
  deadline:
    description:
      - Seconds the whole probe may take, name resolution included. Every wait is cut short to fit; no server can
        stretch it. When O(connect_timeout) is also set, it must be at least that.
    type: float
    default: 60.0
  slow_threshold:
    description:
      - A step whose reply takes longer than this many seconds, yet is correct, is marked RV(steps[].slow) and the
        diagnosis gets a tarpit note (slow is not failed). In a pipelined group each reply counts from the one before.
      - Default is automatic, 0.25 seconds plus four times the TCP connect time (a few network round trips), so
        greeting delays, tarpits and flow control show on a near or a far server alike.
    type: float
  expect:
    description:
      - Per step name, the replies that count as success for that step, for negative tests such as "an unknown user
        must get 550" or "anonymous MAIL FROM on 2525 must get 530".
      - Each item is a reply code (V(550)), a class (V(5) or V(5xx)), an enhanced code (V(5.1.1)), an enhanced
        class and subject (V(5.7)), or a condition name for steps that fail without a reply (V(connection_refused),
        V(connect_timeout), V(tls_cert_expired), ...).
      - Step names are C(connect), C(banner), C(ehlo), C(helo), C(starttls), C(ehlo_tls), C(auth), C(mail), C(rcpt),
        C(data), C(message), C(rset) and C(quit).
      - Default for every step is a 2xx reply, a 3xx reply for C(data) (354) and during C(auth) (334).
    type: dict
    default: {}
  transcript_path:
    description:
      - Also write the transcript to this file on the managed host (mode 0600), like telnet's C(set logfile).
        Secrets are masked in it as everywhere else.
    type: path
  labels:
    description:
      - Free-form data returned unchanged as RV(labels), in the result and its fact entry. The collection's roles use
        it to say which check a probe is (check, role, domain, target, required); the report groups by it.
    type: dict
    default: {}
  detail:
    description:
      - How much of the result to return (and to store with O(facts=true)).
      - V(summary) keeps what a mail admin reads and what the report and the baseline need. Each step in RV(steps) is
        flat, C(name), C(code), C(enhanced), C(text) (the first reply line), C(elapsed_ms) and C(ok), with the reply
        lines only where the step failed. RV(diagnosis) has its causes and remedy, and the references only where
        something failed or was slow. RV(transcript) is returned only when the probe failed. RV(capabilities_before_tls)
        is left out, and so are the steps of a first connection that the O(tls_verify=false) reconnect repeated.
        RV(tls) keeps the session and the certificate's subject, issuer, dates, days left and fingerprint.
      - V(full) returns every value as documented below, the transcript and each step's whole reply included.
    type: str
    choices: [summary, full]
    default: summary
  facts:
    description:
      - Also store the result, at O(detail), in C(ansible_facts.mailflow.smtp[<name>]). The report and baseline roles
        read the checks from there; the inbound role sets it.
      - Off by default, so a result is not returned twice (once as return values, once as facts).
    type: bool
    default: false
  fail_on_failure:
    description:
      - Fail the task when the probe did not pass (RV(passed) is false), with a one-line RV(msg) that names the
        step, the reply code and the diagnosis. The result keeps every other return value.
      - Ansible does not add the facts of a failed task to the host's facts (they stay in the registered result,
        under C(ansible_facts)). Where a report reads the facts, set O(fail_on_failure=false), as the roles do.
      - Set it to V(false) to collect results instead (the collection's roles do, and their report decides).
      - A negative test that expects a refusal is better written with O(expect), which makes the refusal a pass.
      - Check mode fails the same way; it only keeps the dialogue from sending a message.
    type: bool
    default: true
notes:
  - Every value that reaches the wire (host, helo_name, addresses, DSN values, credentials, message headers) is checked
    for CR, LF and NUL before connecting, so a probe cannot inject SMTP commands.
  - Replies are read with hard limits (4096 bytes per line, 500 lines, 64 KiB per reply). A server that exceeds them
    gets a protocol diagnosis; the module never reads unbounded data.
  - C(changed) is true only when the server accepted a message for delivery.
seealso:
  - module: mailops.mailflow.mx_lookup
    description: Find the servers to probe (the guide's C(nslookup) step).
  - module: mailops.mailflow.mx_probe
    description: Probe every exchanger of a domain, the way an MTA would.
  - name: Test SMTP communication with Telnet (Exchange)
    description: The procedure this module automates.
    link: https://learn.microsoft.com/exchange/mail-flow/test-smtp-telnet
  - name: RFC 5321, Simple Mail Transfer Protocol
    description: Replies, commands and the order of the dialogue.
    link: https://www.rfc-editor.org/rfc/rfc5321
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
    details: The dialogue runs, but never as far as C(DATA).
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
# The guide's session, as a task:
#   OPEN mail1.fabrikam.com 25
#   EHLO contoso.com
#   MAIL FROM: <chris@contoso.com>
#   RCPT TO: <kate@fabrikam.com> NOTIFY=success,failure
#   DATA
#   Subject: Test from Contoso
#
#   This is a test message
#   .
#   QUIT
- name: Send the guide's test message from Contoso to Fabrikam
  mailops.mailflow.smtp_probe:
    host: mail1.fabrikam.com
    port: 25
    helo_name: contoso.com
    mail_from: chris@contoso.com
    rcpt_to:
      - kate@fabrikam.com
    dsn:
      notify: [success, failure]
    send_message: true
    content:
      subject: Test from Contoso
      body: This is a test message
    transcript_path: /tmp/TelnetTest.txt
    # The transcript also when the session passed; keep going when a step fails, to show it.
    detail: full
    fail_on_failure: false
  register: guide

- name: Show the session like the telnet window did
  ansible.builtin.debug:
    var: guide.transcript

- name: Say how it went (where it failed, with which reply, and why) and what to do
  ansible.builtin.debug:
    msg: "{{ guide.msg }} -> {{ guide.diagnosis.remedy }}"

- name: The queue identifier to look for in the message tracking logs
  ansible.builtin.debug:
    msg: "Queued as {{ guide.queued_as }}"
  when: guide.queued_as is not none

- name: Without DATA (the default) the dialogue stops after RCPT TO; a step that fails fails the task
  mailops.mailflow.smtp_probe:
    host: mail1.fabrikam.com
    helo_name: contoso.com
    mail_from: chris@contoso.com
    rcpt_to: [kate@fabrikam.com]

- name: Negative test, an unknown user must be rejected with 550 5.1.1
  mailops.mailflow.smtp_probe:
    host: mail1.fabrikam.com
    helo_name: contoso.com
    mail_from: chris@contoso.com
    rcpt_to: [nobody.here@fabrikam.com]
    expect:
      rcpt: ['5.1.1']

- name: Port 25 of the retired exchanger must be closed from this network segment
  mailops.mailflow.smtp_probe:
    host: oldmx.fabrikam.com
    quit_after: connect
    connect_timeout: 5
    deadline: 10
    expect:
      connect: [connection_refused, connect_timeout]

- name: STARTTLS is required and its certificate must verify against our CA
  mailops.mailflow.smtp_probe:
    host: mail1.fabrikam.com
    tls: required
    tls_verify: true
    ca_path: /etc/ssl/certs/fabrikam-ca.pem
    quit_after: starttls
  register: tls_check

- name: The certificate must verify and stay valid for at least 21 more days
  mailops.mailflow.smtp_probe:
    host: mail1.fabrikam.com
    tls: required
    tls_verify: true
    tls_min_days: 21
    quit_after: starttls
    labels: {check: starttls, domain: fabrikam.com}

- name: Days until the certificate expires
  ansible.builtin.debug:
    msg: "{{ tls_check.tls.certificate.subject }} expires in {{ tls_check.tls.certificate.days_left }} days"

- name: Authenticated submission on 587
  mailops.mailflow.smtp_probe:
    host: smtp.contoso.com
    port: 587
    tls: required
    auth:
      username: chris@contoso.com
      password: "{{ vault_chris_password }}"
    mail_from: chris@contoso.com
    rcpt_to: [kate@fabrikam.com]
    name: submission
    facts: true

- name: A probe stored with facts=true is kept in the facts
  ansible.builtin.debug:
    var: ansible_facts.mailflow.smtp['submission'].diagnosis
'''

RETURN = r'''
msg:
  description:
    - One line saying whether the probe passed, and if not at which step, with which reply and why.
    - When a message was queued, also its queue identifier, for how many recipients, and which were refused with
      their codes.
  returned: always
  type: str
  sample: "mail1.fabrikam.com:25 failed at rcpt (550 5.1.1): User unknown: the recipient mailbox does not exist on the destination."
target:
  description: Where the probe went.
  returned: always
  type: dict
  contains:
    host:
      description: O(host) as given.
      type: str
      sample: mail1.fabrikam.com
    port:
      description: The port.
      type: int
      sample: 25
    address:
      description: The IP address that accepted the connection; null when none did.
      type: str
      sample: 192.168.1.10
    ip_version:
      description: 4 or 6; null when no connection was made.
      type: int
      sample: 4
    source_address:
      description: The local address the connection came from.
      type: str
      sample: 172.16.0.5
steps:
  description:
    - One entry per command sent, in order, plus C(connect) and C(banner). Each C(RCPT TO) is its own step.
    - In a pipelined group, RV(steps[].elapsed_ms) counts from the write of the whole group.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: connect, banner, ehlo, helo, starttls, ehlo_tls, auth, mail, rcpt, data, message, rset or quit.
      type: str
      sample: rcpt
    command:
      description:
        - The command as sent, with credentials masked; null for the banner; a size summary for the message.
        - With O(detail=summary) only on C(rcpt) steps.
      type: str
      sample: "RCPT TO:<kate@fabrikam.com> NOTIFY=SUCCESS,FAILURE"
    code:
      description: O(detail=summary) only, when a reply came. The basic reply code (RV(steps[].reply.code) in full).
      type: int
      sample: 250
    enhanced:
      description: O(detail=summary) only, when a reply came. The trusted enhanced status code, or null.
      type: str
      sample: 2.1.5
    text:
      description: O(detail=summary) only, when a reply came. The text of the first reply line, without codes.
      type: str
      sample: Recipient OK
    lines:
      description: O(detail=summary) only, on a step that failed and on a banner of several lines. The reply lines.
      type: list
      elements: str
    reply:
      description: O(detail=full) only. The reply; null when none came (see RV(steps[].error)).
      type: dict
      contains:
        code:
          description: The basic reply code.
          type: int
          sample: 250
        enhanced:
          description:
            - The enhanced status code (RFC 3463), when trusted, that is when the server offered
              C(ENHANCEDSTATUSCODES) or its class matches the reply code.
          type: str
          sample: 2.1.5
        lines:
          description: The reply lines as received.
          type: list
          elements: str
          sample: ["250 2.1.5 Recipient OK"]
        text:
          description: The reply text without codes; lines joined with newlines.
          type: str
          sample: Recipient OK
    elapsed_ms:
      description: Milliseconds from sending the command to the complete reply.
      type: float
      sample: 1.9
    ok:
      description: Whether the step got the reply it should (or the one O(expect) names).
      type: bool
      sample: true
    error:
      description:
        - The condition when the step failed without a proper reply (connection_refused, connect_timeout,
          command_timeout, deadline_exceeded, connection_closed, reply_malformed, reply_too_large, tls_cert_expired,
          tls_cert_expires_soon, starttls_not_offered, ...); null otherwise.
        - C(tls_cert_expires_soon) (see O(tls_min_days)) comes with the server's reply to C(STARTTLS).
      type: str
    error_message:
      description: What happened, in words, for RV(steps[].error).
      type: str
    slow:
      description: Present and true when the reply was correct but slower than O(slow_threshold).
      type: bool
    fallback:
      description: On the C(ehlo) step, V(helo) when the server rejected C(EHLO) and accepted C(HELO).
      type: str
    attempts:
      description: On C(connect) steps, each address tried, with its error and time.
      type: list
      elements: dict
helo_name:
  description:
    - The name this host said in C(EHLO)/C(HELO), O(helo_name) or the host's FQDN (else an address literal of the local
      address, never C(localhost)). Null when the dialogue ended before it.
  returned: always
  type: str
  sample: mail.contoso.com
server:
  description: What the server says about itself.
  returned: always
  type: dict
  contains:
    software:
      description:
        - The server or mail gateway that its banner and C(EHLO) replies name. V(exchange), V(exchange_online),
          V(postfix), V(exim), V(opensmtpd), V(sendmail), V(mimecast), V(proofpoint), V(cisco) or V(barracuda); null
          when none is recognised.
        - The diagnosis uses it, for example to give the Exchange port 2525 note only to an Exchange server.
      type: str
      sample: postfix
capabilities:
  description:
    - What the server announced in its last C(EHLO) reply, typed.
    - After C(STARTTLS) that is the C(EHLO) inside TLS (RFC 3207 discards what came before), which no longer offers
      C(STARTTLS). What the server announced before TLS is in RV(capabilities_before_tls); whether it offered
      C(STARTTLS) is also in RV(tls.offered).
  returned: always
  type: dict
  contains:
    esmtp:
      description: Whether the server answered C(EHLO) (false after a C(HELO) fallback).
      type: bool
    greeting:
      description: The first line of the C(EHLO) reply.
      type: str
      sample: mail1.fabrikam.com Hello [172.16.0.5]
    seen_client_address:
      description: The client address the server says it saw, when its greeting names one.
      type: str
      sample: 172.16.0.5
    size:
      description: The C(SIZE) limit in bytes (0 means no fixed limit); null when not announced.
      type: int
      sample: 37748736
    auth:
      description: The C(AUTH) mechanisms offered.
      type: list
      elements: str
      sample: [PLAIN, LOGIN]
    pipelining:
      description: C(PIPELINING) offered.
      type: bool
    starttls:
      description: C(STARTTLS) offered.
      type: bool
    dsn:
      description: C(DSN) offered.
      type: bool
    smtputf8:
      description: C(SMTPUTF8) offered.
      type: bool
    eightbitmime:
      description: C(8BITMIME) offered.
      type: bool
    chunking:
      description: C(CHUNKING) offered.
      type: bool
    enhancedstatuscodes:
      description: C(ENHANCEDSTATUSCODES) offered.
      type: bool
    other:
      description: Every other keyword line, as sent.
      type: list
      elements: str
      sample: [X-ANONYMOUSTLS, "X-EXPS GSSAPI NTLM", BINARYMIME, XRDST]
capabilities_before_tls:
  description:
    - O(detail=full) only.
    - After C(STARTTLS), what the server announced in its C(EHLO) reply before TLS (so with RV(capabilities.starttls)
      true there), in the shape of RV(capabilities). Null when the session never switched to TLS with C(STARTTLS).
  returned: with O(detail=full)
  type: dict
  sample: {esmtp: true, starttls: true, pipelining: true, size: 10240000, auth: []}
tls:
  description: The TLS session and the server certificate.
  returned: always
  type: dict
  contains:
    mode:
      description: O(tls) as given.
      type: str
    used:
      description: Whether the session ran over TLS.
      type: bool
    offered:
      description: Whether the server offered C(STARTTLS) before TLS; null with O(tls=implicit) or before C(EHLO).
      type: bool
    version:
      description: The TLS protocol version.
      type: str
      sample: TLSv1.3
    cipher:
      description: The cipher suite.
      type: str
      sample: TLS_AES_256_GCM_SHA384
    bits:
      description: The cipher's secret bits.
      type: int
    server_name:
      description: The name sent as SNI and checked against the certificate.
      type: str
    verified:
      description: Whether the certificate verified; null when no TLS handshake happened.
      type: bool
    verify_error:
      description:
        - Why it did not verify, as a condition name, one of tls_cert_expired, tls_cert_not_yet_valid,
          tls_cert_self_signed, tls_cert_unknown_ca, tls_cert_name_mismatch, tls_cert_invalid.
      type: str
    verify_message:
      description: OpenSSL's words for it.
      type: str
      sample: certificate has expired
    certificate:
      description:
        - The server certificate, read even when it does not verify, and also when the handshake fails after the
          server sent it (the module then reconnects once with a handshake that checks nothing, only to read it; the
          transcript says so). Null without TLS. When the certificate cannot be parsed, only
          RV(tls.certificate.sha256) and a C(parse_error) are given.
      type: dict
      contains:
        subject:
          description: The subject, most specific part first.
          type: str
          sample: CN=mail1.fabrikam.com, O=Fabrikam
        issuer:
          description: The issuer.
          type: str
        common_name:
          description: The subject's common name.
          type: str
        san:
          description: The subject alternative names, as C(DNS:name) and C(IP:address).
          type: list
          elements: str
        serial:
          description: The serial number in hex.
          type: str
        not_before:
          description: Start of validity, UTC, ISO 8601.
          type: str
          sample: "2026-01-01T00:00:00Z"
        not_after:
          description: End of validity, UTC, ISO 8601.
          type: str
        days_left:
          description: Whole days until RV(tls.certificate.not_after); negative when expired.
          type: int
        self_issued:
          description: Whether subject and issuer are the same.
          type: bool
        sha256:
          description: The SHA-256 fingerprint of the DER certificate.
          type: str
recipients:
  description: Per recipient, the answer to its C(RCPT TO).
  returned: always
  type: dict
  sample:
    kate@fabrikam.com: {accepted: true, code: 250, enhanced: 2.1.5, text: Recipient OK}
queued_as:
  description: The queue identifier the server named in its final reply to the message; null otherwise.
  returned: always
  type: str
  sample: D50CD160033
message_accepted:
  description: Whether the server accepted a message for delivery (then C(changed) is true).
  returned: always
  type: bool
transcript:
  description:
    - The session as telnet shows it. C(<-) lines were received, C(->) lines sent, C(--) lines are events such as
      the connection or the TLS handshake. Credentials are masked as C(********).
  returned: when the probe did not pass, or with O(detail=full)
  type: list
  elements: str
  sample: ["<- 220 mail1.fabrikam.com Microsoft ESMTP MAIL Service ready", "-> EHLO contoso.com"]
diagnosis:
  description:
    - The explanation from the diagnosis catalog. When the probe failed, of the first step that did not get its
      expected reply; when it passed, of the outcome (or of the negative reply O(expect) asked for, with
      RV(diagnosis.expected) true).
  returned: always
  type: dict
  contains:
    status:
      description: ok, transient, permanent, connection, timeout, tls, dns, protocol or auth.
      type: str
      sample: permanent
    step:
      description: The step it is about.
      type: str
      sample: rcpt
    code:
      description: Its reply code.
      type: int
      sample: 550
    enhanced:
      description: Its enhanced code.
      type: str
      sample: 5.1.1
    error:
      description: The condition name when the step failed without a reply (connection_refused, ...); null otherwise.
      type: str
    category:
      description: A short name for the case.
      type: str
      sample: user_unknown
    summary:
      description: What it means.
      type: str
    causes:
      description: Likely causes.
      type: list
      elements: str
    remedy:
      description: What to do.
      type: str
    notes:
      description: Extra remarks (tarpit, DSN not offered, port 2525, bare LF, ...).
      type: list
      elements: str
    conditions:
      description: The condition names behind the engine's own notes.
      type: list
      elements: str
    expected:
      description: True when it explains a negative reply that O(expect) asked for.
      type: bool
    reply_status:
      description: With RV(diagnosis.expected), the status the reply itself has (for example V(permanent)).
      type: str
    references:
      description: Where the explanation comes from (the Exchange guide, an RFC section, a vendor's documentation).
      type: list
      elements: str
    vendor:
      description: The vendor a vendor-specific catalog entry is about; null for a generic one.
      type: str
    matched_by:
      description: Which lookup tier of the catalog answered (exact, enhanced, class, error, success, ...).
      type: str
passed:
  description: Whether every step got the reply it should.
  returned: always
  type: bool
  sample: true
elapsed_ms:
  description: Milliseconds for the whole probe.
  returned: always
  type: float
  sample: 12.3
labels:
  description: O(labels), unchanged.
  returned: always
  type: dict
  sample: {check: recipient_validation, role: inbound, domain: fabrikam.test, target: mx1.fabrikam.test, required: true}
check_mode_note:
  description: In check mode, what was changed so that no message is sent.
  returned: in check mode, when O(send_message=true)
  type: str
'''

import copy
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message, smtp_summary
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.argspec import SMTP_PROBE_ARGSPEC
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.detail import OUTPUT_ARGSPEC, smtp_output
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.dialogue import SmtpProbe
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import ProbeOptionError, validate_options


def write_transcript(path, lines):
    """Write the transcript readable by the owner only, even when the file already exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            fd = None
            handle.write('\n'.join(lines) + '\n')
    finally:
        if fd is not None:
            os.close(fd)


def argument_spec():
    spec = copy.deepcopy(SMTP_PROBE_ARGSPEC)
    spec['fail_on_failure'] = dict(type='bool', default=True)
    spec.update(copy.deepcopy(OUTPUT_ARGSPEC))
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = dict(module.params)
    fail_on_failure = params.pop('fail_on_failure')
    name = params.pop('name')
    transcript_path = params.pop('transcript_path')
    labels = params.pop('labels')
    detail = params.pop('detail')
    store_facts = params.pop('facts')
    if name is not None and not name.strip():
        module.fail_json(msg='name: must not be empty')

    check_mode_note = None
    if module.check_mode and params['send_message']:
        params['send_message'] = False
        check_mode_note = 'check mode: send_message was forced to false, the dialogue stopped before DATA'
        if params['quit_after'] == 'data':
            params['quit_after'] = 'rcpt'

    try:
        options = validate_options(params)
    except ProbeOptionError as exc:
        module.fail_json(msg=to_native(exc), option=exc.option)

    result = SmtpProbe(options).run()
    result['labels'] = labels
    host = options['host']
    label = '{}:{}'.format(f'[{host}]' if ':' in host else host, options['port'])
    if check_mode_note:
        result['check_mode_note'] = check_mode_note
    if transcript_path:
        try:
            write_transcript(transcript_path, result['transcript'])
        except OSError as exc:
            module.fail_json(msg=f'transcript_path: cannot write {transcript_path}: {to_native(exc)}',
                             **smtp_output(result, label, detail, False)[0])

    changed = bool(result['message_accepted'])
    failure = failure_message('smtp_probe', result) if fail_on_failure else None
    summary = smtp_summary(result)
    result, facts = smtp_output(result, name or label, detail, store_facts)
    for warning in result.pop('warnings'):
        module.warn(warning)
    extra = {'ansible_facts': facts} if facts else {}
    if failure:
        module.fail_json(msg=failure, changed=changed, **extra, **result)
    module.exit_json(msg=summary, changed=changed, **extra, **result)


if __name__ == '__main__':
    main()
