# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
name: mx
short_description: The mail exchangers of a domain, resolved on the controller
version_added: 0.1.0
description:
  - Returns the MX exchangers of each domain given, sorted by preference then host, one list element per exchanger,
    the way the mailops.mailflow.mx_lookup module reports them but resolved on the controller.
  - Uses the same engine as the module. Names are always absolute; search domains are never appended.
  - A null MX (RFC 7505), a domain with neither MX nor address (NODATA) and a domain that does not exist (NXDOMAIN)
    give no element. A domain without MX but with an A/AAAA record gives its implicit MX (RFC 5321 section 5.1),
    the domain itself with preference 0.
  - SERVFAIL, a timeout and other DNS errors fail the lookup, because the answer is unknown.
  - Use the C(query) function or O(ignore:wantlist=true) to always get a list; the C(lookup) function returns a single
    exchanger as a dict.
options:
  _terms:
    description: Domains, with or without the trailing dot.
    type: list
    elements: str
    required: true
  nameservers:
    description: IP addresses of the nameservers to ask. Default is the controller's C(/etc/resolv.conf).
    type: list
    elements: str
  port:
    description: The DNS port of the nameservers.
    type: int
    default: 53
  timeout:
    description: Seconds to wait for one answer from one nameserver.
    type: float
    default: 2.0
  lifetime:
    description: Seconds one question may take in total.
    type: float
    default: 5.0
  tcp:
    description: Ask over TCP from the start (a truncated UDP answer is retried over TCP anyway).
    type: bool
    default: false
  resolve_addresses:
    description: Resolve the A/AAAA records of every exchanger.
    type: bool
    default: true
  ip_version:
    description: Which addresses to keep, V(auto) (both), V(4) or V(6).
    type: str
    choices: [auto, '4', '6']
    default: auto
  implicit_mx:
    description: Use the A/AAAA records of a domain without MX as its exchanger (RFC 5321 section 5.1).
    type: bool
    default: true
requirements:
  - dnspython on the controller
seealso:
  - module: mailops.mailflow.mx_lookup
    description: The same resolution on the managed host, with statuses, diagnoses and facts.
author:
  - mailops.mailflow contributors (@mailops)
'''

EXAMPLES = r'''
# nslookup; set type=mx; fabrikam.com.  - on the controller
- name: Exchangers of fabrikam.com, most preferred first
  ansible.builtin.debug:
    msg: "{{ item.domain }} mx preference={{ item.preference }}, mail exchanger = {{ item.host }}"
  loop: "{{ query('mailops.mailflow.mx', 'fabrikam.com.') }}"

- name: Against the lab nameserver
  ansible.builtin.set_fact:
    fabrikam_exchangers: "{{ query('mailops.mailflow.mx', 'fabrikam.test', nameservers=['127.0.0.1'], port=5353) }}"

- name: Host names of the usable exchangers of two domains, IPv4 only
  ansible.builtin.debug:
    msg: "{{ query('mailops.mailflow.mx', 'contoso.com', 'fabrikam.com', ip_version='4') | selectattr('usable') | map(attribute='host') }}"
'''

RETURN = r'''
_raw:
  description: One element per exchanger, for every domain in the order given, each domain's exchangers sorted.
  type: list
  elements: dict
  contains:
    domain:
      description: The domain the exchanger serves, without the trailing dot.
      type: str
    preference:
      description: The MX preference; lower is tried first.
      type: int
    host:
      description: The exchanger's host name, without the trailing dot.
      type: str
    addresses:
      description: Its addresses, as C([{ip, family}]), after the O(ip_version) filter.
      type: list
      elements: dict
    canonical_name:
      description: The target of its CNAME chain, when the MX target is an alias; otherwise null.
      type: str
    implicit:
      description: True for an implicit MX (the domain's own address).
      type: bool
    usable:
      description: False when it has no address of the wanted family.
      type: bool
    equal_preference_group:
      description: True when another exchanger of the domain shares its preference.
      type: bool
    preference_group:
      description: Rank of its preference within the domain, 0 for the most preferred.
      type: int
    warnings:
      description: Problems with this exchanger.
      type: list
      elements: str
'''

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import (
    HAS_DNSPYTHON,
    DnsConfigError,
    MxOptions,
    OptionError,
    missing_dnspython_message,
    resolve_many,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.validate import normalize_domains

# Statuses where the DNS gave no usable answer, so an empty list would be a lie.
FAILED_STATUSES = ('servfail', 'timeout', 'error')


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if not terms:
            return []
        try:
            try:
                domains = normalize_domains(list(terms))
            except ValueError as exc:
                raise OptionError('term', str(exc)) from None
            options = MxOptions(
                nameservers=self.get_option('nameservers'),
                port=self.get_option('port'),
                timeout=self.get_option('timeout'),
                lifetime=self.get_option('lifetime'),
                tcp=self.get_option('tcp'),
                resolve_addresses=self.get_option('resolve_addresses'),
                ip_version=self.get_option('ip_version'),
                implicit_mx=self.get_option('implicit_mx'),
            )
            if not HAS_DNSPYTHON:
                raise AnsibleLookupError(missing_dnspython_message('the controller'))
            records = resolve_many(domains, options)
        except (OptionError, DnsConfigError) as exc:
            raise AnsibleLookupError(f'mailops.mailflow.mx: {exc}') from exc

        exchangers = []
        for record in records:
            if record['status'] in FAILED_STATUSES:
                raise AnsibleLookupError('mailops.mailflow.mx: {}: {}: {}'.format(record['domain'], record['status'], record['error']))
            for exchanger in record['exchangers']:
                entry = {'domain': record['domain']}
                entry.update(exchanger)
                exchangers.append(entry)
        return exchangers
