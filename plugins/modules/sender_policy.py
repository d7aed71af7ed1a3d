#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sender_policy
short_description: Check the SPF and DMARC records of a mail domain
version_added: 0.1.0
description:
  - Reads the sender policy of a domain the way a receiving server does, from the managed host's point of view, and
    explains every problem with causes and a remedy.
  - B(SPF) (RFC 7208) is the TXT record starting with C(v=spf1) at the domain. It lists the servers that may send
    mail with the domain in the envelope sender (C(MAIL FROM)). The module checks that there is exactly one, that
    every term is valid, and counts the DNS lookups a receiver needs to evaluate it. C(include), C(a), C(mx),
    C(ptr), C(exists) and C(redirect) cost one lookup each, also inside included records; more than 10 make every
    receiver return C(permerror), and so do more than 2 lookups that find nothing (void lookups). The count is the
    worst case, for an address that matches no term. A record that ends in C(+all) authorises everybody and fails;
    one that ends in neither C(-all) nor C(~all) is reported as a warning.
  - B(DMARC) (RFC 7489) is the TXT record starting with C(v=DMARC1) at C(_dmarc.<domain>). It tells receivers what
    to do with mail whose From domain is not aligned with a passing SPF or DKIM check (C(p)=none, quarantine or
    reject; C(sp) for subdomains; C(pct) for a share of the mail) and where to send aggregate (C(rua)) and failure
    (C(ruf)) reports. The module checks the syntax, reports the policy and its alignment modes (C(adkim), C(aspf)),
    and checks that a report address in another domain is authorised by that domain
    (C(<domain>._report._dmarc.<other domain>)). C(p=none), C(pct) below 100, no C(rua) and an unauthorised report
    domain are warnings; no record, more than one, or an invalid one fail.
  - Written on dnspython, so every query goes to O(nameservers) (or the host's resolver) and nowhere else.
  - A domain whose check did not pass fails the task, with a one-line C(msg); O(fail_on_failure=false) keeps it a
    result. The result is also stored in C(ansible_facts.mailflow.sender_policy[<name>]).
options:
  domain:
    description:
      - The mail domain, as in the From address and the envelope sender. An internationalized name is encoded with
        IDNA 2008.
    type: str
    required: true
  organizational_domain:
    description:
      - The domain whose DMARC record applies when O(domain) has none of its own (RFC 7489 6.6.3), for a subdomain
        such as C(mail.contoso.com). The module does not guess it (that needs the Public Suffix List).
      - A policy found there applies its C(sp) tag.
    type: str
  checks:
    description:
      - Which records to check.
    type: list
    elements: str
    choices: [spf, dmarc]
    default: [spf, dmarc]
  nameservers:
    description:
      - Nameserver addresses to ask instead of the host's resolver configuration.
    type: list
    elements: str
  port:
    description:
      - The nameservers' port.
    type: int
    default: 53
  timeout:
    description:
      - Seconds to wait for one nameserver's answer.
    type: float
    default: 2.0
  lifetime:
    description:
      - Seconds one query may take in all, over every nameserver.
    type: float
    default: 5.0
  name:
    description:
      - The key under C(ansible_facts.mailflow.sender_policy). Default is the domain.
    type: str
  labels:
    description:
      - Free-form data returned unchanged as RV(labels), in the result and its fact entry (the roles name the check
        here; the report groups by it).
    type: dict
    default: {}
  fail_on_failure:
    description:
      - Fail the task when RV(passed) is false, with a one-line C(msg) naming the condition. The result keeps every
        other return value. Ansible does not store a failed task's facts; set V(false) to collect results.
    type: bool
    default: true
requirements:
  - dnspython on the managed host
notes:
  - Read-only. It never reports a change, and check mode runs the same queries.
  - DKIM is not checked here (a selector is needed to find its key).
seealso:
  - module: mailops.mailflow.egress_identity
  - name: RFC 7208, Sender Policy Framework
    description: Record syntax (section 12), lookup limits (4.6.4), check_host() (4).
    link: https://www.rfc-editor.org/rfc/rfc7208
  - name: RFC 7489, DMARC
    description: Policy record (6.3), discovery (6.6.3), external report destinations (7.1).
    link: https://www.rfc-editor.org/rfc/rfc7489
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
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Check the SPF and DMARC records of the domain that sends the newsletter
  mailops.mailflow.sender_policy:
    domain: marketing.contoso.com
  register: policy

- name: Show the lookup count and the DMARC policy
  ansible.builtin.debug:
    msg: >-
      SPF uses {{ policy.spf.lookup_count }} of {{ policy.spf.lookup_limit }} lookups and ends in {{ policy.spf.all }};
      DMARC p={{ policy.dmarc.policy.p }}, reports to {{ policy.dmarc.policy.rua | map(attribute='address') | join(', ') }}

- name: Collect the result of a domain whose SPF record needs too many lookups, without failing
  mailops.mailflow.sender_policy:
    domain: sales.fabrikam.com
    fail_on_failure: false
  register: sales

- name: Say what is wrong and what to do
  ansible.builtin.debug:
    msg: "{{ sales.diagnosis.summary }} {{ sales.diagnosis.remedy }}"
  when: not sales.passed

- name: Only the DMARC record, asking a given nameserver
  mailops.mailflow.sender_policy:
    domain: marketing.contoso.com
    checks: [dmarc]
    nameservers: [192.0.2.53]
'''

RETURN = r'''
domain:
  description: The domain checked (ASCII, no trailing dot).
  returned: always
  type: str
  sample: contoso.com
passed:
  description: True when every check in O(checks) passed (warnings do not fail).
  returned: always
  type: bool
summary:
  description: "One line per check, e.g. C(contoso.com: SPF ok (3/10 lookups, -all); DMARC p=reject)."
  returned: always
  type: str
diagnosis:
  description:
    - The first failure, or the first check's own diagnosis when all passed. Keys as smtp_probe's diagnosis
      (status, step C(spf) or C(dmarc), error (the condition name), category, summary, causes, remedy, references),
      plus detail (what was seen).
    - 'Conditions: C(spf_ok), C(spf_none), C(spf_multiple_records), C(spf_syntax_error), C(spf_too_many_lookups),
      C(spf_too_many_void_lookups), C(spf_include_without_record), C(spf_pass_all), C(spf_no_fail_all) (warning),
      C(spf_dns_failed), C(dmarc_enforced), C(dmarc_monitor_only) (warning), C(dmarc_partial_pct) (warning),
      C(dmarc_no_rua) (warning), C(dmarc_report_destination_unauthorized) (warning), C(dmarc_none),
      C(dmarc_multiple_records), C(dmarc_syntax_error), C(dmarc_dns_failed).'
  returned: always
  type: dict
findings:
  description: A diagnosis per failure and warning, SPF first.
  returned: always
  type: list
  elements: dict
spf:
  description: The SPF check; null when not in O(checks).
  returned: always
  type: dict
  contains:
    status:
      description: V(ok), V(none) (no record), V(permerror) (the record cannot be used) or V(temperror) (DNS failed).
      type: str
    condition:
      description: The condition name when the status is not ok.
      type: str
    message:
      description: What went wrong, naming the term or the query.
      type: str
    record:
      description: The domain's v=spf1 record.
      type: str
    terms:
      description: The record's terms, in order.
      type: list
      elements: str
    all:
      description: The C(all) term the evaluation ends at (C(-all), C(~all), C(?all), C(+all)), or null.
      type: str
    lookup_count:
      description: DNS lookups counted (include, a, mx, ptr, exists, redirect), across included records.
      type: int
    lookup_limit:
      description: Always 10 (RFC 7208 4.6.4).
      type: int
    void_lookup_count:
      description: Lookups that found nothing.
      type: int
    void_lookup_limit:
      description: Always 2 (RFC 7208 4.6.4).
      type: int
    records:
      description: Every record visited (domain, record, depth, lookups (the terms that cost one)).
      type: list
      elements: dict
    notes:
      description: Terms not evaluated because a macro needs the sending address (C(%{i})).
      type: list
      elements: str
    passed:
      description: The SPF part passed.
      type: bool
    diagnosis:
      description: The SPF diagnosis.
      type: dict
    findings:
      description: SPF failures and warnings.
      type: list
      elements: dict
dmarc:
  description: The DMARC check; null when not in O(checks).
  returned: always
  type: dict
  contains:
    status:
      description: V(ok), V(none), V(invalid) or V(temperror).
      type: str
    record:
      description: The v=DMARC1 record.
      type: str
    found_at:
      description: The name that held it (C(_dmarc.<domain>) or that of O(organizational_domain)).
      type: str
    applied_policy:
      description: C(p), or C(sp) for a record found at the organizational domain.
      type: str
    policy:
      description: The tags with their defaults (p, sp, pct, adkim, aspf, fo, rf, ri, rua, ruf, unknown); rua and ruf
        are lists of uri, scheme, address, domain, max_size.
      type: dict
    warnings:
      description: Condition names that do not fail.
      type: list
      elements: str
    report_authorization:
      description: Per external report domain, whether it authorised the reports (domain, authorized, query).
      type: list
      elements: dict
    passed:
      description: The DMARC part passed.
      type: bool
    diagnosis:
      description: The DMARC diagnosis.
      type: dict
labels:
  description: O(labels), unchanged.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import (
    HAS_DNSPYTHON,
    DnsConfigError,
    OptionError,
    make_resolver,
    missing_dnspython_message,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_options import (
    DNS_ARGSPEC,
    dns_options,
    domain_option,
    name_option,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_policy import CHECKS, check_sender_policy

ARGUMENT_SPEC = dict(
    domain=dict(type='str', required=True),
    organizational_domain=dict(type='str'),
    checks=dict(type='list', elements='str', choices=list(CHECKS), default=list(CHECKS)),
    name=dict(type='str'),
    labels=dict(type='dict', default={}),
    fail_on_failure=dict(type='bool', default=True),
    **DNS_ARGSPEC
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        domain = domain_option('domain', params['domain'])
        organizational = domain_option('organizational_domain', params['organizational_domain'])
        name = name_option(params['name'])
        if not params['checks']:
            raise OptionError('checks', 'must name at least one of {}'.format(', '.join(CHECKS)))
        options = dns_options(params)
    except OptionError as exc:
        module.fail_json(msg=str(exc), option=exc.option)
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_dnspython_message())
    try:
        resolver = make_resolver(options)
    except DnsConfigError as exc:
        module.fail_json(msg=str(exc))
    result = check_sender_policy(resolver, domain, organizational, params['checks'])
    result['labels'] = params['labels']
    facts = {'mailflow': {'sender_policy': {name or domain: dict(result)}}}
    failure = failure_message('sender_policy', result) if params['fail_on_failure'] else None
    if failure:
        module.fail_json(msg=failure, changed=False, ansible_facts=facts, **result)
    module.exit_json(msg=result['summary'], changed=False, ansible_facts=facts, **result)


if __name__ == '__main__':
    main()
