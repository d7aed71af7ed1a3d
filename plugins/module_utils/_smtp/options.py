# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe options: defaults, normalisation and validation before any byte is sent.

Every value that reaches the wire is checked for CR, LF and NUL, so a probe can never be
turned into a command-injection tool. Errors name the option, never echo a secret.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
import threading

from .._diagnosis import errors
from .._dns.validate import port_in_name, to_ascii_name
from .detail import DETAILS
from .message import MessageTemplate

STEP_NAMES = ('connect', 'banner', 'ehlo', 'helo', 'starttls', 'ehlo_tls', 'auth', 'mail', 'rcpt', 'data', 'message', 'rset', 'quit')
QUIT_AFTER = ('connect', 'banner', 'ehlo', 'starttls', 'auth', 'mail', 'rcpt', 'data')
TLS_MODES = ('starttls', 'required', 'implicit', 'none')
PIPELINING_MODES = ('auto', 'always', 'never')
AUTH_MECHANISMS = ('auto', 'plain', 'login')
NOTIFY_VALUES = ('success', 'failure', 'delay', 'never')
RET_VALUES = ('full', 'hdrs')
IP_VERSIONS = ('auto', '4', '6')
# mx_probe's probe option (its engine's MODES); tests check this table against every module's argspec.
ROUTE_MODES = ('all', 'first_success')
DEFAULT_CONNECT_TIMEOUT = 10.0

DEFAULTS = {
    'host': None,
    'port': 25,
    'addresses': None,
    'tls': 'starttls',
    'tls_verify': None,
    'tls_min_days': None,
    'ca_path': None,
    'server_name': None,
    'helo_name': None,
    'mail_from': None,
    'rcpt_to': None,
    'dsn': None,
    'auth': None,
    'send_message': False,
    'content': None,
    'quit_after': None,
    'pipelining': 'auto',
    'source_address': None,
    'ip_version': 'auto',
    'connect_timeout': None,
    'command_timeout': 30.0,
    'deadline': 60.0,
    'slow_threshold': None,
    'expect': None,
}

_MAX_ADDRESS = 254
_MAX_LOCAL = 64
_MAX_DOMAIN = 255
_MAX_ENVID = 100
_ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
# Labels of word characters and hyphens, 1 to 63 each, none starting or ending with a hyphen.
_HOST_NAME_RE = re.compile(r'(?!-)[\w-]{1,63}(?<!-)(?:\.(?!-)[\w-]{1,63}(?<!-))*')
# Dot-atom local part: atext (RFC 5322 3.2.3) or any non-ASCII character (RFC 6531), no empty atom.
_DOT_ATOM_RE = re.compile('[{atext}\u0080-\U0010ffff]+(?:\\.[{atext}\u0080-\U0010ffff]+)*'.format(atext=re.escape(_ATEXT)))
# The same characters as str.isspace() (re's Unicode \s uses the same table).
_SPACE_RE = re.compile(r'\s')
_HEADER_NAME_RE = re.compile(r'^[!-9;-~]+$')
_ENHANCED_RE = re.compile(r'^[245]\.\d{1,3}\.\d{1,3}$')
_ENHANCED_PREFIX_RE = re.compile(r'^[245]\.\d{1,3}$')
_CLASS_RE = re.compile(r'^([2-5])(?:xx)?$', re.IGNORECASE)

_FQDN = []
_FQDN_LOCK = threading.Lock()
# Names that mean "this machine" to nobody else (RFC 6761 6.3; the usual /etc/hosts entries).
_LOCAL_NAMES = frozenset(('localhost', 'localhost.localdomain', 'localhost4', 'localhost4.localdomain4', 'localhost6',
                          'localhost6.localdomain6', 'ip6-localhost', 'ip6-loopback'))

# Choice options by path (a dict key, or parent.key for a suboption) -> their words. Ansible's choices check is
# case-sensitive and runs before the module, so the action plugins lower-case these first.
CHOICE_OPTIONS = {
    'tls': TLS_MODES,
    'quit_after': QUIT_AFTER,
    'pipelining': PIPELINING_MODES,
    'ip_version': IP_VERSIONS,
    'probe': ROUTE_MODES,
    'auth.mechanism': AUTH_MECHANISMS,
    'dsn.notify': NOTIFY_VALUES,
    'dsn.ret': RET_VALUES,
    'detail': DETAILS,
}


class ProbeOptionError(ValueError):
    """An option that must not be used as given; ``str()`` is a one-line message naming it."""

    def __init__(self, option, problem):
        super().__init__(f'{option}: {problem}')
        self.option = option
        self.problem = problem


class ProbeOptions(dict):
    """Validated, normalised options; ``warnings`` holds what was adjusted or is risky."""

    def __init__(self, values, warnings, message_template=None):
        super().__init__(values)
        self.warnings = list(warnings)
        self.message_template = message_template

    def for_target(self, host=None, port=None, addresses=None):
        """The same options aimed at another target (mx_probe fan-out), validated again where it changed."""
        values = dict(self)
        if host is not None:
            values['host'] = _check_host(host, 'host')
        if port is not None:
            values['port'] = _check_port(port)
        if addresses is not None:
            values['addresses'] = _check_addresses(addresses)
        return ProbeOptions(values, self.warnings, self.message_template)


def _canonical_word(value, words):
    if isinstance(value, str) and value.lower() in words:
        return value.lower()
    return value


def _canonical_words(value, words):
    if isinstance(value, list):
        return [_canonical_word(item, words) for item in value]
    if isinstance(value, str) and all(item.strip().lower() in words for item in value.split(',')):
        return value.lower()
    return value


def canonical_option_case(args):
    """A copy of raw smtp_probe, mx_probe or mx_lookup task arguments with choice words in lower case.

    Protocol words are case-insensitive (``tls: STARTTLS``, ``mechanism: PLAIN``). Only a value whose lower
    case is one of its option's choices changes, so a wrong word still gets Ansible's own choices error.
    """
    if not isinstance(args, dict):
        return args
    result = dict(args)
    for path, words in CHOICE_OPTIONS.items():
        parent, _dot, key = path.rpartition('.')
        holder = result
        if parent:
            if not isinstance(result.get(parent), dict):
                continue
            holder = result[parent] = dict(result[parent])
        if key in holder:
            holder[key] = _canonical_words(holder[key], words) if path == 'dsn.notify' else _canonical_word(holder[key], words)
    return result


def _usable_fqdn(name):
    """``name`` in ASCII when it is a dotted host name that is not one of this machine's local names, else None."""
    if not isinstance(name, str) or not name:
        return None
    try:
        name = to_ascii_name(name.rstrip('.'))
    except ValueError:
        return None
    lowered = name.lower()
    if ('.' not in lowered or lowered in _LOCAL_NAMES or lowered.startswith('localhost.') or lowered.endswith('.localhost')
            or lowered.endswith('.localdomain') or _is_ip(lowered) or not _HOST_NAME_RE.fullmatch(name)):
        return None
    return name


def _fqdn_candidates():
    yield socket.getfqdn()
    hostname = socket.gethostname()
    yield hostname
    try:
        for info in socket.getaddrinfo(hostname, None, 0, socket.SOCK_STREAM, 0, socket.AI_CANONNAME):
            yield info[3]
    except (OSError, UnicodeError):
        return


def local_fqdn():
    """This host's fully qualified name, or None when it has none; looked up once per process (reverse DNS)."""
    with _FQDN_LOCK:
        if not _FQDN:
            _FQDN.append(next((name for name in map(_usable_fqdn, _fqdn_candidates()) if name), None))
        return _FQDN[0]


def address_literal(local_address):
    """RFC 5321 4.1.3 address literal of a socket address (IP text or a getsockname() tuple), or None."""
    if isinstance(local_address, tuple):
        local_address = local_address[0] if local_address else None
    if not isinstance(local_address, str):
        return None
    try:
        address = ipaddress.ip_address(local_address.split('%', 1)[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return f'[{address}]' if address.version == 4 else f'[IPv6:{address}]'


def ehlo_name(options, local_address):
    """The EHLO/HELO argument: ``helo_name`` when set, else this host's FQDN, else an address literal of the
    local socket address (RFC 5321 4.1.4), never ``localhost``.

    ``local_address`` is known only once connected: IP text or the socket's getsockname() tuple.
    """
    if options.get('helo_name'):
        return options['helo_name']
    # The last resort is for sockets without an IP address (not TCP): there is nothing better to say.
    return local_fqdn() or address_literal(local_address) or '[127.0.0.1]'


def check_wire_text(value, option, allow_newlines=False):
    """Reject CR, LF and NUL in a value that goes into an SMTP command or header."""
    if value is None:
        return value
    if not isinstance(value, str):
        raise ProbeOptionError(option, 'must be a string')
    if '\x00' in value:
        raise ProbeOptionError(option, 'contains a NUL byte, refusing to send it')
    if not allow_newlines and ('\r' in value or '\n' in value):
        raise ProbeOptionError(option, 'contains a line break (CR/LF), refusing to send it')
    return value


def _ascii_name(value, option):
    try:
        return to_ascii_name(value)
    except ValueError as exc:
        raise ProbeOptionError(option, str(exc)) from None


def _check_host(value, option):
    """A host name (in ASCII form), an IP address, or a bracketed address literal (returned without brackets)."""
    check_wire_text(value, option)
    if not value or not value.strip():
        raise ProbeOptionError(option, 'must not be empty')
    if _SPACE_RE.search(value):
        raise ProbeOptionError(option, 'must not contain white space')
    if _is_ip(value):
        return value
    with_port = port_in_name(value)
    if with_port is not None:
        name, port = with_port
        name = name.strip('[]')
        name = name[5:] if name.lower().startswith('ipv6:') else name
        raise ProbeOptionError(option, f'{value!r} holds a port number; give the port in its own option: '
                                       f'{option}: {name} and port: {port}')
    if value.startswith('['):
        literal = value[1:-1] if value.endswith(']') else value[1:]
        if literal.lower().startswith('ipv6:'):
            literal = literal[5:]
        if not value.endswith(']') or not _is_ip(literal):
            raise ProbeOptionError(option, f'{value!r} is not an IP address in brackets')
        return literal
    name = _ascii_name(value, option)
    if not _HOST_NAME_RE.fullmatch(name[:-1] if name.endswith('.') else name):
        raise ProbeOptionError(option, f'{value!r} is not a host name or an IP address')
    return name


def _check_port(value, option='port'):
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ProbeOptionError(option, 'must be a number from 1 to 65535') from None
    if isinstance(value, bool) or not 1 <= port <= 65535:
        raise ProbeOptionError(option, f'must be a number from 1 to 65535, got {value}')
    return port


def _check_ip(value, option):
    check_wire_text(value, option)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ProbeOptionError(option, f'{value!r} is not an IP address') from None


def _check_addresses(values):
    if isinstance(values, str):
        values = [values]
    return [_check_ip(value, f'addresses[{index}]') for index, value in enumerate(values)]


def _positive(value, option):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ProbeOptionError(option, 'must be a number of seconds') from None
    if math.isnan(number) or math.isinf(number) or number <= 0:
        raise ProbeOptionError(option, 'must be more than 0 seconds')
    return number


def _check_min_days(value, option='tls_min_days'):
    try:
        days = int(str(value))
    except ValueError:
        raise ProbeOptionError(option, f'must be a whole number of days, got {value}') from None
    if isinstance(value, bool) or days < 0:
        raise ProbeOptionError(option, f'must be a whole number of days, 0 or more, got {value}')
    return days


def _check_domain(domain, option):
    if domain.startswith('['):
        if not domain.endswith(']'):
            raise ProbeOptionError(option, f'the address literal {domain} is not closed')
        literal = domain[1:-1]
        version = 4
        if literal.lower().startswith('ipv6:'):
            literal = literal[5:]
            version = 6
        if not _is_ip(literal) or ipaddress.ip_address(literal).version != version:
            raise ProbeOptionError(option, f'{domain} is not a valid address literal')
        return
    if len(domain.encode('utf-8')) > _MAX_DOMAIN:
        raise ProbeOptionError(option, f'the domain is longer than {_MAX_DOMAIN} bytes')
    if not _HOST_NAME_RE.fullmatch(domain):
        raise ProbeOptionError(option, f'the domain {domain!r} is not a valid host name')


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_mailbox(value, option, allow_null=False):
    """Basic RFC 5321 mailbox syntax; returns the address without angle brackets ('' = null sender)."""
    check_wire_text(value, option)
    address = value.strip()
    if address.startswith('<') and address.endswith('>'):
        address = address[1:-1].strip()
    if address == '':
        if allow_null:
            return ''
        raise ProbeOptionError(option, 'must not be empty')
    if '@' not in address:
        raise ProbeOptionError(option, f'{address!r} is not an address (local-part@domain)')
    local, domain = address.rsplit('@', 1)
    if not local or not domain:
        raise ProbeOptionError(option, f'{address!r} is not an address (local-part@domain)')
    if not domain.startswith('[') and not _SPACE_RE.search(domain):
        # An A-label domain works with every server; only a non-ASCII local part needs SMTPUTF8.
        domain = _ascii_name(domain, option)
        address = f'{local}@{domain}'
    if len(address.encode('utf-8')) > _MAX_ADDRESS:
        raise ProbeOptionError(option, f'the address is longer than {_MAX_ADDRESS} bytes')
    if len(local.encode('utf-8')) > _MAX_LOCAL:
        raise ProbeOptionError(option, f'the local part is longer than {_MAX_LOCAL} bytes')
    if local.startswith('"'):
        if len(local) < 2 or not local.endswith('"') or '"' in local[1:-1].replace('\\"', ''):
            raise ProbeOptionError(option, f'the quoted local part of {address!r} is not closed properly')
    elif not _DOT_ATOM_RE.fullmatch(local):
        raise ProbeOptionError(option, f'{address!r} has an invalid local part (white space, brackets or stray dots?)')
    _check_domain(domain, option)
    return address


def _check_helo(value):
    """A given helo_name: an address literal, or a name with non-ASCII labels as A-labels. A name that is not an
    FQDN is sent as written (negative tests)."""
    if value is None:
        return None
    check_wire_text(value, 'helo_name')
    if not value or _SPACE_RE.search(value):
        raise ProbeOptionError('helo_name', 'must be a single word (a domain name or an address literal)')
    if value.startswith('['):
        _check_domain(value, 'helo_name')
        return value
    return _ascii_name(value, 'helo_name')


def _expectation(value, option):
    """One `expect` entry -> (kind, value) matcher."""
    if isinstance(value, bool):
        raise ProbeOptionError(option, 'expected a reply code, class, enhanced code or condition name')
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ProbeOptionError(option, 'expected a reply code, class, enhanced code or condition name')
    text = value.strip()
    if len(text) == 3 and text.isascii() and text.isdigit() and text[0] in '2345':
        return ('code', int(text))
    match = _CLASS_RE.match(text)
    if match:
        return ('class', int(match.group(1)))
    if _ENHANCED_RE.match(text):
        return ('enhanced', text)
    if _ENHANCED_PREFIX_RE.match(text):
        return ('enhanced_prefix', text + '.')
    if text.lower() in errors.ALL:
        return ('condition', text.lower())
    raise ProbeOptionError(option, f'{value!r} is not a reply code (550), class (5, 5xx), enhanced code (5.1.1) or condition name')


def _check_expect(value):
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ProbeOptionError('expect', 'must be a dictionary of step name -> list of codes')
    normalised = {}
    for step, wanted in value.items():
        step = step.lower() if isinstance(step, str) else step
        if step not in STEP_NAMES:
            raise ProbeOptionError('expect', 'unknown step {!r} (one of {})'.format(step, ', '.join(STEP_NAMES)))
        if not isinstance(wanted, (list, tuple)):
            wanted = [wanted]
        if not wanted:
            raise ProbeOptionError(f'expect.{step}', 'must list at least one code')
        normalised[step] = [_expectation(item, f'expect.{step}[{index}]') for index, item in enumerate(wanted)]
    return normalised


def _check_dsn(value, warnings):
    if not value:
        return None
    if not isinstance(value, dict):
        raise ProbeOptionError('dsn', 'must be a dictionary (notify, ret, envid, orcpt)')
    unknown = set(value) - {'notify', 'ret', 'envid', 'orcpt'}
    if unknown:
        raise ProbeOptionError('dsn', 'unknown key(s): {}'.format(', '.join(sorted(unknown))))
    notify = value.get('notify') or []
    if isinstance(notify, str):
        notify = [item.strip() for item in notify.split(',')]
    checked = []
    for index, item in enumerate(notify):
        check_wire_text(item, f'dsn.notify[{index}]')
        word = item.strip().lower()
        if word not in NOTIFY_VALUES:
            raise ProbeOptionError(f'dsn.notify[{index}]', '{!r} is not one of {}'.format(item, ', '.join(NOTIFY_VALUES)))
        if word not in checked:
            checked.append(word)
    if 'never' in checked and len(checked) > 1:
        raise ProbeOptionError('dsn.notify', 'never cannot be combined with success, failure or delay (RFC 3461 4.1)')
    ret = value.get('ret')
    if ret is not None:
        check_wire_text(ret, 'dsn.ret')
        ret = ret.strip().lower()
        if ret not in RET_VALUES:
            raise ProbeOptionError('dsn.ret', 'must be full or hdrs')
    envid = value.get('envid')
    if envid is not None:
        check_wire_text(envid, 'dsn.envid')
        if not envid or len(envid) > _MAX_ENVID or not all(32 < ord(char) < 127 for char in envid):
            raise ProbeOptionError('dsn.envid', f'must be 1 to {_MAX_ENVID} printable ASCII characters without spaces')
    orcpt = value.get('orcpt')
    if orcpt is not None and not isinstance(orcpt, bool):
        raise ProbeOptionError('dsn.orcpt', 'must be true or false')
    dsn = {'notify': checked, 'ret': ret, 'envid': envid, 'orcpt': bool(orcpt)}
    if not checked and not ret and not envid and not dsn['orcpt']:
        warnings.append('dsn: no DSN parameter set, nothing will be requested')
        return None
    return dsn


def _check_auth(value):
    if not value:
        return None
    if not isinstance(value, dict):
        raise ProbeOptionError('auth', 'must be a dictionary (username, password, mechanism)')
    unknown = set(value) - {'username', 'password', 'mechanism'}
    if unknown:
        raise ProbeOptionError('auth', 'unknown key(s): {}'.format(', '.join(sorted(unknown))))
    username = value.get('username')
    password = value.get('password')
    if username is None and password is None:
        return None
    if not username:
        raise ProbeOptionError('auth.username', 'is required with auth')
    if password is None or password == '':
        raise ProbeOptionError('auth.password', 'is required with auth')
    check_wire_text(username, 'auth.username')
    check_wire_text(password, 'auth.password')
    mechanism = (value.get('mechanism') or 'auto').lower()
    check_wire_text(mechanism, 'auth.mechanism')
    if mechanism not in AUTH_MECHANISMS:
        raise ProbeOptionError('auth.mechanism', 'must be one of {}'.format(', '.join(AUTH_MECHANISMS)))
    return {'username': username, 'password': password, 'mechanism': mechanism}


def _check_content(value):
    value = value or {}
    if not isinstance(value, dict):
        raise ProbeOptionError('content', 'must be a dictionary (subject, body, headers, from_header, to_header)')
    unknown = set(value) - {'subject', 'body', 'headers', 'from_header', 'to_header'}
    if unknown:
        raise ProbeOptionError('content', 'unknown key(s): {}'.format(', '.join(sorted(unknown))))
    for key in ('subject', 'from_header', 'to_header'):
        check_wire_text(value.get(key), f'content.{key}')
    check_wire_text(value.get('body'), 'content.body', allow_newlines=True)
    headers = value.get('headers') or {}
    if not isinstance(headers, dict):
        raise ProbeOptionError('content.headers', 'must be a dictionary of header name -> value')
    checked = {}
    for name, header_value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            check_wire_text(name if isinstance(name, str) else str(name), 'content.headers')
            raise ProbeOptionError('content.headers', f'{name!r} is not a valid header name')
        if not isinstance(header_value, str):
            header_value = str(header_value)
        check_wire_text(header_value, f'content.headers.{name}')
        checked[name] = header_value
    return {
        'subject': value.get('subject'),
        'body': value.get('body'),
        'headers': checked,
        'from_header': value.get('from_header'),
        'to_header': value.get('to_header'),
    }


def _reaches(quit_after, step):
    """Whether a dialogue stopping after ``quit_after`` gets as far as ``step``."""
    return quit_after is None or QUIT_AFTER.index(quit_after) >= QUIT_AFTER.index(step)


def validate_options(raw):
    """Normalise and check probe options; return ProbeOptions or raise ProbeOptionError."""
    if isinstance(raw, ProbeOptions):
        return raw
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ProbeOptionError(sorted(unknown)[0], 'unknown option')
    values = dict(DEFAULTS)
    values.update((key, value) for key, value in raw.items() if value is not None)
    warnings = []

    if values['host'] is None:
        raise ProbeOptionError('host', 'is required')
    values['host'] = _check_host(values['host'], 'host')
    values['port'] = _check_port(values['port'])
    if values['addresses'] is not None:
        values['addresses'] = _check_addresses(values['addresses'])

    ip_version = str(values['ip_version']).lower()
    if ip_version not in IP_VERSIONS:
        raise ProbeOptionError('ip_version', 'must be auto, 4 or 6')
    values['ip_version'] = ip_version
    if values['source_address']:
        values['source_address'] = _check_ip(values['source_address'], 'source_address')
        source_version = str(ipaddress.ip_address(values['source_address']).version)
        if ip_version not in ('auto', source_version):
            raise ProbeOptionError('source_address', f'is an IPv{source_version} address but ip_version is {ip_version}')

    for key in ('connect_timeout', 'command_timeout', 'deadline', 'slow_threshold'):
        if values[key] is not None:
            values[key] = _positive(values[key], key)
    if values['connect_timeout'] is None:
        # Not set: the default, shortened to fit a shorter deadline.
        values['connect_timeout'] = min(DEFAULT_CONNECT_TIMEOUT, values['deadline'])
    elif values['deadline'] < values['connect_timeout']:
        raise ProbeOptionError('deadline', 'is {} s, shorter than connect_timeout ({} s): raise deadline, or lower or '
                               'leave out connect_timeout'.format(values['deadline'], values['connect_timeout']))

    tls = str(values['tls']).lower()
    if tls not in TLS_MODES:
        raise ProbeOptionError('tls', 'must be one of {}'.format(', '.join(TLS_MODES)))
    values['tls'] = tls
    if tls == 'none':
        for key in ('tls_verify', 'tls_min_days', 'ca_path', 'server_name'):
            if raw.get(key) not in (None, False, ''):
                raise ProbeOptionError(key, 'has no effect with tls: none (conflicting TLS options)')
    values['tls_verify'] = bool(values['tls_verify'])
    if values['tls_min_days'] is not None:
        values['tls_min_days'] = _check_min_days(values['tls_min_days'])
    if values['ca_path']:
        check_wire_text(values['ca_path'], 'ca_path')
        if not os.path.exists(values['ca_path']):
            raise ProbeOptionError('ca_path', '{} does not exist'.format(values['ca_path']))
    if values['server_name'] is not None:
        values['server_name'] = _check_host(values['server_name'], 'server_name')
    if tls == 'implicit' and values['port'] == 25:
        warnings.append('tls: implicit TLS on port 25 is unusual; MTAs use STARTTLS there (implicit TLS is port 465)')
    if tls in ('starttls', 'required') and values['port'] == 465:
        warnings.append('port 465 normally expects implicit TLS (tls: implicit); STARTTLS there will likely time out')

    # None stays None: the default depends on the local address, known only once connected (ehlo_name).
    values['helo_name'] = _check_helo(values['helo_name'])

    quit_after = values['quit_after']
    if quit_after is not None:
        quit_after = str(quit_after).lower()
        if quit_after not in QUIT_AFTER:
            raise ProbeOptionError('quit_after', 'unknown step {!r} (one of {})'.format(values['quit_after'], ', '.join(QUIT_AFTER)))
    values['quit_after'] = quit_after
    values['send_message'] = bool(values['send_message'])
    if quit_after == 'data' and not values['send_message']:
        raise ProbeOptionError('quit_after', 'data needs send_message: true (DATA is never sent otherwise)')

    pipelining = str(values['pipelining']).lower()
    if pipelining not in PIPELINING_MODES:
        raise ProbeOptionError('pipelining', 'must be one of {}'.format(', '.join(PIPELINING_MODES)))
    values['pipelining'] = pipelining

    values['auth'] = _check_auth(values['auth'])
    if values['auth'] and tls == 'none':
        warnings.append('auth: credentials will cross the network unencrypted (tls: none)')
    values['dsn'] = _check_dsn(values['dsn'], warnings)

    if values['mail_from'] is not None:
        values['mail_from'] = check_mailbox(values['mail_from'], 'mail_from', allow_null=True)
    elif _reaches(quit_after, 'mail'):
        raise ProbeOptionError('mail_from', 'is required when the dialogue reaches MAIL FROM (use quit_after to stop earlier)')
    rcpt_to = values['rcpt_to'] or []
    if isinstance(rcpt_to, str):
        rcpt_to = [rcpt_to]
    values['rcpt_to'] = [check_mailbox(item, f'rcpt_to[{index}]') for index, item in enumerate(rcpt_to)]
    if not values['rcpt_to'] and _reaches(quit_after, 'rcpt'):
        raise ProbeOptionError('rcpt_to', 'needs at least one recipient when the dialogue reaches RCPT TO (use quit_after to stop earlier)')

    values['content'] = _check_content(values['content'])
    template = None
    if values['send_message']:
        content = values['content']
        template = MessageTemplate(values['mail_from'], values['rcpt_to'], values['helo_name'] or local_fqdn(), content['subject'],
                                   content['body'], content['headers'], content['from_header'], content['to_header'])
        try:
            # Built now, so a message the email package refuses fails before any connection.
            template.render()
        except (ValueError, TypeError, IndexError) as exc:
            raise ProbeOptionError('content', f'cannot build the message: {exc}') from exc

    values['expect'] = _check_expect(values['expect'])
    return ProbeOptions(values, warnings, template)
