# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: win_mx_lookup
short_description: Ask a Windows host's resolver DNS questions with Resolve-DnsName (the Windows side of mx_lookup)
version_added: 0.1.0
description:
  - The DNS half of M(mailops.mailflow.mx_lookup) and M(mailops.mailflow.mx_probe) on Windows hosts. Do not call it in a
    play. Call M(mailops.mailflow.mx_lookup) or M(mailops.mailflow.mx_probe). Their action plugins see that the host
    uses a PowerShell shell, check every option on the controller first, and then run this module with the questions
    that the MX logic needs.
  - It asks each question with C(Resolve-DnsName -DnsOnly -NoHostsFile), with the name made absolute (trailing dot), so
    neither the hosts file, LLMNR, NetBIOS nor a DNS search suffix answers. With O(nameservers) it passes them as
    C(-Server), else the host's own resolver answers (the Exchange server's view of DNS).
  - It returns the raw records of each question (C(Name), C(Type), C(TTL), C(Section), C(NameExchange), C(Preference),
    C(IPAddress), C(NameHost)) and the Windows error code. The action plugin applies the same Python MX logic as on
    Linux hosts (order, preference groups, null MX, implicit MX, CNAME and dangling warnings, statuses), so the result
    and the diagnosis are those of M(mailops.mailflow.mx_lookup).
  - "Windows DNS error codes become statuses as follows. 9003 C(DNS_ERROR_RCODE_NAME_ERROR): V(nxdomain). 9002
    C(DNS_ERROR_RCODE_SERVER_FAILURE): V(servfail). 9501 C(DNS_INFO_NO_RECORDS) and 9701
    C(DNS_ERROR_RECORD_DOES_NOT_EXIST): no record of that type (no MX leads to the implicit MX check, then V(no_mail)).
    1460 C(ERROR_TIMEOUT) and 10060 C(WSAETIMEDOUT): V(timeout). 9001 C(DNS_ERROR_RCODE_FORMAT_ERROR), 9004
    C(DNS_ERROR_RCODE_NOT_IMPLEMENTED), 9005 C(DNS_ERROR_RCODE_REFUSED), 9502 C(DNS_ERROR_BAD_PACKET), 9503
    C(DNS_ERROR_NO_PACKET), 9852 C(DNS_ERROR_NO_DNS_SERVERS) and any other code: V(error), with the code and the
    Windows message in the result's C(error)."
  - "What C(Resolve-DnsName) cannot do, and so the Windows path cannot either: it has no port parameter, so
    O(mailops.mailflow.mx_lookup#module:port) (and O(mailops.mailflow.mx_probe#module:dns_port)) must be 53 on Windows hosts, else the task fails before any
    query. It has no per-try timeout, so O(mailops.mailflow.mx_lookup#module:timeout) is not used. The lifetime is kept by this module: a question
    without an answer after O(lifetime) seconds is reported as 1460 C(ERROR_TIMEOUT). It does not report the AD flag
    or which server answered, so C(dnssec_ad) is always false and C(nameserver) is set only when exactly one
    nameserver was given."
options:
  questions:
    description: The DNS questions to ask, concurrently.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The name to ask about, without the trailing dot; the module makes it absolute.
        type: str
        required: true
      type:
        description: The record type.
        type: str
        required: true
        choices: [MX, A, AAAA]
  nameservers:
    description: IP addresses of the nameservers to ask (C(-Server)). Empty means the host's own resolver.
    type: list
    elements: str
    default: []
  tcp:
    description: Ask over TCP only (C(-TcpOnly)).
    type: bool
    default: false
  lifetime:
    description: Seconds one question may take in total; after that its answer is error 1460 C(ERROR_TIMEOUT).
    type: float
    default: 5.0
  max_in_flight:
    description: Questions asked at the same time.
    type: int
    default: 32
notes:
  - Needs the C(DnsClient) PowerShell module (Windows Server 2012 and later, Windows 8 and later), which provides
    C(Resolve-DnsName).
seealso:
  - module: mailops.mailflow.mx_lookup
  - module: mailops.mailflow.mx_probe
author:
  - mailops.mailflow contributors
'''

EXAMPLES = r'''
# Normally run by the mx_lookup action plugin on Windows hosts; a direct call looks like this.
- name: Ask for the MX records of fabrikam.com
  mailops.mailflow.win_mx_lookup:
    questions:
      - {name: fabrikam.com, type: MX}
'''

RETURN = r'''
answers:
  description: One entry per question, in the order asked.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name asked about, as given.
      type: str
    type:
      description: The record type asked for.
      type: str
    records:
      description:
        - The records C(Resolve-DnsName) returned, every section (C(Section) 1 is the answer, 2 the authority, 3 the
          additional section), with C(Name), C(Type) (the numeric record type), C(TTL), C(Section), C(NameExchange) and
          C(Preference) (MX), C(IPAddress) (A, AAAA) and C(NameHost) (CNAME).
      type: list
      elements: dict
    error_code:
      description: The Windows error code of a failed question (for example 9003), else null.
      type: int
    error_message:
      description: The Windows error message of a failed question, else null.
      type: str
    elapsed_ms:
      description: How long the question took on the host.
      type: float
'''
