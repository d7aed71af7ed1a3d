#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: egress_identity
short_description: Check what a receiver checks about a sending server's address (PTR, FCrDNS, EHLO name, SPF)
version_added: 0.1.0
description:
  - A new transport server's mail is often refused or junked before a single message is read, for reasons that
    depend only on DNS. This module checks them for the address a remote server sees the transport host connect
    from (an outbound probe reports it as C(target.source_address); behind NAT, give the public address).
  - B(PTR) is the reverse DNS name of the address (C(<reversed address>.in-addr.arpa) or C(ip6.arpa)). Gmail,
    Outlook.com and most spam filters reject or defer mail from an address without one.
  - B(FCrDNS) (forward-confirmed reverse DNS, RFC 8601 C(iprev)) means a PTR name whose A or AAAA record includes the
    address. A PTR that names another host's name, or a name that does not exist, fails as much as no PTR.
  - B(EHLO name). The name the server announces (O(helo_name)) should be that PTR name, or at least resolve to the
    address. An internal host name or an address literal is a common reason for spam scoring.
  - B(SPF) (RFC 7208). The sender domain's record is evaluated for the address with check_host(), through the same
    nameservers (include, a, mx, ptr, exists, redirect and macros, the limit of 10 lookups and of 2 void lookups).
    Only C(pass) authorises the address.
  - Each failure is a condition with causes and a remedy. A check that did not pass fails the task
    (O(fail_on_failure)). The result is also stored in C(ansible_facts.mailflow.egress[<name>]).
options:
  address:
    description:
      - The sending address as the remote server sees it, IPv4 or IPv6.
    type: str
    required: true
  helo_name:
    description:
      - The name the transport server says in EHLO/HELO. Without it the EHLO check is skipped.
    type: str
  sender_domain:
    description:
      - The domain of the envelope sender (C(MAIL FROM)) the server sends for. Without it the SPF check is skipped.
    type: str
  sender:
    description:
      - The envelope sender, for SPF macros that use the local part (C(%{l}), C(%{s})). Default
        C(postmaster@<sender_domain>).
    type: str
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
      - Seconds one query may take in all.
    type: float
    default: 5.0
  name:
    description:
      - The key under C(ansible_facts.mailflow.egress). Default is the address.
    type: str
  labels:
    description:
      - Free-form data returned unchanged as RV(labels), in the result and its fact entry.
    type: dict
    default: {}
  fail_on_failure:
    description:
      - Fail the task when RV(passed) is false, with a one-line C(msg) naming every failed condition. The result
        keeps every other return value. Ansible does not store a failed task's facts; set V(false) to collect them.
    type: bool
    default: true
requirements:
  - dnspython on the managed host
notes:
  - Read-only. It never reports a change, and check mode runs the same queries.
  - It asks DNS only; it does not connect to anything. Run it on the transport host so that its resolver (or
    O(nameservers)) is the one asked.
seealso:
  - module: mailops.mailflow.smtp_probe
    description: The outbound probe that reports the source address and the EHLO name.
  - module: mailops.mailflow.sender_policy
  - name: RFC 8601 section 2.7.3, iprev
    description: Forward-confirmed reverse DNS as receivers record it.
    link: https://www.rfc-editor.org/rfc/rfc8601#section-2.7.3
  - name: RFC 7208 section 4, check_host()
    description: How a receiver evaluates SPF for an address.
    link: https://www.rfc-editor.org/rfc/rfc7208#section-4
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
- name: Check the new transport server's public address before it sends for marketing.contoso.com
  mailops.mailflow.egress_identity:
    address: 198.51.100.25
    helo_name: mta1.contoso.com
    sender_domain: marketing.contoso.com

- name: Collect the identity of an address without a PTR record, without failing
  mailops.mailflow.egress_identity:
    address: 198.51.100.26
    helo_name: mta2.contoso.com
    sender_domain: marketing.contoso.com
    fail_on_failure: false
  register: egress

- name: Show why receivers would refuse its mail
  ansible.builtin.debug:
    msg: "{{ egress.findings | map(attribute='summary') | list }}"
  when: not egress.passed
'''

RETURN = r'''
address:
  description: The address checked.
  returned: always
  type: str
  sample: 198.51.100.25
passed:
  description: True when no condition failed.
  returned: always
  type: bool
summary:
  description:
    - "One line, e.g. C(198.51.100.25 (mta1.contoso.com): PTR, forward-confirmed reverse DNS, EHLO name and SPF
      agree)."
  returned: always
  type: str
conditions:
  description:
    - The failed conditions, most basic first. C(egress_dns_failed), C(egress_no_ptr), C(egress_fcrdns_mismatch),
      C(egress_helo_mismatch), C(egress_spf_not_authorized). Empty when it passed (the diagnosis is then C(egress_ok)).
  returned: always
  type: list
  elements: str
diagnosis:
  description: The first failure (or C(egress_ok)); keys as sender_policy's diagnosis, with detail.
  returned: always
  type: dict
findings:
  description: A diagnosis per failed condition.
  returned: always
  type: list
  elements: dict
ptr:
  description: The reverse lookup (query, outcome (answer, nodata, nxdomain, servfail, timeout, error), names, message).
  returned: always
  type: dict
ptr_name:
  description: The first PTR name that resolves back to the address, else the first PTR name, else null. A
    baseline compares this value.
  returned: always
  type: str
fcrdns:
  description: Whether a PTR name resolves back to the address.
  returned: always
  type: bool
forward:
  description: The A (or AAAA) addresses of each PTR name.
  returned: always
  type: dict
helo:
  description: name, matches (null when O(helo_name) is not given), how (V(ptr_name), V(forward) or
    V(address_literal)), addresses (of the name).
  returned: always
  type: dict
spf:
  description:
    - check_host() for the address; null without O(sender_domain). result (pass, fail, softfail, neutral, none,
      permerror, temperror), mechanism (the term that decided), matched_in (the domain whose record held it),
      condition and message (for errors), lookup_count, void_lookup_count, records, notes.
  returned: always
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
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.egress import check_egress
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_options import (
    DNS_ARGSPEC,
    address_option,
    dns_options,
    domain_option,
    name_option,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._policy.sender_policy import egress_summary

ARGUMENT_SPEC = dict(
    address=dict(type='str', required=True),
    helo_name=dict(type='str'),
    sender_domain=dict(type='str'),
    sender=dict(type='str'),
    name=dict(type='str'),
    labels=dict(type='dict', default={}),
    fail_on_failure=dict(type='bool', default=True),
    **DNS_ARGSPEC
)


def egress_task(params):
    """The task result of egress_identity for validated ``params`` (also run on the controller for a Windows host)."""
    try:
        address = address_option('address', params['address'])
        helo = params['helo_name']
        if helo is not None and not helo.startswith('['):
            helo = domain_option('helo_name', helo)
        sender_domain = domain_option('sender_domain', params['sender_domain'])
        sender = params['sender']
        if sender is not None and '@' not in sender:
            raise OptionError('sender', f'{sender!r} is not a mail address (local@domain)')
        name = name_option(params['name'])
        options = dns_options(params)
    except OptionError as exc:
        return {'failed': True, 'msg': str(exc), 'option': exc.option}
    if not HAS_DNSPYTHON:
        return {'failed': True, 'msg': missing_dnspython_message()}
    try:
        resolver = make_resolver(options)
    except DnsConfigError as exc:
        return {'failed': True, 'msg': str(exc)}
    result = check_egress(resolver, address, helo, sender_domain, sender)
    result['summary'] = egress_summary(result)
    result['labels'] = params['labels']
    facts = {'mailflow': {'egress': {name or address: dict(result)}}}
    failure = failure_message('egress_identity', result) if params['fail_on_failure'] else None
    result.update(msg=failure or result['summary'], changed=False, ansible_facts=facts)
    if failure:
        result['failed'] = True
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = egress_task(module.params)
    if result.pop('failed', False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
