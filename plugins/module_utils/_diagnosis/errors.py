# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of conditions that have no reply code: the `error` key of a diagnosis lookup.

The engines report these names; the catalog maps each to a category, causes and a remedy.
"""

from __future__ import annotations

# Transport (OPEN step of the guide and later)
CONNECTION_REFUSED = 'connection_refused'      # RST: nothing listening, or a REJECT rule
CONNECT_TIMEOUT = 'connect_timeout'            # no answer: DROP rule, black hole, host down
NO_ROUTE = 'no_route'                          # EHOSTUNREACH
NETWORK_UNREACHABLE = 'network_unreachable'    # ENETUNREACH (e.g. no IPv6 route)
ADDRESS_UNAVAILABLE = 'address_unavailable'    # source_address not on this host
HOST_UNRESOLVED = 'host_unresolved'            # the SMTP host name does not resolve
CONNECTION_CLOSED = 'connection_closed'        # server closed mid-session
CONNECTION_RESET = 'connection_reset'          # RST mid-session
COMMAND_TIMEOUT = 'command_timeout'            # no (complete) reply within command_timeout
DEADLINE_EXCEEDED = 'deadline_exceeded'        # the overall deadline ran out
TARPIT = 'tarpit'                              # slow but valid: a note, never a failure by itself
# Protocol
REPLY_LINE_TOO_LONG = 'reply_line_too_long'
REPLY_TOO_MANY_LINES = 'reply_too_many_lines'
REPLY_TOO_LARGE = 'reply_too_large'
REPLY_MALFORMED = 'reply_malformed'            # bad code, code changes mid reply, garbage
REPLY_BARE_LF = 'reply_bare_lf'                # LF without CR (tolerated, noted)
UNEXPECTED_REPLY = 'unexpected_reply'          # e.g. a reply before we sent anything
# TLS
STARTTLS_NOT_OFFERED = 'starttls_not_offered'  # tls=required but no STARTTLS in EHLO
TLS_HANDSHAKE_FAILED = 'tls_handshake_failed'
TLS_CERT_EXPIRED = 'tls_cert_expired'
TLS_CERT_NOT_YET_VALID = 'tls_cert_not_yet_valid'
TLS_CERT_SELF_SIGNED = 'tls_cert_self_signed'
TLS_CERT_UNKNOWN_CA = 'tls_cert_unknown_ca'
TLS_CERT_NAME_MISMATCH = 'tls_cert_name_mismatch'
TLS_CERT_INVALID = 'tls_cert_invalid'          # any other verify failure
TLS_CERT_EXPIRES_SOON = 'tls_cert_expires_soon'  # valid, but fewer days left than tls_min_days
# AUTH / ESMTP extensions
AUTH_NOT_OFFERED = 'auth_not_offered'
AUTH_MECHANISM_UNSUPPORTED = 'auth_mechanism_unsupported'
DSN_NOT_OFFERED = 'dsn_not_offered'            # a warning: NOTIFY/RET/ENVID were dropped
SIZE_EXCEEDED = 'size_exceeded'                # message larger than the SIZE the server announced
PORT_2525_NOTE = 'port_2525'                   # Exchange internal receive connector: no anonymous mail
# DNS (mx_lookup statuses and resolution of MX targets)
DNS_NXDOMAIN = 'dns_nxdomain'
DNS_SERVFAIL = 'dns_servfail'
DNS_TIMEOUT = 'dns_timeout'
DNS_ERROR = 'dns_error'
DNS_NULL_MX = 'dns_null_mx'
DNS_NO_MAIL = 'dns_no_mail'                    # no MX and no A/AAAA
DNS_IMPLICIT_MX = 'dns_implicit_mx'            # a note: the A/AAAA record is the exchanger
DNS_MX_IS_CNAME = 'dns_mx_is_cname'            # a warning (RFC 2181 10.3)
DNS_MX_NO_ADDRESS = 'dns_mx_no_address'        # a warning: that exchanger is unusable
DNS_NO_USABLE_EXCHANGER = 'dns_no_usable_exchanger'
DNS_MISSING_LIBRARY = 'dns_missing_library'    # dnspython is not installed on the host
DNS_MX_SET_MISMATCH = 'dns_mx_set_mismatch'    # the exchangers differ from expect_exchangers

ALL = frozenset(value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str))
