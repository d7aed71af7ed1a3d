"""A deliberately small socket SMTP client for testing the lab servers (no smtplib: we want the raw bytes)."""

from __future__ import annotations

import socket
import ssl
import time


class Client:
    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""
        self.raw = b""

    def recv_some(self) -> bytes:
        data = self.sock.recv(65536)
        self.raw += data
        return data

    def read_line(self) -> bytes:
        while b"\n" not in self.buffer:
            data = self.recv_some()
            if not data:
                raise EOFError(self.buffer)
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line + b"\n"

    def reply(self) -> list:
        """One reply as text lines without line endings."""
        lines = []
        while True:
            line = self.read_line()
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def cmd(self, text: str) -> list:
        self.send(text)
        return self.reply()

    def timed_reply(self):
        started = time.monotonic()
        lines = self.reply()
        return lines, time.monotonic() - started

    def starttls(self, context: ssl.SSLContext, server_name: str) -> None:
        self.sock = context.wrap_socket(self.sock, server_hostname=server_name)

    def at_eof(self, wait: float = 2.0) -> bool:
        """True when the server closed the connection (FIN) within wait seconds."""
        self.sock.settimeout(wait)
        try:
            return self.buffer == b"" and self.recv_some() == b""
        except socket.timeout:
            return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
