#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: tls_policy
short_description: Check the transport security policies of mail domains (MTA-STS, TLS-RPT, DANE)
version_added: 0.1.0
description:
  - For each mail domain, looks up its MX records (as M(mailops.mailflow.mx_lookup) does) and runs the checks named
    in O(checks). Each check gives one named result with a RV(checks.mta_sts.status), a C(passed) and a diagnosis
    (summary, causes, remedy), plus per-MX detail.
  - B(MTA-STS) (RFC 8461). Reads the TXT record C(_mta-sts.<domain>) (C(v=STSv1; id=...)), then fetches the policy from
    C(https://mta-sts.<domain>/.well-known/mta-sts.txt). The host name is resolved with the same nameservers as the MX
    records, the connection goes to that address with the name as SNI, and the certificate must be valid for
    C(mta-sts.<domain>) (O(ca_path) or the host's trust store). Redirects are not followed, the answer must be
    HTTP 200, C(text/plain), at most 64 KiB. The policy's version, mode, mx patterns and max_age are parsed. Every MX
    must match an mx pattern (C(*.) matches exactly one label), and every MX must offer STARTTLS with a certificate
    valid for its MX name. The certificate comes from an SMTP probe that stops after STARTTLS (EHLO, STARTTLS, QUIT;
    no mail).
  - MTA-STS statuses. V(enforce) passes. V(testing) passes and lists in its notes what would fail under enforce.
    V(none) (the policy withdraws MTA-STS) passes. These fail the check. V(no_record) means no TXT record, or more than
    one. V(record_invalid) means the TXT record is malformed. V(fetch_failed) comes with C(fetch.reason)
    saying why (V(dns), V(connect), V(timeout), V(tls), V(http_status), V(content_type) or V(size)). V(policy_syntax)
    means the policy file is invalid, with RV(checks.mta_sts.policy_errors). V(mx_not_covered) means an MX matches no
    pattern (in any mode), listed in RV(checks.mta_sts.uncovered_mx). V(certificate_invalid) means that under enforce
    an MX offers no STARTTLS or a certificate not valid for its name. V(dns_failed) and V(mx_lookup_failed) mean the
    DNS gave no answer.
  - B(TLS-RPT) (RFC 8460). Reads the TXT record C(_smtp._tls.<domain>) (C(v=TLSRPTv1; rua=...)) and checks each rua
    address, which must be C(mailto:) with a valid address or C(https:) with a host name. Statuses V(ok) (passes), V(no_record),
    V(record_invalid), V(rua_invalid) and V(dns_failed).
  - B(DANE) (RFC 7672, RFC 6698). For each MX, reads the TLSA records at C(_25._tcp.<mx>). They count only when the
    answer is DNSSEC-authenticated. The AD bit is trusted only from a validating resolver that you name in
    O(dnssec_nameservers); the result says which resolver answered each question. Usages 3 (DANE-EE) and 2 (DANE-TA)
    are matched with selectors 0 (whole certificate) and 1 (public key) and matching types 0 (exact), 1 (SHA-256) and
    2 (SHA-512) against the certificate the server presented in STARTTLS. Usages 0 and 1 are not used for SMTP and
    are listed as skipped. Usage 2 needs the certificate chain the server sent, which Python gives only from 3.13 on.
    On an older Python the status is V(chain_unavailable) and the note says so. Nothing is guessed.
  - DANE statuses per MX and, the worst of them, for the domain. V(match) passes, and C(mx[].matched) names
    the record. These fail the check. V(no_tlsa) means no TLSA record. V(not_authenticated) means TLSA records without
    an authenticated answer. V(no_match) lists the records tried in C(mx[].tried). V(starttls_missing)
    means TLSA records exist but the MX offers no STARTTLS. V(chain_unavailable) is described above. V(unusable) means
    only usages 0 or 1. V(lookup_failed) is a SERVFAIL, often a DNSSEC validation failure. V(tls_failed) means no TLS
    session came up.
  - Each domain's result is stored in C(ansible_facts.mailflow.policy[<domain>]); the action plugin merges it with
    earlier facts.
  - A domain that fails a check fails the task (see O(fail_on_failure)), with a one-line RV(msg) naming each failed
    check. The failed result keeps every return value. Invalid options fail the task whatever O(fail_on_failure) says.
  - Only EHLO and STARTTLS are sent to each MX, and a single HTTPS GET to each C(mta-sts) host, so the module runs in
    check mode as well.
  - Runs on Linux hosts; the Windows path of the other modules does not cover it.
requirements:
  - dnspython on the managed host.
options:
  domain:
    description:
      - The mail domain to check. Exactly one of O(domain) and O(domains) is required.
    type: str
  domains:
    description:
      - Several mail domains, checked one after the other. RV(results) keeps this order. An MX shared by several
        domains is probed once.
    type: list
    elements: str
  checks:
    description:
      - Which checks to run, in any order.
    type: list
    elements: str
    choices: [mta_sts, tlsrpt, dane]
    default: [mta_sts, tlsrpt, dane]
  nameservers:
    description:
      - IP addresses of the nameservers for the MX, TXT and address questions. Default is the host's C(resolv.conf).
    type: list
    elements: str
  port:
    description: The DNS port of O(nameservers).
    type: int
    default: 53
  dnssec_nameservers:
    description:
      - IP addresses of B(validating) resolvers for the DANE questions (TLSA, and the MX records again, to report
        whether they are authenticated). The questions set the DO and AD bits, and the answer's AD bit is trusted
        because you name these resolvers as validating (use one on the host or a trusted network path).
      - Without it the TLSA questions go to O(nameservers) and no answer counts as authenticated, so DANE reports
        V(not_authenticated) wherever TLSA records exist.
    type: list
    elements: str
  dnssec_port:
    description: The DNS port of O(dnssec_nameservers).
    type: int
    default: 53
  timeout:
    description: Seconds to wait for one DNS answer from one nameserver.
    type: float
    default: 2.0
  lifetime:
    description: Seconds one DNS question may take in total, retries included.
    type: float
    default: 5.0
  tcp:
    description: Ask the DNS questions over TCP from the start.
    type: bool
    default: false
  ca_path:
    description:
      - A CA file or directory for the certificate checks (the MTA-STS policy host and each MX under MTA-STS). Default
        is the host's trust store.
      - DANE does not use it; the TLSA records are the trust anchors.
    type: path
  helo_name:
    description: The name sent with EHLO to each MX. Default is the host's fully qualified name, as for smtp_probe.
    type: str
  smtp_port:
    description: The SMTP port of the exchangers (DANE for SMTP uses 25, the TLSA name is C(_25._tcp) regardless).
    type: int
    default: 25
  connect_timeout:
    description: Seconds to wait for a TCP connection to an MX or a policy host.
    type: float
    default: 10.0
  command_timeout:
    description: Seconds to wait for each SMTP reply and for the TLS handshake.
    type: float
    default: 30.0
  https_timeout:
    description: Seconds the HTTPS fetch of an MTA-STS policy may wait for each read.
    type: float
    default: 10.0
  name:
    description:
      - The key of the result under C(ansible_facts.mailflow.policy), with O(domain) only. Default is the domain.
        The roles give each check its own key (C(inbound:<domain>:mta_sts), C(inbound:<domain>:dane)), so that
        the checks of one domain do not replace each other's fact entry.
    type: str
  labels:
    description: Free-form labels returned unchanged in each domain's result and fact entry, for reports.
    type: dict
    default: {}
  fail_on_failure:
    description:
      - When true, a domain that fails one of its checks fails the task with a one-line RV(msg), keeping every
        return value.
      - When false, the task never fails for a check that did not pass; RV(passed) says it. Ansible keeps no facts of
        a failed task, so runs that collect facts for a report set it to false.
    type: bool
    default: true
notes:
  - The MTA-STS and DANE checks probe the first address of each MX only.
  - Only the first address of C(mta-sts.<domain>) that accepts a connection is used for the policy fetch.
seealso:
  - module: mailops.mailflow.mx_lookup
  - module: mailops.mailflow.smtp_probe
  - name: RFC 8461 (MTA-STS)
    description: SMTP MTA Strict Transport Security.
    link: https://www.rfc-editor.org/rfc/rfc8461
  - name: RFC 8460 (TLS-RPT)
    description: SMTP TLS Reporting.
    link: https://www.rfc-editor.org/rfc/rfc8460
  - name: RFC 7672 (DANE for SMTP)
    description: SMTP security via opportunistic DANE TLS.
    link: https://www.rfc-editor.org/rfc/rfc7672
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
    details: Sends EHLO and STARTTLS to each MX and one HTTPS GET per domain, never a message.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Check MTA-STS, TLS-RPT and DANE of a domain, with a validating resolver on the host
  mailops.mailflow.tls_policy:
    domain: fabrikam.com
    dnssec_nameservers: [127.0.0.1]
    fail_on_failure: false
  register: fabrikam_policy

- name: Show the MTA-STS mode and whether each MX matched its TLSA records
  ansible.builtin.debug:
    msg: >-
      MTA-STS {{ fabrikam_policy.checks.mta_sts.status }};
      DANE {{ fabrikam_policy.checks.dane.mx | map(attribute='status') | join(', ') }}

- name: Read the MTA-STS and TLS-RPT state of the partner domains, trusting a company CA
  mailops.mailflow.tls_policy:
    domains: "{{ partner_domains }}"
    checks: [mta_sts, tlsrpt]
    ca_path: /etc/ssl/certs/fabrikam-ca.pem
    fail_on_failure: false
  register: partners

- name: List the partner domains whose MTA-STS is not in enforce mode
  ansible.builtin.debug:
    msg: "{{ partners.results | rejectattr('checks.mta_sts.status', 'equalto', 'enforce') | map(attribute='domain') }}"
'''

RETURN = r'''
domain:
  description: The domain checked (single-domain form, O(domain)); without the trailing dot.
  returned: when O(domain) is given
  type: str
  sample: fabrikam.test
passed:
  description: True when every check of the domain (or, with O(domains), of every domain) passed.
  returned: always
  type: bool
msg:
  description: One line naming each check that did not pass, its status, the diagnosis summary and its first note.
  returned: when the task failed
  type: str
mx_status:
  description: The status of the MX lookup, as the status that M(mailops.mailflow.mx_lookup) returns.
  returned: when O(domain) is given
  type: str
  sample: ok
mx:
  description: The exchangers, in preference order.
  returned: when O(domain) is given
  type: list
  elements: dict
  contains:
    host:
      description: The MX host name.
      type: str
    preference:
      description: The MX preference.
      type: int
    addresses:
      description: Its addresses (IPv4 and IPv6 text).
      type: list
      elements: str
resolvers:
  description:
    - Which resolvers were asked. C(dns) for the MX, TXT and address questions, C(dnssec) for the validating
      resolvers named in O(dnssec_nameservers) (null when none is named).
  returned: when O(domain) is given
  type: dict
  sample: {dns: 127.0.0.1 port 53, dnssec: 127.0.0.1 port 5354}
checks:
  description: One entry per check run, keyed by the check's name.
  returned: when O(domain) is given
  type: dict
  contains:
    mta_sts:
      description: The MTA-STS check.
      type: dict
      returned: when C(mta_sts) is in O(checks)
      contains:
        status:
          description:
            - V(enforce), V(testing) or V(none) (these pass), V(no_record), V(record_invalid), V(fetch_failed),
              V(policy_syntax), V(mx_not_covered), V(certificate_invalid), V(dns_failed) or V(mx_lookup_failed).
          type: str
          sample: enforce
        passed:
          description: Whether this check passed.
          type: bool
        mode:
          description: The policy's mode (enforce, testing or none); null when no valid policy was read.
          type: str
        policy_id:
          description: The id of the C(_mta-sts) record.
          type: str
        max_age:
          description: The policy's max_age in seconds.
          type: int
        mx_patterns:
          description: The policy's mx patterns.
          type: list
          elements: str
        record:
          description: The C(v=STSv1) TXT record as published.
          type: str
        record_lookup:
          description: The TXT question (name, outcome, the nameserver that answered, message).
          type: dict
        fetch:
          description:
            - The HTTPS fetch, null when no valid record was found. It has url, host, address, ok, reason (V(dns),
              V(connect), V(timeout), V(tls), V(http_status), V(content_type), V(size); null when ok), message,
              http_status, content_type and size.
          type: dict
        policy_errors:
          description: What makes the policy invalid.
          type: list
          elements: str
        uncovered_mx:
          description: MX hosts that match no pattern.
          type: list
          elements: str
        invalid_certificate_mx:
          description: MX hosts without STARTTLS or with a certificate that is not valid for their name.
          type: list
          elements: str
        mx:
          description:
            - Per MX, in MX order. It has host, the pattern that covers it (or null), covered, certificate_valid, and
              probe, which is what the STARTTLS probe saw (address, reached, starttls_offered, tls_used, verified,
              verify_error, verify_message, certificate, error, error_message and elapsed_ms).
          type: list
          elements: dict
        diagnosis:
          description: The diagnosis of this status (status, summary, causes, remedy, notes and references).
          type: dict
    tlsrpt:
      description: The TLS-RPT check.
      type: dict
      returned: when C(tlsrpt) is in O(checks)
      contains:
        status:
          description: V(ok) (passes), V(no_record), V(record_invalid), V(rua_invalid) or V(dns_failed).
          type: str
          sample: ok
        passed:
          description: Whether this check passed.
          type: bool
        record:
          description: The C(v=TLSRPTv1) TXT record as published.
          type: str
        rua:
          description: The report addresses.
          type: list
          elements: str
        rua_problems:
          description: Why a rua address is not valid.
          type: list
          elements: str
        diagnosis:
          description: The diagnosis of this status.
          type: dict
    dane:
      description: The DANE check.
      type: dict
      returned: when C(dane) is in O(checks)
      contains:
        status:
          description:
            - The worst MX status. V(match) (passes), V(no_tlsa), V(unusable), V(not_authenticated),
              V(chain_unavailable), V(tls_failed), V(lookup_failed), V(starttls_missing) or V(no_match);
              V(mx_lookup_failed) when there is no MX.
          type: str
          sample: match
        passed:
          description: Whether every MX matched.
          type: bool
        validating_resolver:
          description: The resolvers of O(dnssec_nameservers); null when none is named.
          type: str
        mx_authenticated:
          description: Whether the validating resolver's MX answer was authenticated; null without one.
          type: bool
        mx:
          description:
            - Per MX. It has host, tlsa_name, tlsa_lookup (answer, nodata, nxdomain, servfail, timeout or error),
              answered_by (the resolver that answered), ad_bit, authenticated (the AD bit from a named validating
              resolver), tlsa (each record as usage, selector and matching type with their names and the start of
              the data), status, matched (the record that matched), tried, untried (DANE-TA records that could not be
              matched without the chain), skipped (usages 0 and 1), note and probe.
          type: list
          elements: dict
        diagnosis:
          description: The diagnosis of this status.
          type: dict
diagnosis:
  description: The diagnosis of the first check that did not pass, or of the first check when all passed.
  returned: when O(domain) is given
  type: dict
elapsed_ms:
  description: Time the domain's checks took.
  returned: when O(domain) is given
  type: float
labels:
  description: O(labels), unchanged.
  returned: always
  type: dict
results:
  description: One entry per domain of O(domains), in order, each with the keys of the single-domain form.
  returned: when O(domains) is given
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import (
    HAS_DNSPYTHON,
    DnsConfigError,
    missing_dnspython_message,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.validate import normalize_domain, normalize_domains
from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.checks import CHECKS, PolicyOptions, check_domains

ARGUMENT_SPEC = dict(
    domain=dict(type='str'),
    domains=dict(type='list', elements='str'),
    checks=dict(type='list', elements='str', choices=list(CHECKS), default=list(CHECKS)),
    nameservers=dict(type='list', elements='str'),
    port=dict(type='int', default=53),
    dnssec_nameservers=dict(type='list', elements='str'),
    dnssec_port=dict(type='int', default=53),
    timeout=dict(type='float', default=2.0),
    lifetime=dict(type='float', default=5.0),
    tcp=dict(type='bool', default=False),
    ca_path=dict(type='path'),
    helo_name=dict(type='str'),
    smtp_port=dict(type='int', default=25),
    connect_timeout=dict(type='float', default=10.0),
    command_timeout=dict(type='float', default=30.0),
    https_timeout=dict(type='float', default=10.0),
    name=dict(type='str'),
    labels=dict(type='dict', default={}),
    fail_on_failure=dict(type='bool', default=True),
)


def _validated(module):
    """Every option checked before the first query; one message naming the option."""
    params = module.params
    try:
        if params['domain'] is not None:
            domains = [normalize_domain(params['domain'])]
        else:
            domains = normalize_domains(params['domains'])
    except ValueError as exc:
        option = 'domain' if params['domain'] is not None else 'domains'
        module.fail_json(msg=f'{option}: {exc}', option=option)
    try:
        options = PolicyOptions(
            checks=params['checks'], nameservers=params['nameservers'], port=params['port'],
            timeout=params['timeout'], lifetime=params['lifetime'], tcp=params['tcp'],
            dnssec_nameservers=params['dnssec_nameservers'], dnssec_port=params['dnssec_port'],
            ca_path=params['ca_path'], smtp_port=params['smtp_port'], helo_name=params['helo_name'],
            connect_timeout=params['connect_timeout'], command_timeout=params['command_timeout'],
            https_timeout=params['https_timeout'])
    except ValueError as exc:
        text = str(exc)
        module.fail_json(msg=text, option=text.split(':', 1)[0].split('[', 1)[0])
    return domains, options


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[('domain', 'domains'), ('name', 'domains')],
        required_one_of=[('domain', 'domains')],
        supports_check_mode=True,
    )
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_dnspython_message())
    domains, options = _validated(module)
    labels = module.params['labels']
    try:
        records = check_domains(domains, options)
    except DnsConfigError as exc:
        module.fail_json(msg=str(exc))
    for record in records:
        record['labels'] = labels
    facts = dict((module.params['name'] or record['domain'], record) for record in records)
    if module.params['domain'] is not None:
        result = dict(records[0])
    else:
        result = dict(results=records, passed=all(record['passed'] for record in records), labels=labels)
    result['changed'] = False
    result['ansible_facts'] = {'mailflow': {'policy': facts}}
    failure = failure_message('tls_policy', result) if module.params['fail_on_failure'] else None
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
