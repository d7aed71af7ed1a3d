# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Translated exceptions: an option error carries no parse error behind it (ansible-core would print it as
"<<< while handling >>>" noise), a transport error keeps the socket error that explains it as __cause__.
The controller-side report and filter errors are in tests/unit/plugins/filter/test_error_chaining.py."""

from __future__ import annotations

import errno
import socket

import pytest

from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import MxOptions, OptionError
from ansible_collections.mailops.mailflow.plugins.module_utils._dns.validate import normalize_domains, normalize_nameservers
from ansible_collections.mailops.mailflow.plugins.module_utils._route.engine import RouteOptionError, dns_options
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.connection import TransportError, open_socket
from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.options import ProbeOptionError, validate_options

BASE = {'host': 'mx1.fabrikam.test', 'helo_name': 'contoso.test', 'mail_from': 'chris@contoso.test', 'rcpt_to': ['kate@fabrikam.test']}


def _probe_options(**changes):
    values = dict(BASE)
    values.update(changes)
    validate_options(values)


OPTION_ERRORS = [
    ('port', ProbeOptionError, lambda: _probe_options(port='twenty-five'), 'port: must be a number from 1 to 65535'),
    ('connect_timeout', ProbeOptionError, lambda: _probe_options(connect_timeout='soon'), 'connect_timeout: must be a number of seconds'),
    ('tls_min_days', ProbeOptionError, lambda: _probe_options(tls_min_days='a week'), 'tls_min_days: must be a whole number of days'),
    ('addresses', ProbeOptionError, lambda: _probe_options(addresses=['192.0.2.300']), "addresses[0]: '192.0.2.300' is not an IP address"),
    ('domains', ValueError, lambda: normalize_domains(['contoso.test', 'fabrikam..test']), '[1]: '),
    ('nameservers', ValueError, lambda: normalize_nameservers(['127.0.0.1', 'ns1.contoso.test']), "[1]: 'ns1.contoso.test' is not an IP"),
    ('dns port', OptionError, lambda: MxOptions(port='fifty-three'), 'port: '),
    ('dns_port', RouteOptionError, lambda: dns_options(dns_port='fifty-three'), 'dns_port: '),
]


@pytest.mark.parametrize('error_type, make, message', [case[1:] for case in OPTION_ERRORS], ids=[case[0] for case in OPTION_ERRORS])
def test_option_error_hides_the_parse_error(error_type, make, message):
    with pytest.raises(error_type) as caught:
        make()
    assert str(caught.value).startswith(message)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__, f'the parse error behind {str(caught.value)!r} would be shown as noise'


def test_refused_connection_keeps_the_socket_error():
    # A loopback port nobody listens on: bind one, note it, close it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError) as caught:
        open_socket(socket.AF_INET, ('127.0.0.1', port), None, 2.0)
    assert str(caught.value).startswith(f'127.0.0.1 port {port}: ')
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert caught.value.__cause__.errno == errno.ECONNREFUSED


def test_unusable_source_address_keeps_the_socket_error():
    # 192.0.2.1 (TEST-NET-1) is on no interface of this host: bind() fails before any packet is sent.
    with pytest.raises(TransportError) as caught:
        open_socket(socket.AF_INET, ('127.0.0.1', 9), '192.0.2.1', 2.0)
    assert str(caught.value).startswith('cannot use source address 192.0.2.1: ')
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.EADDRNOTAVAIL
