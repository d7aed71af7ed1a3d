# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diagnosis entries of the sender identity checks (SPF, DMARC, egress identity) and of the SMTP smuggling check:
data, in the main catalog's entry format (``match: {'error': <condition>}``), like ``catalog.POLICY``.

The shared classifier (``_diagnosis``) indexes SENDER as its kind ``sender``; ``sender_diagnosis`` asks it and adds
what the check saw (``detail``).
"""

from __future__ import annotations

SPF_OK = 'spf_ok'
SPF_NONE = 'spf_none'
SPF_MULTIPLE = 'spf_multiple_records'
SPF_SYNTAX = 'spf_syntax_error'
SPF_TOO_MANY_LOOKUPS = 'spf_too_many_lookups'
SPF_TOO_MANY_VOID = 'spf_too_many_void_lookups'
SPF_INCLUDE_MISSING = 'spf_include_without_record'
SPF_PASS_ALL = 'spf_pass_all'
SPF_NO_FAIL_ALL = 'spf_no_fail_all'
SPF_DNS_FAILED = 'spf_dns_failed'
DMARC_ENFORCED = 'dmarc_enforced'
DMARC_MONITOR_ONLY = 'dmarc_monitor_only'
DMARC_PARTIAL = 'dmarc_partial_pct'
DMARC_NONE = 'dmarc_none'
DMARC_MULTIPLE = 'dmarc_multiple_records'
DMARC_SYNTAX = 'dmarc_syntax_error'
DMARC_NO_RUA = 'dmarc_no_rua'
DMARC_DESTINATION_UNAUTHORIZED = 'dmarc_report_destination_unauthorized'
DMARC_DNS_FAILED = 'dmarc_dns_failed'
EGRESS_OK = 'egress_ok'
EGRESS_NO_PTR = 'egress_no_ptr'
EGRESS_FCRDNS_MISMATCH = 'egress_fcrdns_mismatch'
EGRESS_HELO_MISMATCH = 'egress_helo_mismatch'
EGRESS_SPF_NOT_AUTHORIZED = 'egress_spf_not_authorized'
EGRESS_DNS_FAILED = 'egress_dns_failed'
SMUGGLING_SAFE = 'smuggling_safe'
SMUGGLING_EXPOSED = 'smuggling_exposed'
SMUGGLING_INCONCLUSIVE = 'smuggling_inconclusive'

RFC7208 = 'RFC 7208 (Sender Policy Framework)'
RFC7489 = 'RFC 7489 (DMARC)'
RFC8601 = 'RFC 8601 (Authentication-Results)'
RFC5321 = 'RFC 5321 (SMTP)'
GOOGLE_SENDERS = "Google: Email sender guidelines (valid forward and reverse DNS, SPF or DKIM)"
MICROSOFT_SENDERS = 'Microsoft: Outlook.com requirements for high-volume senders'
SEC_CONSULT = 'SEC Consult: SMTP Smuggling - Spoofing E-Mails Worldwide (2023-12-18)'
POSTFIX_SMUGGLING = 'Postfix: SMTP Smuggling (www.postfix.org/smtp-smuggling.html)'

SENDER = (
    {
        'match': {'error': SPF_OK},
        'category': 'spf', 'status': 'ok',
        'summary': 'The SPF record is valid and stays within the limit of 10 DNS lookups.',
        'causes': ('The domain publishes one v=spf1 record whose mechanisms a receiver can evaluate in full.',),
        'remedy': 'Nothing to do. Re-check after adding an include: every include, a, mx, ptr and exists costs a '
                  'lookup, also inside the included records.',
        'references': (RFC7208 + ' 4.6.4',),
    },
    {
        'match': {'error': SPF_NONE},
        'category': 'spf', 'status': 'dns',
        'summary': 'The domain publishes no SPF record: receivers cannot tell which servers may send its mail.',
        'causes': ('No TXT record starting with v=spf1 at the domain (the result is "none").',
                   'The record was published at a different name (a subdomain, or the SPF record type).'),
        'remedy': 'Publish one TXT record at the domain, e.g. "v=spf1 mx include:spf.protection.outlook.com -all", '
                  'listing every system that sends as the domain.',
        'references': (RFC7208 + ' 4.5', GOOGLE_SENDERS),
    },
    {
        'match': {'error': SPF_MULTIPLE},
        'category': 'spf', 'status': 'dns',
        'summary': 'The domain publishes more than one SPF record: receivers return permerror and may reject.',
        'causes': ('A second v=spf1 TXT record was added (often by a provider\'s setup wizard) instead of merging.',),
        'remedy': 'Merge the records into one v=spf1 record and delete the others.',
        'references': (RFC7208 + ' 3.2, 4.5',),
    },
    {
        'match': {'error': SPF_SYNTAX},
        'category': 'spf', 'status': 'dns',
        'summary': 'The SPF record has a syntax error: receivers return permerror for every message.',
        'causes': ('A mistyped mechanism or modifier (e.g. "ip4:" with a host name, "include" without a colon).',
                   'A CIDR length out of range, or a redirect/exp modifier given twice.'),
        'remedy': 'Fix the term named in the detail; every term must be a mechanism of RFC 7208 section 5 or a '
                  'name=value modifier.',
        'references': (RFC7208 + ' 4.6, 5, 6, 12',),
    },
    {
        'match': {'error': SPF_TOO_MANY_LOOKUPS},
        'category': 'spf', 'status': 'dns',
        'summary': 'Evaluating the SPF record takes more than 10 DNS lookups: receivers return permerror.',
        'causes': ('Too many include, a, mx, ptr, exists or redirect terms, counted across every included record.',
                   'A provider\'s include grew (providers nest their own includes).'),
        'remedy': 'Replace a and mx terms with ip4/ip6 ranges, remove includes of services that no longer send, or '
                  'send from subdomains with their own records. ptr should not be used at all.',
        'references': (RFC7208 + ' 4.6.4',),
    },
    {
        'match': {'error': SPF_TOO_MANY_VOID},
        'category': 'spf', 'status': 'dns',
        'summary': 'More than 2 SPF lookups found no record (void lookups): receivers return permerror.',
        'causes': ('An a, mx, include or exists term names a host or domain that no longer exists or has no '
                   'record of that type.',),
        'remedy': 'Remove the terms that name hosts or domains without records.',
        'references': (RFC7208 + ' 4.6.4',),
    },
    {
        'match': {'error': SPF_INCLUDE_MISSING},
        'category': 'spf', 'status': 'dns',
        'summary': 'An include or redirect names a domain without an SPF record: receivers return permerror.',
        'causes': ('The included provider changed or retired its SPF domain, or the name is mistyped.',),
        'remedy': 'Correct or remove the include/redirect; the provider documents the name to include.',
        'references': (RFC7208 + ' 5.2, 6.1',),
    },
    {
        'match': {'error': SPF_PASS_ALL},
        'category': 'spf', 'status': 'dns',
        'summary': 'The SPF record ends in +all: it authorises every server on the Internet to send as the domain.',
        'causes': ('"+all" (or "all" without a qualifier) was used instead of "-all" or "~all".',),
        'remedy': 'End the record with -all (or ~all while you are still finding senders).',
        'references': (RFC7208 + ' 5.1, 4.6.2',),
    },
    {
        'match': {'error': SPF_NO_FAIL_ALL},
        'category': 'spf', 'status': 'ok',
        'summary': 'The SPF record does not end in -all or ~all: mail from unlisted servers gets "neutral".',
        'causes': ('The record ends in ?all, or has no all mechanism and no redirect.',),
        'remedy': 'Once every sender is listed, end the record with -all (or ~all).',
        'references': (RFC7208 + ' 4.7, 8.2',),
    },
    {
        'match': {'error': SPF_DNS_FAILED},
        'category': 'spf', 'status': 'dns',
        'summary': 'The SPF record could not be evaluated because a DNS query failed (temperror).',
        'causes': ('The domain\'s nameservers (or those of an included domain) time out or answer SERVFAIL.',),
        'remedy': 'Check the nameservers named in the detail; receivers defer or accept mail without SPF meanwhile.',
        'references': (RFC7208 + ' 2.6.6, 4.4',),
    },
    {
        'match': {'error': DMARC_ENFORCED},
        'category': 'dmarc', 'status': 'ok',
        'summary': 'The domain publishes a valid DMARC policy that quarantines or rejects unauthenticated mail.',
        'causes': ('_dmarc.<domain> holds one v=DMARC1 record with p=quarantine or p=reject.',),
        'remedy': 'Nothing to do. Read the aggregate reports (rua) to catch senders that fail alignment.',
        'references': (RFC7489 + ' 6.3',),
    },
    {
        'match': {'error': DMARC_MONITOR_ONLY},
        'category': 'dmarc', 'status': 'ok',
        'summary': 'The DMARC policy is p=none: receivers only report, spoofed mail is not rejected.',
        'causes': ('The domain is in its monitoring phase, or was never moved to an enforcing policy.',),
        'remedy': 'When the reports show that every legitimate sender passes SPF or DKIM in alignment, move to '
                  'p=quarantine, then p=reject.',
        'references': (RFC7489 + ' 6.3, 6.7',),
    },
    {
        'match': {'error': DMARC_PARTIAL},
        'category': 'dmarc', 'status': 'ok',
        'summary': 'The DMARC policy applies to only part of the failing mail (pct below 100).',
        'causes': ('pct= was set during a gradual roll-out.',),
        'remedy': 'Raise pct to 100 (or remove it) once the reports look clean.',
        'references': (RFC7489 + ' 6.3 (pct)',),
    },
    {
        'match': {'error': DMARC_NONE},
        'category': 'dmarc', 'status': 'dns',
        'summary': 'The domain publishes no DMARC record.',
        'causes': ('No TXT record starting with v=DMARC1 at _dmarc.<domain> (nor at the organizational domain).',),
        'remedy': 'Publish "v=DMARC1; p=none; rua=mailto:dmarc-reports@<domain>" at _dmarc.<domain>, then tighten '
                  'the policy. Large mailbox providers require DMARC from bulk senders.',
        'references': (RFC7489 + ' 6.1, 6.6.3', GOOGLE_SENDERS, MICROSOFT_SENDERS),
    },
    {
        'match': {'error': DMARC_MULTIPLE},
        'category': 'dmarc', 'status': 'dns',
        'summary': 'More than one DMARC record: receivers ignore them all (no DMARC policy applies).',
        'causes': ('A second v=DMARC1 TXT record was added at _dmarc.<domain>.',),
        'remedy': 'Keep exactly one v=DMARC1 record.',
        'references': (RFC7489 + ' 6.6.3',),
    },
    {
        'match': {'error': DMARC_SYNTAX},
        'category': 'dmarc', 'status': 'dns',
        'summary': 'The DMARC record is invalid: receivers may ignore it.',
        'causes': ('v=DMARC1 is not the first tag, p is missing or not none/quarantine/reject, or a tag value is '
                   'out of range (pct, adkim, aspf, fo, ri, rua/ruf URIs).',),
        'remedy': 'Fix the tag named in the detail; tags are separated by semicolons.',
        'references': (RFC7489 + ' 6.3, 6.4',),
    },
    {
        'match': {'error': DMARC_NO_RUA},
        'category': 'dmarc', 'status': 'ok',
        'summary': 'The DMARC record asks for no aggregate reports (no rua): nobody sees which mail fails.',
        'causes': ('rua= was left out.',),
        'remedy': 'Add rua=mailto:<mailbox> so receivers send daily aggregate reports.',
        'references': (RFC7489 + ' 6.3 (rua), 7.2',),
    },
    {
        'match': {'error': DMARC_DESTINATION_UNAUTHORIZED},
        'category': 'dmarc', 'status': 'dns',
        'summary': 'A DMARC report address is in another domain that has not agreed to receive the reports.',
        'causes': ('rua/ruf names a mailbox outside the domain, and <domain>._report._dmarc.<other domain> has no '
                   'v=DMARC1 record.',),
        'remedy': 'Have the receiving domain publish "<domain>._report._dmarc.<its domain> TXT v=DMARC1", or use '
                  'an address in your own domain.',
        'references': (RFC7489 + ' 7.1',),
    },
    {
        'match': {'error': DMARC_DNS_FAILED},
        'category': 'dmarc', 'status': 'dns',
        'summary': 'The DMARC record could not be read because a DNS query failed.',
        'causes': ('The domain\'s nameservers time out or answer SERVFAIL for _dmarc.<domain>.',),
        'remedy': 'Check the nameservers named in the detail.',
        'references': (RFC7489 + ' 6.6.3',),
    },
    {
        'match': {'error': EGRESS_OK},
        'category': 'egress_identity', 'status': 'ok',
        'summary': 'The sending address has a PTR that resolves back to it, the EHLO name matches and SPF '
                   'authorises it.',
        'causes': ('Forward and reverse DNS agree and the sender domain lists the server.',),
        'remedy': 'Nothing to do.',
        'references': (RFC7208 + ' 2.4', GOOGLE_SENDERS),
    },
    {
        'match': {'error': EGRESS_NO_PTR},
        'category': 'egress_identity', 'status': 'dns',
        'summary': 'The address receivers see has no PTR record: many reject or junk mail from it '
                   '("450 4.7.25 Client host rejected: cannot find your hostname", Gmail 550 5.7.25).',
        'causes': ('A new transport server or a new public address (NAT, new provider) whose reverse zone was not '
                   'updated.', 'The mail leaves through a different address than expected (check source_address).'),
        'remedy': 'Ask the owner of the address block (the ISP or cloud provider) to set the PTR to the server\'s '
                  'name, and give that name an A/AAAA record with the same address.',
        'references': (GOOGLE_SENDERS, MICROSOFT_SENDERS),
    },
    {
        'match': {'error': EGRESS_FCRDNS_MISMATCH},
        'category': 'egress_identity', 'status': 'dns',
        'summary': 'The PTR name does not resolve back to the sending address (forward-confirmed reverse DNS fails).',
        'causes': ('The PTR names a host whose A/AAAA records point elsewhere (renumbered, or a generic provider '
                   'name).', 'The PTR name does not exist in forward DNS.'),
        'remedy': 'Make the PTR name\'s A/AAAA record include the sending address, or change the PTR to a name '
                  'that does.',
        'references': (GOOGLE_SENDERS, 'RFC 8601 2.7.3 (iprev)'),
    },
    {
        'match': {'error': EGRESS_HELO_MISMATCH},
        'category': 'egress_identity', 'status': 'dns',
        'summary': 'The EHLO name is not the PTR name and does not resolve to the sending address.',
        'causes': ('The MTA announces its internal host name (myhostname, Exchange connector FQDN) instead of the '
                   'public name.',),
        'remedy': 'Set the EHLO name (Postfix smtp_helo_name, Exchange send connector FQDN) to the PTR name, a '
                  'name with an A record for the sending address.',
        'references': (RFC5321 + ' 4.1.1.1', GOOGLE_SENDERS),
    },
    {
        'match': {'error': EGRESS_SPF_NOT_AUTHORIZED},
        'category': 'egress_identity', 'status': 'dns',
        'summary': 'The sender domain\'s SPF record does not authorise the sending address.',
        'causes': ('The new server (or its NAT address) was not added to the SPF record.',
                   'The record has an error, so receivers get permerror or temperror instead of pass.'),
        'remedy': 'Add the address (ip4:/ip6:) or the server\'s name (a:) to the SPF record of the sender domain; '
                  'mind the limit of 10 lookups.',
        'references': (RFC7208 + ' 4, 8',),
    },
    {
        'match': {'error': EGRESS_DNS_FAILED},
        'category': 'egress_identity', 'status': 'dns',
        'summary': 'A DNS query of the egress check failed, so the identity could not be confirmed.',
        'causes': ('The resolver or the reverse zone\'s nameservers time out or answer SERVFAIL.',),
        'remedy': 'Check the resolver named in the detail; receivers usually defer (4xx) in this case.',
        'references': ('RFC 8601 2.7.3 (iprev temperror)',),
    },
    {
        'match': {'error': SMUGGLING_SAFE},
        'category': 'smtp_smuggling', 'status': 'ok',
        'summary': 'The server ended the message only at <CR><LF>.<CR><LF>: no non-standard end-of-data sequence '
                   'was taken as the end of the data.',
        'causes': ('The server requires CRLF line endings in DATA, or rejects bare <LF>/<CR> '
                   '(Postfix smtpd_forbid_bare_newline = yes).',),
        'remedy': 'Nothing to do.',
        'references': (SEC_CONSULT, POSTFIX_SMUGGLING),
    },
    {
        'match': {'error': SMUGGLING_EXPOSED},
        'category': 'smtp_smuggling', 'status': 'protocol',
        'summary': 'The server took a non-standard end-of-data sequence as the end of the data: commands hidden in '
                   'a message are executed (SMTP smuggling, CVE-2023-51764/51765/51766).',
        'causes': ('Postfix before 3.9 with smtpd_forbid_bare_newline = no (the default before 3.9).',
                   'Sendmail before 8.18 without the bare-CR/LF rejection; Exim before 4.97.1 (chunking).',
                   'A gateway in front of the server that passes bare <LF> through.'),
        'remedy': 'Postfix: smtpd_forbid_bare_newline = normalize (3.9+) or yes (3.5.23+/3.6.13+/3.7.9+/3.8.4+), '
                  'and smtpd_data_restrictions = reject_unauth_pipelining. Other MTAs: update to a fixed release. '
                  'Exposure matters when an outbound server upstream passes such sequences on.',
        'references': (SEC_CONSULT, POSTFIX_SMUGGLING, 'CVE-2023-51764', 'CVE-2023-51765', 'CVE-2023-51766'),
    },
    {
        'match': {'error': SMUGGLING_INCONCLUSIVE},
        'category': 'smtp_smuggling', 'status': 'protocol',
        'summary': 'The smuggling test could not reach DATA or the server\'s answer did not settle the question.',
        'causes': ('The connection failed, or MAIL FROM, RCPT TO or DATA was refused (see the steps).',),
        'remedy': 'Name a sender and a recipient the server accepts, and check the connection with smtp_probe.',
        'references': (SEC_CONSULT,),
    },
)


def sender_diagnosis(condition, step, detail=None, notes=()):
    """The diagnosis dict of a condition (SENDER, indexed by the shared classifier), with ``detail`` (what was seen)
    and ``notes`` added."""
    # imported here: the classifier's catalog imports this module's data
    from .._diagnosis import diagnose
    result = diagnose(step=step, error=condition)
    if result['matched_by'] != 'error':
        raise KeyError(condition)
    result['detail'] = detail
    result['notes'].extend(note for note in notes if note)
    return result
