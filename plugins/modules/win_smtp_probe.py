# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: win_smtp_probe
short_description: Run SMTP dialogues from a Windows host with the C# engine (the Windows side of smtp_probe and mx_probe)
version_added: 0.1.0
description:
  - The I/O half of M(mailops.mailflow.smtp_probe) and M(mailops.mailflow.mx_probe) on Windows hosts, such as Exchange
    servers. Do not call it in a play. Call M(mailops.mailflow.smtp_probe) or M(mailops.mailflow.mx_probe). Their
    action plugins see that the host uses a PowerShell shell, check every option on the controller first (bad input
    fails there, before any connection), render the test message, and then run this module.
  - It runs the dialogue of M(mailops.mailflow.smtp_probe) with the C# engine of the collection (module util
    C(SmtpDialogue), C# 5, loaded with C(#AnsibleRequires -CSharpUtil)), step for step as the Python engine does it
    on Linux hosts. Connect (each address in turn, IPv4 and IPv6, C(source_address)), banner, C(EHLO) with
    the C(HELO) fallback, C(STARTTLS) or implicit TLS with C(SslStream), C(AUTH PLAIN) or C(AUTH LOGIN), C(MAIL FROM)
    and C(RCPT TO) with DSN parameters, pipelining, C(DATA) with the message the controller rendered, C(QUIT), within
    C(connect_timeout), C(command_timeout) and C(deadline), and with the same limits
    on a reply (line length, lines, bytes).
  - It returns one raw dialogue record per target (reply lines, timings, transport conditions, the TLS session and
    the server certificate). The action plugin turns each record into the result of M(mailops.mailflow.smtp_probe)
    with the Python code of the Linux path, so the result schema, the diagnosis and RV(results[].steps) mean the same
    on both.
  - Certificate checks follow the Python path's order and names. An untrusted chain is C(tls_cert_unknown_ca) (or
    C(tls_cert_self_signed)), then the name (C(tls_cert_name_mismatch)), then the dates (C(tls_cert_expired),
    C(tls_cert_not_yet_valid)). With C(ca_path) only the certificates in that file (PEM or DER) or folder on the host
    are trusted, as C(cafile) does for Python; without it the Windows certificate store decides.
  - Several targets run at the same time on at most O(concurrency) threads (M(mailops.mailflow.mx_probe) sends all
    its exchangers in one call).
  - "What differs from Linux hosts by design: C(tls.version), C(tls.cipher) and C(tls.bits) are what SChannel (or
    .NET on PowerShell 7) negotiated and reports (the cipher as the .NET name of the bulk cipher, or the IANA suite
    name on PowerShell 7); the texts of transport errors (for example a failed handshake) are those of .NET."
options:
  targets:
    description:
      - One dictionary per dialogue, with the options of M(mailops.mailflow.smtp_probe) by name, already checked and
        normalised on the controller, except O(auth).
      - The controller adds C(messages), the test message rendered once per variant (plain, 8BITMIME, SMTPUTF8, both),
        dot-stuffed and base64-encoded, because the variant is known only once the server answered C(EHLO); and
        C(expect) as C([kind, value]) pairs.
      - C(ca_path) names a file or folder on the Windows host.
    type: list
    elements: dict
    required: true
  auth:
    description:
      - The credentials for C(AUTH), used for every target. They are kept out of O(targets) so that the password is
        C(no_log) and never appears in the module invocation; it is also masked in every command and transcript line.
    type: dict
    suboptions:
      username:
        description: The user name.
        type: str
        required: true
      password:
        description: The password.
        type: str
        required: true
      mechanism:
        description: The SASL mechanism; V(auto) takes C(PLAIN) when offered, else C(LOGIN).
        type: str
        choices: [auto, plain, login]
        default: auto
  concurrency:
    description: How many dialogues run at the same time, at most.
    type: int
    default: 8
notes:
  - Needs Windows PowerShell 5.1 with .NET Framework 4.5 or newer, or PowerShell 7.
  - In check mode a target never sends a message (C(send_message) is forced to false and C(quit_after=data) becomes
    C(rcpt)), as on Linux hosts.
  - "Tested without Windows: the collection's tests compile the C# engine as C# 5 with Mono and run it against the
    lab's Postfix, Exim and fault servers, and compare every result with the Python engine's (tests/windows). This
    PowerShell glue and SChannel itself are not run there."
seealso:
  - module: mailops.mailflow.smtp_probe
  - module: mailops.mailflow.mx_probe
  - module: mailops.mailflow.win_mx_lookup
author:
  - mailops.mailflow contributors
'''

EXAMPLES = r'''
# Normally run by the smtp_probe and mx_probe action plugins on Windows hosts; a direct call looks like this.
- name: Talk to the exchanger of fabrikam.com up to RCPT TO, from the Exchange server
  mailops.mailflow.win_smtp_probe:
    targets:
      - host: mail1.fabrikam.com
        port: 25
        tls: starttls
        helo_name: ex01.contoso.com
        mail_from: postmaster@contoso.com
        rcpt_to: [kate@fabrikam.com]
        connect_timeout: 10
        command_timeout: 30
        deadline: 60
'''

RETURN = r'''
results:
  description:
    - One raw dialogue record per target, in the order of O(targets). The action plugins turn each into the result of
      M(mailops.mailflow.smtp_probe); the keys are described in the collection's C(docs/internals.md).
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The host and port asked for, and the address, IP version and local address of the connection.
      type: dict
    steps:
      description:
        - One entry per command sent, in wire order, with C(name) (the step names of M(mailops.mailflow.smtp_probe)),
          C(command) (credentials masked), C(lines) (the raw reply lines, or null), C(elapsed_ms), C(waited_ms),
          C(error) (a condition name such as C(connect_timeout) or C(tls_cert_unknown_ca), or null),
          C(error_message), C(bare_lf), C(unrequested), C(held), and C(attempts) for C(connect).
      type: list
      elements: dict
    tls:
      description:
        - C(used), C(version), C(cipher), C(bits), C(server_name), C(verify_error), C(verify_message), and
          C(certificate_der), the server's certificate (base64 DER), also when the verification or the handshake failed
          after the server sent it.
      type: dict
    transcript:
      description: The dialogue as telnet would show it (C(->) sent, C(<-) received, C(--) events), secrets masked.
      type: list
      elements: str
    elapsed_ms:
      description: How long the whole dialogue took on the host.
      type: float
    ehlo_name:
      description: The name said in C(EHLO) and C(HELO) (helo_name, else the host's fully qualified name, else an
        address literal).
      type: str
    engine:
      description: V(csharp).
      type: str
    engine_runtime:
      description: The .NET runtime that ran the engine, for example C(.NET 4.0.30319.42000).
      type: str
'''
