# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scripted SMTP listeners on several loopback addresses, one port, for the route engine tests.

One asyncio loop in a background thread serves every address. Each address has a behaviour
(banner delay and reply, MAIL and per-recipient RCPT replies). A ``refused`` address has no
listener, so connecting to it is refused. A ``blackholes`` address has a listener whose accept
queue is full and never drained: the kernel drops new SYNs, so a connect times out, as behind a
firewall DROP rule. Connections are counted per address, with the most open at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading

DEFAULT_BEHAVIOUR = {
    'banner_delay': 0.0,
    'banner': '220 {name} ESMTP fakemta',
    'ehlo': ['250-{name}', '250-PIPELINING', '250-ENHANCEDSTATUSCODES', '250 8BITMIME'],
    'mail': '250 2.1.0 Ok',
    'rcpt': {},
    'rcpt_default': '250 2.1.5 Ok',
}


def free_port(addresses):
    """A TCP port that is free on every one of the addresses."""
    for _attempt in range(50):
        probe = socket.socket()
        probe.bind((addresses[0], 0))
        port = probe.getsockname()[1]
        probe.close()
        ok = True
        for address in addresses:
            sock = socket.socket()
            try:
                sock.bind((address, port))
            except OSError:
                ok = False
            finally:
                sock.close()
        if ok:
            return port
    raise OSError('no common free port on %s' % ', '.join(addresses))


class FakeMta(object):
    """behaviours: {address: dict overriding DEFAULT_BEHAVIOUR}; refused: no listener; blackholes: connects time out."""

    def __init__(self, behaviours, refused=(), blackholes=()):
        self.behaviours = dict((address, dict(DEFAULT_BEHAVIOUR, name='mx-%s' % address, **behaviour))
                               for address, behaviour in behaviours.items())
        self.refused = list(refused)
        self.blackholes = list(blackholes)
        self.port = free_port(list(self.behaviours) + self.refused + self.blackholes)
        self.connections = dict((address, 0) for address in list(self.behaviours) + self.refused)
        self.commands = dict((address, []) for address in self.behaviours)
        self.active = 0
        self.max_active = 0
        self._blackhole_sockets = []
        self._loop = None
        self._servers = []
        self._thread = None
        self._ready = threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        for address in self.blackholes:
            listener = socket.socket()
            listener.bind((address, self.port))
            listener.listen(0)
            # One queued connection fills a backlog of 0; later SYNs are dropped.
            filler = socket.create_connection((address, self.port), timeout=5)
            self._blackhole_sockets += [listener, filler]
        self._thread = threading.Thread(target=self._serve, name='fakemta', daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError('fakemta did not start')

    def stop(self):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        for sock in self._blackhole_sockets:
            sock.close()
        self._blackhole_sockets = []

    def _serve(self):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        for address in self.behaviours:
            handler = self._handler(address)
            self._servers.append(loop.run_until_complete(asyncio.start_server(handler, address, self.port)))
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for server in self._servers:
                server.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
            asyncio.set_event_loop(None)

    def _handler(self, address):
        behaviour = self.behaviours[address]

        async def handle(reader, writer):
            self.connections[address] += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)

            def reply(lines):
                if isinstance(lines, str):
                    lines = [lines]
                writer.write(''.join(line.format(name=behaviour['name']) + '\r\n' for line in lines).encode('utf-8'))

            try:
                if behaviour['banner_delay']:
                    await asyncio.sleep(behaviour['banner_delay'])
                reply(behaviour['banner'])
                await writer.drain()
                if not behaviour['banner'].startswith('2'):
                    return
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    command = line.decode('utf-8', 'replace').rstrip('\r\n')
                    self.commands[address].append(command)
                    verb = command.split(' ', 1)[0].split(':', 1)[0].upper()
                    if verb in ('EHLO', 'HELO'):
                        reply(behaviour['ehlo'])
                    elif verb == 'MAIL':
                        reply(behaviour['mail'])
                    elif verb == 'RCPT':
                        recipient = command.split('<', 1)[-1].split('>', 1)[0].lower()
                        reply(behaviour['rcpt'].get(recipient, behaviour['rcpt_default']))
                    elif verb == 'DATA':
                        reply('354 End data with <CR><LF>.<CR><LF>')
                        await writer.drain()
                        while True:
                            body_line = await reader.readline()
                            if not body_line or body_line.rstrip(b'\r\n') == b'.':
                                break
                        self.commands[address].append('<message>')
                        reply('250 2.0.0 Ok: queued as FAKE%d' % len(self.commands[address]))
                    elif verb == 'RSET':
                        reply('250 2.0.0 Ok')
                    elif verb == 'QUIT':
                        reply('221 2.0.0 Bye')
                        await writer.drain()
                        return
                    else:
                        reply('502 5.5.2 Error: command not recognized')
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                return
            finally:
                self.active -= 1
                writer.close()

        return handle
