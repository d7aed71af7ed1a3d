# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diagnosis entries of the transport security checks: data, in the main catalog's entry format.

Each entry answers for one condition name (``match: {'error': ...}``). The shared classifier (``_diagnosis``) indexes
POLICY as its kind ``policy``; ``common.policy_diagnosis`` asks it.
"""

from __future__ import annotations

# Condition names, one per named outcome of a check.
MTA_STS_OK = 'mta_sts_enforce'
MTA_STS_TESTING = 'mta_sts_testing'
MTA_STS_NONE = 'mta_sts_mode_none'
MTA_STS_NO_RECORD = 'mta_sts_no_record'
MTA_STS_RECORD_INVALID = 'mta_sts_record_invalid'
MTA_STS_FETCH_FAILED = 'mta_sts_fetch_failed'
MTA_STS_POLICY_SYNTAX = 'mta_sts_policy_syntax'
MTA_STS_MX_NOT_COVERED = 'mta_sts_mx_not_covered'
MTA_STS_CERTIFICATE_INVALID = 'mta_sts_certificate_invalid'
MTA_STS_DNS_FAILED = 'mta_sts_dns_failed'
TLSRPT_OK = 'tlsrpt_ok'
TLSRPT_NO_RECORD = 'tlsrpt_no_record'
TLSRPT_RECORD_INVALID = 'tlsrpt_record_invalid'
TLSRPT_RUA_INVALID = 'tlsrpt_rua_invalid'
TLSRPT_DNS_FAILED = 'tlsrpt_dns_failed'
DANE_MATCH = 'dane_match'
DANE_NO_TLSA = 'dane_no_tlsa'
DANE_NOT_AUTHENTICATED = 'dane_tlsa_not_authenticated'
DANE_NO_MATCH = 'dane_no_match'
DANE_STARTTLS_MISSING = 'dane_starttls_missing'
DANE_CHAIN_UNAVAILABLE = 'dane_chain_unavailable'
DANE_UNUSABLE = 'dane_tlsa_unusable'
DANE_LOOKUP_FAILED = 'dane_tlsa_lookup_failed'
DANE_TLS_FAILED = 'dane_tls_failed'
POLICY_MX_FAILED = 'policy_mx_lookup_failed'

RFC8461 = 'RFC 8461 (SMTP MTA Strict Transport Security)'
RFC8460 = 'RFC 8460 (SMTP TLS Reporting)'
RFC7672 = 'RFC 7672 (SMTP security via opportunistic DANE TLS)'
RFC6698 = 'RFC 6698 (DANE TLSA)'

POLICY = (
    {
        'match': {'error': MTA_STS_OK},
        'category': 'mta_sts', 'status': 'ok',
        'summary': 'MTA-STS is in enforce mode: every MX is covered by the policy and presents a valid certificate.',
        'causes': ('The domain publishes an _mta-sts record and an enforce policy that its exchangers meet.',),
        'remedy': 'Nothing to do. Change the id of the _mta-sts record whenever the policy changes.',
        'references': (RFC8461 + ' 3, 4',),
    },
    {
        'match': {'error': MTA_STS_TESTING},
        'category': 'mta_sts', 'status': 'ok',
        'summary': 'MTA-STS is in testing mode: senders report failures but still deliver without TLS checks.',
        'causes': ('The policy says mode: testing, usually while a deployment is checked through TLS-RPT reports.',),
        'remedy': 'When the TLS-RPT reports show no failures, publish mode: enforce and change the record id.',
        'references': (RFC8461 + ' 5',),
    },
    {
        'match': {'error': MTA_STS_NONE},
        'category': 'mta_sts', 'status': 'ok',
        'summary': 'The MTA-STS policy has mode: none: senders drop any policy they kept for the domain.',
        'causes': ('The domain is withdrawing MTA-STS (RFC 8461 8.3).',),
        'remedy': 'Publish mode: testing or enforce if the domain should keep MTA-STS.',
        'references': (RFC8461 + ' 8.3',),
    },
    {
        'match': {'error': MTA_STS_NO_RECORD},
        'category': 'mta_sts', 'status': 'dns',
        'summary': 'The domain publishes no MTA-STS record (_mta-sts TXT "v=STSv1; id=...").',
        'causes': ('MTA-STS is not deployed for the domain.',
                   'The record is at the wrong name (it belongs at _mta-sts.<domain>).',
                   'More than one TXT record starts with v=STSv1: senders then assume there is no policy.'),
        'remedy': 'Publish one TXT record _mta-sts.<domain> "v=STSv1; id=<1-32 letters or digits>" and the policy at '
                  'https://mta-sts.<domain>/.well-known/mta-sts.txt.',
        'references': (RFC8461 + ' 3.1',),
    },
    {
        'match': {'error': MTA_STS_RECORD_INVALID},
        'category': 'mta_sts', 'status': 'dns',
        'summary': 'The _mta-sts TXT record is not valid ("v=STSv1; id=<1-32 letters or digits>").',
        'causes': ('The id is missing, too long, or holds characters other than letters and digits.',
                   'The version is not the first field, or the fields are not separated by semicolons.'),
        'remedy': 'Publish exactly "v=STSv1; id=<id>" with an id of 1 to 32 letters and digits.',
        'references': (RFC8461 + ' 3.1',),
    },
    {
        'match': {'error': MTA_STS_FETCH_FAILED},
        'category': 'mta_sts', 'status': 'connection',
        'summary': 'The MTA-STS policy could not be fetched from https://mta-sts.<domain>/.well-known/mta-sts.txt.',
        'causes': ('mta-sts.<domain> has no address record (reason dns).',
                   'Nothing answers HTTPS on that address, or a firewall drops it (reason connect).',
                   'The web server\'s certificate is not valid for mta-sts.<domain> or not from a trusted CA '
                   '(reason tls).',
                   'The server answers with a status other than 200, or redirects (reason http_status).',
                   'The policy is not served as text/plain (reason content_type), or is larger than 64 KiB '
                   '(reason size).'),
        'remedy': 'Serve the policy as text/plain with status 200 from a host named mta-sts.<domain> whose certificate '
                  'a public CA issued for that name; senders follow no redirects.',
        'references': (RFC8461 + ' 3.3',),
    },
    {
        'match': {'error': MTA_STS_POLICY_SYNTAX},
        'category': 'mta_sts', 'status': 'protocol',
        'summary': 'The MTA-STS policy file is not valid: senders ignore it.',
        'causes': ('version is not STSv1, mode is not enforce, testing or none, or max_age is missing or not a '
                   'number of seconds up to 31557600.',
                   'mode is enforce or testing but no mx line is given, or an mx pattern is not a host name.'),
        'remedy': 'Write one "key: value" per line: version: STSv1, mode, one mx line per exchanger (or *.pattern) '
                  'and max_age (a week or more: 604800).',
        'references': (RFC8461 + ' 3.2',),
    },
    {
        'match': {'error': MTA_STS_MX_NOT_COVERED},
        'category': 'mta_sts', 'status': 'permanent',
        'summary': 'An MX of the domain matches no mx pattern of its MTA-STS policy: under enforce, senders '
                   'will not deliver to it.',
        'causes': ('An exchanger was added to the MX records but not to the policy.',
                   'A wildcard pattern (*.example.com) covers only one label: it does not match a.b.example.com.'),
        'remedy': 'Add an mx line for the exchanger to the policy, change the _mta-sts record id, and wait for '
                  'senders to refetch (max_age).',
        'references': (RFC8461 + ' 4.1',),
    },
    {
        'match': {'error': MTA_STS_CERTIFICATE_INVALID},
        'category': 'mta_sts', 'status': 'tls',
        'summary': 'Under MTA-STS enforce, an MX does not offer STARTTLS or presents a certificate that is not '
                   'valid for its MX name: senders will not deliver to it.',
        'causes': ('The certificate was issued for another name than the MX host name.',
                   'The certificate expired or is not from a CA that senders trust.',
                   'The exchanger does not offer STARTTLS.'),
        'remedy': 'Install a certificate from a public CA whose names include the MX host name, with the whole '
                  'chain, and offer STARTTLS; or publish mode: testing until it is fixed.',
        'references': (RFC8461 + ' 4.2, 5',),
    },
    {
        'match': {'error': MTA_STS_DNS_FAILED},
        'category': 'mta_sts', 'status': 'dns',
        'summary': 'The _mta-sts record could not be looked up (SERVFAIL, timeout or another DNS error).',
        'causes': ('The nameservers of the domain do not answer, or the resolver cannot reach them.',),
        'remedy': 'Check the domain\'s nameservers and the resolver used for the check.',
        'references': (RFC8461 + ' 3.1',),
    },
    {
        'match': {'error': TLSRPT_OK},
        'category': 'tlsrpt', 'status': 'ok',
        'summary': 'The domain publishes a valid TLS-RPT record: senders send TLS failure reports to its rua.',
        'causes': ('A _smtp._tls TXT record "v=TLSRPTv1; rua=..." with valid mailto: or https: addresses.',),
        'remedy': 'Nothing to do; read the reports.',
        'references': (RFC8460 + ' 3',),
    },
    {
        'match': {'error': TLSRPT_NO_RECORD},
        'category': 'tlsrpt', 'status': 'dns',
        'summary': 'The domain publishes no TLS-RPT record (_smtp._tls TXT "v=TLSRPTv1; rua=...").',
        'causes': ('TLS reporting is not deployed: MTA-STS and DANE failures go unseen.',
                   'More than one TXT record starts with v=TLSRPTv1: senders then use none.'),
        'remedy': 'Publish one TXT record _smtp._tls.<domain> "v=TLSRPTv1; rua=mailto:tls-reports@<domain>".',
        'references': (RFC8460 + ' 3',),
    },
    {
        'match': {'error': TLSRPT_RECORD_INVALID},
        'category': 'tlsrpt', 'status': 'dns',
        'summary': 'The _smtp._tls TXT record is not valid: it needs "v=TLSRPTv1" first and a rua field.',
        'causes': ('The rua field is missing, or the fields are not "key=value" separated by semicolons.',),
        'remedy': 'Publish "v=TLSRPTv1; rua=mailto:tls-reports@<domain>".',
        'references': (RFC8460 + ' 3',),
    },
    {
        'match': {'error': TLSRPT_RUA_INVALID},
        'category': 'tlsrpt', 'status': 'dns',
        'summary': 'A rua address of the TLS-RPT record is neither a valid mailto: nor an https: URI.',
        'causes': ('Another scheme (ftp:, http:) or a mailto: without a valid address.',),
        'remedy': 'Give each rua as mailto:<address> or https://<host>/<path>, separated by commas.',
        'references': (RFC8460 + ' 3',),
    },
    {
        'match': {'error': TLSRPT_DNS_FAILED},
        'category': 'tlsrpt', 'status': 'dns',
        'summary': 'The _smtp._tls record could not be looked up (SERVFAIL, timeout or another DNS error).',
        'causes': ('The nameservers of the domain do not answer, or the resolver cannot reach them.',),
        'remedy': 'Check the domain\'s nameservers and the resolver used for the check.',
        'references': (RFC8460 + ' 3',),
    },
    {
        'match': {'error': DANE_MATCH},
        'category': 'dane', 'status': 'ok',
        'summary': 'Every MX has DNSSEC-authenticated TLSA records and presents a certificate that matches one.',
        'causes': ('DANE is deployed and the certificates match their TLSA records.',),
        'remedy': 'Nothing to do. Before a certificate or key rollover, publish the new TLSA record next to the old '
                  'one and wait two TTLs.',
        'references': (RFC7672 + ' 3', RFC6698 + ' 2.1'),
    },
    {
        'match': {'error': DANE_NO_TLSA},
        'category': 'dane', 'status': 'dns',
        'summary': 'An MX has no TLSA record at _25._tcp.<mx>: senders do not use DANE for it.',
        'causes': ('DANE is not deployed for this exchanger.',
                   'The TLSA record is at another name (it belongs at _25._tcp.<MX host name>).'),
        'remedy': 'Sign the zone of the MX host with DNSSEC and publish "_25._tcp.<mx> TLSA 3 1 1 <sha-256 of the '
                  'public key>" (DANE-EE).',
        'references': (RFC7672 + ' 2.2',),
    },
    {
        'match': {'error': DANE_NOT_AUTHENTICATED},
        'category': 'dane', 'status': 'dns',
        'summary': 'TLSA records exist but their answer is not DNSSEC-authenticated: senders ignore them.',
        'causes': ('The zone that holds the TLSA records is not signed, or its DS is missing in the parent.',
                   'The resolver that answered does not validate, or no validating resolver was named for the '
                   'check (dnssec_nameservers): the AD bit is trusted only from one the user names.'),
        'remedy': 'Sign the zone and publish its DS at the parent; check with a validating resolver.',
        'references': (RFC7672 + ' 2.2', 'RFC 6840 5.7'),
    },
    {
        'match': {'error': DANE_NO_MATCH},
        'category': 'dane', 'status': 'tls',
        'summary': 'The certificate an MX presents matches none of its authenticated TLSA records: DANE senders '
                   'will not deliver to it.',
        'causes': ('The certificate or its key changed (renewal with a new key) and the TLSA record was not '
                   'updated.',
                   'The TLSA record has the wrong selector or matching type for the data it holds.'),
        'remedy': 'Publish a TLSA record for the certificate in use (3 1 1 = SHA-256 of its public key); for a '
                  'rollover, keep the old and the new record side by side.',
        'references': (RFC7672 + ' 3.1', RFC6698 + ' 2.1'),
    },
    {
        'match': {'error': DANE_STARTTLS_MISSING},
        'category': 'dane', 'status': 'tls',
        'summary': 'The MX has authenticated TLSA records but does not offer STARTTLS: DANE senders will not '
                   'deliver to it.',
        'causes': ('TLS is switched off on the exchanger, or a middlebox strips STARTTLS from the EHLO reply.',),
        'remedy': 'Enable STARTTLS on the exchanger with the certificate its TLSA records name, or remove the TLSA '
                  'records.',
        'references': (RFC7672 + ' 2.2',),
    },
    {
        'match': {'error': DANE_CHAIN_UNAVAILABLE},
        'category': 'dane', 'status': 'tls',
        'summary': 'Only DANE-TA (usage 2) records could match, and this Python cannot give the certificate chain '
                   'the server sent: the match is not decided.',
        'causes': ('Python before 3.13 gives a TLS client only the leaf certificate.',),
        'remedy': 'Run the check with Python 3.13 or later, or publish a DANE-EE record (3 1 1) as well.',
        'references': (RFC7672 + ' 3.1.1',),
    },
    {
        'match': {'error': DANE_UNUSABLE},
        'category': 'dane', 'status': 'dns',
        'summary': 'The MX has TLSA records, but none is usable for SMTP (usage 0 and 1 or unknown values): senders '
                   'treat it as having none, but still require TLS.',
        'causes': ('PKIX-TA and PKIX-EE (usages 0 and 1) are not used for SMTP (RFC 7672 3.1.3).',),
        'remedy': 'Publish DANE-EE (3 1 1) or DANE-TA (2 1 1) records.',
        'references': (RFC7672 + ' 3.1.3',),
    },
    {
        'match': {'error': DANE_LOOKUP_FAILED},
        'category': 'dane', 'status': 'dns',
        'summary': 'The TLSA lookup failed (SERVFAIL, timeout): with a validating resolver this is often a DNSSEC '
                   'validation failure, and DANE senders defer mail.',
        'causes': ('Expired or missing RRSIG, a DS that matches no DNSKEY, or nameservers that do not answer.',),
        'remedy': 'Check the zone\'s signatures and DS (for example with delv or dig +dnssec), and re-sign it.',
        'references': (RFC7672 + ' 2.1.1',),
    },
    {
        'match': {'error': DANE_TLS_FAILED},
        'category': 'dane', 'status': 'connection',
        'summary': 'The MX could not be reached or no TLS session came up, so its certificate could not be '
                   'matched against its TLSA records.',
        'causes': ('Nothing listens on port 25 at the MX address, or the TLS handshake failed.',),
        'remedy': 'Check the exchanger with smtp_probe (tls: required) and its connection diagnosis.',
        'references': (RFC7672 + ' 2.2',),
    },
    {
        'match': {'error': POLICY_MX_FAILED},
        'category': 'policy', 'status': 'dns',
        'summary': 'The MX records of the domain could not be resolved, so no exchanger could be checked.',
        'causes': ('The domain does not exist, has no mail exchanger, or its nameservers do not answer.',),
        'remedy': 'Check the domain with mx_lookup first.',
        'references': ('RFC 5321 5.1',),
    },
)
