#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: mx_probe
short_description: Tell whether this host can deliver mail to a domain, and through which exchanger, the way an MTA would
version_added: 0.1.0
description:
  - Answers the question behind the Exchange "test SMTP with Telnet" procedure, for one domain or hundreds. Can mail
    to fabrikam.com leave this host, and which MX takes it?
  - For each domain it resolves the MX records as M(mailops.mailflow.mx_lookup) does, then holds an SMTP dialogue as
    M(mailops.mailflow.smtp_probe) does with every address of every exchanger (or, with O(probe=first_success),
    only the addresses an MTA needs).
  - The RV(verdict) is what an MTA would conclude (RFC 5321 section 5.1). Exchangers are tried by preference, lowest
    first. A connection failure or a temporary (4xx) reply moves on to the next address or exchanger. The first
    exchanger that accepts the recipient is RV(verdict.via). A permanent rejection (5xx) at C(RCPT TO), C(MAIL FROM)
    or C(HELO) bounces the mail, and no other exchanger is tried. A null MX, NXDOMAIN or no usable exchanger means
    no connection is made at all.
  - Exchangers that share a preference, and the addresses of one exchanger, are shuffled by a real MTA. They are
    probed in mx_lookup order and reported as a group. When they disagree, RV(verdict.shuffle_dependent) says so.
  - Probes run concurrently on at most O(concurrency) threads. Two hundred exchangers that are slow to greet take
    about as long as the slowest one. An address that refuses or times out is connected to once per run; every
    other probe of it in the same run gets that failure without another attempt.
  - A domain that is not deliverable fails the task, as M(ansible.builtin.uri) and M(ansible.builtin.wait_for) do
    when a check does not pass. Its message is one line naming the domain(s), the step, the reply code and the
    diagnosis summary, and the failed result keeps every return value (Ansible does not store a failed task's
    facts, see O(fail_on_failure)). With O(fail_on_failure=false)
    it is a result instead (RV(passed), RV(verdict.deliverable)), for runs that collect results, as the collection's
    roles do.
  - Invalid options, a missing dnspython, or a host without resolver configuration fail the task whatever
    O(fail_on_failure) says.
  - The result is lean by default (O(detail=summary)), a few KB a domain; O(detail=full) gives everything.
  - With O(facts=true) each domain is also stored in C(ansible_facts.mailflow.routes[<domain>]), for the report and
    baseline roles. Later probes add to these facts and erase nothing; the action plugin merges them.
options:
  domain:
    description:
      - The mail domain to probe, with or without the trailing dot. Exactly one of O(domain) and O(domains) is required.
      - Its result keys (RV(status), RV(exchangers), RV(probes), RV(verdict), ...) are returned at the top level.
      - An internationalized name is encoded with IDNA 2008 (UTS 46), which needs the Python package C(idna) on the
        managed host. A port (V(fabrikam.com:587)) is refused; the SMTP port of every exchanger is O(port).
    type: str
  domains:
    description:
      - Several mail domains, probed concurrently. RV(results) keeps this order.
    type: list
    elements: str
  name:
    description:
      - The key under C(ansible_facts.mailflow.routes) for a O(domain) probe. Default is the domain.
      - Not allowed with O(domains); each of them is stored under its own name.
    type: str
  probe:
    description:
      - V(all) probes every address of every exchanger, concurrently, and reports them all. The verdict still uses
        only what an MTA would have reached, so an exchanger after a permanent rejection is reported but marked
        V(not_used).
      - V(first_success) probes in MTA order, one address after the other, and stops as soon as every recipient is
        accepted or permanently rejected. It makes the fewest connections; domains still run concurrently.
    type: str
    choices: [all, first_success]
    default: all
  concurrency:
    description:
      - How many probes (and MX lookups) run at the same time, at most. Each one holds a thread and a socket.
      - From 1 to 500. Raise it for hundreds of domains; lower it to be gentle with a shared exchanger.
    type: int
    default: 100
  port:
    description:
      - The SMTP port of every exchanger. MTAs use V(25); other values are for labs.
    type: int
    default: 25
  nameservers:
    description:
      - IP addresses of the nameservers to ask, in order. Default is the managed host's C(/etc/resolv.conf),
        never its search domains.
    type: list
    elements: str
  dns_port:
    description: The DNS port of the nameservers.
    type: int
    default: 53
  dns_timeout:
    description: Seconds to wait for one answer from one nameserver before trying again or the next one.
    type: float
    default: 2.0
  dns_lifetime:
    description:
      - Seconds one DNS question may take in total. A domain asks the MX question, then the A/AAAA questions of its
        exchangers.
    type: float
    default: 5.0
  dns_tcp:
    description: Ask over TCP from the start. Without it, UDP is used and a truncated answer is asked again over TCP.
    type: bool
    default: false
  implicit_mx:
    description:
      - When a domain has no MX record, probe its own A/AAAA address (RFC 5321 section 5.1), as MTAs do. When false,
        such a domain is V(no_mail) and is not probed.
    type: bool
    default: true
  ip_version:
    description:
      - Which exchanger addresses to resolve and probe. V(auto) uses IPv4 and IPv6, V('4') only IPv4, V('6') only IPv6.
    type: str
    choices: [auto, '4', '6']
    default: auto
  tls:
    description:
      - V(starttls) starts TLS when the exchanger offers C(STARTTLS), and goes on without it otherwise, as an MTA does.
      - V(required) treats an exchanger without C(STARTTLS) as unusable (the MTA moves on, as with a TLS policy).
      - V(implicit) speaks TLS from the first byte. V(none) never starts TLS.
    type: str
    choices: [starttls, required, implicit, none]
    default: starttls
  tls_verify:
    description:
      - Treat an exchanger whose certificate does not verify against its MX host name as unusable (the MTA moves on).
      - Either way each probe reports the certificate and whether it verified.
      - Not allowed with O(tls=none).
    type: bool
    default: false
  tls_min_days:
    description:
      - The fewest days each exchanger's certificate must still be valid, as in M(mailops.mailflow.smtp_probe). A
        certificate that expires sooner marks its probe's C(starttls) step with C(tls_cert_expires_soon).
      - The verdict ignores it, as an MTA does. Not allowed with O(tls=none).
    type: int
  ca_path:
    description:
      - A CA bundle file, or a directory of hashed CA certificates, on the managed host, used instead of the system
        trust store. Not allowed with O(tls=none).
    type: path
  server_name:
    description:
      - The name sent as SNI and checked against each certificate. Default is each exchanger's own host name, which is
        what an MTA checks.
    type: str
  helo_name:
    description:
      - The name said in C(EHLO)/C(HELO). Default is the managed host's fully qualified domain name; when it has
        none, an address literal of the local address of each connection (C([192.0.2.1])), never C(localhost).
    type: str
  mail_from:
    description:
      - The envelope sender for C(MAIL FROM). An empty string sends the null sender C(<>).
      - Required when the dialogue goes as far as C(MAIL FROM) (see O(quit_after)).
    type: str
  rcpt_to:
    description:
      - The envelope recipients, sent as given to every exchanger probed, one C(RCPT TO) each. Each recipient gets
        its own decision in RV(verdict.recipients); the domain is deliverable when all of them are accepted.
      - When empty and the dialogue reaches C(RCPT TO), each domain is probed with C(postmaster@<domain>), which
        every mail domain must accept (RFC 5321 section 4.5.1). This is what makes O(domains) useful without
        listing a recipient per domain.
    type: list
    elements: str
    default: []
  dsn:
    description:
      - Delivery status notification parameters (RFC 3461), sent only to exchangers that offer C(DSN).
    type: dict
    suboptions:
      notify:
        description: C(NOTIFY=) on each C(RCPT TO). V(never) stands alone.
        type: list
        elements: str
        choices: [success, failure, delay, never]
      ret:
        description: C(RET=) on C(MAIL FROM).
        type: str
        choices: [full, hdrs]
      envid:
        description: C(ENVID=) on C(MAIL FROM), printable ASCII, up to 100 characters.
        type: str
      orcpt:
        description: Add C(ORCPT=rfc822;<recipient>) to each C(RCPT TO).
        type: bool
        default: false
  auth:
    description:
      - Log in with C(AUTH) (C(PLAIN) or C(LOGIN)) after TLS, on every exchanger. The password never appears in any
        output, fact or transcript.
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
        description: V(auto) picks C(PLAIN), then C(LOGIN), among those offered.
        type: str
        choices: [auto, plain, login]
        default: auto
  send_message:
    description:
      - Send C(DATA) and a test message to every exchanger probed that accepted a recipient. With O(probe=all) that
        can be more than one copy; use O(probe=first_success) to send one, as an MTA would.
      - When false, each dialogue ends after C(RCPT TO) with C(RSET) and C(QUIT), and no message is ever sent.
      - Check mode always behaves as if this were false, and says so in RV(check_mode_note).
    type: bool
    default: false
  content:
    description:
      - The test message for O(send_message=true), as in M(mailops.mailflow.smtp_probe). (The name C(message) is
        reserved by Ansible.)
    type: dict
    suboptions:
      subject:
        description: The subject. Default is C(mailflow test message).
        type: str
      body:
        description: The body text.
        type: str
      headers:
        description: More headers, name to value.
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
      - Stop every dialogue cleanly right after this step.
      - Stopping before C(RCPT TO) turns the verdict into a reachability check. The session itself is then the only
        thing decided, and RV(verdict.deliverable) means that an exchanger went as far as asked.
      - V(data) needs O(send_message=true) and closes after the C(354) reply, so nothing is delivered.
    type: str
    choices: [connect, banner, ehlo, starttls, auth, mail, rcpt, data]
  pipelining:
    description:
      - V(auto) pipelines C(MAIL FROM), C(RCPT TO) and the rest when the exchanger offers C(PIPELINING) (RFC 2920).
        V(never) waits for each reply. V(always) pipelines even when not offered (a server test only).
    type: str
    choices: [auto, always, never]
    default: auto
  source_address:
    description: The local IP address to connect from (the managed host must own it).
    type: str
  connect_timeout:
    description:
      - Seconds to wait for each address to accept the TCP connection. A dead (blackholed) address costs this once
        per run, whatever the number of domains that use it.
      - Default is 10 seconds, or O(deadline) when that is shorter.
    type: float
  command_timeout:
    description: Seconds to wait for the complete reply to one command (or the banner, or a TLS handshake).
    type: float
    default: 30.0
  deadline:
    description: Seconds one probe (one address) may take in total. When O(connect_timeout) is also set, at least that.
    type: float
    default: 60.0
  slow_threshold:
    description:
      - A correct reply slower than this many seconds is marked slow in its probe, with a tarpit note. Slow is not
        failed, for the verdict either.
      - Default is automatic, as in M(mailops.mailflow.smtp_probe) (a few network round trips of each exchanger).
    type: float
  expect:
    description:
      - Per step name, the replies that count as success for that step, as in M(mailops.mailflow.smtp_probe). It sets
        each probe's C(passed) and C(diagnosis).
      - The verdict ignores it. An MTA acts on the reply codes, so an expected 550 is still a rejection.
    type: dict
    default: {}
  transcript_path:
    description:
      - Also write every transcript to this file on the managed host (mode 0600), one section per probe, in
        domain and MTA order. Secrets are masked.
    type: path
  labels:
    description:
      - Free-form data returned unchanged as RV(labels), in the result and in each domain's fact entry, as in
        M(mailops.mailflow.smtp_probe). The collection's roles use it to say which check a probe is.
    type: dict
    default: {}
  detail:
    description:
      - How much of each domain's result to return (and to store with O(facts=true)).
      - V(summary) leaves out the DNS record's details (RV(mx)), gives each probe in RV(probes) at the
        M(mailops.mailflow.smtp_probe) O(mailops.mailflow.smtp_probe#module:detail=summary) (flat steps, the transcript only of a probe
        that failed), and the verdict's diagnosis with its references only when the domain is not deliverable.
      - V(full) returns every value as documented below.
    type: str
    choices: [summary, full]
    default: summary
  facts:
    description:
      - Also store each domain's result, at O(detail), in C(ansible_facts.mailflow.routes). The report and baseline
        roles read the checks from there; the outbound role sets it.
      - Off by default, so a result is not returned twice (once as return values, once as facts).
    type: bool
    default: false
  fail_on_failure:
    description:
      - Fail the task when a domain is not deliverable (RV(passed) is false), with a one-line RV(msg) that names
        the domain(s), the step, the reply code and the diagnosis. The result keeps every other return value.
      - Ansible does not add the facts of a failed task to the host's facts (they stay in the registered result,
        under C(ansible_facts)). Where a report reads the facts, set O(fail_on_failure=false), as the roles do.
      - Set it to V(false) to collect results instead (the collection's roles do, and their report decides).
      - Check mode fails the same way; it only keeps the dialogues from sending a message.
    type: bool
    default: true
requirements:
  - dnspython on the managed host (C(pip install dnspython) or C(apt install python3-dnspython))
notes:
  - Every value that reaches the wire is checked for CR, LF and NUL before anything is sent, as in
    M(mailops.mailflow.smtp_probe).
  - C(changed) is true only when an exchanger accepted a message for delivery (O(send_message=true)).
  - A real MTA also caps the addresses it tries per delivery (Postfix C(smtp_mx_address_limit), 5 by default) and
    remembers dead hosts between deliveries. This module probes every address, in one run.
seealso:
  - module: mailops.mailflow.mx_lookup
    description: The MX resolution alone.
  - module: mailops.mailflow.smtp_probe
    description: One dialogue with one server, with every option explained.
  - name: RFC 5321 section 5.1, locating the target host
    description: Preference order, implicit MX, and moving on to the next exchanger.
    link: https://www.rfc-editor.org/rfc/rfc5321#section-5.1
  - name: RFC 7505, the null MX
    description: A domain that accepts no mail.
    link: https://www.rfc-editor.org/rfc/rfc7505
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
    details: The dialogues run, but never as far as C(DATA).
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Can mail to fabrikam.com leave this host, and which MX takes it?
  mailops.mailflow.mx_probe:
    domain: fabrikam.com
    helo_name: contoso.com
    mail_from: chris@contoso.com
    rcpt_to: [kate@fabrikam.com]
  register: route

- name: Say which exchanger took it, and why a preferred one did not
  ansible.builtin.debug:
    msg: >-
      {{ route.verdict.summary }}
      {% for failure in route.verdict.failures %}
      {{ failure.host }}: {{ failure.diagnosis.summary }} {{ failure.diagnosis.remedy }}
      {% endfor %}

- name: Every partner domain, postmaster@ each, stopping at the first exchanger that settles it
  mailops.mailflow.mx_probe:
    domains: "{{ partner_domains }}"
    helo_name: mail.contoso.com
    mail_from: postmaster@contoso.com
    probe: first_success
    concurrency: 200
    connect_timeout: 5
    # Collect every domain's verdict; the next task lists those that are not deliverable.
    fail_on_failure: false
  register: partners

- name: Domains this host cannot deliver to right now
  ansible.builtin.debug:
    msg: "{{ item.domain }}: {{ item.verdict.outcome }} - {{ item.verdict.diagnosis.summary }}"
  loop: "{{ partners.results | rejectattr('verdict.deliverable') }}"
  loop_control:
    label: "{{ item.domain }}"

- name: Reachability only (banner and EHLO), on a lab nameserver and port
  mailops.mailflow.mx_probe:
    domain: fabrikam.test
    nameservers: [127.0.0.1]
    dns_port: 5353
    quit_after: ehlo
    tls: none

- name: Every exchanger must offer STARTTLS with a certificate for its own name
  mailops.mailflow.mx_probe:
    domain: fabrikam.com
    tls: required
    tls_verify: true
    quit_after: starttls
    facts: true
  register: tls_route

- name: Domains probed with facts=true are kept in the facts
  ansible.builtin.debug:
    var: ansible_facts.mailflow.routes['fabrikam.com'].verdict.via
'''

RETURN = r'''
msg:
  description:
    - For O(domain), the verdict summary, plus the queue identifier and the recipient counts of every message an
      exchanger queued (O(send_message=true)). For O(domains), a count of the outcomes.
    - When the task fails (O(fail_on_failure)), the domain(s) that are not deliverable, each with the step, the
      reply code and the diagnosis summary, on one line.
  returned: always
  type: str
  sample: "primary-down.test: deliverable via mx2.fabrikam.test [127.0.0.12] (preference 20) after ..."
domain:
  description: The domain probed, lower-case, ASCII, without the trailing dot.
  returned: when O(domain) is given
  type: str
  sample: fabrikam.test
status:
  description:
    - The MX lookup status, as in M(mailops.mailflow.mx_lookup). V(ok), V(implicit_mx), V(null_mx), V(no_mail),
      V(nxdomain), V(servfail), V(timeout) or V(error).
  returned: when O(domain) is given
  type: str
  sample: ok
exchangers:
  description:
    - The exchangers in preference order, as M(mailops.mailflow.mx_lookup) returns them (host, preference,
      addresses, usable, implicit, equal_preference_group, preference_group, canonical_name, warnings).
  returned: when O(domain) is given
  type: list
  elements: dict
mx:
  description:
    - The rest of the M(mailops.mailflow.mx_lookup) record (query_name, ttl, nameserver, nameserver_port, dnssec_ad,
      canonical_name, elapsed_ms, error, domain_warnings, diagnosis).
  returned: when O(domain) is given, with O(detail=full)
  type: dict
probes:
  description:
    - One M(mailops.mailflow.smtp_probe) result per address probed, in MTA order (target, server, steps,
      capabilities, capabilities_before_tls, tls, recipients, queued_as, message_accepted, transcript, diagnosis,
      passed, elapsed_ms, warnings), at O(detail), plus the keys below. Empty when no connection was made (null MX,
      NXDOMAIN, no usable exchanger).
  returned: when O(domain) is given
  type: list
  elements: dict
  contains:
    exchanger:
      description: The exchanger's host name (also in C(target.host)).
      type: str
      sample: mx1.fabrikam.test
    address:
      description:
        - The address probed. C(target.address) is the address that accepted the connection, null when none did;
          this one is set either way.
      type: str
      sample: 127.0.0.11
    preference:
      description: Its MX preference.
      type: int
      sample: 10
    implicit:
      description: True when the exchanger is the domain's own address (no MX record).
      type: bool
    order:
      description: Its position in the MTA order, from 0, among every address of every usable exchanger.
      type: int
    verdict_role:
      description:
        - V(accepted) it took a recipient. V(rejected) it rejected one permanently. V(failed) the MTA tried it and
          moved on. V(not_used) it ran (O(probe=all)), but an MTA would never have reached it.
      type: str
      sample: accepted
verdict:
  description: What an MTA on this host would conclude.
  returned: when O(domain) is given
  type: dict
  contains:
    deliverable:
      description: True when every recipient (or, without recipients, the session) is accepted by some exchanger.
      type: bool
      sample: true
    outcome:
      description:
        - V(deliverable). V(partial) some recipients are accepted and some are not. V(rejected) the first exchanger
          that answered rejected permanently, so the MTA bounces. V(null_mx), V(nxdomain), V(no_mail) and
          V(dns_failure) are settled by DNS, with no connection. V(no_usable_exchanger) no exchanger has an address.
          V(all_refused), V(all_timed_out), V(unreachable) (mixed connection failures), V(transient) (4xx
          everywhere) and V(deferred) (other temporary failures) are what an MTA queues and retries.
      type: str
      sample: deliverable
    summary:
      description: One line saying it.
      type: str
    via:
      description: The exchanger and address that accepted the (first accepted) recipient; null when none did.
      type: dict
      contains:
        host:
          description: Its host name.
          type: str
        address:
          description: The address that accepted.
          type: str
        preference:
          description: Its preference.
          type: int
        implicit:
          description: True for an implicit MX (the domain's own address).
          type: bool
        equal_preference_hosts:
          description: Every host sharing this preference, when more than one; an MTA picks among them at random.
          type: list
          elements: str
    fallback_used:
      description: True when RV(verdict.via) has a lower preference (a higher number) than the domain's best exchanger.
      type: bool
    failures:
      description:
        - What an MTA met before the decision, in preference order. These are the addresses that failed before
          RV(verdict.via) or the rejection, and exchangers without an address. When nothing was decided, it is
          every address. Each entry has its diagnosis from the catalog.
      type: list
      elements: dict
      contains:
        host:
          description: The exchanger.
          type: str
        address:
          description: The address; null for an exchanger without one.
          type: str
        preference:
          description: Its preference.
          type: int
        kind:
          description: refused, timeout, unreachable, transient, failed or no_address.
          type: str
        step:
          description: The step that failed (connect, banner, ehlo, starttls, mail, rcpt, ..., or mx).
          type: str
        code:
          description: Its reply code, when there was a reply.
          type: int
        enhanced:
          description: Its enhanced status code.
          type: str
        error:
          description: The condition name when there was no reply (connection_refused, connect_timeout, ...).
          type: str
        message:
          description: What happened, in words.
          type: str
        text:
          description: The reply text.
          type: str
        diagnosis:
          description: The catalog's explanation, as in M(mailops.mailflow.smtp_probe).
          type: dict
    decided_by:
      description: The exchanger, address and reply (step, code, enhanced, text) that settled the verdict; null when nothing did.
      type: dict
    recipients:
      description:
        - Per recipient, its decision (outcome accepted, rejected or deferred; kind; step, code, enhanced, text,
          error) and the host, address and preference that gave it. For a deferred recipient, these are of the last
          address tried.
      type: dict
    shuffle_dependent:
      description: True when exchangers of the deciding preference disagree, so the outcome depends on the MTA's random pick.
      type: bool
    planned:
      description: How many addresses the MTA order holds.
      type: int
    probed:
      description: How many were probed.
      type: int
    notes:
      description: Remarks (default recipient used, equal preferences, addresses left out by first_success).
      type: list
      elements: str
    diagnosis:
      description:
        - In the catalog's shape (status, step, code, enhanced, error, category, summary, causes, remedy, notes). It
          explains the DNS finding, the permanent rejection, the last temporary failure, or the success.
      type: dict
probe_mode:
  description: O(probe) as used.
  returned: when O(domain) is given
  type: str
elapsed_ms:
  description: Milliseconds from the start of the run to this domain's verdict.
  returned: when O(domain) is given
  type: float
results:
  description: One entry per O(domains) item, in the same order, each with the keys returned for O(domain).
  returned: when O(domains) is given
  type: list
  elements: dict
outcomes:
  description: How many domains got each verdict outcome.
  returned: when O(domains) is given
  type: dict
  sample: {deliverable: 198, null_mx: 1, all_timed_out: 1}
passed:
  description:
    - For O(domain), RV(verdict.deliverable). For O(domains), true when every domain is deliverable; each entry
      of RV(results) has its own.
  returned: always
  type: bool
  sample: true
labels:
  description: O(labels), unchanged. Also in each domain's entry in C(ansible_facts.mailflow.routes).
  returned: always
  type: dict
  sample: {check: route, role: outbound, required: true}
check_mode_note:
  description: In check mode, what was changed so that no message is sent.
  returned: in check mode, when O(send_message=true)
  type: str
'''

import copy
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import (
    HAS_DNSPYTHON,
    DnsConfigError,
    DnsUnavailable,
    missing_dnspython_message,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message, route_summary
from ansible_collections.mailops.mailflow.plugins.module_utils._route.engine import (
    DEFAULT_CONCURRENCY,
    MODES,
    RouteOptionError,
    RouteProbe,
    dns_options,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.argspec import SMTP_OPTIONS_ARGSPEC
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.detail import OUTPUT_ARGSPEC, route_output
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import ProbeOptionError

# DNS options carry dns_ because port is the SMTP port; ip_version serves both.
ROUTE_ARGSPEC = dict(
    domain=dict(type='str'),
    domains=dict(type='list', elements='str'),
    name=dict(type='str'),
    probe=dict(type='str', default='all', choices=list(MODES)),
    concurrency=dict(type='int', default=DEFAULT_CONCURRENCY),
    port=dict(type='int', default=25),
    nameservers=dict(type='list', elements='str'),
    dns_port=dict(type='int', default=53),
    dns_timeout=dict(type='float', default=2.0),
    dns_lifetime=dict(type='float', default=5.0),
    dns_tcp=dict(type='bool', default=False),
    implicit_mx=dict(type='bool', default=True),
    transcript_path=dict(type='path'),
    labels=dict(type='dict', default={}),
    fail_on_failure=dict(type='bool', default=True),
    **OUTPUT_ARGSPEC
)
ROUTE_ONLY_OPTIONS = tuple(ROUTE_ARGSPEC)
# smtp_probe dialogue options that the shared spec does not hold; passed through like the others.
SMTP_EXTRA_ARGSPEC = dict(
    tls_min_days=dict(type='int'),
)


def argument_spec():
    spec = copy.deepcopy(SMTP_OPTIONS_ARGSPEC)
    for option, definition in SMTP_EXTRA_ARGSPEC.items():
        spec.setdefault(option, copy.deepcopy(definition))
    spec.update(copy.deepcopy(ROUTE_ARGSPEC))
    return spec


def write_transcripts(path, results):
    """Every probe's transcript in one file readable by the owner only, a header per probe."""
    lines = []
    for result in results:
        for probe in result['probes']:
            target = probe['target']
            lines.append('== {}: {} [{}] port {}, preference {}, {} =='.format(
                result['domain'], probe['exchanger'], probe['address'], target.get('port'), probe['preference'],
                probe['verdict_role']))
            lines.extend(probe['transcript'])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            fd = None
            handle.write('\n'.join(lines) + ('\n' if lines else ''))
    finally:
        if fd is not None:
            os.close(fd)


def outcome_counts(results):
    counts = {}
    for result in results:
        outcome = result['verdict']['outcome']
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def route_module_output(results, params, check_mode_note=None, summary=None):
    """The module's return values for its domain results: one domain's keys at the top level, or ``results``."""
    if params['domain'] is not None:
        output = dict(results[0])
        output['msg'] = summary or route_summary(results[0])
    else:
        counts = outcome_counts(results)
        words = ', '.join(f'{counts[key]} {key}' for key in sorted(counts))
        output = {
            'results': results,
            'outcomes': counts,
            'passed': all(result['passed'] for result in results),
            'msg': summary or '{} domain{}: {}'.format(len(results), '' if len(results) == 1 else 's', words),
        }
    output['labels'] = params['labels']
    if check_mode_note:
        output['check_mode_note'] = check_mode_note
    return output


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[('domain', 'domains'), ('domains', 'name')],
        required_one_of=[('domain', 'domains')],
        supports_check_mode=True,
    )
    params = dict(module.params)
    name = params['name']
    if name is not None and (not name.strip() or any(ord(char) < 32 for char in name)):
        module.fail_json(msg='name: must be a non-empty key without control characters', option='name')
    smtp_options = dict((key, value) for key, value in params.items() if key not in ROUTE_ONLY_OPTIONS)

    check_mode_note = None
    if module.check_mode and smtp_options['send_message']:
        smtp_options['send_message'] = False
        check_mode_note = 'check mode: send_message was forced to false, every dialogue stopped before DATA'
        if smtp_options['quit_after'] == 'data':
            smtp_options['quit_after'] = 'rcpt'

    domains = [params['domain']] if params['domain'] is not None else params['domains']
    try:
        mx_options = dns_options(params['nameservers'], params['dns_port'], params['dns_timeout'], params['dns_lifetime'],
                                 params['dns_tcp'], params['ip_version'], params['implicit_mx'])
        route_probe = RouteProbe(domains, smtp_options, mx_options, mode=params['probe'], concurrency=params['concurrency'],
                                 port=params['port'])
    except (RouteOptionError, ProbeOptionError) as exc:
        option = exc.option
        message = to_native(exc)
        if option == 'domains' and params['domain'] is not None:
            option, message = 'domain', 'domain' + message[len('domains[0]'):]
        module.fail_json(msg=message, option=option)
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_dnspython_message(), diagnosis=diagnose(step='mx', error=errors.DNS_MISSING_LIBRARY))

    try:
        results = route_probe.run()
    except DnsUnavailable as exc:
        module.fail_json(msg=to_native(exc), diagnosis=diagnose(step='mx', error=errors.DNS_MISSING_LIBRARY))
    except DnsConfigError as exc:
        module.fail_json(msg=to_native(exc), diagnosis=diagnose(step='mx', error=errors.DNS_ERROR))
    for warning in route_probe.warnings:
        module.warn(warning)

    changed = any(probe.get('message_accepted') for result in results for probe in result['probes'])
    for result in results:
        result['labels'] = params['labels']
        # The check contract (docs/internals.md): a route check passes when an MTA could deliver.
        result['passed'] = bool(result['verdict']['deliverable'])
    failure_output = route_module_output(results, params, check_mode_note)
    failure = failure_message('mx_probe', failure_output) if params['fail_on_failure'] else None
    key = (name or results[0]['domain']) if params['domain'] is not None else None
    shown, facts = route_output(results, params['detail'], params['facts'], key)
    output = route_module_output(shown, params, check_mode_note, summary=failure_output['msg'])

    if params['transcript_path']:
        try:
            write_transcripts(params['transcript_path'], results)
        except OSError as exc:
            module.fail_json(msg='transcript_path: cannot write {}: {}'.format(params['transcript_path'], to_native(exc)), **output)

    extra = {'ansible_facts': facts} if facts else {}
    if failure:
        output['msg'] = failure
        module.fail_json(changed=changed, **extra, **output)
    module.exit_json(changed=changed, **extra, **output)


if __name__ == '__main__':
    main()
