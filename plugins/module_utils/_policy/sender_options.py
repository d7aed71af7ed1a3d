# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option checks shared by sender_policy, egress_identity and smtp_smuggling: each raises OptionError naming the
option, before any query or connection."""

from __future__ import annotations

import ipaddress

from .._dns.mx import MxOptions, OptionError
from .._dns.validate import normalize_domain

# The DNS options of the two DNS checks, as in mx_lookup.
DNS_ARGSPEC = dict(
    nameservers=dict(type='list', elements='str'),
    port=dict(type='int', default=53),
    timeout=dict(type='float', default=2.0),
    lifetime=dict(type='float', default=5.0),
)


def dns_options(params):
    return MxOptions(nameservers=params['nameservers'], port=params['port'], timeout=params['timeout'],
                     lifetime=params['lifetime'])


def domain_option(option, value):
    """The ASCII domain without a trailing dot, or None for None."""
    if value is None:
        return None
    try:
        return normalize_domain(value)
    except ValueError as exc:
        raise OptionError(option, str(exc)) from exc


def address_option(option, value):
    try:
        return str(ipaddress.ip_address(value.strip().strip('[]')))
    except (ValueError, AttributeError):
        raise OptionError(option, f'{value!r} is not an IPv4 or IPv6 address') from None


def name_option(value):
    if value is not None and (not value.strip() or any(ord(char) < 32 for char in value)):
        raise OptionError('name', 'must be a non-empty key without control characters')
    return value
