#!/usr/bin/python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: mx_lookup
short_description: Resolve the MX records of mail domains the way an MTA does
version_added: 0.1.0
description:
  - Looks up the MX records of one domain or many, on the managed host and with its resolver view (its C(resolv.conf)),
    or with the O(nameservers) given. This is step 2 of the Exchange "test SMTP with Telnet" procedure
    (C(nslookup), C(set type=mx), C(fabrikam.com.)), for a whole mail estate.
  - Exchangers come back sorted by preference, then by name. A lower preference wins. Exchangers that share a
    preference form a group, marked as such, because an MTA shuffles them.
  - Applies the rules an MTA applies. A null MX (C(0 .), RFC 7505) means the domain accepts no mail. No MX but an A or
    AAAA record means an implicit MX (RFC 5321 section 5.1). An MX target that is an alias (CNAME) gets a warning
    (RFC 2181 section 10.3) and its resolved addresses. An MX target without an address gets a warning and is unusable.
  - Names are always absolute. V(fabrikam.test) and V(fabrikam.test.) give the same answer, and the search domains
    of the host are never appended. That is why the guide types the trailing dot.
  - Each domain is stored in C(ansible_facts.mailflow.mx[<domain>]). A later lookup adds to these facts and erases
    nothing; the action plugin merges them.
  - DNS outcomes (NXDOMAIN, SERVFAIL, timeout, null MX) come with a O(ignore:status) and a diagnosis. A domain that
    cannot take mail as checked (RV(passed) is false) fails the task, as M(ansible.builtin.uri) and
    M(ansible.builtin.wait_for) do when a check does not pass, with a one-line RV(msg); the failed result keeps every
    return value (Ansible does not store a failed task's facts, see O(fail_on_failure)). With
    O(fail_on_failure=false) it is a result instead, for runs that collect results, as the collection's roles do.
  - Invalid options, a missing dnspython, or a host without resolver configuration fail the task whatever
    O(fail_on_failure) says.
options:
  domain:
    description:
      - The mail domain to look up, with or without the trailing dot.
      - Internationalized names are accepted and reported in their ASCII (C(xn--)) form, encoded with IDNA 2008
        (UTS 46), which needs the Python package C(idna) on the managed host.
      - Exactly one of O(domain) and O(domains) is required.
    type: str
  domains:
    description:
      - Several mail domains, resolved concurrently (at most 32 queries in flight). The result RV(results) keeps the
        order given here.
    type: list
    elements: str
  nameservers:
    description:
      - IP addresses of the nameservers to ask, in order.
      - Default is the nameservers of the managed host's C(/etc/resolv.conf), never its search domains.
    type: list
    elements: str
  port:
    description: The DNS port of the nameservers.
    type: int
    default: 53
  timeout:
    description: Seconds to wait for one answer from one nameserver before trying again or the next one.
    type: float
    default: 2.0
  lifetime:
    description:
      - Seconds one question may take in total, all retries and nameservers included. After that the status is
        V(timeout).
      - A domain asks up to two questions in a row (MX, then A and AAAA of its exchangers, in parallel), each with
        this lifetime. The resolver's back-off between retry rounds can add a few tenths of a second.
    type: float
    default: 5.0
  tcp:
    description:
      - Ask over TCP from the start. Without it, UDP is used and a truncated answer is asked again over TCP.
    type: bool
    default: false
  resolve_addresses:
    description:
      - Resolve the A and AAAA records of every exchanger, concurrently.
      - When false, RV(exchangers[].addresses) is empty and RV(exchangers[].usable) is true unless the DNS says otherwise.
    type: bool
    default: true
  ip_version:
    description:
      - Which addresses to keep. V(auto) keeps IPv4 and IPv6, V(4) only IPv4, V(6) only IPv6.
      - An exchanger left without an address of that family is unusable, with a warning.
    type: str
    choices: [auto, '4', '6']
    default: auto
  implicit_mx:
    description:
      - When a domain has no MX record, use its own A/AAAA records as the exchanger (RFC 5321 section 5.1), as MTAs do.
      - When false, such a domain gets the status V(no_mail).
    type: bool
    default: true
  name:
    description:
      - The key under C(ansible_facts.mailflow.mx) for a O(domain) lookup. Default is the domain (without the
        trailing dot).
      - Not allowed with O(domains); each of them is stored under its own name.
    type: str
  expect_exchangers:
    description:
      - The exchanger host names the domain should have, in any order. Compared with the MX hosts found as a set,
        case-insensitively and without trailing dots; preferences are not compared.
      - A different set makes RV(passed) false, lists the hosts in RV(mx_set.missing) and RV(mx_set.unexpected), and
        gives a diagnosis with the category C(mx_set_mismatch).
      - With O(domains), every domain is compared with this one list.
    type: list
    elements: str
  labels:
    description:
      - Free-form data returned unchanged as RV(labels), in each record and its fact entry. The collection's roles
        use it to say which check a lookup is (check, role, domain, target, required); the report groups by it.
    type: dict
    default: {}
  fail_on_failure:
    description:
      - Fail the task when RV(passed) is false (the status is not V(ok) or V(implicit_mx), no exchanger is usable, or
        the exchangers differ from O(expect_exchangers)), with a one-line RV(msg) that names the domain(s), the
        status, the condition and the diagnosis. The result keeps every other return value.
      - Ansible does not add the facts of a failed task to the host's facts (they stay in the registered result,
        under C(ansible_facts)). Where a report reads the facts, set O(fail_on_failure=false), as the roles do.
      - Set it to V(false) to collect results instead (the collection's roles do, and their report decides).
    type: bool
    default: true
requirements:
  - dnspython on the managed host (C(pip install dnspython) or C(apt install python3-dnspython))
notes:
  - Read-only. It never reports a change, and check mode runs the same queries.
  - The answering nameserver's AD flag is reported as RV(dnssec_ad) as received; this module does no DNSSEC validation.
seealso:
  - plugin: mailops.mailflow.mx
    plugin_type: lookup
    description: The same resolution on the controller.
  - name: RFC 5321 section 5.1, locating the target host
    description: Implicit MX and the preference order.
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
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
# The guide's session, as a task:
#   C:\> nslookup
#   > set type=mx
#   > fabrikam.com.
#   fabrikam.com mx preference=10, mail exchanger = mail1.fabrikam.com
#   fabrikam.com mx preference=20, mail exchanger = mail2.fabrikam.com
#   mail1.fabrikam.com internet address = 192.168.1.10
#   mail2.fabrikam.com internet address = 192.168.1.20
- name: Find the mail exchangers of fabrikam.com (set type=mx, trailing dot)
  mailops.mailflow.mx_lookup:
    domain: fabrikam.com.
  register: fabrikam_mx

- name: Show them the way nslookup does
  ansible.builtin.debug:
    msg: >-
      {{ fabrikam_mx.domain }} mx preference={{ item.preference }},
      mail exchanger = {{ item.host }},
      internet address = {{ item.addresses | map(attribute='ip') | join(', ') }}
  loop: "{{ fabrikam_mx.exchangers }}"

- name: The SMTP server to test with telnet on port 25 is the most preferred usable exchanger
  ansible.builtin.set_fact:
    smtp_target: "{{ (fabrikam_mx.exchangers | selectattr('usable'))[0].host }}"
  when: fabrikam_mx.status in ['ok', 'implicit_mx']

- name: Ask a given nameserver (like "server 192.0.2.53" in nslookup), on a lab port
  mailops.mailflow.mx_lookup:
    domain: fabrikam.test
    nameservers: [127.0.0.1]
    port: 5353
    timeout: 1
    lifetime: 3

- name: Many domains at once; results keep this order
  mailops.mailflow.mx_lookup:
    domains:
      - contoso.com
      - fabrikam.com
      - example.org
    ip_version: '4'
    # Collect every domain's status; the next task lists those that cannot take mail.
    fail_on_failure: false
  register: estate

- name: Domains that cannot receive mail
  ansible.builtin.debug:
    msg: "{{ item.domain }}: {{ item.status }} - {{ item.diagnosis.summary }}"
  loop: "{{ estate.results | rejectattr('status', 'in', ['ok', 'implicit_mx']) }}"

- name: Every lookup is kept in the facts, keyed by domain
  ansible.builtin.debug:
    var: ansible_facts.mailflow.mx['fabrikam.com'].exchangers

- name: The MX set must be exactly these two hosts (the order and the preferences are not compared)
  mailops.mailflow.mx_lookup:
    domain: fabrikam.com
    expect_exchangers: [mail1.fabrikam.com, mail2.fabrikam.com.]
    labels: {check: mx_set, domain: fabrikam.com}
'''

RETURN = r'''
msg:
  description:
    - Why the task failed. For a check that did not pass (O(fail_on_failure)), one line per run naming each domain
      that cannot take mail as checked, with its status, condition and diagnosis summary.
  returned: when the task fails
  type: str
  sample: "nxdomain.test: status nxdomain at mx (dns_nxdomain): The domain does not exist."
domain:
  description: The domain looked up, lower-case, in ASCII form, without the trailing dot.
  returned: when O(domain) is given
  type: str
  sample: fabrikam.test
query_name:
  description: The absolute name that was asked, with the trailing dot.
  returned: when O(domain) is given
  type: str
  sample: fabrikam.test.
status:
  description:
    - V(ok) MX records found. V(null_mx) the domain publishes C(0 .) and accepts no mail (RFC 7505).
      V(implicit_mx) no MX, the domain's own A/AAAA is the exchanger (RFC 5321 5.1).
      V(no_mail) neither MX nor A/AAAA records (NODATA). V(nxdomain) the domain does not exist.
      V(servfail) the nameserver answered SERVFAIL. V(timeout) no answer within O(lifetime). V(error) anything else
      (refused, malformed answer, network error); see RV(error).
  returned: when O(domain) is given
  type: str
  sample: ok
exchangers:
  description:
    - The mail exchangers, sorted by preference, then host. Empty for every status but V(ok) and V(implicit_mx).
    - For V(implicit_mx) one entry, the domain itself, with preference 0 and RV(exchangers[].implicit) true.
  returned: when O(domain) is given
  type: list
  elements: dict
  contains: &exchanger
    preference:
      description: The MX preference; lower is tried first.
      type: int
      sample: 10
    host:
      description: The exchanger's host name, without the trailing dot.
      type: str
      sample: mx1.fabrikam.test
    addresses:
      description: Its addresses after the O(ip_version) filter, IPv4 first, each family sorted.
      type: list
      elements: dict
      sample: [{ip: 127.0.0.11, family: ipv4}]
      contains:
        ip:
          description: The address.
          type: str
        family:
          description: V(ipv4) or V(ipv6).
          type: str
    canonical_name:
      description: The name the host is an alias (CNAME) of, after the whole chain; null when it is no alias.
      type: str
      sample: mx1.fabrikam.test
    implicit:
      description: True for the implicit MX (the domain's own address).
      type: bool
    usable:
      description: False when the host has no address (of the wanted family), does not exist, or could not be resolved.
      type: bool
    equal_preference_group:
      description: True when another exchanger has the same preference; an MTA picks among them at random.
      type: bool
    preference_group:
      description: Rank of this exchanger's preference, 0 for the most preferred group.
      type: int
    warnings:
      description: Problems with this exchanger (alias target, no address, failed address lookup).
      type: list
      elements: str
canonical_name:
  description: When the domain itself is an alias, the name at the end of its CNAME chain; otherwise null.
  returned: when O(domain) is given
  type: str
ttl:
  description: TTL of the MX records (for V(implicit_mx), the smallest A/AAAA TTL); null without records.
  returned: when O(domain) is given
  type: int
  sample: 300
nameserver:
  description: The nameserver that answered the MX question; null when none answered.
  returned: when O(domain) is given
  type: str
  sample: 127.0.0.1
nameserver_port:
  description: The port of that nameserver.
  returned: when O(domain) is given
  type: int
  sample: 5353
dnssec_ad:
  description: The AD (authenticated data) flag of the MX answer, as received.
  returned: when O(domain) is given
  type: bool
elapsed_ms:
  description: Wall time for this domain, addresses included, in milliseconds.
  returned: when O(domain) is given
  type: float
  sample: 2.4
error:
  description: What went wrong, for V(nxdomain), V(servfail), V(timeout) and V(error); null otherwise.
  returned: when O(domain) is given
  type: str
  sample: "no nameserver could answer servfail.test MX: 127.0.0.1 port 5353 (udp): SERVFAIL"
domain_warnings:
  description: Domain-level findings (the domain is an alias, implicit MX in use, null MX next to other MX records).
  returned: when O(domain) is given
  type: list
  elements: str
passed:
  description:
    - True when mail can flow to the domain as expected. The status is V(ok) or V(implicit_mx), at least one
      exchanger is usable, and, when O(expect_exchangers) is given, the exchanger set equals it.
    - With O(domains), the top-level value is true when every record passed.
  returned: always
  type: bool
  sample: true
mx_set:
  description: The comparison with O(expect_exchangers); null when it is not given.
  returned: when O(domain) is given
  type: dict
  contains: &mx_set
    expected:
      description: The expected hosts, normalised (lower-case, ASCII, no trailing dot), sorted.
      type: list
      elements: str
      sample: [mx1.fabrikam.test, mx2.fabrikam.test]
    found:
      description: The exchanger hosts found, normalised the same way, sorted.
      type: list
      elements: str
    missing:
      description: Expected hosts that are not exchangers of the domain.
      type: list
      elements: str
    unexpected:
      description: Exchangers of the domain that were not expected.
      type: list
      elements: str
    matches:
      description: Whether both sets are equal.
      type: bool
labels:
  description: O(labels), unchanged. With O(domains), also in each record.
  returned: always
  type: dict
  sample: {check: mx_set, role: inbound, domain: fabrikam.test, target: fabrikam.test, required: true}
diagnosis:
  description:
    - From the collection's diagnosis catalog, in the same shape as the SMTP diagnoses. The most serious finding
      names it. An V(ok) status with a dangling or aliased exchanger, or with no usable exchanger, says so here.
    - A mail-capable domain whose exchangers differ from O(expect_exchangers) gets the category C(mx_set_mismatch),
      with the missing and unexpected hosts in its notes.
  returned: when O(domain) is given
  type: dict
  contains: &diagnosis
    status:
      description:
        - V(ok) when mail can flow (also for an implicit MX or an aliased MX target), V(permanent) for a null MX,
          V(dns) for the other DNS findings.
      type: str
    category:
      description: Short name of the finding.
      type: str
    summary:
      description: One sentence.
      type: str
    causes:
      description: Likely causes.
      type: list
      elements: str
    remedy:
      description: What to do.
      type: str
results:
  description: One record per entry of O(domains), in the same order, each with the keys above.
  returned: when O(domains) is given
  type: list
  elements: dict
  contains:
    domain:
      description: The domain, without the trailing dot.
      type: str
    query_name:
      description: The absolute name asked, with the trailing dot.
      type: str
    status:
      description: As RV(status).
      type: str
    exchangers:
      description: As RV(exchangers).
      type: list
      elements: dict
      contains: *exchanger
    canonical_name:
      description: As RV(canonical_name).
      type: str
    ttl:
      description: As RV(ttl).
      type: int
    nameserver:
      description: As RV(nameserver).
      type: str
    nameserver_port:
      description: As RV(nameserver_port).
      type: int
    dnssec_ad:
      description: As RV(dnssec_ad).
      type: bool
    elapsed_ms:
      description: As RV(elapsed_ms).
      type: float
    error:
      description: As RV(error).
      type: str
    domain_warnings:
      description: As RV(domain_warnings).
      type: list
      elements: str
    diagnosis:
      description: As RV(diagnosis).
      type: dict
      contains: *diagnosis
    passed:
      description: As RV(passed), for this domain.
      type: bool
    mx_set:
      description: As RV(mx_set).
      type: dict
      contains: *mx_set
    labels:
      description: As RV(labels).
      type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import diagnose
from ansible_collections.mailops.mailflow.plugins.module_utils._diagnosis import errors
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import (
    HAS_DNSPYTHON,
    DnsConfigError,
    MxOptions,
    OptionError,
    missing_dnspython_message,
    resolve_many,
    resolve_mx,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.validate import (
    normalize_domain,
    normalize_domains,
)
from ansible_collections.mailops.mailflow.plugins.module_utils._outcome import failure_message

ARGUMENT_SPEC = dict(
    domain=dict(type='str'),
    domains=dict(type='list', elements='str'),
    nameservers=dict(type='list', elements='str'),
    port=dict(type='int', default=53),
    timeout=dict(type='float', default=2.0),
    lifetime=dict(type='float', default=5.0),
    tcp=dict(type='bool', default=False),
    resolve_addresses=dict(type='bool', default=True),
    ip_version=dict(type='str', default='auto', choices=['auto', '4', '6']),
    implicit_mx=dict(type='bool', default=True),
    name=dict(type='str'),
    expect_exchangers=dict(type='list', elements='str'),
    labels=dict(type='dict', default={}),
    fail_on_failure=dict(type='bool', default=True),
)
MAIL_STATUSES = ('ok', 'implicit_mx')


def _validated(module):
    """Every option checked before the first query; one message naming the option."""
    params = module.params
    try:
        if params['domain'] is not None:
            try:
                normalize_domain(params['domain'])
            except ValueError as exc:
                raise OptionError('domain', str(exc)) from None
        else:
            try:
                normalize_domains(params['domains'])
            except ValueError as exc:
                raise OptionError('domains', str(exc)) from None
        if params['name'] is not None and (not params['name'].strip() or any(ord(char) < 32 for char in params['name'])):
            raise OptionError('name', 'must be a non-empty key without control characters')
        if params['expect_exchangers'] is not None:
            expected = []
            for index, host in enumerate(params['expect_exchangers']):
                try:
                    expected.append(normalize_domain(host))
                except ValueError as exc:
                    raise OptionError(f'expect_exchangers[{index}]', str(exc)) from None
            params['expect_exchangers'] = expected
        return MxOptions(
            nameservers=params['nameservers'],
            port=params['port'],
            timeout=params['timeout'],
            lifetime=params['lifetime'],
            tcp=params['tcp'],
            resolve_addresses=params['resolve_addresses'],
            ip_version=params['ip_version'],
            implicit_mx=params['implicit_mx'],
        )
    except OptionError as exc:
        module.fail_json(msg=str(exc), option=exc.option)


def mx_set_check(record, expected):
    """Compare the exchanger hosts of a record with the expected ones (both already normalised)."""
    found = set(exchanger['host'].lower().rstrip('.') for exchanger in record['exchangers'])
    wanted = set(expected)
    return {
        'expected': sorted(wanted),
        'found': sorted(found),
        'missing': sorted(wanted - found),
        'unexpected': sorted(found - wanted),
        'matches': found == wanted,
    }


def judged(record, expected, labels):
    """The record with passed, mx_set and labels; a set mismatch names the diagnosis of a domain that takes mail."""
    record = dict(record)
    mx_set = mx_set_check(record, expected) if expected is not None else None
    mail_flows = record['status'] in MAIL_STATUSES and any(exchanger['usable'] for exchanger in record['exchangers'])
    record['passed'] = mail_flows and (mx_set is None or mx_set['matches'])
    record['mx_set'] = mx_set
    record['labels'] = labels
    if mx_set is not None and not mx_set['matches']:
        notes = ['{}: {}'.format(word, ', '.join(mx_set[word])) for word in ('missing', 'unexpected') if mx_set[word]]
        if record['diagnosis'].get('status') == 'ok':
            record['diagnosis'] = diagnose(step='mx', error=errors.DNS_MX_SET_MISMATCH)
        else:
            notes.insert(0, 'the exchangers also differ from expect_exchangers')
        record['diagnosis']['notes'] = list(record['diagnosis'].get('notes') or []) + notes
    return record


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[('domain', 'domains'), ('domains', 'name')],
        required_one_of=[('domain', 'domains')],
        supports_check_mode=True,
    )
    options = _validated(module)
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_dnspython_message(), diagnosis=diagnose(step='mx', error=errors.DNS_MISSING_LIBRARY))

    try:
        expected = module.params['expect_exchangers']
        labels = module.params['labels']
        if module.params['domain'] is not None:
            record = judged(resolve_mx(module.params['domain'], options), expected, labels)
            facts_entries = {module.params['name'] or record['domain']: record}
            result = dict(record)
        else:
            records = [judged(record, expected, labels) for record in resolve_many(module.params['domains'], options)]
            facts_entries = dict((record['domain'], record) for record in records)
            result = dict(results=records, passed=all(record['passed'] for record in records), labels=labels)
    except DnsConfigError as exc:
        module.fail_json(msg=str(exc), diagnosis=diagnose(step='mx', error=errors.DNS_ERROR))

    result['changed'] = False
    result['ansible_facts'] = {'mailflow': {'mx': facts_entries}}
    failure = failure_message('mx_lookup', result) if module.params['fail_on_failure'] else None
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
