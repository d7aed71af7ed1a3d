# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sockets with a time budget: per-operation timeouts capped by one overall deadline.

Every blocking call gets ``min(operation timeout, time left before the deadline)``, recomputed
before each system call, so a server that drips bytes cannot stretch a probe past its deadline.
"""

from __future__ import annotations

import errno
import ipaddress
import select
import socket
import ssl
import time

from .._diagnosis import errors

IP_FAMILIES = {'auto': socket.AF_UNSPEC, '4': socket.AF_INET, '6': socket.AF_INET6}

_CONNECT_ERRNOS = {
    errno.ECONNREFUSED: errors.CONNECTION_REFUSED,
    errno.EHOSTUNREACH: errors.NO_ROUTE,
    errno.ENETUNREACH: errors.NETWORK_UNREACHABLE,
    errno.EAFNOSUPPORT: errors.NETWORK_UNREACHABLE,
    errno.EADDRNOTAVAIL: errors.ADDRESS_UNAVAILABLE,
    errno.ECONNRESET: errors.CONNECTION_RESET,
    errno.ETIMEDOUT: errors.CONNECT_TIMEOUT,
    # A local firewall rule (iptables OUTPUT REJECT/DROP) shows up as EPERM/EACCES.
    errno.EPERM: errors.CONNECTION_REFUSED,
    errno.EACCES: errors.CONNECTION_REFUSED,
}
_SEND_CHUNK = 65536
_POLL = getattr(select, 'poll', None)
_POLLIN = getattr(select, 'POLLIN', 1)
_POLLOUT = getattr(select, 'POLLOUT', 4)


class TransportError(Exception):
    """A transport condition: ``condition`` is a name from ``_diagnosis.errors``."""

    def __init__(self, condition, message, answered=False):
        super().__init__(message)
        self.condition = condition
        self.message = message
        # The server took part (a TLS alert, not a timeout): it may have sent its certificate.
        self.answered = answered


class Clock:
    """Monotonic start and overall deadline of one probe."""

    __slots__ = ('start', 'deadline_at')

    def __init__(self, deadline, start=None):
        self.start = time.monotonic() if start is None else start
        self.deadline_at = self.start + deadline

    def elapsed_ms(self, since=None):
        return (time.monotonic() - (self.start if since is None else since)) * 1000.0

    def window(self, timeout, condition):
        """(absolute limit, condition named when it runs out) for an operation allowed ``timeout`` seconds."""
        limit = time.monotonic() + timeout
        if self.deadline_at <= limit:
            return self.deadline_at, errors.DEADLINE_EXCEEDED
        return limit, condition


def address_family(address):
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def _literal_candidate(host, port, family):
    """(family, sockaddr) for an IP address literal without a scope, else None (getaddrinfo decides)."""
    for literal_family in (socket.AF_INET, socket.AF_INET6):
        try:
            # Back to text: the canonical form getaddrinfo would give.
            address = socket.inet_ntop(literal_family, socket.inet_pton(literal_family, host))
        except (OSError, ValueError, TypeError):
            continue
        if family not in (socket.AF_UNSPEC, literal_family):
            return None
        return literal_family, (address, port) if literal_family == socket.AF_INET else (address, port, 0, 0)
    return None


def resolve(host, port, ip_version='auto', addresses=None, source_address=None):
    """Candidate (family, sockaddr) pairs in the resolver's order, without duplicates.

    ``addresses`` (already resolved, e.g. by mx_probe) skips the name lookup.
    """
    family = IP_FAMILIES[str(ip_version)]
    if source_address:
        source_family = address_family(source_address)
        if family not in (socket.AF_UNSPEC, source_family):
            raise TransportError(errors.ADDRESS_UNAVAILABLE, f'source_address {source_address} is not an IPv{ip_version} address')
        family = source_family
    if not addresses and not source_address:
        literal = _literal_candidate(host, port, family)
        if literal is not None:
            return [literal]
    infos = []
    try:
        if addresses:
            for address in addresses:
                if family != socket.AF_UNSPEC and address_family(address) != family:
                    continue
                infos.extend(socket.getaddrinfo(address, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP, socket.AI_NUMERICHOST))
        else:
            infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TransportError(errors.HOST_UNRESOLVED, f'cannot resolve {host}: {exc.strerror or exc}') from exc
    except (ValueError, UnicodeError) as exc:
        raise TransportError(errors.HOST_UNRESOLVED, f'cannot resolve {host}: {exc}') from exc
    seen = set()
    candidates = []
    for info_family, _type, _proto, _name, sockaddr in infos:
        key = (info_family, sockaddr[0])
        if key not in seen:
            seen.add(key)
            candidates.append((info_family, sockaddr))
    if not candidates:
        wanted = f'IPv{ip_version} ' if family != socket.AF_UNSPEC else ''
        raise TransportError(errors.HOST_UNRESOLVED, f'no {wanted}address to connect to for {host}')
    return candidates


def open_socket(family, sockaddr, source_address, timeout):
    """Connect one TCP socket within ``timeout`` seconds; raise TransportError."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if source_address:
            try:
                sock.bind((source_address, 0))
            except OSError as exc:
                raise TransportError(errors.ADDRESS_UNAVAILABLE, f'cannot use source address {source_address}: {exc.strerror or exc}') from exc
        sock.settimeout(timeout)
        sock.connect(sockaddr)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except socket.timeout:
        sock.close()
        raise TransportError(errors.CONNECT_TIMEOUT, f'no answer from {sockaddr[0]} within {timeout:.1f} s') from None
    except TransportError:
        sock.close()
        raise
    except OSError as exc:
        sock.close()
        condition = _CONNECT_ERRNOS.get(exc.errno, errors.CONNECTION_REFUSED)
        raise TransportError(condition, f'{sockaddr[0]} port {sockaddr[1]}: {exc.strerror or exc}') from exc
    return sock


class ConnectFailed(Exception):
    """No candidate address accepted the connection; ``attempts`` says why for each."""

    def __init__(self, attempts):
        super().__init__('no address accepted the connection')
        self.attempts = attempts

    @property
    def condition(self):
        return self.attempts[-1]['error'] if self.attempts else errors.HOST_UNRESOLVED

    @property
    def message(self):
        return self.attempts[-1]['message'] if self.attempts else 'no address to connect to'


def connect_any(candidates, clock, connect_timeout, source_address=None, opener=open_socket):
    """Try each (family, sockaddr) in order, like an MTA; return (socket, sockaddr, attempts).

    Each attempt gets ``connect_timeout``, capped by the overall deadline.
    """
    attempts = []
    for family, sockaddr in candidates:
        limit_at, condition = clock.window(connect_timeout, errors.CONNECT_TIMEOUT)
        started = time.monotonic()
        remaining = limit_at - started
        if remaining <= 0:
            attempts.append({'address': sockaddr[0], 'error': errors.DEADLINE_EXCEEDED,
                             'message': 'the overall deadline ran out before connecting', 'elapsed_ms': 0.0})
            break
        try:
            sock = opener(family, sockaddr, source_address, remaining)
        except TransportError as exc:
            failed = exc.condition
            message = exc.message
            if failed == errors.CONNECT_TIMEOUT and condition == errors.DEADLINE_EXCEEDED:
                failed = errors.DEADLINE_EXCEEDED
                message = f'the overall deadline ran out while connecting to {sockaddr[0]}'
            attempts.append({'address': sockaddr[0], 'error': failed, 'message': message,
                             'elapsed_ms': round((time.monotonic() - started) * 1000.0, 3)})
            if failed == errors.DEADLINE_EXCEEDED:
                break
            continue
        attempts.append({'address': sockaddr[0], 'error': None, 'message': None,
                         'elapsed_ms': round((time.monotonic() - started) * 1000.0, 3)})
        return sock, sockaddr, attempts
    raise ConnectFailed(attempts)


class Connection:
    """One connected socket (plain or TLS) with timed send/recv.

    A real socket is switched to non-blocking mode once and waited on with poll(), so each wait
    costs one system call and no timeout juggling. Tests may inject any object with
    ``settimeout``, ``send``, ``recv``, ``close``, ``getpeername`` and ``getsockname`` as ``sock``;
    it is driven with per-call socket timeouts instead.
    """

    def __init__(self, sock, clock, command_timeout):
        self.clock = clock
        self.command_timeout = command_timeout
        self.tls = False
        self._limit_at = None
        self._limit_condition = errors.COMMAND_TIMEOUT
        self._attach(sock)

    def _attach(self, sock):
        self.sock = sock
        self._poller = None
        if _POLL is not None and isinstance(sock, socket.socket):
            sock.setblocking(False)
            self._poller = _POLL()
            self._fd = sock.fileno()
            # Registered for reading once; a wait for writing switches it over and back.
            self._poller.register(self._fd, _POLLIN)

    def begin(self, timeout=None):
        """Start the time window of one command (its write and its reply)."""
        self._limit_at, self._limit_condition = self.clock.window(
            self.command_timeout if timeout is None else timeout, errors.COMMAND_TIMEOUT)

    def _remaining(self):
        if self._limit_at is None:
            self.begin()
        remaining = self._limit_at - time.monotonic()
        if remaining <= 0:
            raise self._timeout_error()
        return remaining

    def _timeout_error(self):
        if self._limit_condition == errors.DEADLINE_EXCEEDED:
            return TransportError(errors.DEADLINE_EXCEEDED, 'the overall deadline ran out')
        return TransportError(errors.COMMAND_TIMEOUT, f'no complete reply within command_timeout ({self.command_timeout:.1f} s)')

    def _wait(self, events):
        """Block until the socket is ready for ``events`` or the time window closes (TransportError)."""
        poller = self._poller
        if events == _POLLIN:
            while not poller.poll(self._remaining() * 1000.0):
                continue
            return
        poller.modify(self._fd, events)
        try:
            while not poller.poll(self._remaining() * 1000.0):
                continue
        finally:
            poller.modify(self._fd, _POLLIN)

    def send(self, data):
        sock = self.sock
        try:
            self._remaining()
            if self._poller is not None and len(data) <= _SEND_CHUNK:
                # A command fits the socket buffer: one send() nearly always takes all of it.
                try:
                    sent = sock.send(data)
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    sent = 0
                if sent == len(data):
                    return
            else:
                sent = 0
            view = memoryview(data)
            while sent < len(view):
                if self._poller is None:
                    sock.settimeout(self._remaining())
                try:
                    sent += sock.send(view[sent:sent + _SEND_CHUNK])
                except (BlockingIOError, ssl.SSLWantWriteError):
                    self._wait(_POLLOUT)
                except ssl.SSLWantReadError:
                    self._wait(_POLLIN)
        except socket.timeout:
            raise self._timeout_error() from None
        except ssl.SSLError as exc:
            raise TransportError(errors.CONNECTION_RESET, f'TLS error while sending: {exc.reason or exc}') from exc
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise TransportError(errors.CONNECTION_RESET, f'the server reset the connection: {exc.strerror or exc}') from exc
        except OSError as exc:
            raise TransportError(errors.CONNECTION_RESET, f'sending failed: {exc.strerror or exc}') from exc

    def recv(self, size):
        sock = self.sock
        try:
            if self._poller is None:
                sock.settimeout(self._remaining())
                return sock.recv(size)
            # Wait first: a reply is rarely there the moment its command is written, and a failed
            # non-blocking recv() costs an exception. TLS may hold decrypted bytes poll() cannot see.
            if not (self.tls and sock.pending()):
                self._wait(_POLLIN)
            while True:
                try:
                    return sock.recv(size)
                except (BlockingIOError, ssl.SSLWantReadError):
                    self._wait(_POLLIN)
                except ssl.SSLWantWriteError:
                    self._wait(_POLLOUT)
        except socket.timeout:
            raise self._timeout_error() from None
        except ssl.SSLZeroReturnError:
            return b''
        except ssl.SSLError as exc:
            raise TransportError(errors.CONNECTION_RESET, f'TLS error while reading: {exc.reason or exc}') from exc
        except ConnectionResetError as exc:
            raise TransportError(errors.CONNECTION_RESET, f'the server reset the connection: {exc.strerror or exc}') from exc
        except OSError as exc:
            raise TransportError(errors.CONNECTION_RESET, f'reading failed: {exc.strerror or exc}') from exc

    def start_tls(self, context, server_hostname, timeout):
        """Wrap the socket in TLS and handshake within ``timeout`` (capped by the deadline).

        Raises ssl.SSLCertVerificationError untouched (the caller classifies it), TransportError otherwise.
        The plain socket is closed when the handshake fails.
        """
        limit_at, condition = self.clock.window(timeout, errors.COMMAND_TIMEOUT)
        remaining = limit_at - time.monotonic()
        if remaining <= 0:
            raise TransportError(condition, 'no time left for the TLS handshake')
        try:
            wrapped = context.wrap_socket(self.sock, server_hostname=server_hostname, do_handshake_on_connect=False)
        except (ssl.SSLError, ValueError, OSError) as exc:
            self.close()
            raise TransportError(errors.TLS_HANDSHAKE_FAILED, f'cannot start TLS: {exc}') from exc
        self.sock = wrapped
        try:
            # CPython applies the socket timeout to the whole handshake, not to each read.
            wrapped.settimeout(remaining)
            wrapped.do_handshake()
        except ssl.SSLCertVerificationError:
            self.close()
            raise
        except socket.timeout:
            self.close()
            if condition == errors.DEADLINE_EXCEEDED:
                raise TransportError(condition, 'the overall deadline ran out during the TLS handshake') from None
            raise TransportError(errors.TLS_HANDSHAKE_FAILED, f'the TLS handshake did not finish within {timeout:.1f} s') from None
        except ssl.SSLError as exc:
            self.close()
            raise TransportError(errors.TLS_HANDSHAKE_FAILED, f'TLS handshake failed: {exc.reason or exc}', answered=True) from exc
        except OSError as exc:
            self.close()
            raise TransportError(errors.TLS_HANDSHAKE_FAILED, f'the connection failed during the TLS handshake: {exc.strerror or exc}') from exc
        self.tls = True
        self._attach(wrapped)
        return wrapped

    def peer(self):
        try:
            return self.sock.getpeername()
        except OSError:
            return None

    def local(self):
        try:
            return self.sock.getsockname()
        except OSError:
            return None

    def close(self):
        sock = self.sock
        if isinstance(sock, ClosedSocket):
            return
        self.sock = ClosedSocket()
        try:
            sock.close()
        except OSError:
            pass


class ClosedSocket:
    """Placeholder after close: every operation reports the connection as gone."""

    def settimeout(self, timeout):
        return None

    def send(self, data):
        raise BrokenPipeError(errno.EPIPE, 'connection closed')

    def recv(self, size):
        return b''

    def getpeername(self):
        raise OSError(errno.ENOTCONN, 'not connected')

    def getsockname(self):
        raise OSError(errno.ENOTCONN, 'not connected')

    def close(self):
        return None
