# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis catalog: data only. The classifier (`classifier.py`) indexes it at import.

Each entry is a dict:
  match:      what it answers for. Keys (all optional, combined with AND):
                step      a tuple of step names (connect, banner, ehlo, helo, starttls, ehlo_tls, auth,
                          mail, rcpt, data, message, rset, quit)
                code      basic reply code (int)
                enhanced  one enhanced code ('5.7.54'), a tuple of them, or 'X.s.d' for any class
                subject   enhanced subject digit (int) with 'X' class: the RFC 3463 subject meaning
                code_class  first digit of a basic code (int)
                error     a condition name from errors.py (transport, TLS, DNS, extensions), or of a
                          policy check (_policy/catalog.py POLICY, _policy/sender_catalog.py SENDER)
                text      regular expression searched (case-insensitive) in the reply text: a tie-breaker
                          when one code means different things per vendor
                port      int: only on this port (same as when: {port: ...})
  when:       optional conditions on the dialogue context (diagnose(context=...)), combined with AND:
                authenticated  True/False: AUTH got 2xx before this reply
                tls            True/False: TLS was active at this step
                port           the port probed
                server         a vendor id from SERVERS, as identify_server() read the banner/EHLO (or the reply)
              A value may be a tuple of accepted values; None in it accepts "not known". An entry whose
              conditions the context does not meet is skipped, so the entry without `when` answers instead.
  category:   short stable slug (several entries may share one)
  status:     ok|transient|permanent|connection|timeout|tls|dns|protocol|auth, or None where the class
              of the reply decides (2 ok, 4 transient, 5 permanent)
  summary, causes (tuple), remedy, references (tuple), vendor (optional), notes (optional tuple)

Wording is ours, written for a mail administrator. Vendor meanings were checked against the vendors'
public documentation and source (Postfix smtpd, Exchange and Exchange Online NDR references, Google's
Gmail SMTP error list, Exim's specification, OpenSMTPD's and Sendmail's source, the gateways' published
error lists) or observed in the lab; every vendor entry names its source in `references`.
"""

from __future__ import annotations

from . import errors as E
# The transport security (MTA-STS, TLS-RPT, DANE) and sender identity (SPF, DMARC, egress, smuggling) entries live
# next to their checks, in the same entry format; they are indexed here with the rest, so diagnose(error=...) and
# explain() answer for their condition names too.
from .._policy.catalog import POLICY
from .._policy.sender_catalog import SENDER

STATUSES = ('ok', 'transient', 'permanent', 'connection', 'timeout', 'tls', 'dns', 'protocol', 'auth')
# Servers identify_server() can name from a banner or EHLO reply (see SERVER_SIGNATURES).
SERVERS = ('exchange', 'exchange_online', 'postfix', 'exim', 'opensmtpd', 'sendmail', 'mimecast', 'proofpoint',
           'cisco', 'barracuda')
VENDORS = ('exchange', 'exchange_online', 'postfix', 'gmail', 'exim', 'opensmtpd', 'sendmail', 'mimecast',
           'proofpoint', 'cisco', 'barracuda')
# Keys of the dialogue context an entry's `when` may test.
CONTEXT_KEYS = ('authenticated', 'tls', 'port', 'server')

# Step groups used by several entries.
HELLO_STEPS = ('ehlo', 'helo', 'ehlo_tls')

G_OPEN = 'Exchange Telnet guide: OPEN'
G_EHLO = 'Exchange Telnet guide: EHLO'
G_MAIL = 'Exchange Telnet guide: MAIL FROM'
G_RCPT = 'Exchange Telnet guide: RCPT TO'
G_CODES = 'Exchange Telnet guide: SMTP reply codes'
G_BEFORE = 'Exchange Telnet guide: before you begin'
G_SESSION = 'Exchange Telnet guide: successful session'
G_STEP3 = 'Exchange Telnet guide: step 3'
G_NSLOOKUP = 'Exchange Telnet guide: step 2 (nslookup, set type=mx)'

# One wording for Exchange's port 2525, wherever it is said.
EXCHANGE_2525 = ('Port 2525 on Exchange is the internal receive connector of the Transport service: it does not '
                 'accept anonymous mail (test Internet mail flow on port 25).')

# ---------------------------------------------------------------------------------------------------------------
# 1. The Exchange Telnet guide: every step, reply code and failure cause it names.
# ---------------------------------------------------------------------------------------------------------------
GUIDE = (
    {
        'match': {'step': ('banner',), 'code': 220, 'text': r'Microsoft ESMTP MAIL Service'},
        'category': 'service_ready', 'status': 'ok', 'vendor': 'exchange',
        'summary': 'Exchange greeted the client: the SMTP service is up and answering on this port.',
        'causes': ('The Exchange Front End Transport (or Transport) service accepted the connection.',),
        'remedy': 'Nothing to fix. Continue with EHLO.',
        'references': (G_OPEN, 'RFC 5321 4.2.2'),
    },
    {
        'match': {'step': HELLO_STEPS, 'code': 501, 'enhanced': '5.5.4'},
        'category': 'invalid_helo_domain', 'status': 'protocol',
        'summary': 'The server rejected the domain name given with EHLO/HELO.',
        'causes': (
            'The EHLO/HELO domain contains invalid characters or is not a valid host name.',
            'A connection restriction on the destination server (receive connector or policy) refuses this client.',
        ),
        'remedy': 'Send EHLO with this host\'s fully qualified domain name (set helo_name), then check the '
                  'receive connector\'s restrictions if the name is already valid.',
        'references': (G_EHLO, 'RFC 5321 4.1.1.1', 'RFC 3463 X.5.4'),
    },
    {
        'match': {'step': ('ehlo',), 'code': 502},
        'category': 'ehlo_not_supported', 'status': 'protocol',
        'summary': 'The server does not implement EHLO (an SMTP-only, non-ESMTP server).',
        'causes': ('An old or minimal SMTP server that only knows the RFC 821 HELO command.',),
        'remedy': 'Retry the session with HELO instead of EHLO; ESMTP extensions (STARTTLS, SIZE, DSN, AUTH) are '
                  'then unavailable.',
        'references': (G_EHLO, 'RFC 5321 3.2', 'RFC 5321 4.2.4'),
    },
    {
        'match': {'step': ('ehlo',), 'code': 500},
        'category': 'ehlo_not_supported', 'status': 'protocol',
        'summary': 'The server did not recognise EHLO (an SMTP-only, non-ESMTP server).',
        'causes': ('An old or minimal SMTP server that only knows the RFC 821 HELO command.',),
        'remedy': 'Retry the session with HELO instead of EHLO; ESMTP extensions are then unavailable.',
        'references': (G_EHLO, 'RFC 5321 3.2'),
    },
    {
        'match': {'step': ('mail',), 'code': 550, 'enhanced': '5.1.7'},
        'category': 'invalid_sender', 'status': 'permanent',
        'summary': 'The server rejected the sender address (MAIL FROM) as invalid.',
        'causes': ('A syntax error in the sender address: missing angle brackets, a stray character, no domain.',),
        'remedy': 'Correct mail_from: use MAIL FROM:<user@domain> with a complete, valid address.',
        'references': (G_MAIL, 'RFC 5321 4.1.2', 'RFC 3463 X.1.7'),
    },
    {
        'match': {'step': ('mail',), 'code': 530, 'enhanced': '5.7.1', 'port': 2525},
        'when': {'server': ('exchange', None)},
        'category': 'internal_receive_connector', 'status': 'auth', 'vendor': 'exchange',
        'summary': EXCHANGE_2525,
        'causes': (
            'On Exchange mailbox servers, TCP 2525 belongs to the Transport service\'s internal receive connector, '
            'which only takes authenticated traffic from other Exchange servers.',
        ),
        'remedy': 'Test the Internet-facing path on port 25 (the Front End Transport default connector) instead, or '
                  'authenticate if this is a deliberate internal test.',
        'references': (G_BEFORE, G_MAIL),
    },
    {
        'match': {'step': ('mail',), 'code': 530, 'enhanced': '5.7.1'},
        'category': 'anonymous_submission_refused', 'status': 'auth',
        'summary': 'Client was not authenticated: the server does not accept anonymous mail submission here.',
        'causes': (
            'No receive connector on the target server is configured to accept anonymous connections '
            '(anonymous users permission group missing).',
            'The client connected to a mailbox server directly, or to an authenticated-only connector or port.',
        ),
        'remedy': 'Send to the Internet-facing connector (port 25 on the Front End Transport service) or give the '
                  'receive connector the Anonymous users permission group; otherwise authenticate (AUTH) first.',
        'references': (G_MAIL, 'RFC 4954 6', 'RFC 3463 X.7.1'),
    },
    {
        'match': {'step': ('rcpt',), 'code': 550, 'enhanced': '5.1.1'},
        'category': 'user_unknown', 'status': 'permanent',
        'summary': 'User unknown: the recipient mailbox does not exist on the destination.',
        'causes': ('The specified recipient does not exist (typo, removed mailbox, or an address the server does not host).',),
        'remedy': 'Check the recipient address; confirm the mailbox or proxy address exists on the destination system.',
        'references': (G_RCPT, 'RFC 5321 4.2.3', 'RFC 3463 X.1.1'),
    },
    {
        'match': {'code': 500, 'enhanced': '5.3.3'},
        'category': 'unrecognized_command', 'status': 'protocol',
        'summary': 'Unrecognized command: the server did not understand the last command.',
        'causes': (
            'A wrong command or a syntax error (in telnet: a typo, or a Backspace that was sent as a character).',
            'On Exchange internal connectors: the Exchange Server authentication mechanism is missing.',
        ),
        'remedy': 'Re-send the command exactly as RFC 5321 spells it (press Enter and retype in telnet).',
        'references': (G_STEP3, 'RFC 5321 4.2.4'),
    },
    {
        'match': {'step': ('mail',), 'code': 250, 'enhanced': '2.1.0'},
        'category': 'sender_ok', 'status': 'ok',
        'summary': 'Sender OK: the sender address was accepted.',
        'causes': ('MAIL FROM accepted.',),
        'remedy': 'Nothing to fix. Continue with RCPT TO.',
        'references': (G_MAIL, 'RFC 5321 4.1.1.2'),
    },
    {
        'match': {'step': ('rcpt',), 'code': 250, 'enhanced': '2.1.5'},
        'category': 'recipient_ok', 'status': 'ok',
        'summary': 'Recipient OK: the recipient was accepted.',
        'causes': ('RCPT TO accepted.',),
        'remedy': 'Nothing to fix. Continue with more RCPT TO or DATA.',
        'references': (G_RCPT, 'RFC 5321 4.1.1.3'),
    },
    {
        'match': {'step': ('quit',), 'code': 221, 'enhanced': '2.0.0'},
        'category': 'closing', 'status': 'ok',
        'summary': 'Service closing transmission channel after QUIT.',
        'causes': ('QUIT accepted.',),
        'remedy': 'Nothing to fix.',
        'references': (G_SESSION, 'RFC 5321 4.1.1.10'),
    },
    {
        'match': {'step': ('message',), 'code': 250, 'enhanced': ('2.0.0', '2.6.0')},
        'category': 'message_queued', 'status': 'ok',
        'summary': 'The message was accepted and queued for delivery.',
        'causes': ('The server took responsibility for the message after the final dot.',),
        'remedy': 'Nothing to fix; track it with the queue id or message id in the reply.',
        'references': (G_SESSION, 'RFC 5321 4.1.1.4'),
    },
)

# ---------------------------------------------------------------------------------------------------------------
# 2. Conditions without a reply code: transport, protocol, TLS, extensions, DNS (one per errors.py name, plus
#    step-specific variants where the step changes what the condition means).
# ---------------------------------------------------------------------------------------------------------------
TRANSPORT = (
    {
        'match': {'error': E.CONNECTION_REFUSED},
        'category': 'destination_firewall_or_service_down', 'status': 'connection',
        'summary': 'Connection refused: the host answered, but nothing accepted the connection on that port.',
        'causes': (
            'The SMTP service on the destination is stopped or not listening on that address.',
            'A destination firewall rule rejects the connection (REJECT with TCP reset).',
            'The port number is wrong: nothing listens there.',
            'The FQDN or IP address is wrong: it points at a host that runs no mail service.',
            'A source-side firewall rejects outbound TCP 25 (a local REJECT rule answers like the destination).',
        ),
        'remedy': 'Check that the SMTP service runs and listens on this address and port (ss -ltn / netstat -an), '
                  'then check the destination firewall; confirm the port and the target name/address, and test '
                  'from another source host to rule out a local egress rule.',
        'references': (G_OPEN, 'RFC 9293 3.5.2'),
        'notes': ('A refusal comes back within milliseconds: the network path works, the port is closed or rejected.',),
    },
    {
        'match': {'error': E.CONNECT_TIMEOUT},
        'category': 'firewall_drop_or_host_down', 'status': 'timeout',
        'summary': 'Connection timed out: no answer at all to the connection attempt.',
        'causes': (
            'A firewall silently drops the packets (DROP rule) at the destination.',
            'A source-side firewall or the ISP blocks outbound TCP 25.',
            'The IP address is wrong or unused, or the host is down.',
            'A routing black hole between the two networks.',
        ),
        'remedy': 'Test from another network to tell source from destination blocking; check both firewalls for '
                  'port 25 and confirm the address (nslookup the MX/A record).',
        'references': (G_OPEN,),
    },
    {
        'match': {'error': E.NO_ROUTE},
        'category': 'no_route_to_host', 'status': 'connection',
        'summary': 'No route to host: the network reported the destination unreachable.',
        'causes': (
            'No route to that address from this host, or the host is down on its local network.',
            'A firewall rejecting with ICMP host-prohibited (shows as "no route to host").',
            'A wrong IP address.',
        ),
        'remedy': 'Check routing (ip route get ADDRESS) and firewalls on the path; confirm the address.',
        'references': (G_OPEN,),
    },
    {
        'match': {'error': E.NETWORK_UNREACHABLE},
        'category': 'network_unreachable', 'status': 'connection',
        'summary': 'Network unreachable: this host has no route to the destination network.',
        'causes': (
            'No default route, or no route for that address family (often: no IPv6 connectivity).',
            'A wrong IP address.',
        ),
        'remedy': 'Check this host\'s routes; use ip_version 4 if the host has no IPv6 route.',
        'references': (G_OPEN,),
    },
    {
        'match': {'error': E.ADDRESS_UNAVAILABLE},
        'category': 'source_address_unavailable', 'status': 'connection',
        'summary': 'The requested source address is not configured on this host.',
        'causes': ('source_address names an IP that no interface of this host has.',),
        'remedy': 'Use an address this host owns (ip addr) or drop source_address.',
        'references': (),
    },
    {
        'match': {'error': E.HOST_UNRESOLVED},
        'category': 'host_not_found', 'status': 'dns',
        'summary': 'The SMTP server name does not resolve to an address.',
        'causes': (
            'The FQDN is wrong (typo, or a name that does not exist).',
            'The DNS server this host uses cannot resolve it (split DNS, resolver failure).',
        ),
        'remedy': 'Check the name with nslookup/dig; look up the domain\'s MX records to find the right host.',
        'references': (G_OPEN, 'Exchange Telnet guide: step 2'),
    },
    {
        'match': {'error': E.CONNECTION_CLOSED},
        'category': 'connection_closed', 'status': 'connection',
        'summary': 'The server closed the connection in the middle of the session.',
        'causes': (
            'A policy drop (rate limit, too many errors, blocklisted client) often right after a 421 reply.',
            'The SMTP service crashed or was restarted.',
            'A firewall or proxy on the path ended the session.',
        ),
        'remedy': 'Check the server\'s SMTP log for this session; retry later if it was a transient limit.',
        'references': ('RFC 5321 3.8',),
    },
    {
        'match': {'error': E.CONNECTION_CLOSED, 'step': ('banner',)},
        'category': 'closed_before_greeting', 'status': 'connection',
        'summary': 'The server accepted the TCP connection but closed it before sending a greeting.',
        'causes': (
            'The server refuses this client: connection limits, a DNS blocklist or pre-greeting screen (for example '
            'Postfix postscreen), TCP wrappers, or a receive connector scoped to other remote IPs.',
            'A load balancer or proxy with no healthy back end.',
        ),
        'remedy': 'Check the server log for this client IP; check connector remote-IP scoping and blocklists.',
        'references': (G_OPEN, 'RFC 5321 3.1'),
    },
    {
        'match': {'error': E.CONNECTION_CLOSED, 'step': ('ehlo', 'helo')},
        'category': 'closed_after_helo', 'status': 'connection',
        'summary': 'The server closed the connection in answer to EHLO/HELO.',
        'causes': ('The server refused the HELO name or this client by policy.', 'The service crashed.'),
        'remedy': 'Use a valid FQDN as helo_name that resolves to this host; check the server log.',
        'references': (G_EHLO,),
    },
    {
        'match': {'error': E.CONNECTION_CLOSED, 'step': ('starttls', 'ehlo_tls')},
        'category': 'closed_during_tls', 'status': 'tls',
        'summary': 'The connection closed while starting TLS.',
        'causes': (
            'No common TLS version or cipher, or the server\'s certificate/key is broken.',
            'A firewall or SMTP inspection device that strips or breaks STARTTLS.',
        ),
        'remedy': 'Test with openssl s_client -starttls smtp; check the server\'s TLS log and any SMTP-inspecting device.',
        'references': ('RFC 3207 4',),
    },
    {
        'match': {'error': E.CONNECTION_CLOSED, 'step': ('mail', 'rcpt', 'data', 'auth', 'rset')},
        'category': 'closed_by_policy', 'status': 'connection',
        'summary': 'The server dropped the session during the mail transaction.',
        'causes': (
            'A policy limit: too many errors, recipients or connections, or rate limits.',
            'The server crashed or restarted.',
        ),
        'remedy': 'Check the server log; slow down or split the transaction if a limit was hit.',
        'references': ('RFC 5321 3.8',),
    },
    {
        'match': {'error': E.CONNECTION_CLOSED, 'step': ('message',)},
        'category': 'closed_after_data', 'status': 'connection',
        'summary': 'The connection closed after the message body was sent, before the final reply.',
        'causes': (
            'A content filter or the server crashed on this message.',
            'A size or time limit on the server or a proxy.',
        ),
        'remedy': 'Treat delivery as unknown: the message may or may not have been accepted. Check the server\'s '
                  'queue and log before resending, to avoid duplicates.',
        'references': ('RFC 5321 4.1.1.4', 'RFC 1047'),
    },
    {
        'match': {'error': E.CONNECTION_CLOSED, 'step': ('quit',)},
        'category': 'closed_at_quit', 'status': 'ok',
        'summary': 'The server closed the connection at QUIT without a 221 reply.',
        'causes': ('The server tears the session down on QUIT without replying.',),
        'remedy': 'Nothing to fix for delivery; the transaction had already completed.',
        'references': ('RFC 5321 4.1.1.10',),
    },
    {
        'match': {'error': E.CONNECTION_RESET},
        'category': 'connection_reset', 'status': 'connection',
        'summary': 'The connection was reset (TCP RST) mid-session.',
        'causes': (
            'The server process died or rejected the client abruptly.',
            'A firewall, IPS or NAT device reset the session (idle timeout, inspection).',
        ),
        'remedy': 'Check the server log and devices on the path; retry.',
        'references': (),
    },
    {
        'match': {'error': E.CONNECTION_RESET, 'step': ('banner',)},
        'category': 'closed_before_greeting', 'status': 'connection',
        'summary': 'The server reset the connection before sending a greeting.',
        'causes': (
            'The server refuses this client (connection limit, blocklist, remote-IP scoping).',
            'A firewall accepts the SYN, then resets the session.',
        ),
        'remedy': 'Check the server log and firewall for this client IP.',
        'references': (G_OPEN,),
    },
    {
        'match': {'error': E.COMMAND_TIMEOUT},
        'category': 'reply_timeout', 'status': 'timeout',
        'summary': 'The server did not send a complete reply within command_timeout.',
        'causes': (
            'The server is overloaded or stuck (slow DNS, directory or policy lookups).',
            'Tarpitting longer than the timeout.',
        ),
        'remedy': 'Retry with a longer command_timeout; RFC 5321 recommends minutes, not seconds.',
        'references': ('RFC 5321 4.5.3.2',),
    },
    {
        'match': {'error': E.COMMAND_TIMEOUT, 'step': ('banner',)},
        'category': 'no_greeting', 'status': 'timeout',
        'summary': 'The TCP connection opened, but no 220 greeting arrived in time.',
        'causes': (
            'A greeting delay or tarpit longer than the timeout (postscreen, Exchange tarpitting).',
            'The port expects TLS first (implicit TLS, port 465) and waits for a TLS handshake.',
            'A firewall or SMTP inspection device holds the banner, or the service is hung.',
            'The port belongs to a service that is not SMTP.',
        ),
        'remedy': 'Retry with a longer command_timeout; use tls: implicit on port 465; check the port and the '
                  'devices on the path.',
        'references': (G_OPEN, 'RFC 5321 4.5.3.2.1', 'RFC 8314 3.3'),
    },
    {
        'match': {'error': E.COMMAND_TIMEOUT, 'step': ('banner',), 'port': 465},
        'category': 'implicit_tls_port', 'status': 'tls',
        'summary': 'Port 465 speaks TLS first: the server waits for a TLS handshake and never sends a plain greeting.',
        'causes': ('Port 465 is submission over implicit TLS (RFC 8314), not plain SMTP with STARTTLS.',),
        'remedy': 'Probe port 465 with tls: implicit, or use port 587/25 with STARTTLS.',
        'references': ('RFC 8314 3.3',),
    },
    {
        'match': {'error': E.COMMAND_TIMEOUT, 'step': ('message',)},
        'category': 'final_reply_timeout', 'status': 'timeout',
        'summary': 'No reply to the end of the message data in time.',
        'causes': ('The server scans content (anti-virus, anti-spam) or writes to a slow queue.',),
        'remedy': 'Use a longer command_timeout for the final dot (RFC 5321 suggests 10 minutes). Delivery is '
                  'unknown: check the server queue before resending.',
        'references': ('RFC 5321 4.5.3.2.6',),
    },
    {
        'match': {'error': E.COMMAND_TIMEOUT, 'step': ('rcpt', 'mail')},
        'category': 'reply_timeout', 'status': 'timeout',
        'summary': 'No reply to MAIL/RCPT in time.',
        'causes': (
            'Recipient or sender verification (callouts, directory lookups, DNS checks) is slow.',
            'Tarpitting or flow control longer than the timeout.',
        ),
        'remedy': 'Retry with a longer command_timeout (RFC 5321 suggests 5 minutes for MAIL and RCPT).',
        'references': ('RFC 5321 4.5.3.2.2', 'RFC 5321 4.5.3.2.3'),
    },
    {
        'match': {'error': E.DEADLINE_EXCEEDED},
        'category': 'deadline_exceeded', 'status': 'timeout',
        'summary': 'The whole probe ran past its deadline.',
        'causes': ('A slow server or slow steps (tarpit, flow control) added up beyond the deadline.',),
        'remedy': 'Raise deadline, or look at the per-step timings to find the slow step.',
        'references': (),
    },
    {
        'match': {'error': E.TARPIT},
        'category': 'tarpit', 'status': 'ok',
        'summary': 'The server answered slowly but correctly (tarpit or greeting delay).',
        'causes': (
            'Deliberate delays: greeting delay or pre-greeting tests (Postfix postscreen), Exchange tarpitting '
            'after errors, or Postfix in_flow_delay when mail arrives faster than it is delivered.',
        ),
        'remedy': 'Nothing to fix for delivery. If it is unexpected, check the server\'s load and anti-spam delays.',
        'references': ('RFC 5321 4.5.3.2',),
        'notes': ('Slow is not failed: the step still got a valid reply.',),
    },
    {
        'match': {'error': E.REPLY_LINE_TOO_LONG},
        'category': 'reply_line_too_long', 'status': 'protocol',
        'summary': 'A reply line from the server exceeded the allowed length.',
        'causes': ('A broken or non-SMTP server, or a proxy inserting data.',),
        'remedy': 'Check that the port really serves SMTP and look at the transcript.',
        'references': ('RFC 5321 4.5.3.1.5',),
    },
    {
        'match': {'error': E.REPLY_TOO_MANY_LINES},
        'category': 'reply_too_many_lines', 'status': 'protocol',
        'summary': 'A multi-line reply went on for too many lines.',
        'causes': ('A broken or non-SMTP server streaming data.',),
        'remedy': 'Check that the port really serves SMTP and look at the transcript.',
        'references': ('RFC 5321 4.2',),
    },
    {
        'match': {'error': E.REPLY_TOO_LARGE},
        'category': 'reply_too_large', 'status': 'protocol',
        'summary': 'A reply from the server exceeded the allowed total size.',
        'causes': ('A broken or non-SMTP server streaming data.',),
        'remedy': 'Check that the port really serves SMTP and look at the transcript.',
        'references': ('RFC 5321 4.2',),
    },
    {
        'match': {'error': E.REPLY_MALFORMED},
        'category': 'reply_malformed', 'status': 'protocol',
        'summary': 'The server sent something that is not a valid SMTP reply.',
        'causes': (
            'The port serves another protocol (HTTP, POP3, IMAP, SSH) or expects TLS first.',
            'A broken server: the code changes in the middle of a multi-line reply, or no code at all.',
        ),
        'remedy': 'Confirm the port and TLS mode; look at the transcript.',
        'references': ('RFC 5321 4.2', G_OPEN),
    },
    {
        'match': {'error': E.REPLY_BARE_LF},
        'category': 'reply_bare_lf', 'status': 'ok',
        'summary': 'The server ends reply lines with LF instead of CRLF.',
        'causes': ('A non-conforming server or proxy.',),
        'remedy': 'Tolerated by the probe; report it to the server owner.',
        'references': ('RFC 5321 2.3.8',),
        'notes': ('Warning: tolerated, not a failure.',),
    },
    {
        'match': {'error': E.UNEXPECTED_REPLY},
        'category': 'unexpected_reply', 'status': 'protocol',
        'summary': 'The server sent a reply nobody asked for (for example before any command).',
        'causes': ('The server speaks before the client (pipelining violation or a pre-greeting test).',
                   'A non-SMTP service on the port.'),
        'remedy': 'Look at the transcript; confirm the port serves SMTP.',
        'references': ('RFC 5321 4.3.1', 'RFC 2920 3.1'),
    },
    {
        'match': {'error': E.STARTTLS_NOT_OFFERED},
        'category': 'starttls_not_offered', 'status': 'tls',
        'summary': 'TLS was required, but the server does not offer STARTTLS.',
        'causes': (
            'TLS is not configured on the server (no certificate bound to the connector).',
            'A firewall or SMTP inspection device strips STARTTLS from the EHLO reply.',
        ),
        'remedy': 'Enable STARTTLS on the server, or check SMTP-inspecting devices; use tls: starttls to allow plain text.',
        'references': ('RFC 3207 4',),
    },
    {
        'match': {'error': E.TLS_HANDSHAKE_FAILED},
        'category': 'tls_handshake_failed', 'status': 'tls',
        'summary': 'The TLS handshake failed.',
        'causes': (
            'No common protocol version or cipher (an old server with TLS 1.0 only, or a strict client).',
            'A broken certificate or key on the server, or a device interfering with TLS.',
        ),
        'remedy': 'Test with openssl s_client -starttls smtp -connect HOST:PORT and compare versions and ciphers.',
        'references': ('RFC 3207', 'RFC 8996'),
    },
    {
        'match': {'error': E.TLS_CERT_EXPIRED},
        'category': 'tls_cert_expired', 'status': 'tls',
        'summary': 'The server\'s TLS certificate has expired.',
        'causes': ('The certificate was not renewed, or the new one is not bound to the SMTP service.',),
        'remedy': 'Renew the certificate and bind it to the SMTP service (Enable-ExchangeCertificate -Services SMTP; '
                  'smtpd_tls_chain_files in Postfix).',
        'references': ('RFC 5280 4.1.2.5',),
    },
    {
        'match': {'error': E.TLS_CERT_NOT_YET_VALID},
        'category': 'tls_cert_not_yet_valid', 'status': 'tls',
        'summary': 'The server\'s TLS certificate is not valid yet.',
        'causes': ('Its notBefore date is in the future, or a clock (server or client) is wrong.',),
        'remedy': 'Check the clocks on both sides (NTP) and the certificate dates.',
        'references': ('RFC 5280 4.1.2.5',),
    },
    {
        'match': {'error': E.TLS_CERT_SELF_SIGNED},
        'category': 'tls_cert_self_signed', 'status': 'tls',
        'summary': 'The server presents a self-signed certificate.',
        'causes': ('A default or test certificate (Exchange installs a self-signed one).',),
        'remedy': 'Install a certificate from a trusted CA, or give ca_path when the private CA is expected.',
        'references': ('RFC 5280 6.1',),
    },
    {
        'match': {'error': E.TLS_CERT_UNKNOWN_CA},
        'category': 'tls_cert_unknown_ca', 'status': 'tls',
        'summary': 'The certificate chain does not lead to a trusted CA.',
        'causes': ('A private CA not in the trust store, or the server omits its intermediate certificates.',),
        'remedy': 'Serve the full chain on the server; pass ca_path for a private CA.',
        'references': ('RFC 5280 6.1',),
    },
    {
        'match': {'error': E.TLS_CERT_NAME_MISMATCH},
        'category': 'tls_cert_name_mismatch', 'status': 'tls',
        'summary': 'The certificate does not cover the name the client connected to.',
        'causes': ('The MX host name is missing from the certificate\'s subject alternative names.',
                   'The probe connected by IP or by a different alias.'),
        'remedy': 'Add the MX name to the certificate, or set server_name to the name the certificate covers.',
        'references': ('RFC 6125 6', 'RFC 7817'),
    },
    {
        'match': {'error': E.TLS_CERT_INVALID},
        'category': 'tls_cert_invalid', 'status': 'tls',
        'summary': 'The certificate failed verification.',
        'causes': ('A revoked, malformed or wrongly used certificate (key usage), or a weak signature.',),
        'remedy': 'Read verify_error in the tls result and replace the certificate.',
        'references': ('RFC 5280 6.1',),
    },
    {
        'match': {'error': E.TLS_CERT_EXPIRES_SOON},
        'category': 'tls_cert_expires_soon', 'status': 'tls',
        'summary': 'The server\'s TLS certificate is still valid but expires sooner than the required number of days.',
        'causes': ('The certificate is close to its notAfter date and has not been renewed yet, or the renewed '
                   'certificate is not bound to the SMTP service.',),
        'remedy': 'Renew the certificate now and bind it to the SMTP service (Enable-ExchangeCertificate -Services SMTP; '
                  'smtpd_tls_chain_files in Postfix); tls.certificate.days_left says how long is left.',
        'references': ('RFC 5280 4.1.2.5',),
    },
    {
        'match': {'error': E.AUTH_NOT_OFFERED},
        'category': 'auth_not_offered', 'status': 'auth',
        'summary': 'Authentication was requested, but the server offers no AUTH mechanism here.',
        'causes': (
            'AUTH is only offered after STARTTLS (common: Postfix smtpd_tls_auth_only, Exchange client connectors).',
            'This port or connector does not do authentication (port 25 MX).',
        ),
        'remedy': 'Use STARTTLS first, or the submission port (587) where AUTH is offered.',
        'references': ('RFC 4954 3', 'RFC 6409'),
    },
    {
        'match': {'error': E.AUTH_MECHANISM_UNSUPPORTED},
        'category': 'auth_mechanism_unsupported', 'status': 'auth',
        'summary': 'The server does not offer the requested AUTH mechanism.',
        'causes': ('The mechanism (for example PLAIN/LOGIN) is disabled, or offered only after STARTTLS.',),
        'remedy': 'Pick a mechanism from the AUTH list in the capabilities, or start TLS first.',
        'references': ('RFC 4954 4',),
    },
    {
        'match': {'error': E.DSN_NOT_OFFERED},
        'category': 'dsn_not_offered', 'status': 'ok',
        'summary': 'The server does not offer DSN; NOTIFY/RET/ENVID/ORCPT were left out.',
        'causes': ('The server does not implement RFC 3461 delivery status notifications.',),
        'remedy': 'Nothing to fix for delivery; success notifications will not be sent by this hop.',
        'references': ('RFC 3461 4',),
        'notes': ('Warning: the DSN parameters were dropped from MAIL/RCPT.',),
    },
    {
        'match': {'error': E.SIZE_EXCEEDED},
        'category': 'message_too_large', 'status': 'permanent',
        'summary': 'The message is larger than the SIZE limit the server announced.',
        'causes': ('The server\'s EHLO SIZE value is below the message size.',),
        'remedy': 'Send a smaller message, or raise the limit on the server (connector/transport size limits).',
        'references': ('RFC 1870 6',),
    },
    {
        'match': {'error': E.PORT_2525_NOTE},
        'category': 'internal_receive_connector', 'status': 'ok',
        'summary': EXCHANGE_2525,
        'causes': ('The Transport service\'s internal connector on mailbox servers listens on 2525 for traffic '
                   'from other Exchange servers.',),
        'remedy': 'Test Internet mail flow on port 25; expect 530 5.7.1 for anonymous MAIL FROM on 2525.',
        'references': (G_BEFORE,),
        'notes': ('Warning: anonymous probes on port 2525 are expected to be refused.',),
    },
    {
        'match': {'error': E.DNS_NXDOMAIN},
        'category': 'domain_not_found', 'status': 'dns',
        'summary': 'The domain does not exist in DNS (NXDOMAIN).',
        'causes': ('A typo in the domain, an expired registration, or a zone not published by its servers.',),
        'remedy': 'Check the spelling and the registration (whois); check the zone on its authoritative servers.',
        'references': ('RFC 5321 5.1', 'RFC 8020'),
    },
    {
        'match': {'error': E.DNS_SERVFAIL},
        'category': 'dns_server_failure', 'status': 'dns',
        'summary': 'The DNS server failed to answer (SERVFAIL).',
        'causes': ('Broken delegation, unreachable authoritative servers, or a DNSSEC validation failure.',),
        'remedy': 'Query the authoritative servers directly (dig +trace) and check DNSSEC; retry later.',
        'references': ('RFC 1035 4.1.1',),
    },
    {
        'match': {'error': E.DNS_TIMEOUT},
        'category': 'dns_timeout', 'status': 'dns',
        'summary': 'The DNS query timed out.',
        'causes': ('The resolver or the authoritative servers are unreachable or overloaded; UDP/TCP 53 blocked.',),
        'remedy': 'Check the resolver (nameservers option) and reachability of port 53; retry.',
        'references': ('RFC 1035',),
    },
    {
        'match': {'error': E.DNS_ERROR},
        'category': 'dns_error', 'status': 'dns',
        'summary': 'The DNS lookup failed.',
        'causes': ('A resolver error (REFUSED, malformed answer, no nameservers).',),
        'remedy': 'Check the resolver configuration and query the name by hand with dig.',
        'references': ('RFC 1035',),
    },
    {
        'match': {'error': E.DNS_NULL_MX},
        'category': 'null_mx', 'status': 'permanent',
        'summary': 'The domain publishes a null MX: it accepts no mail.',
        'causes': ('The domain owner published "MX 0 ." to say the domain never receives mail.',),
        'remedy': 'Do not send to this domain; a client reports 556 5.1.10 without connecting.',
        'references': ('RFC 7505 3',),
    },
    {
        'match': {'error': E.DNS_NO_MAIL},
        'category': 'no_mail_exchanger', 'status': 'dns',
        'summary': 'The domain has neither MX nor address records: no mail can be delivered to it.',
        'causes': ('The domain exists but publishes no MX, A or AAAA record.',),
        'remedy': 'Publish an MX record for the domain (or check the spelling).',
        'references': ('RFC 5321 5.1',),
    },
    {
        'match': {'error': E.DNS_IMPLICIT_MX},
        'category': 'implicit_mx', 'status': 'ok',
        'summary': 'The domain has no MX record; its A/AAAA record acts as the mail exchanger.',
        'causes': ('No MX record is published, so RFC 5321 falls back to the domain\'s address.',),
        'remedy': 'Publish an explicit MX record if the domain is meant to receive mail.',
        'references': ('RFC 5321 5.1',),
        'notes': ('Note: mail still flows through the implicit MX.',),
    },
    {
        'match': {'error': E.DNS_MX_IS_CNAME},
        'category': 'mx_is_cname', 'status': 'ok',
        'summary': 'An MX record points to a CNAME instead of a host name with address records.',
        'causes': ('The MX target is an alias; RFC 2181 forbids it, though most MTAs follow it.',),
        'remedy': 'Point the MX record at the canonical host name.',
        'references': ('RFC 2181 10.3', 'RFC 5321 5.1'),
        'notes': ('Warning: some MTAs refuse to follow a CNAME MX target.',),
    },
    {
        'match': {'error': E.DNS_MX_NO_ADDRESS},
        'category': 'mx_without_address', 'status': 'dns',
        'summary': 'An MX target has no A/AAAA record: that exchanger is unusable.',
        'causes': ('A dangling MX: the host was renamed or removed, or its zone is broken.',),
        'remedy': 'Fix or remove the MX record; other exchangers of the domain may still work.',
        'references': ('RFC 5321 5.1',),
    },
    {
        'match': {'error': E.DNS_NO_USABLE_EXCHANGER},
        'category': 'no_usable_exchanger', 'status': 'dns',
        'summary': 'None of the domain\'s exchangers resolves to a usable address.',
        'causes': ('Every MX target is dangling or unresolvable.',),
        'remedy': 'Fix the MX targets\' address records.',
        'references': ('RFC 5321 5.1',),
    },
    {
        'match': {'error': E.DNS_MX_SET_MISMATCH},
        'category': 'mx_set_mismatch', 'status': 'dns',
        'summary': 'The domain\'s MX records name other exchangers than the expected ones.',
        'causes': (
            'An MX record was added, removed or changed (a migration, a new filtering service, a typo).',
            'The expected list is out of date.',
            'The nameserver asked serves an old or a different version of the zone (split DNS, a stale secondary).',
        ),
        'remedy': 'Compare the missing and unexpected hosts with the published zone (dig MX DOMAIN @each '
                  'authoritative server) and fix the records or the expected list.',
        'references': (G_NSLOOKUP, 'RFC 5321 5.1'),
    },
    {
        'match': {'error': E.DNS_MISSING_LIBRARY},
        'category': 'dns_library_missing', 'status': 'dns',
        'summary': 'dnspython is not installed on the host that runs the lookup.',
        'causes': ('The Python interpreter used by the module has no dnspython package.',),
        'remedy': 'Install dnspython for that interpreter (pip install dnspython, or apt install python3-dnspython).',
        'references': (),
    },
)

# ---------------------------------------------------------------------------------------------------------------
# 3. RFC 5321: the class table (4.2.1, also the guide's table), second-digit meanings, and every specific code of
#    4.2.2/4.2.3, plus the codes that SMTP extensions add (AUTH, STARTTLS, null MX). Step-specific meanings first.
# ---------------------------------------------------------------------------------------------------------------
CLASSES = (
    {
        'match': {'code_class': 2},
        'category': 'success', 'status': 'ok',
        'summary': 'Positive completion: the command succeeded and the server is ready for the next one.',
        'causes': ('The server accepted the command.',),
        'remedy': 'Nothing to fix.',
        'references': (G_CODES, 'RFC 5321 4.2.1'),
    },
    {
        'match': {'code_class': 3},
        'category': 'intermediate', 'status': 'ok',
        'summary': 'Positive intermediate: accepted, but the server needs more information (for example the '
                   'message after DATA, or an AUTH response).',
        'causes': ('The command is part of a sequence that is not finished yet.',),
        'remedy': 'Send the information the server asks for.',
        'references': (G_CODES, 'RFC 5321 4.2.1'),
    },
    {
        'match': {'code_class': 4},
        'category': 'transient_failure', 'status': 'transient',
        'summary': 'Transient negative completion: not accepted for now; the same command may succeed later.',
        'causes': ('A temporary condition on the server, for example low storage, load, or greylisting.',),
        'remedy': 'Retry later; a sending server keeps retrying until it gets a 2xx or a 5xx.',
        'references': (G_CODES, 'RFC 5321 4.2.1'),
    },
    {
        'match': {'code_class': 5},
        'category': 'permanent_failure', 'status': 'permanent',
        'summary': 'Permanent negative completion: refused for a reason that will not go away by retrying.',
        'causes': ('An error in the request or a policy, for example a recipient that does not exist.',),
        'remedy': 'Fix the request or the policy before trying again; a sending server returns an NDR.',
        'references': (G_CODES, 'RFC 5321 4.2.1'),
    },
)

# RFC 5321 4.2.1: the second digit.
SECOND_DIGIT = {
    0: 'x0z syntax: the command was syntactically wrong, unimplemented, or superfluous.',
    1: 'x1z information: a reply to a request for information (status, help).',
    2: 'x2z connections: a reply about the transmission channel.',
    3: 'x3z unspecified by RFC 5321 (used by extensions such as AUTH: 334, 530, 535).',
    4: 'x4z unspecified by RFC 5321 (used by extensions such as STARTTLS and AUTH: 454).',
    5: 'x5z mail system: the state of the receiver mail system for the requested transfer.',
}

RFC5321 = (
    # --- step-specific meanings ---
    {
        'match': {'step': ('banner',), 'code': 220},
        'category': 'service_ready', 'status': 'ok',
        'summary': 'The SMTP service greeted the client and is ready.',
        'causes': ('The server accepted the connection.',),
        'remedy': 'Nothing to fix. Continue with EHLO.',
        'references': (G_OPEN, 'RFC 5321 4.2.2', 'RFC 5321 3.1'),
    },
    {
        'match': {'step': ('banner',), 'code': 421},
        'category': 'service_unavailable_at_connect', 'status': 'transient',
        'summary': 'The server refused the session at connect time (421) and is closing the connection.',
        'causes': ('Too many connections, load, maintenance, or a temporary block of this client.',),
        'remedy': 'Retry later; check connection limits and whether this client IP is throttled.',
        'references': ('RFC 5321 3.1', 'RFC 5321 4.2.3'),
    },
    {
        'match': {'step': ('banner',), 'code': 554},
        'category': 'session_refused', 'status': 'permanent',
        'summary': 'The server refuses to talk to this client (554 greeting): no SMTP service for you here.',
        'causes': ('The client IP is blocklisted or not allowed by policy.',
                   'The server is configured to refuse all mail on this address.'),
        'remedy': 'Check the text for a blocklist name; request delisting or use an allowed relay.',
        'references': ('RFC 5321 3.1', 'RFC 5321 4.2.3'),
    },
    {
        'match': {'step': ('banner',), 'code': 521},
        'category': 'host_accepts_no_mail', 'status': 'permanent',
        'summary': 'This host does not accept mail at all (521).',
        'causes': ('A dummy server on a host that publishes it accepts no mail.',),
        'remedy': 'Do not send to this host; check the domain\'s MX records.',
        'references': ('RFC 7504 3',),
    },
    {
        'match': {'step': HELLO_STEPS, 'code': 250},
        'category': 'helo_accepted', 'status': 'ok',
        'summary': 'The server accepted EHLO/HELO; for EHLO, its extension list follows.',
        'causes': ('The client introduced itself successfully.',),
        'remedy': 'Nothing to fix. Continue with MAIL FROM (or STARTTLS/AUTH).',
        'references': (G_EHLO, 'RFC 5321 4.1.1.1'),
    },
    {
        'match': {'step': HELLO_STEPS, 'code': 550},
        'category': 'helo_refused', 'status': 'permanent',
        'summary': 'The server refused the EHLO/HELO by policy.',
        'causes': ('The HELO name is not acceptable (for example it claims to be the server itself) or the '
                   'client is blocked.',),
        'remedy': 'Use this host\'s own FQDN as helo_name; check the server\'s policy for this client.',
        'references': (G_EHLO, 'RFC 5321 4.1.4'),
    },
    {
        'match': {'step': ('starttls',), 'code': 220},
        'category': 'starttls_ready', 'status': 'ok',
        'summary': 'The server is ready to start TLS.',
        'causes': ('STARTTLS accepted.',),
        'remedy': 'Nothing to fix. Negotiate TLS, then send EHLO again.',
        'references': ('RFC 3207 4',),
    },
    {
        'match': {'step': ('starttls',), 'code': 454},
        'category': 'tls_not_available', 'status': 'tls',
        'summary': 'The server announced STARTTLS but cannot start TLS now.',
        'causes': ('A local TLS problem on the server (missing or unreadable certificate or key).',),
        'remedy': 'Check the server\'s TLS certificate configuration and log.',
        'references': ('RFC 3207 4',),
    },
    {
        'match': {'step': ('auth',), 'code': 235},
        'category': 'authenticated', 'status': 'ok',
        'summary': 'Authentication succeeded.',
        'causes': ('The credentials were accepted.',),
        'remedy': 'Nothing to fix.',
        'references': ('RFC 4954 6',),
    },
    {
        'match': {'step': ('auth',), 'code': 334},
        'category': 'auth_challenge', 'status': 'ok',
        'summary': 'The server sent an AUTH challenge and waits for the client\'s response.',
        'causes': ('An AUTH exchange in progress.',),
        'remedy': 'Send the next (base64) response.',
        'references': ('RFC 4954 4',),
    },
    {
        'match': {'step': ('auth',), 'code': 503},
        'category': 'auth_not_allowed_now', 'status': 'auth',
        'summary': 'AUTH is not allowed now (already authenticated, inside a transaction, or not enabled).',
        'causes': ('AUTH sent twice, after MAIL, or to a server/port without authentication.',),
        'remedy': 'Authenticate once, right after EHLO, on a port that offers AUTH.',
        'references': ('RFC 4954 4',),
    },
    {
        'match': {'step': ('mail',), 'code': 250},
        'category': 'sender_ok', 'status': 'ok',
        'summary': 'The sender address was accepted.',
        'causes': ('MAIL FROM accepted.',),
        'remedy': 'Nothing to fix. Continue with RCPT TO.',
        'references': (G_MAIL, 'RFC 5321 4.1.1.2'),
    },
    {
        'match': {'step': ('rcpt',), 'code': 250},
        'category': 'recipient_ok', 'status': 'ok',
        'summary': 'The recipient was accepted.',
        'causes': ('RCPT TO accepted.',),
        'remedy': 'Nothing to fix. Continue with more RCPT TO or DATA.',
        'references': (G_RCPT, 'RFC 5321 4.1.1.3'),
    },
    {
        'match': {'step': ('data',), 'code': 354},
        'category': 'start_mail_input', 'status': 'ok',
        'summary': 'The server is ready for the message: send it and end with <CRLF>.<CRLF>.',
        'causes': ('DATA accepted.',),
        'remedy': 'Nothing to fix. Send headers, a blank line, the body and a line with a single dot.',
        'references': (G_SESSION, 'RFC 5321 4.1.1.4'),
    },
    {
        'match': {'step': ('data',), 'code': 554},
        'category': 'no_valid_recipients', 'status': 'permanent',
        'summary': 'DATA refused: no valid recipients (every RCPT was rejected).',
        'causes': ('All recipients were refused earlier in the transaction.',),
        'remedy': 'Look at the RCPT replies to see why each recipient was refused.',
        'references': ('RFC 5321 3.3', 'RFC 5321 4.1.1.4'),
    },
    {
        'match': {'step': ('data',), 'code': 503},
        'category': 'command_out_of_sequence', 'status': 'protocol',
        'summary': 'DATA sent out of sequence: no accepted recipient (or no MAIL) before it.',
        'causes': ('Every RCPT was rejected, or MAIL FROM failed.',),
        'remedy': 'Look at the MAIL/RCPT replies before DATA.',
        'references': ('RFC 5321 4.1.1.4',),
    },
    {
        'match': {'step': ('message',), 'code': 250},
        'category': 'message_queued', 'status': 'ok',
        'summary': 'The message was accepted for delivery.',
        'causes': ('The server took responsibility for the message.',),
        'remedy': 'Nothing to fix; the reply usually carries a queue id.',
        'references': (G_SESSION, 'RFC 5321 4.1.1.4'),
    },
    {
        'match': {'step': ('message',), 'code': 554},
        'category': 'message_rejected', 'status': 'permanent',
        'summary': 'The server rejected the message after receiving it (transaction failed).',
        'causes': ('Content filtering (spam, malware, policy rule), or an authentication check (SPF/DKIM/DMARC).',),
        'remedy': 'Read the reply text for the filter that fired; fix the content or the sender authentication.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'step': ('quit',), 'code': 221},
        'category': 'closing', 'status': 'ok',
        'summary': 'The server is closing the session after QUIT.',
        'causes': ('QUIT accepted.',),
        'remedy': 'Nothing to fix.',
        'references': (G_SESSION, 'RFC 5321 4.1.1.10'),
    },
    {
        'match': {'step': ('rset',), 'code': 250},
        'category': 'reset_ok', 'status': 'ok',
        'summary': 'The transaction was reset.',
        'causes': ('RSET accepted.',),
        'remedy': 'Nothing to fix.',
        'references': ('RFC 5321 4.1.1.5',),
    },
    # Success replies that carry an enhanced code: the step's meaning, not the generic RFC 3463 subject.
    {
        'match': {'step': ('starttls',), 'code': 220, 'enhanced': '2.0.0'},
        'category': 'starttls_ready', 'status': 'ok',
        'summary': 'The server is ready to start TLS.',
        'causes': ('STARTTLS accepted.',),
        'remedy': 'Nothing to fix. Negotiate TLS, then send EHLO again.',
        'references': ('RFC 3207 4',),
    },
    {
        'match': {'step': ('auth',), 'code': 235, 'enhanced': '2.7.0'},
        'category': 'authenticated', 'status': 'ok',
        'summary': 'Authentication succeeded.',
        'causes': ('The credentials were accepted.',),
        'remedy': 'Nothing to fix.',
        'references': ('RFC 4954 6',),
    },
    {
        'match': {'step': ('rset',), 'code': 250, 'enhanced': '2.0.0'},
        'category': 'reset_ok', 'status': 'ok',
        'summary': 'The transaction was reset.',
        'causes': ('RSET accepted.',),
        'remedy': 'Nothing to fix.',
        'references': ('RFC 5321 4.1.1.5',),
    },
    # --- every specific code in RFC 5321 4.2.2 / 4.2.3 ---
    {
        'match': {'code': 211},
        'category': 'system_status', 'status': 'ok',
        'summary': 'System status or help reply.',
        'causes': ('A reply to a status or HELP request.',), 'remedy': 'Informational; nothing to fix.',
        'references': ('RFC 5321 4.2.2',),
    },
    {
        'match': {'code': 214},
        'category': 'help_message', 'status': 'ok',
        'summary': 'Help message for a human reader.',
        'causes': ('A reply to HELP.',), 'remedy': 'Informational; nothing to fix.',
        'references': ('RFC 5321 4.2.2',),
    },
    {
        'match': {'code': 220},
        'category': 'service_ready', 'status': 'ok',
        'summary': 'Service ready.',
        'causes': ('The greeting, or the reply to STARTTLS.',), 'remedy': 'Nothing to fix.',
        'references': ('RFC 5321 4.2.2',),
    },
    {
        'match': {'code': 221},
        'category': 'closing', 'status': 'ok',
        'summary': 'Service closing transmission channel.',
        'causes': ('A reply to QUIT.',), 'remedy': 'Nothing to fix.',
        'references': ('RFC 5321 4.2.2',),
    },
    {
        'match': {'code': 250},
        'category': 'action_completed', 'status': 'ok',
        'summary': 'Requested mail action okay, completed.',
        'causes': ('The command succeeded.',), 'remedy': 'Nothing to fix.',
        'references': ('RFC 5321 4.2.2',),
    },
    {
        'match': {'code': 251},
        'category': 'user_not_local_will_forward', 'status': 'ok',
        'summary': 'User not local; the server will forward to another path.',
        'causes': ('The server accepted the recipient and forwards it elsewhere.',),
        'remedy': 'Nothing to fix; update the address if the new one is given.',
        'references': ('RFC 5321 4.2.2', 'RFC 5321 3.4'),
    },
    {
        'match': {'code': 252},
        'category': 'cannot_verify_user', 'status': 'ok',
        'summary': 'Cannot VRFY the user, but the server will accept the message and attempt delivery.',
        'causes': ('VRFY is disabled for privacy.',), 'remedy': 'Nothing to fix; VRFY tells nothing here.',
        'references': ('RFC 5321 4.2.2', 'RFC 5321 3.5.3'),
    },
    {
        'match': {'code': 354},
        'category': 'start_mail_input', 'status': 'ok',
        'summary': 'Start mail input; end with <CRLF>.<CRLF>.',
        'causes': ('DATA accepted.',), 'remedy': 'Send the message.',
        'references': ('RFC 5321 4.2.2',),
    },
    {
        'match': {'code': 421},
        'category': 'service_not_available', 'status': 'transient',
        'summary': 'Service not available, closing transmission channel.',
        'causes': ('The server is shutting down, overloaded, or throttling this client; it will close the connection.',),
        'remedy': 'Retry later; look at the text for a rate or connection limit.',
        'references': ('RFC 5321 4.2.3', 'RFC 5321 3.8'),
    },
    {
        'match': {'code': 450},
        'category': 'mailbox_unavailable_temporarily', 'status': 'transient',
        'summary': 'Requested mail action not taken: mailbox unavailable (busy or temporarily blocked).',
        'causes': ('The mailbox is busy or locked, or a policy defers this mail (greylisting, reputation).',),
        'remedy': 'Retry later.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 451},
        'category': 'local_error', 'status': 'transient',
        'summary': 'Requested action aborted: local error in processing.',
        'causes': ('A temporary server-side failure (lookup failure, configuration error, back end down).',),
        'remedy': 'Retry later; if it persists, the server administrator must check the log.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 452},
        'category': 'insufficient_storage', 'status': 'transient',
        'summary': 'Requested action not taken: insufficient system storage (or too many recipients).',
        'causes': ('The server is low on queue disk or memory, or a per-message recipient limit was reached.',),
        'remedy': 'Retry later, or split the recipients over several transactions.',
        'references': ('RFC 5321 4.2.3', 'RFC 5321 4.5.3.1.10'),
    },
    {
        'match': {'code': 455},
        'category': 'parameters_not_accommodated', 'status': 'transient',
        'summary': 'Server unable to accommodate the MAIL/RCPT parameters now.',
        'causes': ('A parameter (for example SIZE) cannot be honoured at the moment.',),
        'remedy': 'Retry later or without the parameter.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 500},
        'category': 'unrecognized_command', 'status': 'protocol',
        'summary': 'Syntax error, command unrecognized (or command line too long).',
        'causes': ('A wrong command or a typo.',), 'remedy': 'Send a valid RFC 5321 command.',
        'references': ('RFC 5321 4.2.3', G_STEP3),
    },
    {
        'match': {'code': 501},
        'category': 'syntax_error_in_parameters', 'status': 'protocol',
        'summary': 'Syntax error in parameters or arguments.',
        'causes': ('A malformed address or argument (missing angle brackets, invalid domain).',),
        'remedy': 'Correct the argument of the command.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 502},
        'category': 'command_not_implemented', 'status': 'protocol',
        'summary': 'Command not implemented.',
        'causes': ('The server recognises but does not implement the command (for example VRFY, EHLO on old servers).',),
        'remedy': 'Avoid the command; fall back to HELO for EHLO.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 503},
        'category': 'command_out_of_sequence', 'status': 'protocol',
        'summary': 'Bad sequence of commands.',
        'causes': ('A command sent in the wrong order (MAIL before EHLO, DATA before RCPT, AUTH twice).',),
        'remedy': 'Send commands in the RFC 5321 order: EHLO, [STARTTLS, EHLO], [AUTH], MAIL, RCPT, DATA.',
        'references': ('RFC 5321 4.2.3', 'RFC 5321 4.1.4'),
    },
    {
        'match': {'code': 504},
        'category': 'parameter_not_implemented', 'status': 'protocol',
        'summary': 'Command parameter not implemented.',
        'causes': ('An argument the server does not support (for example an AUTH mechanism or a HELO name form).',),
        'remedy': 'Use a supported parameter.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 550},
        'category': 'mailbox_unavailable', 'status': 'permanent',
        'summary': 'Requested action not taken: mailbox unavailable (not found, no access, or refused by policy).',
        'causes': ('The mailbox does not exist, or policy refuses this sender, client or message.',),
        'remedy': 'Read the text and the enhanced code for the exact reason.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 551},
        'category': 'user_not_local', 'status': 'permanent',
        'summary': 'User not local; the server will not forward (it may name another path).',
        'causes': ('The recipient moved or is hosted elsewhere.',), 'remedy': 'Use the forward path given in the text.',
        'references': ('RFC 5321 4.2.3', 'RFC 5321 3.4'),
    },
    {
        'match': {'code': 552},
        'category': 'storage_exceeded', 'status': 'permanent',
        'summary': 'Requested mail action aborted: exceeded storage allocation (mailbox full or message too big).',
        'causes': ('The mailbox quota or the message size limit was exceeded.',),
        'remedy': 'Send a smaller message, or the recipient must free space.',
        'references': ('RFC 5321 4.2.3', 'RFC 5321 4.5.3.1.10'),
    },
    {
        'match': {'code': 553},
        'category': 'mailbox_name_not_allowed', 'status': 'permanent',
        'summary': 'Requested action not taken: mailbox name not allowed (syntax or policy).',
        'causes': ('An address with invalid syntax, or a sender the server will not accept.',),
        'remedy': 'Correct the address.',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 554},
        'category': 'transaction_failed', 'status': 'permanent',
        'summary': 'Transaction failed (or, as a greeting, no SMTP service here).',
        'causes': ('A policy, content or reputation rejection.',),
        'remedy': 'Read the text for the reason (blocklist, content filter, relay denial).',
        'references': ('RFC 5321 4.2.3',),
    },
    {
        'match': {'code': 555},
        'category': 'parameters_not_recognized', 'status': 'protocol',
        'summary': 'MAIL FROM/RCPT TO parameters not recognized or not implemented.',
        'causes': ('An ESMTP parameter the server did not advertise (NOTIFY without DSN, SMTPUTF8, SIZE).',),
        'remedy': 'Only use parameters listed in the EHLO reply.',
        'references': ('RFC 5321 4.2.3',),
    },
    # --- codes added by extensions ---
    {
        'match': {'code': 235},
        'category': 'authenticated', 'status': 'ok',
        'summary': 'Authentication succeeded.', 'causes': ('AUTH accepted.',), 'remedy': 'Nothing to fix.',
        'references': ('RFC 4954 6',),
    },
    {
        'match': {'code': 334},
        'category': 'auth_challenge', 'status': 'ok',
        'summary': 'AUTH challenge: the server waits for the next response.',
        'causes': ('An AUTH exchange in progress.',), 'remedy': 'Send the next response.',
        'references': ('RFC 4954 4',),
    },
    {
        'match': {'code': 432},
        'category': 'password_transition_needed', 'status': 'auth',
        'summary': 'A password transition is needed for this mechanism.',
        'causes': ('The account must log in once with a plain mechanism first.',),
        'remedy': 'Authenticate once with PLAIN over TLS, then retry the mechanism.',
        'references': ('RFC 4954 6',),
    },
    {
        'match': {'code': 454},
        'category': 'temporary_auth_or_tls_failure', 'status': 'transient',
        'summary': 'Temporary failure (authentication back end or TLS not available, or a soft policy reject).',
        'causes': ('The authentication back end is unavailable, or TLS cannot start now.',),
        'remedy': 'Retry later; if it persists, check the server\'s authentication/TLS back end.',
        'references': ('RFC 4954 6', 'RFC 3207 4'),
    },
    {
        'match': {'code': 521},
        'category': 'host_accepts_no_mail', 'status': 'permanent',
        'summary': 'This host does not accept mail.',
        'causes': ('A server that announces it never receives mail.',), 'remedy': 'Do not send to this host.',
        'references': ('RFC 7504 3',),
    },
    {
        'match': {'code': 523},
        'category': 'encryption_needed', 'status': 'tls',
        'summary': 'Encryption needed before this authentication mechanism may be used.',
        'causes': ('A plain-text mechanism on an unencrypted session.',), 'remedy': 'Start TLS first.',
        'references': ('RFC 5248 2.4',),
    },
    {
        'match': {'code': 525},
        'category': 'account_disabled', 'status': 'auth',
        'summary': 'User account disabled.',
        'causes': ('The account authenticated but is disabled.',), 'remedy': 'Have the account re-enabled.',
        'references': ('RFC 5248 2.4',),
    },
    {
        'match': {'code': 530},
        'category': 'authentication_required', 'status': 'auth',
        'summary': 'Authentication (or TLS) required before this command.',
        'causes': ('The server accepts no anonymous mail here, or needs STARTTLS first.',),
        'remedy': 'Start TLS and authenticate, or use a connector/port that accepts anonymous mail.',
        'references': ('RFC 4954 6', 'RFC 3207 4'),
    },
    {
        'match': {'code': 534},
        'category': 'auth_mechanism_too_weak', 'status': 'auth',
        'summary': 'Authentication mechanism is too weak.',
        'causes': ('Policy requires a stronger mechanism for this user.',), 'remedy': 'Use a stronger mechanism.',
        'references': ('RFC 4954 6',),
    },
    {
        'match': {'code': 535},
        'category': 'auth_failed', 'status': 'auth',
        'summary': 'Authentication credentials invalid.',
        'causes': ('Wrong user name or password, or the account may not use SMTP AUTH.',),
        'remedy': 'Check the credentials and whether SMTP AUTH is allowed for the account.',
        'references': ('RFC 4954 6',),
    },
    {
        'match': {'code': 538},
        'category': 'encryption_required_for_auth', 'status': 'tls',
        'summary': 'Encryption required for the requested authentication mechanism.',
        'causes': ('The mechanism may only be used over TLS.',), 'remedy': 'Start TLS, then authenticate.',
        'references': ('RFC 4954 6',),
    },
    {
        'match': {'code': 556},
        'category': 'domain_accepts_no_mail', 'status': 'permanent',
        'summary': 'Domain does not accept mail (null MX).',
        'causes': ('The recipient domain publishes a null MX (RFC 7505).',),
        'remedy': 'Do not send to this domain.',
        'references': ('RFC 7505 4.1', 'RFC 7504'),
    },
    {
        'match': {'code': 556, 'enhanced': '5.1.10'},
        'category': 'null_mx', 'status': 'permanent',
        'summary': 'Recipient domain has a null MX: it accepts no mail.',
        'causes': ('The recipient\'s domain publishes "MX 0 ." (RFC 7505).',),
        'remedy': 'Do not send to this domain; check the address for a typo.',
        'references': ('RFC 7505 4.1',),
    },
    {
        'match': {'code': 550, 'enhanced': '5.7.27'},
        'category': 'sender_null_mx', 'status': 'permanent',
        'summary': 'Sender address has a null MX: the server refuses mail whose bounces could not be returned.',
        'causes': ('The sender\'s domain publishes a null MX (RFC 7505).',),
        'remedy': 'Send from a domain that can receive mail.',
        'references': ('RFC 7505 4.2',),
    },
)

# ---------------------------------------------------------------------------------------------------------------
# 4. RFC 3463 enhanced status codes as registered at IANA. Rows: (code, category, status or None (class decides),
#    summary, causes, remedy, reference). 'X' stands for the class (2, 4 or 5).
# ---------------------------------------------------------------------------------------------------------------
SUBJECTS = (
    (0, 'other_status', 'Other or undefined status: only the class is known.',
     'Retry if transient; read the text.'),
    (1, 'addressing_problem', 'Addressing status: something about the sender or recipient address.',
     'Check the addresses; addressing errors can usually be fixed by the sender.'),
    (2, 'mailbox_problem', 'Mailbox status: something about the recipient mailbox (under the recipient\'s control).',
     'The recipient or its administrator must act (quota, disabled mailbox).'),
    (3, 'mail_system_problem', 'Mail system status: something about the destination system (under its administrator\'s control).',
     'The destination administrator must act (storage, configuration, limits).'),
    (4, 'network_routing_problem', 'Network and routing status: delivery infrastructure (DNS, routing, connections).',
     'Check DNS and connectivity towards the next hop; usually transient.'),
    (5, 'protocol_problem', 'Mail delivery protocol status: a problem in the SMTP exchange itself.',
     'Look at the command that failed and the transcript.'),
    (6, 'content_problem', 'Message content or media status: the content could not be handled.',
     'Change the message format or encoding.'),
    (7, 'security_policy_problem', 'Security or policy status: authentication, authorization or filtering.',
     'Check authentication, sender reputation and the recipient\'s policies.'),
)

R = 'RFC 3463'
RFC3463_ROWS = (
    ('X.0.0', 'other_status', None, 'Other undefined status: only the class of the error is known.',
     ('The server gave no detail beyond the class.',), 'Read the reply text for the reason.', R),
    ('X.1.0', 'address_problem', None, 'Other address status: something about an address caused this.',
     ('An address in the transaction was not acceptable.',), 'Check the sender and recipient addresses.', R),
    ('X.1.1', 'user_unknown', None, 'Bad destination mailbox address: the recipient does not exist.',
     ('The part left of the @ is not a mailbox on the destination system.',),
     'Check the recipient address for typos; confirm the mailbox exists.', R),
    ('X.1.2', 'bad_destination_domain', None, 'Bad destination system address: the recipient\'s domain cannot receive mail.',
     ('The part right of the @ does not exist or accepts no mail.',), 'Check the recipient domain.', R),
    ('X.1.3', 'bad_recipient_syntax', None, 'Bad destination mailbox address syntax.',
     ('The recipient address is syntactically invalid.',), 'Correct the recipient address.', R),
    ('X.1.4', 'ambiguous_recipient', None, 'Destination mailbox address ambiguous: it matches several recipients.',
     ('An address heuristic on the destination matched more than one mailbox.',), 'Use the full, exact address.', R),
    ('X.1.5', 'recipient_valid', None, 'Destination address valid.',
     ('The recipient was accepted.',), 'Nothing to fix.', R),
    ('X.1.6', 'mailbox_moved', None, 'Destination mailbox has moved, no forwarding address.',
     ('The address was valid once but no longer takes mail.',), 'Get the recipient\'s new address.', R),
    ('X.1.7', 'invalid_sender', None, 'Bad sender\'s mailbox address syntax.',
     ('The sender address is syntactically invalid.',), 'Correct the sender (MAIL FROM) address.', R),
    ('X.1.8', 'bad_sender_domain', None, 'Bad sender\'s system address: the sender\'s domain cannot receive replies.',
     ('The sender domain does not exist in DNS or accepts no mail.',),
     'Send from a domain with valid MX or address records.', R),
    ('X.1.9', 'relayed_to_non_compliant_mailer', None, 'Message relayed to a non-compliant mailer.',
     ('The next system does not return delivery status, so no further status is available.',),
     'Nothing to fix; no further delivery status will come.', 'RFC 3886'),
    ('X.1.10', 'null_mx', None, 'Recipient address has a null MX: its domain accepts no mail.',
     ('The recipient domain publishes "MX 0 .".',), 'Do not send to this domain.', 'RFC 7505'),
    ('X.2.0', 'mailbox_problem', None, 'Other or undefined mailbox status.',
     ('The mailbox exists, but something about it caused this.',), 'The recipient must check the mailbox.', R),
    ('X.2.1', 'mailbox_disabled', None, 'Mailbox disabled, not accepting messages.',
     ('The mailbox exists but is disabled, temporarily or for good.',), 'Contact the recipient by other means.', R),
    ('X.2.2', 'mailbox_full', None, 'Mailbox full: the recipient is over quota.',
     ('The recipient exceeded the mailbox quota.',), 'The recipient must free space; retry later.', R),
    ('X.2.3', 'message_too_large_for_mailbox', None, 'Message length exceeds the mailbox\'s administrative limit.',
     ('A per-mailbox size limit below the system limit.',), 'Send a smaller message.', R),
    ('X.2.4', 'list_expansion_problem', None, 'Mailing list expansion problem.',
     ('The address is a list that could not be expanded.',), 'The list owner must check the list.', R),
    ('X.3.0', 'mail_system_problem', None, 'Other or undefined mail system status.',
     ('The destination normally accepts mail, but something about it caused this.',),
     'Retry if transient; the destination administrator must check the log.', R),
    ('X.3.1', 'mail_system_full', None, 'Mail system full: the destination is out of storage.',
     ('The server\'s queue or store disk is full.',), 'Retry later; the destination must free storage.', R),
    ('X.3.2', 'system_not_accepting', None, 'System not accepting network messages.',
     ('Shutdown, heavy load or maintenance on the destination host.',), 'Retry later.', R),
    ('X.3.3', 'feature_not_supported', None, 'System not capable of the selected features.',
     ('The message requires a feature the destination lacks.',), 'Send without the feature.', R),
    ('X.3.4', 'message_too_large', None, 'Message too big for the system.',
     ('The message exceeds the server\'s per-message size limit.',),
     'Send a smaller message or raise the size limit.', R),
    ('X.3.5', 'system_misconfigured', None, 'System incorrectly configured to accept this message.',
     ('A configuration error on the destination.',), 'The destination administrator must fix the configuration.', R),
    ('X.3.6', 'priority_changed', None, 'Requested priority was changed.',
     ('The server accepted the message at a different priority.',), 'Nothing to fix.', 'RFC 6710'),
    ('X.4.0', 'network_routing_problem', None, 'Other or undefined network or routing status.',
     ('A networking problem that fits no other code.',), 'Retry; check connectivity to the next hop.', R),
    ('X.4.1', 'no_answer_from_host', None, 'No answer from host.',
     ('The next hop did not answer the connection attempt.',), 'Retry later; check the next hop is up.', R),
    ('X.4.2', 'bad_connection', None, 'Bad connection: the transaction could not complete.',
     ('A time-out or poor connection after the session had started.',), 'Retry later.', R),
    ('X.4.3', 'directory_server_failure', None, 'Directory server failure (for example DNS unreachable).',
     ('A directory service (DNS, LDAP) needed for routing was unavailable.',), 'Retry later; check DNS.', R),
    ('X.4.4', 'unable_to_route', None, 'Unable to route: no next hop could be determined.',
     ('DNS gave no usable routing information (for example only an SOA for the domain).',),
     'Check the destination domain\'s MX and address records.', R),
    ('X.4.5', 'mail_system_congestion', None, 'Mail system congestion.',
     ('The mail system is too busy.',), 'Retry later.', R),
    ('X.4.6', 'routing_loop', None, 'Routing loop detected.',
     ('Mail is forwarded in a circle (routing tables or user forwarding).',),
     'Find the loop in connectors, MX/smart host settings or forwarding rules.', R),
    ('X.4.7', 'delivery_time_expired', None, 'Delivery time expired: the message sat in a queue too long.',
     ('The next hop was unreachable or refused temporarily for the whole retry period.',),
     'Find why the queue could not deliver (look for the underlying error) and resend.', R),
    ('X.5.0', 'protocol_problem', None, 'Other or undefined protocol status.',
     ('A protocol problem that fits no other code.',), 'Look at the command that failed.', R),
    ('X.5.1', 'invalid_command', 'protocol', 'Invalid command: out of sequence or unsupported.',
     ('A command sent in the wrong order or not supported.',), 'Send commands in RFC 5321 order.', R),
    ('X.5.2', 'syntax_error', 'protocol', 'Syntax error: the command could not be interpreted.',
     ('Wrong syntax or an unrecognised command.',), 'Correct the command syntax.', R),
    ('X.5.3', 'too_many_recipients', None, 'Too many recipients for one transaction.',
     ('A per-message recipient limit was reached.',), 'Split the recipients over several messages.', R),
    ('X.5.4', 'invalid_arguments', 'protocol', 'Invalid command arguments.',
     ('An argument is out of range or names an unsupported feature.',), 'Correct the argument.', R),
    ('X.5.5', 'wrong_protocol_version', 'protocol', 'Wrong protocol version.',
     ('The two sides could not agree on a protocol version.',), 'Use a protocol version the server supports.', R),
    ('X.5.6', 'auth_line_too_long', 'auth', 'Authentication exchange line is too long.',
     ('An AUTH response longer than the server\'s buffer.',), 'Use a shorter AUTH response or another mechanism.', 'RFC 4954'),
    ('X.6.0', 'content_problem', None, 'Other or undefined media error.',
     ('Something about the content made it undeliverable.',), 'Check the message content and format.', R),
    ('X.6.1', 'media_not_supported', None, 'Media not supported by the delivery path.',
     ('The media type cannot be carried to the next system.',), 'Use another format.', R),
    ('X.6.2', 'conversion_prohibited', None, 'Conversion required and prohibited.',
     ('The content must be converted but the sender or policy forbids it.',), 'Send in a format the path accepts.', R),
    ('X.6.3', 'conversion_not_supported', None, 'Conversion required but not supported.',
     ('For example 8-bit content that must be downgraded to 7-bit but cannot be.',),
     'Send 7-bit (quoted-printable/base64) content.', R),
    ('X.6.4', 'conversion_with_loss', None, 'Conversion with loss performed.',
     ('Delivery needed a conversion that lost data.',), 'Check the delivered message; send in a lossless format.', R),
    ('X.6.5', 'conversion_failed', None, 'Conversion failed.',
     ('A required conversion did not succeed.',), 'Send in a format that needs no conversion.', R),
    ('X.6.6', 'content_not_available', None, 'Message content not available (BURL fetch failed).',
     ('The content referenced by BURL could not be fetched.',), 'Check the BURL reference and IMAP server.', 'RFC 4468'),
    ('X.6.7', 'non_ascii_address_not_permitted', None, 'Non-ASCII addresses not permitted for that sender/recipient.',
     ('An internationalised address sent to a server without SMTPUTF8.',), 'Use an ASCII address.', 'RFC 6531'),
    ('X.6.8', 'utf8_reply_not_permitted', None, 'UTF-8 string reply is required, but not permitted by the client.',
     ('The reply needs UTF-8 but the client did not ask for SMTPUTF8.',), 'Use SMTPUTF8 in MAIL FROM.', 'RFC 6531'),
    ('X.6.9', 'utf8_header_not_transferable', None, 'UTF-8 header message cannot be transferred to one or more recipients.',
     ('The message has UTF-8 headers and a hop lacks SMTPUTF8.',), 'Send with ASCII headers.', 'RFC 6531'),
    ('X.6.10', 'utf8_reply_not_permitted', None, 'UTF-8 reply not permitted (deprecated duplicate of X.6.8).',
     ('Same meaning as X.6.8.',), 'Use SMTPUTF8 in MAIL FROM.', 'RFC 6531'),
    ('X.7.0', 'security_policy_problem', None, 'Other or undefined security status.',
     ('A security or policy reason the server does not detail.',), 'Read the text; check authentication and policy.', R),
    ('X.7.1', 'delivery_not_authorized', None, 'Delivery not authorized, message refused.',
     ('Per-host or per-recipient filtering: the sender may not send to this destination.',),
     'Read the text for the rule that refused it (relay, blocklist, restriction).', R),
    ('X.7.2', 'list_expansion_prohibited', None, 'Mailing list expansion prohibited for this sender.',
     ('The sender may not post to the list.',), 'Ask the list owner for permission.', R),
    ('X.7.3', 'security_conversion_failed', None, 'Security conversion required but not possible.',
     ('A secure-messaging conversion was needed and impossible.',), 'Send without that security format.', R),
    ('X.7.4', 'security_features_unsupported', None, 'Security features not supported.',
     ('The message requests security features the path lacks.',), 'Send without those features.', R),
    ('X.7.5', 'cryptographic_failure', None, 'Cryptographic failure (missing or invalid key material).',
     ('A transport system could not validate or decrypt the message.',), 'Check keys and certificates.', R),
    ('X.7.6', 'crypto_algorithm_unsupported', None, 'Cryptographic algorithm not supported.',
     ('The needed algorithm is not available.',), 'Use a supported algorithm.', R),
    ('X.7.7', 'message_integrity_failure', None, 'Message integrity failure (corrupted or altered).',
     ('The message failed validation in transit.',), 'Resend; check devices that modify mail in transit.', R),
    ('X.7.8', 'auth_failed', 'auth', 'Authentication credentials invalid.',
     ('Wrong user name or password, or insufficient credentials.',), 'Check the credentials.', 'RFC 4954'),
    ('X.7.9', 'auth_mechanism_too_weak', 'auth', 'Authentication mechanism is too weak.',
     ('Policy requires a stronger mechanism.',), 'Use a stronger AUTH mechanism.', 'RFC 4954'),
    ('X.7.10', 'encryption_needed', 'tls', 'Encryption needed (for example TLS before a plain-text mechanism).',
     ('A plain-text mechanism on an unencrypted session.',), 'Start TLS, then authenticate.', 'RFC 5248'),
    ('X.7.11', 'encryption_required_for_auth', 'tls', 'Encryption required for the requested authentication mechanism.',
     ('The mechanism may only be used over TLS.',), 'Start TLS, then authenticate.', 'RFC 4954'),
    ('X.7.12', 'password_transition_needed', 'auth', 'A password transition is needed.',
     ('The account must log in once with a plain mechanism.',), 'Authenticate once with PLAIN over TLS.', 'RFC 4954'),
    ('X.7.13', 'account_disabled', 'auth', 'User account disabled.',
     ('The credentials are right but the account is disabled.',), 'Have the account re-enabled.', 'RFC 5248'),
    ('X.7.14', 'trust_relationship_required', 'auth', 'Trust relationship required.',
     ('The submission server needs a configured trust with a third party to fetch content.',),
     'Configure the trust relationship.', 'RFC 5248'),
    ('X.7.15', 'priority_too_low', None, 'Priority level is too low.',
     ('The server only accepts higher-priority mail now.',), 'Retry later or with a higher priority.', 'RFC 6710'),
    ('X.7.16', 'too_big_for_priority', None, 'Message is too big for the specified priority.',
     ('A size limit applies at this priority.',), 'Send smaller or at another priority.', 'RFC 6710'),
    ('X.7.17', 'mailbox_owner_changed', None, 'Mailbox owner has changed (RRVS).',
     ('The mailbox changed owner since the given date.',), 'Confirm the recipient before resending.', 'RFC 7293'),
    ('X.7.18', 'domain_owner_changed', None, 'Domain owner has changed (RRVS).',
     ('The domain changed owner since the given date.',), 'Confirm the recipient before resending.', 'RFC 7293'),
    ('X.7.19', 'rrvs_not_possible', None, 'RRVS test cannot be completed.',
     ('The receiver cannot evaluate Require-Recipient-Valid-Since.',), 'Resend without RRVS if acceptable.', 'RFC 7293'),
    ('X.7.20', 'dkim_missing', None, 'No passing DKIM signature found.',
     ('The message has no valid DKIM signature and the receiver requires one.',), 'Sign outgoing mail with DKIM.', 'RFC 7372'),
    ('X.7.21', 'dkim_not_acceptable', None, 'No acceptable DKIM signature found.',
     ('DKIM signatures pass but none is acceptable to the receiver\'s policy.',), 'Sign with an acceptable domain/key.', 'RFC 7372'),
    ('X.7.22', 'dkim_not_author_aligned', None, 'No valid author-matched DKIM signature found.',
     ('No passing signature matches the From: domain.',), 'Sign with the From: domain.', 'RFC 7372'),
    ('X.7.23', 'spf_failed', None, 'SPF validation failed.',
     ('The sending IP is not authorized by the sender domain\'s SPF record.',),
     'Add the sending IP to the SPF record, or send through an authorized server.', 'RFC 7372'),
    ('X.7.24', 'spf_error', None, 'SPF validation error.',
     ('The SPF record could not be evaluated (syntax error, too many lookups, DNS failure).',),
     'Fix the SPF record (check syntax and the 10-lookup limit).', 'RFC 7372'),
    ('X.7.25', 'reverse_dns_failed', None, 'Reverse DNS validation failed.',
     ('The sending IP has no PTR record, or its name does not resolve back to the IP.',),
     'Publish a PTR record for the sending IP whose name resolves back to it.', 'RFC 7372'),
    ('X.7.26', 'authentication_checks_failed', None, 'Multiple authentication checks failed.',
     ('The message failed more than one of SPF, DKIM, DMARC.',), 'Fix SPF, DKIM and DMARC for the sender domain.', 'RFC 7372'),
    ('X.7.27', 'sender_null_mx', None, 'Sender address has a null MX.',
     ('The sender domain publishes a null MX, so bounces could not be returned.',), 'Send from a domain that receives mail.', 'RFC 7505'),
    ('X.7.28', 'mail_flood', None, 'Mail flood detected.',
     ('The message looks like part of a flood of similar messages.',), 'Lower the sending rate; check for abuse.', 'RFC 8904'),
    ('X.7.29', 'arc_failed', None, 'ARC validation failure.',
     ('The ARC chain on the message did not validate.',), 'Check the ARC sealing of intermediaries.', 'RFC 8617'),
    ('X.7.30', 'requiretls_unavailable', 'tls', 'REQUIRETLS support required but not available on the path.',
     ('A hop cannot honour REQUIRETLS.',), 'Send without REQUIRETLS or via a path that supports it.', 'RFC 8689'),
)


def _rfc3463_entry(row):
    code, category, status, summary, causes, remedy, reference = row
    return {
        'match': {'enhanced': code},
        'category': category, 'status': status, 'summary': summary, 'causes': causes, 'remedy': remedy,
        'references': (f'{reference} {code}', 'IANA SMTP Enhanced Status Codes'),
    }


def _subject_entry(row):
    subject, category, summary, remedy = row
    return {
        'match': {'subject': subject},
        'category': category, 'status': None, 'summary': summary,
        'causes': ('The server gave an enhanced code whose detail is not in the registry or this catalog.',),
        'remedy': remedy,
        'references': (f'RFC 3463 X.{subject}.* (subject)',),
    }


RFC3463 = tuple(_rfc3463_entry(row) for row in RFC3463_ROWS)
RFC3463_SUBJECTS = tuple(_subject_entry(row) for row in SUBJECTS)

# ---------------------------------------------------------------------------------------------------------------
# 5. Vendor codes: Exchange on-premises, Exchange Online, Postfix, Gmail. `text` separates vendors where one code
#    means different things.
# ---------------------------------------------------------------------------------------------------------------
EX = 'Exchange NDR reference'
EXO = 'Exchange Online NDR reference'
PF = 'Postfix smtpd'
GM = 'Gmail SMTP errors and codes'
EOP = 'Microsoft 365 EOP'
EXIM_SPEC = 'Exim specification, access control lists'
EXIM_ACL = 'Exim default configuration (configure.default), acl_check_rcpt'
EXIM_LAB = 'observed in the lab (Exim 4.96)'
OSMTPD = 'OpenSMTPD source usr.sbin/smtpd'
OSMTPD_LAB = 'observed in the lab (OpenSMTPD 6.8): 524 5.2.4 for an unknown recipient'
SM_SRC = 'Sendmail source (parseaddr, srvrsmtp)'
SM_PROTO = 'Sendmail cf/m4/proto.m4'
MC = 'Mimecast SMTP Error Codes (Mimecast knowledge base)'
PP = 'Proofpoint Dynamic Reputation, ipcheck.proofpoint.com'
CISCO = 'Cisco Secure Email (AsyncOS) user guide, mail flow policies'
BARRACUDA = 'Barracuda Email Security'


def _after_auth(match, vendor, policy, references):
    """A relay refusal after AUTH got 2xx: the anonymous-client causes do not apply, these do."""
    return {
        'match': match,
        'when': {'authenticated': True},
        'category': 'relay_denied_after_auth', 'status': None, 'vendor': vendor,
        'summary': 'Relay refused although the client authenticated: this account, sender or port may not relay '
                   'to that domain.',
        'causes': (
            f'The server does not let this authenticated account relay here: {policy}.',
            'The port has its own policy: on port 25 (the MX port) many servers do not honour authentication for '
            'relaying; authenticated submission belongs on 587 (STARTTLS) or 465 (implicit TLS).',
            'The sender address (MAIL FROM) is not one the account owns or may send as, and the server ties '
            'relaying to it.',
        ),
        'remedy': 'Submit on the port meant for authenticated clients (587 or 465) with the account\'s own address '
                  'as sender; if you already do, the server\'s administrator must allow authenticated users to relay '
                  'on this listener.',
        'references': tuple(references) + ('RFC 6409 (message submission)', 'RFC 4954 6'),
    }


def _for_codes(codes, entry):
    """One copy of an entry per basic code (a match holds one code)."""
    return tuple(dict(entry, match=dict(entry['match'], code=code)) for code in codes)


VENDOR = (
    # --- Exchange on-premises ---
    {
        'match': {'enhanced': '5.7.54'},
        'category': 'relay_denied', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'Unable to relay: the recipient\'s domain is not an accepted domain of this Exchange organisation.',
        'causes': ('An anonymous client tried to send to an external domain through Exchange.',
                   'The MX of the recipient domain points to an Exchange that does not list it as accepted domain.'),
        'remedy': 'Add the domain as an accepted domain, or allow relay for this client on a dedicated receive '
                  'connector (remote IP scoped, with Ms-Exch-SMTP-Accept-Any-Recipient).',
        'references': (EX + ': 5.7.54',),
    },
    {
        'match': {'enhanced': '5.7.1', 'text': r'unable to relay'},
        'category': 'relay_denied', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'Unable to relay: this server does not accept mail for that recipient domain from this client.',
        'causes': ('An anonymous client tried to relay to a domain the server is not responsible for.',
                   'The MX record points to a server that does not accept the domain.'),
        'remedy': 'Authenticate or use a relay connector for this client; fix the accepted domains or MX record.',
        'references': (EX + ': 5.7.1',),
    },
    {
        'match': {'enhanced': '5.7.1', 'text': r'client was not authenticated'},
        'category': 'anonymous_submission_refused', 'status': 'auth', 'vendor': 'exchange',
        'summary': 'Client was not authenticated: no receive connector here accepts anonymous mail.',
        'causes': ('The receive connector lacks the Anonymous users permission group.',),
        'remedy': 'Use the Internet-facing connector on port 25, or authenticate.',
        'references': (EX + ': 5.7.1', G_MAIL),
    },
    {
        'match': {'enhanced': '5.7.1', 'text': r'delivery not authorized'},
        'category': 'recipient_restricted', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'Delivery not authorized: the recipient only accepts mail from authorized senders.',
        'causes': ('Delivery restrictions on the recipient or group, or a mail flow rule rejected the message.',),
        'remedy': 'Ask the recipient\'s administrator to allow this sender.',
        'references': (EX + ': 5.7.1',),
    },
    {
        'match': {'code': 452, 'enhanced': '4.3.1', 'text': r'insufficient system resources'},
        'category': 'back_pressure', 'status': 'transient', 'vendor': 'exchange',
        'summary': 'Insufficient system resources: Exchange back pressure is refusing mail.',
        'causes': ('Low free disk space on the queue database drive, or high memory use on the transport server.',),
        'remedy': 'Free disk space on the queue drive (or move the queue database) and check memory; mail resumes '
                  'when resource pressure returns to normal.',
        'references': (EX + ': back pressure',),
    },
    {
        'match': {'code': 451, 'enhanced': '4.7.0', 'text': r'temporary server error'},
        'category': 'temporary_server_error', 'status': 'transient', 'vendor': 'exchange',
        'summary': 'Temporary server error: Exchange could not hand the message on (front end proxy).',
        'causes': ('The Front End Transport service could not reach a Transport service on a mailbox server.',),
        'remedy': 'Retry later; check the Transport services and connectivity between Exchange servers.',
        'references': (EX + ': 4.7.0',),
    },
    {
        'match': {'enhanced': '4.3.2', 'text': r'service not (available|active)'},
        'category': 'service_inactive', 'status': 'transient', 'vendor': 'exchange',
        'summary': 'Service not available: the Exchange transport component is inactive.',
        'causes': ('The server is in maintenance mode (ServerWideOffline), or a component or transport agent failed.',),
        'remedy': 'Check Get-ServerComponentState and bring the components back to Active; check transport agents.',
        'references': (EX + ': 4.3.2',),
    },
    {
        'match': {'enhanced': '5.7.3', 'text': r'cannot achieve exchange server authentication|not authorized'},
        'category': 'exchange_server_auth_failed', 'status': 'auth', 'vendor': 'exchange',
        'summary': 'Exchange Server authentication failed between servers.',
        'causes': ('A firewall or SMTP inspection device blocks X-EXPS, or internal traffic uses a connector without '
                   'Exchange Server authentication.',),
        'remedy': 'Disable SMTP inspection for Exchange traffic; check the remote IP ranges of custom receive connectors.',
        'references': (EX + ': 5.7.3',),
    },
    {
        'match': {'code': 535, 'enhanced': '5.7.3'},
        'category': 'auth_failed', 'status': 'auth', 'vendor': 'exchange',
        'summary': 'Authentication unsuccessful.',
        'causes': ('Wrong credentials, or the account may not use SMTP AUTH (Exchange Online: basic auth disabled).',),
        'remedy': 'Check the credentials and that SMTP AUTH is enabled for the mailbox and the organisation.',
        'references': (EX + ': 5.7.3', 'RFC 4954 6'),
    },
    {
        'match': {'enhanced': ('4.4.7', '5.4.7'), 'text': r'expired|delayed'},
        'category': 'message_expired', 'status': None, 'vendor': 'exchange',
        'summary': 'Message expired in the queue: the next hop could not be reached for the whole retry period.',
        'causes': ('The destination server was down or refusing temporarily; a firewall blocks TCP 25.',
                   'Send connector routing (DNS versus smart host) is wrong.'),
        'remedy': 'Find the underlying error in the queue (Get-Queue, Get-Message) and fix that route.',
        'references': (EX + ': 4.4.7',),
    },
    {
        'match': {'enhanced': ('5.4.6', '5.4.14'), 'text': r'loop'},
        'category': 'routing_loop', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'Routing loop detected (hop count exceeded).',
        'causes': ('Forwarding rules or connectors send the message round in a circle.',
                   'A receive connector FQDN that equals another server\'s.'),
        'remedy': 'Check inbox/forwarding rules, targetAddress of mail users, connectors and MX/smart hosts.',
        'references': (EX + ': 5.4.6', EXO + ': 5.4.14'),
    },
    {
        'match': {'enhanced': '5.4.4', 'text': r'nonexistentdomain|nonexistent domain|unable to route'},
        'category': 'destination_domain_not_found', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'Unable to route: the recipient domain does not exist in DNS as seen by Exchange.',
        'causes': ('A typo in the domain, or the Exchange server\'s DNS settings cannot resolve it.',),
        'remedy': 'Check the domain; check the transport service\'s internal/external DNS settings.',
        'references': (EX + ': 5.4.4',),
    },
    {
        'match': {'enhanced': '5.3.4', 'text': r'message size exceeds fixed maximum'},
        'category': 'message_too_large', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'Message size exceeds the fixed maximum message size.',
        'causes': ('The message is larger than the connector, organisation or mailbox size limit.',),
        'remedy': 'Send a smaller message, or raise the relevant size limit.',
        'references': (EX + ': 5.3.4',),
    },
    {
        'match': {'enhanced': '5.3.5', 'text': r'system incorrectly configured'},
        'category': 'system_misconfigured', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'System incorrectly configured: Exchange detected a loop in its own configuration.',
        'causes': ('A receive connector FQDN that matches another server or device in the mail flow.',),
        'remedy': 'Give each receive connector a FQDN that does not collide with other servers\'.',
        'references': (EX + ': 5.3.5',),
    },
    {
        'match': {'enhanced': '5.5.2', 'text': r'send hello first'},
        'category': 'command_out_of_sequence', 'status': 'protocol', 'vendor': 'exchange',
        'summary': 'Send hello first: a command came before EHLO/HELO.',
        'causes': ('The client sent MAIL or AUTH before introducing itself.',),
        'remedy': 'Start every session with EHLO (or HELO).',
        'references': (EX + ': 5.5.2', 'RFC 5321 4.1.4'),
    },
    {
        'match': {'enhanced': '5.1.0', 'text': r'sender denied'},
        'category': 'sender_denied', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'Sender denied: the sender address could not be resolved or is blocked.',
        'causes': ('A sender blocked by the recipient, or a reply to a message saved offline (legacyExchangeDN lost).',),
        'remedy': 'Check the sender address and the recipient\'s blocked-senders settings.',
        'references': (EX + ': 5.1.0',),
    },
    {
        'match': {'enhanced': tuple(f'5.7.{number}' for number in range(900, 1000))},
        'category': 'mail_flow_rule_rejected', 'status': 'permanent', 'vendor': 'exchange',
        'summary': 'Rejected by a mail flow (transport) rule with a custom code.',
        'causes': ('A transport rule in the recipient\'s organisation matched and rejected the message.',),
        'remedy': 'Ask the recipient\'s administrator which rule fired.',
        'references': (EX + ': 5.7.900-5.7.999',),
    },
    # --- Exchange Online / Microsoft 365 EOP ---
    {
        'match': {'enhanced': '5.7.1', 'text': r'blocked using spamhaus[^()]*\((?:AS|S)?\d+\)'},
        'category': 'dnsbl_listed', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Client host blocked using Spamhaus: Microsoft 365 (EOP) refuses this sending IP because Spamhaus '
                   'lists it.',
        'causes': ('The sending IP is on a Spamhaus block list that Exchange Online Protection checks.',),
        'remedy': 'Look the IP up at spamhaus.org, fix the cause and request removal there (not at Microsoft).',
        'references': (EOP + ': 550 5.7.1 Service unavailable, Client host blocked using Spamhaus (AS code)',),
    },
    {
        'match': {'enhanced': '5.7.708'},
        'category': 'traffic_not_accepted_from_ip', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied, traffic not accepted from this IP: Microsoft 365 refuses mail from this IP.',
        'causes': ('The tenant sends from an IP with a poor reputation, typically a new tenant without a sending '
                   'history, or one whose mail was flagged.',),
        'remedy': 'Send through a different (reputable) IP or relay, and contact Microsoft support for the tenant.',
        'references': (EXO + ': 5.7.708',),
    },
    {
        'match': {'enhanced': '5.7.64'},
        'category': 'tenant_attribution_relay_denied', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'TenantAttribution; Relay Access Denied: Exchange Online could not tie the connection to your tenant.',
        'causes': ('The inbound (on-premises) connector is scoped to IPs or a certificate that does not match this '
                   'connection: the sending IP changed, or the certificate name differs.',
                   'Relay to a domain not hosted in Microsoft 365 without a matching connector.'),
        'remedy': 'Fix the inbound connector: add the current public IP, or send the certificate whose subject '
                  'matches the connector\'s TlsSenderCertificateName.',
        'references': (EXO + ': 5.7.64',),
    },
    {
        'match': {'enhanced': '4.4.62'},
        'category': 'wrong_region', 'status': 'transient', 'vendor': 'exchange_online',
        'summary': 'Mail sent to the wrong Microsoft 365 region or datacenter (ATTR35).',
        'causes': ('An MX or smart host points to a legacy or foreign endpoint instead of the tenant\'s '
                   '*.mail.protection.outlook.com name.',),
        'remedy': 'Point the MX record and send connector smart hosts at the tenant\'s mail.protection.outlook.com name.',
        'references': (EXO + ': 4.4.62',),
    },
    {
        'match': {'code': 550, 'enhanced': '4.4.4'},
        'category': 'tenant_without_mail_subscription', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The recipient domain is in a Microsoft 365 tenant with no mail-enabled subscription (ATTR5).',
        'causes': ('The domain is registered in a tenant that has no Exchange Online licence.',),
        'remedy': 'The recipient organisation must license Exchange Online or move the domain\'s MX.',
        'references': (EXO + ': 4.4.4',),
    },
    {
        'match': {'enhanced': ('4.4.3', '4.3.2'), 'text': r'temporary server error'},
        'category': 'temporary_server_error', 'status': 'transient', 'vendor': 'exchange_online',
        'summary': 'Temporary server error in Exchange Online.',
        'causes': ('A transient service-side or DNS/routing problem.',),
        'remedy': 'Retry later; sending servers retry automatically.',
        'references': (EXO + ': 4.4.3',),
    },
    {
        'match': {'enhanced': '5.7.57'},
        'category': 'client_not_authenticated_for_submission', 'status': 'auth', 'vendor': 'exchange_online',
        'summary': 'Client not authenticated to send mail (smtp.office365.com during MAIL FROM).',
        'causes': ('The device or application sent without authenticating: SMTP AUTH disabled, security defaults on, '
                   'or legacy authentication blocked.',),
        'remedy': 'Authenticate with a mailbox that has SMTP AUTH enabled, or use a connector-based relay '
                  '(mail.protection.outlook.com) instead.',
        'references': (EXO + ': 5.7.57',),
    },
    {
        'match': {'enhanced': '5.7.60'},
        'category': 'send_as_denied', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The authenticated account has no permission to send as this sender.',
        'causes': ('MAIL FROM uses an address the authenticated mailbox may not send as.',),
        'remedy': 'Send from the authenticated mailbox\'s own address, or grant Send As permission.',
        'references': (EXO + ': 5.7.60',),
    },
    {
        'match': {'enhanced': '5.1.8', 'text': r'bad outbound sender'},
        'category': 'restricted_sender', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied, bad outbound sender: the account is blocked for sending spam.',
        'causes': ('The account was restricted after outbound spam, usually because it was compromised.',),
        'remedy': 'Secure the account (reset credentials, check rules and forwarding), then remove it from the '
                  'Restricted entities list.',
        'references': (EXO + ': 5.1.8',),
    },
    {
        'match': {'code': 535, 'enhanced': '5.7.139'},
        'category': 'smtp_auth_blocked_by_identity_policy', 'status': 'auth', 'vendor': 'exchange_online',
        'summary': 'Authentication unsuccessful: Microsoft Entra ID refused the sign-in for SMTP AUTH.',
        'causes': ('SMTP AUTH is disabled for the tenant or the mailbox.',
                   'Security defaults or Conditional Access (MFA) block legacy authentication.',
                   'Federated sign-in failed at the identity provider.'),
        'remedy': 'Enable SMTP AUTH for the mailbox and tenant and exclude the account from the blocking policy, or '
                  'move the device to OAuth or a connector-based relay.',
        'references': (EXO + ': 5.7.139',),
    },
    {
        'match': {'enhanced': tuple(f'5.7.{number}' for number in range(606, 650))},
        'category': 'banned_sending_ip', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied, banned sending IP: Microsoft blocks this IP address.',
        'causes': ('The sending IP has a poor reputation (spam, compromise) on Microsoft\'s block list.',),
        'remedy': 'Fix the cause of the bad reputation, then request delisting at the Microsoft delist portal.',
        'references': (EXO + ': 5.7.606-649',),
    },
    {
        'match': {'enhanced': '5.7.750'},
        'category': 'unregistered_domain_blocked', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Client blocked from sending from unregistered domains.',
        'causes': ('The tenant sends from domains that are not added and verified in Microsoft 365.',),
        'remedy': 'Add and verify every domain the tenant sends from as an accepted domain; then contact support.',
        'references': (EXO + ': 5.7.750',),
    },
    {
        'match': {'enhanced': tuple(f'5.7.{number}' for number in range(700, 750) if number != 708)},
        'category': 'tenant_sending_blocked', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied: the tenant is blocked from sending (suspicious or excessive traffic).',
        'causes': ('The tenant exceeded sending thresholds or sent from unprovisioned domains, often after compromise.',),
        'remedy': 'Find and stop the abusive traffic, secure accounts, then contact Microsoft support.',
        'references': (EXO + ': 5.7.700-749 (5.7.708 has its own entry)',),
    },
    {
        'match': {'enhanced': ('5.7.501', '5.7.502', '5.7.503')},
        'category': 'account_banned_spam', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied, spam abuse detected: the sending account is banned.',
        'causes': ('The account sent spam, usually after a compromise.',),
        'remedy': 'Secure the account and reset its credentials; then ask support to restore sending.',
        'references': (EXO + ': 5.7.501-503',),
    },
    {
        'match': {'enhanced': '5.7.506'},
        'category': 'bad_helo', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied, bad HELO: the client introduced itself with the server\'s own name.',
        'causes': ('The sending server uses the receiving server\'s name in HELO/EHLO (typical of spam bots).',),
        'remedy': 'Make the sender use its own FQDN in HELO/EHLO.',
        'references': (EXO + ': 5.7.506',),
    },
    {
        'match': {'enhanced': '5.7.507'},
        'category': 'rejected_by_recipient_organisation', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied, rejected by recipient: the recipient organisation blocks this IP.',
        'causes': ('The recipient\'s tenant blocks the sending IP.',),
        'remedy': 'Contact the recipient organisation to be unblocked.',
        'references': (EXO + ': 5.7.507',),
    },
    {
        'match': {'enhanced': '5.7.509'},
        'category': 'dmarc_failed', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied: the sending domain does not pass DMARC (policy reject).',
        'causes': ('The From: domain publishes p=reject and the message passed neither aligned SPF nor DKIM.',),
        'remedy': 'Fix SPF/DKIM alignment for the From: domain.',
        'references': (EXO + ': 5.7.509',),
    },
    {
        'match': {'enhanced': '5.7.510'},
        'category': 'ipv6_not_accepted', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The recipient domain does not accept email over IPv6.',
        'causes': ('The sender connected over IPv6 to a domain that only takes IPv4 mail.',),
        'remedy': 'Send over IPv4 (ip_version: 4).',
        'references': (EXO + ': 5.7.510',),
    },
    {
        'match': {'enhanced': '5.7.511'},
        'category': 'banned_sender', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Access denied, banned sender.',
        'causes': ('The sending IP or sender is banned by Microsoft.',),
        'remedy': 'Request delisting (delist portal) after fixing the cause.',
        'references': (EXO + ': 5.7.511',),
    },
    {
        'match': {'enhanced': '5.7.512'},
        'category': 'invalid_from_header', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Message must be RFC 5322 section 3.6.2 compliant: no valid From: header.',
        'causes': ('The message has no From: header or an invalid one.',),
        'remedy': 'Add a valid From: header (for example From: Name <user@domain>).',
        'references': (EXO + ': 5.7.512', 'RFC 5322 3.6.2'),
    },
    {
        'match': {'enhanced': '5.7.513'},
        'category': 'customer_block_list', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The recipient domain blocks this IP with its own block list.',
        'causes': ('The recipient organisation added the sending IP to its connection filter block list.',),
        'remedy': 'Contact the recipient organisation.',
        'references': (EXO + ': 5.7.513',),
    },
    {
        'match': {'enhanced': ('5.7.504', '5.7.505')},
        'category': 'recipient_access_denied', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Recipient address rejected: access denied (banned or invalid recipient).',
        'causes': ('The recipient address is invalid or banned in Exchange Online.',),
        'remedy': 'Verify the recipient address.',
        'references': (EXO + ': 5.7.504-505',),
    },
    {
        'match': {'enhanced': '5.4.1', 'text': r'recipient address rejected: access denied'},
        'category': 'user_unknown', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Recipient address rejected: the recipient is not in the tenant\'s directory (edge blocking).',
        'causes': ('Directory-Based Edge Blocking: the address does not exist in Exchange Online.',),
        'remedy': 'Check the recipient address; the recipient\'s admin must create it or sync it to the directory.',
        'references': (EXO + ': 5.4.1',),
    },
    {
        'match': {'enhanced': '5.4.1', 'text': r'relay access denied'},
        'category': 'relay_denied', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Relay access denied: Exchange Online does not accept mail for this recipient domain.',
        'causes': ('The domain\'s MX points to Microsoft 365 but the domain is not an accepted domain there.',),
        'remedy': 'Fix the MX record or add the domain to the tenant.',
        'references': (EXO + ': 5.4.1',),
    },
    {
        'match': {'code': 550, 'enhanced': '5.1.10'},
        'category': 'user_unknown', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Recipient not found by SMTP address lookup (RESOLVER.ADR.RecipientNotFound).',
        'causes': ('The recipient address does not exist in the destination organisation.',),
        'remedy': 'Check the recipient address.',
        'references': (EXO + ': 5.1.10',),
        'notes': ('Exchange Online uses 5.1.10 for unknown recipients; with 556 it means null MX (RFC 7505).',),
    },
    {
        'match': {'enhanced': '5.1.90'},
        'category': 'daily_recipient_limit', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The sender reached its daily limit for message recipients.',
        'causes': ('The mailbox exceeded the recipient rate limit for 24 hours.',),
        'remedy': 'Wait 24 hours; use a bulk mail service for mass mail.',
        'references': (EXO + ': 5.1.90',),
    },
    {
        'match': {'enhanced': ('5.2.121', '5.2.122')},
        'category': 'recipient_rate_limited', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The recipient receives too many messages per hour (from this sender or in total).',
        'causes': ('Recipient rate limits in Exchange Online.',),
        'remedy': 'Send later, at a lower rate.',
        'references': (EXO + ': 5.2.121-122',),
    },
    {
        'match': {'enhanced': '5.7.124'},
        'category': 'not_in_allowed_senders', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The sender is not in the group\'s allowed-senders list.',
        'causes': ('The distribution group only accepts mail from listed senders.',),
        'remedy': 'Ask the group owner to allow this sender.',
        'references': (EXO + ': 5.7.124',),
    },
    {
        'match': {'enhanced': ('5.7.12', '5.7.133', '5.7.134', '5.7.135', '5.7.136'), 'text': r'not authenticated'},
        'category': 'external_sender_rejected', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The recipient only accepts mail from senders inside its organisation.',
        'causes': ('The recipient (mailbox, group, public folder or mail user) requires authenticated senders.',),
        'remedy': 'The recipient\'s administrator must allow external senders.',
        'references': (EXO + ': 5.7.12, 5.7.133-136',),
    },
    {
        'match': {'enhanced': '5.6.11'},
        'category': 'bare_linefeeds', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'The message contains bare line feeds (LF without CR).',
        'causes': ('The sending program writes LF line endings inside the message.',),
        'remedy': 'Fix the sending program to use CRLF, or send with BDAT/CHUNKING.',
        'references': (EXO + ': 5.6.11', 'RFC 5321 2.3.8'),
    },
    {
        'match': {'enhanced': '5.4.300'},
        'category': 'message_expired', 'status': 'permanent', 'vendor': 'exchange_online',
        'summary': 'Message expired: it could not be delivered within the retry period.',
        'causes': ('The destination never responded, or the NDR for an earlier failure could not be delivered.',),
        'remedy': 'Check the destination server and resend.',
        'references': (EXO + ': 5.4.300',),
    },
    {
        'match': {'enhanced': '4.4.316'},
        'category': 'destination_refused_connection', 'status': 'transient', 'vendor': 'exchange_online',
        'summary': 'The destination server refused the connection from Exchange Online.',
        'causes': ('The external server is down or a firewall there refuses Microsoft\'s IPs.',),
        'remedy': 'The destination organisation must check its server and firewall.',
        'references': (EXO + ': 4.4.316',),
    },
    {
        'match': {'enhanced': ('4.7.321', '5.7.321')},
        'category': 'dane_starttls_not_supported', 'status': 'tls', 'vendor': 'exchange_online',
        'summary': 'DANE: the destination must support TLS but STARTTLS failed or is missing.',
        'causes': ('The destination publishes TLSA records yet does not complete STARTTLS.',),
        'remedy': 'The destination must fix STARTTLS on its MX hosts.',
        'references': (EXO + ': 5.7.321',),
    },
    {
        'match': {'enhanced': ('4.7.322', '5.7.322', '4.7.323', '5.7.323', '4.7.324', '5.7.324', '4.7.325', '5.7.325')},
        'category': 'dane_validation_failed', 'status': 'tls', 'vendor': 'exchange_online',
        'summary': 'DANE validation failed for the destination (certificate, TLSA or DNSSEC).',
        'causes': ('An expired certificate, a certificate that does not match the TLSA record or MX name, or broken '
                   'DNSSEC on the destination domain.',),
        'remedy': 'The destination must fix its certificate, TLSA records or DNSSEC.',
        'references': (EXO + ': 5.7.322-325', 'RFC 7672'),
    },
    {
        'match': {'enhanced': tuple(f'4.7.{number}' for number in range(500, 700))},
        'category': 'throttled_by_provider', 'status': 'transient', 'vendor': 'exchange_online',
        'summary': 'Access denied, try again later: Exchange Online throttles this sender or IP.',
        'causes': ('Suspicious activity or low reputation; the IP is temporarily restricted while evaluated.',),
        'remedy': 'Retry later; if it persists, check the sending IP\'s reputation.',
        'references': (EXO + ': 4.7.500-699',),
    },
    {
        'match': {'enhanced': '4.7.26', 'text': r'spf or dkim'},
        'category': 'unauthenticated_ipv6', 'status': 'transient', 'vendor': 'exchange_online',
        'summary': 'Mail over IPv6 must pass SPF or DKIM.',
        'causes': ('The message arrived over IPv6 and is neither SPF- nor DKIM-authenticated.',),
        'remedy': 'Sign with DKIM or cover the IPv6 address in SPF, or send over IPv4.',
        'references': (EXO + ': 4.7.26',),
    },
    # --- Postfix ---
    {
        'match': {'step': ('banner',), 'code': 220, 'text': r'ESMTP Postfix'},
        'category': 'service_ready', 'status': 'ok', 'vendor': 'postfix',
        'summary': 'Postfix greeted the client: the SMTP service is up.',
        'causes': ('smtpd accepted the connection.',),
        'remedy': 'Nothing to fix. Continue with EHLO.',
        'references': (PF,),
    },
    {
        'match': {'code': 554, 'enhanced': '5.7.1', 'text': r'relay access denied'},
        'category': 'relay_denied', 'status': 'permanent', 'vendor': 'postfix',
        'summary': 'Relay access denied: Postfix is not a destination or relay for that domain for this client.',
        'causes': ('The client is not in mynetworks and did not authenticate, and the recipient domain is not local '
                   'or in relay_domains (reject_unauth_destination).',),
        'remedy': 'Authenticate (SASL), add the client to mynetworks, or add the domain to relay_domains / '
                  'virtual_mailbox_domains.',
        'references': (PF + ': reject_unauth_destination',),
    },
    {
        'match': {'code': 454, 'enhanced': '4.7.1', 'text': r'relay access denied'},
        'category': 'relay_denied', 'status': 'transient', 'vendor': 'postfix',
        'summary': 'Relay access denied (soft): Postfix defers instead of rejecting.',
        'causes': ('defer_unauth_destination, or soft_bounce, while testing relay restrictions.',),
        'remedy': 'Same fix as the hard reject: authenticate, mynetworks or relay_domains.',
        'references': (PF + ': defer_unauth_destination',),
    },
    {
        'match': {'code': 550, 'enhanced': '5.1.1', 'text': r'user unknown in (local recipient|virtual (mailbox|alias)|relay recipient) table'},
        'category': 'user_unknown', 'status': 'permanent', 'vendor': 'postfix',
        'summary': 'Recipient address rejected: user unknown in Postfix\'s recipient table.',
        'causes': ('The address is not in local_recipient_maps / virtual_mailbox_maps / relay_recipient_maps.',),
        'remedy': 'Check the recipient address; add it to the right table and run postmap.',
        'references': (PF + ': local_recipient_maps',),
    },
    {
        'match': {'enhanced': ('4.7.25', '5.7.25'), 'text': r'cannot find your hostname'},
        'category': 'client_hostname_unverified', 'status': None, 'vendor': 'postfix',
        'summary': 'Client host rejected: the client IP has no forward-confirmed reverse DNS.',
        'causes': ('No PTR record for the sending IP, or its name does not resolve back to the same IP '
                   '(reject_unknown_client_hostname).',),
        'remedy': 'Publish a PTR record for the sending IP whose host name has an A/AAAA record pointing back to it.',
        'references': (PF + ': reject_unknown_client_hostname', 'RFC 7372'),
    },
    {
        'match': {'enhanced': ('4.7.1', '5.7.1'), 'text': r'cannot find your reverse hostname'},
        'category': 'no_reverse_dns', 'status': None, 'vendor': 'postfix',
        'summary': 'Client host rejected: the client IP has no reverse DNS (PTR) record.',
        'causes': ('reject_unknown_reverse_client_hostname: no PTR record for the sending IP.',),
        'remedy': 'Ask the owner of the IP block (ISP) to publish a PTR record.',
        'references': (PF + ': reject_unknown_reverse_client_hostname',),
    },
    {
        'match': {'enhanced': ('4.3.5', '5.3.5'), 'text': r'server configuration (error|problem)'},
        'category': 'server_configuration_error', 'status': None, 'vendor': 'postfix',
        'summary': 'Server configuration error: a Postfix table lookup or restriction failed.',
        'causes': ('An unreadable or missing lookup table, an unknown restriction name, or a milter failure.',),
        'remedy': 'The server administrator must read the Postfix log (warnings name the table) and fix main.cf.',
        'references': (PF + ': 451 4.3.5',),
    },
    {
        'match': {'code': 421, 'enhanced': '4.7.0', 'text': r'too many errors'},
        'category': 'too_many_errors', 'status': 'transient', 'vendor': 'postfix',
        'summary': 'Error: too many errors: Postfix ends the session after repeated errors.',
        'causes': ('The client exceeded smtpd_hard_error_limit (rejected commands, bad syntax).',),
        'remedy': 'Look at the earlier replies in the transcript; fix those errors first.',
        'references': (PF + ': smtpd_hard_error_limit',),
    },
    {
        'match': {'code': 421, 'enhanced': '4.7.0', 'text': r'too many connections'},
        'category': 'connection_limit', 'status': 'transient', 'vendor': 'postfix',
        'summary': 'Error: too many connections from this client.',
        'causes': ('smtpd_client_connection_count_limit or the connection rate limit was reached (anvil).',),
        'remedy': 'Open fewer parallel connections; reuse one session for several messages.',
        'references': (PF + ': smtpd_client_connection_count_limit',),
    },
    {
        'match': {'code': 421, 'enhanced': '4.4.2', 'text': r'timeout exceeded'},
        'category': 'server_idle_timeout', 'status': 'transient', 'vendor': 'postfix',
        'summary': 'Error: timeout exceeded: the client was idle too long.',
        'causes': ('The client waited longer than smtpd_timeout between commands.',),
        'remedy': 'Send commands without long pauses.',
        'references': (PF + ': smtpd_timeout',),
    },
    {
        'match': {'code': 504, 'enhanced': '5.5.2', 'text': r'need fully-qualified hostname'},
        'category': 'invalid_helo_domain', 'status': 'protocol', 'vendor': 'postfix',
        'summary': 'Helo command rejected: need fully-qualified hostname.',
        'causes': ('The EHLO/HELO name has no dot (reject_non_fqdn_helo_hostname).',),
        'remedy': 'Use this host\'s FQDN as helo_name.',
        'references': (PF + ': reject_non_fqdn_helo_hostname',),
        'notes': ('Postfix may defer this reply to RCPT time (smtpd_delay_reject).',),
    },
    {
        'match': {'code': 501, 'enhanced': '5.5.2', 'text': r'invalid name'},
        'category': 'invalid_helo_domain', 'status': 'protocol', 'vendor': 'postfix',
        'summary': 'Helo command rejected: invalid name.',
        'causes': ('The EHLO/HELO argument is not a valid host name or address literal.',),
        'remedy': 'Use this host\'s FQDN as helo_name.',
        'references': (PF + ': reject_invalid_helo_hostname',),
    },
    {
        'match': {'enhanced': ('4.1.8', '5.1.8'), 'text': r'sender address rejected: domain not found'},
        'category': 'sender_domain_not_found', 'status': None, 'vendor': 'postfix',
        'summary': 'Sender address rejected: the sender\'s domain has no MX or address record.',
        'causes': ('reject_unknown_sender_domain: the MAIL FROM domain does not resolve.',),
        'remedy': 'Send from a domain that resolves (MX or A), or fix the sender domain\'s DNS.',
        'references': (PF + ': reject_unknown_sender_domain',),
    },
    {
        'match': {'enhanced': ('4.1.2', '5.1.2'), 'text': r'recipient address rejected: domain not found'},
        'category': 'recipient_domain_not_found', 'status': None, 'vendor': 'postfix',
        'summary': 'Recipient address rejected: the recipient\'s domain has no MX or address record.',
        'causes': ('reject_unknown_recipient_domain: the recipient domain does not resolve.',),
        'remedy': 'Check the recipient domain for typos and its DNS.',
        'references': (PF + ': reject_unknown_recipient_domain',),
    },
    {
        'match': {'enhanced': ('5.7.1', '4.7.1'), 'text': r'blocked using'},
        'category': 'dnsbl_listed', 'status': None, 'vendor': 'postfix',
        'summary': 'Client host blocked using a DNS blocklist.',
        'causes': ('The sending IP is listed on the named DNSBL (reject_rbl_client).',),
        'remedy': 'Look the IP up on the named blocklist, fix the cause, request delisting.',
        'references': (PF + ': reject_rbl_client',),
    },
    {
        'match': {'enhanced': ('5.7.1', '4.7.1'), 'text': r'client host rejected: access denied'},
        'category': 'client_access_denied', 'status': None, 'vendor': 'postfix',
        'summary': 'Client host rejected: access denied by the server\'s client access table.',
        'causes': ('check_client_access matched the client IP or name with REJECT.',),
        'remedy': 'Ask the server administrator to allow this client.',
        'references': (PF + ': check_client_access',),
    },
    {
        'match': {'enhanced': ('5.7.1', '4.7.1'), 'text': r'sender address rejected: access denied'},
        'category': 'sender_access_denied', 'status': None, 'vendor': 'postfix',
        'summary': 'Sender address rejected: access denied by the server\'s sender access table.',
        'causes': ('check_sender_access matched the sender with REJECT.',),
        'remedy': 'Ask the server administrator to allow this sender.',
        'references': (PF + ': check_sender_access',),
    },
    {
        'match': {'code': 503, 'enhanced': '5.5.1', 'text': r'need (mail|rcpt) command|send helo/ehlo first'},
        'category': 'command_out_of_sequence', 'status': 'protocol', 'vendor': 'postfix',
        'summary': 'Error: a command came out of sequence (need MAIL/RCPT, or HELO/EHLO first).',
        'causes': ('The client skipped a step, or an earlier command failed unnoticed.',),
        'remedy': 'Check the earlier replies; send EHLO, MAIL, RCPT, DATA in order.',
        'references': (PF, 'RFC 5321 4.1.4'),
    },
    {
        'match': {'code': 503, 'enhanced': '5.5.1', 'text': r'authentication not enabled'},
        'category': 'auth_not_offered', 'status': 'auth', 'vendor': 'postfix',
        'summary': 'Error: authentication not enabled on this Postfix service.',
        'causes': ('smtpd_sasl_auth_enable is off for this port (typical on port 25).',),
        'remedy': 'Authenticate on the submission port (587) instead.',
        'references': (PF + ': smtpd_sasl_auth_enable',),
    },
    {
        'match': {'code': 502, 'enhanced': '5.5.2', 'text': r'command not recognized'},
        'category': 'unrecognized_command', 'status': 'protocol', 'vendor': 'postfix',
        'summary': 'Error: command not recognized.',
        'causes': ('A wrong command or a typo.',),
        'remedy': 'Send a valid RFC 5321 command.',
        'references': (PF,),
    },
    {
        'match': {'code': 452, 'enhanced': '4.5.3', 'text': r'too many recipients'},
        'category': 'too_many_recipients', 'status': 'transient', 'vendor': 'postfix',
        'summary': 'Error: too many recipients for one message.',
        'causes': ('smtpd_recipient_limit was reached.',),
        'remedy': 'Send the remaining recipients in another transaction.',
        'references': (PF + ': smtpd_recipient_limit', 'RFC 5321 4.5.3.1.10'),
    },
    {
        'match': {'code': 552, 'enhanced': '5.3.4', 'text': r'message size exceeds fixed limit'},
        'category': 'message_too_large', 'status': 'permanent', 'vendor': 'postfix',
        'summary': 'Message size exceeds fixed limit.',
        'causes': ('The message is larger than message_size_limit.',),
        'remedy': 'Send a smaller message or raise message_size_limit.',
        'references': (PF + ': message_size_limit',),
    },
    {
        'match': {'code': 452, 'enhanced': '4.3.1', 'text': r'insufficient system storage'},
        'category': 'queue_disk_full', 'status': 'transient', 'vendor': 'postfix',
        'summary': 'Insufficient system storage: the Postfix queue file system is nearly full.',
        'causes': ('Free space fell below queue_minfree.',),
        'remedy': 'Free space on the queue file system.',
        'references': (PF + ': queue_minfree',),
    },
    {
        'match': {'code': 554, 'enhanced': '5.5.1', 'text': r'no valid recipients'},
        'category': 'no_valid_recipients', 'status': 'permanent', 'vendor': 'postfix',
        'summary': 'Error: no valid recipients: every RCPT was rejected before DATA.',
        'causes': ('All recipients of the transaction were refused.',),
        'remedy': 'Look at the RCPT replies for the reason.',
        'references': (PF,),
    },
    {
        'match': {'code': 530, 'enhanced': '5.7.0', 'text': r'must issue a starttls command first'},
        'category': 'starttls_required', 'status': 'tls', 'vendor': 'postfix',
        'summary': 'Must issue a STARTTLS command first: the server only talks over TLS.',
        'causes': ('smtpd_tls_security_level = encrypt (or a provider requiring TLS).',),
        'remedy': 'Use tls: starttls or required.',
        'references': (PF + ': smtpd_tls_security_level', 'RFC 3207 4'),
    },
    {
        'match': {'code': 535, 'enhanced': '5.7.8', 'text': r'authentication failed'},
        'category': 'auth_failed', 'status': 'auth', 'vendor': 'postfix',
        'summary': 'Error: authentication failed.',
        'causes': ('Wrong user name or password, or the SASL back end (Dovecot, Cyrus) refused.',),
        'remedy': 'Check the credentials and the SASL back end\'s log.',
        'references': (PF + ': smtpd_sasl', 'RFC 4954 6'),
    },
    {
        'match': {'code': 454, 'enhanced': '4.7.0', 'text': r'tls not available'},
        'category': 'tls_not_available', 'status': 'tls', 'vendor': 'postfix',
        'summary': 'TLS not available due to local problem.',
        'causes': ('Postfix cannot load its certificate or key.',),
        'remedy': 'Fix smtpd_tls_chain_files / smtpd_tls_cert_file and key permissions; read the Postfix log.',
        'references': (PF + ': smtpd_tls_chain_files',),
    },
    {
        'match': {'enhanced': '4.3.0', 'text': r'temporary lookup failure'},
        'category': 'lookup_failure', 'status': 'transient', 'vendor': 'postfix',
        'summary': 'Temporary lookup failure: a table or DNS lookup failed on the server.',
        'causes': ('An LDAP/SQL back end or DNS is unavailable to Postfix.',),
        'remedy': 'Retry later; the server administrator must check the lookup back ends.',
        'references': (PF,),
    },
    {
        'match': {'enhanced': ('4.2.0', '4.7.1'), 'text': r'greylist'},
        'category': 'greylisted', 'status': 'transient', 'vendor': 'postfix',
        'summary': 'Greylisted: the server defers first-time senders on purpose.',
        'causes': ('A greylisting policy service (for example postgrey) has not seen this client/sender/recipient yet.',),
        'remedy': 'Retry after the greylisting delay; real MTAs do this automatically.',
        'references': (PF + ': check_policy_service',),
    },
    {
        'match': {'enhanced': ('4.1.1', '5.1.1', '4.1.0', '5.1.0'), 'text': r'(unverified|undeliverable) address'},
        'category': 'address_verification_failed', 'status': None, 'vendor': 'postfix',
        'summary': 'Address verification failed: the server probed the address and could not confirm it.',
        'causes': ('reject_unverified_recipient/sender: the callout to the next hop failed or is pending.',),
        'remedy': 'Retry later for 4xx; for 5xx check the address at its final destination.',
        'references': (PF + ': reject_unverified_recipient',),
    },
    # --- Gmail ---
    {
        'match': {'code': 550, 'enhanced': '5.1.1', 'text': r'email account that you tried to reach does not exist'},
        'category': 'user_unknown', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'The Gmail account does not exist.',
        'causes': ('A typo in the address, or a deleted account.',),
        'remedy': 'Check the recipient address.',
        'references': (GM,),
    },
    {
        'match': {'code': 452, 'enhanced': '4.2.2'},
        'category': 'mailbox_full', 'status': 'transient', 'vendor': 'gmail',
        'summary': 'The recipient\'s account is over quota (storage full).',
        'causes': ('The recipient\'s Google storage is full.',),
        'remedy': 'Retry later; the recipient must free storage.',
        'references': (GM,),
    },
    {
        'match': {'code': 552, 'enhanced': '5.2.2', 'text': r'over quota|gsmtp'},
        'category': 'mailbox_full', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'The recipient\'s account is over quota.',
        'causes': ('The recipient\'s Google storage is full.',),
        'remedy': 'Contact the recipient by other means.',
        'references': (GM,),
    },
    {
        'match': {'code': 450, 'enhanced': '4.2.1', 'text': r'receiving mail (too quickly|at a rate)|relay limit'},
        'category': 'recipient_rate_limited', 'status': 'transient', 'vendor': 'gmail',
        'summary': 'The recipient is receiving mail too fast; Gmail defers.',
        'causes': ('Many messages to one recipient in a short time (or a relay sending limit).',),
        'remedy': 'Slow down; retry later.',
        'references': (GM,),
    },
    {
        'match': {'enhanced': '5.2.1', 'text': r'disabled'},
        'category': 'mailbox_disabled', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'The recipient account is disabled.',
        'causes': ('The account is suspended or inactive.',),
        'remedy': 'Contact the recipient by other means.',
        'references': (GM,),
    },
    {
        'match': {'code': 550, 'enhanced': '5.7.26'},
        'category': 'authentication_checks_failed', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'Unauthenticated mail: the message failed sender authentication (SPF/DKIM/DMARC).',
        'causes': ('The From: domain\'s DMARC policy rejects mail that passes neither aligned SPF nor DKIM.',
                   'Neither SPF nor DKIM passed for the sender.'),
        'remedy': 'Publish SPF including the sending IP, sign with DKIM for the From: domain, and publish DMARC.',
        'references': (GM, 'RFC 7372'),
    },
    {
        'match': {'code': 550, 'enhanced': '5.7.25'},
        'category': 'reverse_dns_failed', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'The sending IP has no PTR record (or it does not match).',
        'causes': ('Missing or non-matching reverse DNS for the sending IP.',),
        'remedy': 'Publish a PTR record whose name resolves back to the sending IP.',
        'references': (GM, 'RFC 7372'),
    },
    {
        'match': {'code': 550, 'enhanced': '5.7.27', 'text': r'\bSPF\b'},
        'category': 'spf_failed', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'SPF did not pass for the sender (Gmail sender requirements).',
        'causes': ('The sending IP is not authorized by the envelope sender domain\'s SPF record.',),
        'remedy': 'Add the sending IP to the SPF record of the MAIL FROM domain.',
        'references': (GM,),
        'notes': ('Gmail uses X.7.27 for SPF; IANA registers X.7.27 for a sender null MX.',),
    },
    {
        'match': {'enhanced': '4.7.27', 'text': r'\bSPF\b'},
        'category': 'spf_failed', 'status': 'transient', 'vendor': 'gmail',
        'summary': 'SPF did not pass for the sender (Gmail sender requirements).',
        'causes': ('The sending IP is not authorized by the envelope sender domain\'s SPF record.',),
        'remedy': 'Add the sending IP to the SPF record of the MAIL FROM domain.',
        'references': (GM,),
        'notes': ('Gmail uses X.7.27 for SPF; IANA registers X.7.27 for a sender null MX.',),
    },
    {
        'match': {'enhanced': ('4.7.30', '5.7.30'), 'text': r'\bDKIM\b'},
        'category': 'dkim_failed', 'status': None, 'vendor': 'gmail',
        'summary': 'DKIM did not pass (Gmail sender requirements).',
        'causes': ('The message is not DKIM-signed, or the signature does not verify.',),
        'remedy': 'Sign outgoing mail with DKIM and publish the selector\'s public key.',
        'references': (GM,),
        'notes': ('Gmail uses X.7.30 for DKIM; IANA registers X.7.30 for REQUIRETLS.',),
    },
    {
        'match': {'enhanced': ('4.7.32', '5.7.32')},
        'category': 'dmarc_alignment_failed', 'status': None, 'vendor': 'gmail',
        'summary': 'The From: domain is not aligned with the SPF or DKIM authenticated domain.',
        'causes': ('SPF/DKIM pass for a different domain than the From: header.',),
        'remedy': 'Sign with DKIM for the From: domain or use a MAIL FROM in the same domain.',
        'references': (GM,),
    },
    {
        'match': {'enhanced': ('4.7.40', '5.7.40')},
        'category': 'dmarc_missing', 'status': None, 'vendor': 'gmail',
        'summary': 'The sender domain has no usable DMARC record.',
        'causes': ('No _dmarc TXT record, or one without a policy.',),
        'remedy': 'Publish a DMARC record (p=none at least).',
        'references': (GM,),
    },
    {
        'match': {'code': 421, 'enhanced': '4.7.0', 'text': r'TLS required'},
        'category': 'tls_required', 'status': 'tls', 'vendor': 'gmail',
        'summary': 'TLS required for the recipient domain: the connection is closed without TLS.',
        'causes': ('The recipient domain requires TLS (Google Workspace compliance setting).',),
        'remedy': 'Send with STARTTLS.',
        'references': (GM,),
    },
    {
        'match': {'code': 421, 'enhanced': '4.7.0', 'text': r'unusual rate of unsolicited mail'},
        'category': 'ip_rate_limited_spam', 'status': 'transient', 'vendor': 'gmail',
        'summary': 'Unusual rate of unsolicited mail from this IP: temporarily blocked.',
        'causes': ('Spam complaints or a sudden volume increase from the IP.',),
        'remedy': 'Lower the rate, check the content and the Postmaster Tools reputation; retry later.',
        'references': (GM,),
    },
    {
        'match': {'code': 421, 'enhanced': '4.7.0', 'text': r'IP not in whitelist'},
        'category': 'ip_not_allowlisted', 'status': 'transient', 'vendor': 'gmail',
        'summary': 'IP not in the allow list for the recipient domain.',
        'causes': ('The recipient domain only accepts mail from listed IPs.',),
        'remedy': 'Ask the recipient to add the sending IP, or use the allowed gateway.',
        'references': (GM,),
    },
    {
        'match': {'code': 421, 'enhanced': '4.7.28'},
        'category': 'rate_limited', 'status': 'transient', 'vendor': 'gmail',
        'summary': 'Gmail rate-limits this sender: unusual rate of mail from the IP or domain.',
        'causes': ('Volume or reputation below Gmail\'s sender requirements.',),
        'remedy': 'Lower the sending rate and meet the sender requirements (SPF, DKIM, DMARC, PTR).',
        'references': (GM,),
    },
    {
        'match': {'code': 421, 'enhanced': ('4.3.0', '4.4.5')},
        'category': 'provider_busy', 'status': 'transient', 'vendor': 'gmail',
        'summary': 'Temporary system problem or server busy at Gmail.',
        'causes': ('A transient problem at the provider.',),
        'remedy': 'Retry later.',
        'references': (GM,),
    },
    {
        'match': {'code': 530, 'enhanced': '5.7.0', 'text': r'authentication required'},
        'category': 'authentication_required', 'status': 'auth', 'vendor': 'gmail',
        'summary': 'Authentication required.',
        'causes': ('The command needs an authenticated session (submission).',),
        'remedy': 'Authenticate first (app password or OAuth).',
        'references': (GM, 'RFC 4954 6'),
    },
    {
        'match': {'code': 535, 'enhanced': '5.7.8'},
        'category': 'auth_failed', 'status': 'auth', 'vendor': 'gmail',
        'summary': 'Username and password not accepted.',
        'causes': ('Wrong credentials, or a normal password where an app password or OAuth is required.',),
        'remedy': 'Use an app password or OAuth (XOAUTH2) for SMTP.',
        'references': (GM, 'RFC 4954 6'),
    },
    {
        'match': {'code': 454, 'enhanced': '4.7.0', 'text': r'cannot authenticate'},
        'category': 'auth_temporary_failure', 'status': 'transient', 'vendor': 'gmail',
        'summary': 'Cannot authenticate due to a temporary system problem.',
        'causes': ('The authentication service is temporarily unavailable.',),
        'remedy': 'Retry later.',
        'references': (GM,),
    },
    {
        'match': {'code': 552, 'enhanced': '5.2.3'},
        'category': 'message_too_large', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'The message exceeds Gmail\'s size limit.',
        'causes': ('The message is larger than the provider\'s maximum.',),
        'remedy': 'Send a smaller message or share large files by link.',
        'references': (GM,),
    },
    {
        'match': {'enhanced': ('4.5.0', '5.5.0'), 'text': r'protocol violation'},
        'category': 'protocol_violation', 'status': 'protocol', 'vendor': 'gmail',
        'summary': 'SMTP protocol violation detected by the server.',
        'causes': ('The client broke RFC 5321/3207 rules (for example pipelining after STARTTLS).',),
        'remedy': 'Fix the client; look at the transcript.',
        'references': (GM, 'RFC 3207 4.2'),
    },
    {
        'match': {'code': 550, 'enhanced': '5.7.1', 'text': r'gcdp'},
        'category': 'recipient_policy_rejected', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'Rejected by a custom policy of the recipient\'s Google Workspace administrator.',
        'causes': ('A custom domain policy (gcdp) rule matched.',),
        'remedy': 'Ask the recipient organisation which rule rejected the message.',
        'references': (GM,),
    },
    {
        'match': {'code': 550, 'enhanced': '5.7.1', 'text': r'unsolicited'},
        'category': 'spam_rejected', 'status': 'permanent', 'vendor': 'gmail',
        'summary': 'Gmail judged the message or IP as likely unsolicited (spam).',
        'causes': ('Low sender reputation, spam-like content, or missing authentication.',),
        'remedy': 'Review the content and authentication; check Postmaster Tools.',
        'references': (GM,),
    },
    # --- Relay refusals after a successful AUTH (context authenticated: the anonymous causes do not apply) ---
    _after_auth({'enhanced': '5.7.54'}, 'exchange',
                'the receive connector that took the session does not give this account the '
                'Ms-Exch-SMTP-Accept-Any-Recipient permission (authenticated clients submit on the Client Frontend '
                'connector, port 587)', (EX + ': 5.7.54',)),
    _after_auth({'enhanced': '5.7.1', 'text': r'unable to relay'}, 'exchange',
                'the receive connector that took the session does not let this account relay '
                '(Ms-Exch-SMTP-Accept-Any-Recipient)', (EX + ': 5.7.1',)),
    _after_auth({'code': 554, 'enhanced': '5.7.1', 'text': r'relay access denied'}, 'postfix',
                'smtpd_relay_restrictions (or smtpd_recipient_restrictions) for this service lacks '
                'permit_sasl_authenticated, or lists it after reject_unauth_destination; master.cf -o overrides '
                'apply per port', (PF + ': permit_sasl_authenticated', PF + ': reject_unauth_destination')),
    _after_auth({'code': 454, 'enhanced': '4.7.1', 'text': r'relay access denied'}, 'postfix',
                'smtpd_relay_restrictions for this service lacks permit_sasl_authenticated (defer_unauth_destination '
                'answers before it)', (PF + ': permit_sasl_authenticated', PF + ': defer_unauth_destination')),
    _after_auth({'code': 550, 'text': r'relay not permitted'}, 'exim',
                'the RCPT ACL does not accept authenticated clients before its relay check ("accept authenticated '
                '= *" missing, or placed after "require ... domains = +local_domains : +relay_to_domains")',
                (EXIM_ACL, EXIM_LAB + ': 550 relay not permitted')),
    _after_auth({'code': 550, 'enhanced': '5.7.1', 'text': r'relaying denied'}, 'sendmail',
                'the account\'s SASL identity is not trusted for relaying (TRUST_AUTH_MECH / the '
                'trust_auth ruleset does not cover this mechanism or user)', (SM_PROTO + ': Relaying denied',)),
    # --- STARTTLS demanded on a session that already runs TLS (context tls) ---
    {
        'match': {'code': 530, 'enhanced': ('5.7.0', '5.5.1'), 'text': r'must issue a starttls command first'},
        'when': {'tls': True},
        'category': 'starttls_required_despite_tls', 'status': 'tls',
        'summary': 'The server asks for STARTTLS although this session already runs TLS: the server does not see '
                   'the TLS that the client negotiated.',
        'causes': ('A proxy, load balancer or firewall in front of the server terminates TLS (or implicit TLS on '
                   '465) and passes the session on in plain text.',
                   'A front end hands the session to a back end listener that requires TLS of its own.',
                   'A server fault that loses the TLS state after the second EHLO.'),
        'remedy': 'Probe the server directly, not through the device in front; terminate TLS on the mail server '
                  'itself, or let the back end listener accept the session from the front end without TLS.',
        'references': ('RFC 3207 4', 'RFC 3207 4.2'),
    },
    # --- Exim (4.96 in the lab; replies from its default ACLs and the specification) ---
    {
        'match': {'code': 550, 'text': r'sender verify failed'},
        'category': 'sender_verification_failed', 'status': 'permanent', 'vendor': 'exim',
        'summary': 'Sender verify failed: Exim could not confirm that the MAIL FROM address can receive mail.',
        'causes': ('The RCPT ACL has "verify = sender": the sender\'s domain has no route (no MX/A record), or a '
                   'callout to the sender\'s MX refused the address.',
                   'A host without a fully qualified sender (user@localhost or an unqualified name) as MAIL FROM.'),
        'remedy': 'Send from an address whose domain resolves and whose mailbox accepts mail (bounces must be '
                  'deliverable); check the sender domain\'s MX records.',
        'references': (EXIM_SPEC + ': verify = sender',),
    },
    {
        'match': {'code': 550, 'text': r'unrouteable address'},
        'category': 'user_unknown', 'status': 'permanent', 'vendor': 'exim',
        'summary': 'Unrouteable address: Exim found no route for the recipient (no such user or alias here, or no '
                   'route for its domain).',
        'causes': ('The RCPT ACL has "verify = recipient" and no router accepted the address: the local part is not '
                   'a user or alias of a local domain.',
                   'For a remote domain: DNS gives Exim no MX or address record for it.'),
        'remedy': 'Check the recipient address; on the server, "exim -bt <address>" shows how it routes.',
        'references': (EXIM_SPEC + ': verify = recipient', EXIM_LAB + ': 550 Unrouteable address'),
    },
    {
        'match': {'code': 550, 'text': r'relay not permitted'},
        'category': 'relay_denied', 'status': 'permanent', 'vendor': 'exim',
        'summary': 'Relay not permitted: Exim accepts mail for that domain from this client only if it relays for it.',
        'causes': ('The recipient domain is not in local_domains or relay_to_domains, and the client is not in '
                   'relay_from_hosts and did not authenticate (the default RCPT ACL).',),
        'remedy': 'Authenticate, add the client to relay_from_hosts, or add the domain to local_domains / '
                  'relay_to_domains; check the MX record points at the right server.',
        'references': (EXIM_ACL, EXIM_LAB + ': 550 relay not permitted'),
    },
    {
        'match': {'code': 451, 'text': r'temporary local problem'},
        'category': 'local_error', 'status': 'transient', 'vendor': 'exim',
        'summary': 'Temporary local problem: an Exim ACL condition could not be decided now.',
        'causes': ('A lookup the ACL needs failed (DNS, a database or file lookup, a DNS blocklist).',
                   'A sender or recipient callout deferred, or a configuration error in an ACL.'),
        'remedy': 'Retry later; if it persists, the server administrator must read Exim\'s main and panic logs.',
        'references': (EXIM_SPEC + ': ACL defer and its default message',),
    },
    {
        'match': {'code': 550, 'text': r'\bsender rate\b'},
        'category': 'rate_limited', 'status': 'permanent', 'vendor': 'exim',
        'summary': 'Sender rate limit: an Exim ratelimit ACL refused this sender or host.',
        'causes': ('The sender or client sent more messages (or recipients) in the measured period than the '
                   'ratelimit condition allows.',),
        'remedy': 'Send more slowly and retry later; the server administrator sets the limit.',
        'references': (EXIM_SPEC + ': ratelimit (the specification\'s example message)',),
    },
    {
        'match': {'code': 451, 'text': r'\bsender rate\b'},
        'category': 'rate_limited', 'status': 'transient', 'vendor': 'exim',
        'summary': 'Sender rate limit: an Exim ratelimit ACL defers this sender or host for now.',
        'causes': ('The sender or client sent more messages (or recipients) in the measured period than the '
                   'ratelimit condition allows.',),
        'remedy': 'Send more slowly and retry later; the server administrator sets the limit.',
        'references': (EXIM_SPEC + ': ratelimit (the specification\'s example message)',),
    },
    # --- OpenSMTPD (6.8 in the lab; replies from usr.sbin/smtpd) ---
    {
        'match': {'code': 524, 'enhanced': '5.2.4', 'text': r'mailing list expansion problem'},
        'category': 'user_unknown', 'status': 'permanent', 'vendor': 'opensmtpd',
        'summary': 'Invalid recipient: OpenSMTPD found no mailbox or alias for this address (it words this as a '
                   '"mailing list expansion problem").',
        'causes': ('The address is not in the virtual or alias table of the matching rule, or it expanded to no '
                   'delivery at all: an unknown recipient.',
                   'Less often: a .forward or alias entry that cannot be expanded.'),
        'remedy': 'Check the recipient address; on the server, add it to the virtual/alias table of the action '
                  'that matches (smtpctl update table <name>).',
        'references': (OSMTPD + ' lka_session.c: 524 5.2.4 on an empty expansion', OSMTPD_LAB),
        'notes': ('OpenSMTPD uses 5.2.4 (RFC 3463: mailing list expansion) for an unknown recipient.',),
    },
    {
        'match': {'enhanced': '5.2.4'},
        'when': {'server': 'opensmtpd'},
        'category': 'user_unknown', 'status': 'permanent', 'vendor': 'opensmtpd',
        'summary': 'Invalid recipient: OpenSMTPD found no mailbox or alias for this address.',
        'causes': ('The address is not in the virtual or alias table of the matching rule, or it expanded to no '
                   'delivery at all: an unknown recipient.',),
        'remedy': 'Check the recipient address; on the server, add it to the virtual/alias table of the action '
                  'that matches.',
        'references': (OSMTPD + ' lka_session.c: 524 5.2.4 on an empty expansion', OSMTPD_LAB),
    },
    {
        'match': {'code': 424, 'enhanced': '4.2.4', 'text': r'mailing list expansion problem'},
        'category': 'lookup_failure', 'status': 'transient', 'vendor': 'opensmtpd',
        'summary': 'OpenSMTPD could not look the recipient up now (a table or .forward lookup failed).',
        'causes': ('A table back end (file, database) or a ~/.forward read failed temporarily.',),
        'remedy': 'Retry later; the server administrator must check the table back ends and the log.',
        'references': (OSMTPD + ' lka_session.c: 424 4.2.4 on a temporary expansion failure',),
    },
    {
        'match': {'code': 550, 'text': r'^invalid recipient'},
        'category': 'recipient_not_accepted', 'status': 'permanent', 'vendor': 'opensmtpd',
        'summary': 'Invalid recipient: no OpenSMTPD rule accepts mail for this recipient from this client.',
        'causes': ('No "match ... for domain" rule covers the recipient\'s domain: a relay attempt, or a domain '
                   'the server does not serve.',
                   'The matching rule rejects it ("reject" action), or the client is not in the "from" of a relay rule.'),
        'remedy': 'Check the recipient domain and the MX record; on the server, the smtpd.conf match rules.',
        'references': (OSMTPD + ' lka_session.c: 550 Invalid recipient',),
    },
    {
        'match': {'code': 530, 'enhanced': '5.5.1', 'text': r'must issue a starttls command first'},
        'category': 'starttls_required', 'status': 'tls', 'vendor': 'opensmtpd',
        'summary': 'Must issue a STARTTLS command first: this listener only takes mail over TLS.',
        'causes': ('The listener is configured with "tls-require".',),
        'remedy': 'Use tls: starttls or required.',
        'references': (OSMTPD + ' smtp_session.c', 'RFC 3207 4'),
    },
    # --- Sendmail (cf/m4/proto.m4 rulesets) ---
    {
        'match': {'code': 550, 'enhanced': '5.1.1', 'text': r'\.\.\. user unknown'},
        'category': 'user_unknown', 'status': 'permanent', 'vendor': 'sendmail',
        'summary': 'User unknown: Sendmail has no local user or alias for this recipient.',
        'causes': ('The local part is not a user or alias (aliases, virtusertable) of a domain Sendmail serves.',),
        'remedy': 'Check the recipient address; on the server, the aliases and virtusertable maps (run newaliases '
                  'or makemap after a change).',
        'references': (SM_SRC + ': "User unknown"',),
    },
    {
        'match': {'code': 553, 'enhanced': '5.1.8', 'text': r'domain of sender address .* does not exist'},
        'category': 'sender_domain_not_found', 'status': 'permanent', 'vendor': 'sendmail',
        'summary': 'Domain of sender address does not exist: Sendmail found no DNS record for the MAIL FROM domain.',
        'causes': ('The check_mail ruleset resolved the sender\'s domain and DNS answered that it does not exist.',),
        'remedy': 'Send from a domain that resolves (MX or A), or fix the sender domain\'s DNS.',
        'references': (SM_PROTO + ': check_mail, 553 5.1.8',),
    },
    {
        'match': {'code': 451, 'enhanced': '4.1.8', 'text': r'domain of sender address .* does not resolve'},
        'category': 'sender_domain_not_found', 'status': 'transient', 'vendor': 'sendmail',
        'summary': 'Domain of sender address does not resolve: Sendmail could not look the MAIL FROM domain up now.',
        'causes': ('A DNS lookup for the sender\'s domain failed temporarily (timeout or SERVFAIL).',),
        'remedy': 'Retry later; check that the sender domain\'s name servers answer.',
        'references': (SM_PROTO + ': check_mail, 451 4.1.8',),
    },
    {
        'match': {'code': 550, 'enhanced': '5.7.1', 'text': r'relaying denied'},
        'category': 'relay_denied', 'status': 'permanent', 'vendor': 'sendmail',
        'summary': 'Relaying denied: Sendmail does not relay for this client to that domain.',
        'causes': ('The client is not allowed to relay (access map, relay-domains) and did not authenticate, and '
                   'the recipient domain is not local.',),
        'remedy': 'Authenticate, allow the client in the access map (Connect:<ip> RELAY), or add the domain to '
                  'relay-domains / the local host names.',
        'references': (SM_PROTO + ': Relaying denied',),
    },
    # --- Mimecast (Mimecast SMTP Error Codes) ---
    {
        'match': {'code': 451, 'text': r'internal resource (is )?temporarily unavailable'},
        'category': 'greylisted', 'status': 'transient', 'vendor': 'mimecast',
        'summary': 'Internal resource temporarily unavailable: Mimecast greylists or checks this sender first.',
        'causes': ('Greylisting: Mimecast has not seen this IP, sender and recipient together yet and defers the '
                   'first attempt.',
                   'The sending IP has a poor reputation and is deferred while the reputation is checked.'),
        'remedy': 'Retry (a real MTA does, from one minute on); if it persists, the recipient\'s Mimecast '
                  'administrator can add an Auto Allow or Permitted Senders entry.',
        'references': (MC + ': 451',),
    },
    {
        'match': {'code': 550, 'text': r'administrative prohibition|envelope blocked'},
        'category': 'sender_blocked_by_policy', 'status': 'permanent', 'vendor': 'mimecast',
        'summary': 'Administrative prohibition, envelope blocked: a Mimecast Blocked Senders policy refuses this '
                   'sender.',
        'causes': ('A Blocked Senders policy of the recipient organisation (or a user\'s own block entry, '
                   '"User Entry") matches the sender address or domain.',),
        'remedy': 'Ask the recipient\'s Mimecast administrator to remove the block; Mimecast deals only with its '
                  'customers\' contacts.',
        'references': (MC + ': 550',),
    },
    {
        'match': {'code': 421, 'text': r'sender address blocked'},
        'category': 'sender_blocked_by_policy', 'status': 'transient', 'vendor': 'mimecast',
        'summary': 'Sender address blocked: a Mimecast Blocked Senders policy refuses this sending IP.',
        'causes': ('The sending IP address is in a Blocked Senders policy of the recipient organisation.',),
        'remedy': 'Ask the recipient\'s Mimecast administrator to remove the entry.',
        'references': (MC + ': 421',),
    },
    {
        'match': {'code': 421, 'text': r'unable to process connection at this time'},
        'category': 'service_not_available', 'status': 'transient', 'vendor': 'mimecast',
        'summary': 'Unable to process connection at this time: the Mimecast server is at maximum load.',
        'causes': ('Load on the Mimecast side.',),
        'remedy': 'Retry later; real MTAs retry automatically.',
        'references': (MC + ': 421',),
    },
    # --- Proofpoint ---
    *_for_codes((550, 554), {
        'match': {'text': r'ipcheck\.proofpoint\.com'},
        'category': 'sending_ip_reputation_blocked', 'status': 'permanent', 'vendor': 'proofpoint',
        'summary': 'Blocked by Proofpoint: the sending IP has a poor Proofpoint Dynamic Reputation.',
        'causes': ('Proofpoint\'s reputation service lists the sending IP (spam traps, complaints, sudden volume).',),
        'remedy': 'Look the IP up at ipcheck.proofpoint.com and request a review there after fixing the cause.',
        'references': (PP,),
    }),
    # --- Cisco Secure Email (IronPort, AsyncOS mail flow policies) ---
    {
        'match': {'code': 421, 'text': r'too many concurrent smtp connections'},
        'category': 'connection_limit', 'status': 'transient', 'vendor': 'cisco',
        'summary': 'Too many concurrent SMTP connections from this IP: the gateway\'s mail flow policy limit.',
        'causes': ('The sender holds more parallel connections than the mail flow policy allows per IP.',),
        'remedy': 'Open fewer parallel connections; retry later.',
        'references': (CISCO + ': max. concurrent connections from a single IP',),
    },
    {
        'match': {'code': 452, 'text': r'too many recipients received this hour'},
        'category': 'recipient_rate_limited', 'status': 'transient', 'vendor': 'cisco',
        'summary': 'Too many recipients received this hour: the gateway rate-limits this sender.',
        'causes': ('The sending IP or host passed the mail flow policy\'s maximum recipients per hour.',),
        'remedy': 'Send the rest later; ask the recipient organisation to raise the limit for this sender.',
        'references': (CISCO + ': rate limiting, max. recipients per hour',),
    },
    # --- Barracuda ---
    {
        'match': {'code': 554, 'text': r'blocked using barracuda reputation'},
        'category': 'dnsbl_listed', 'status': 'permanent', 'vendor': 'barracuda',
        'summary': 'Client host blocked using Barracuda Reputation: the sending IP is on the Barracuda Reputation '
                   'Block List.',
        'causes': ('The IP in the reply (which may be the submitting client from a Received header, not the sending '
                   'server) is listed on Barracuda\'s reputation list.',),
        'remedy': 'Look the IP up at barracudacentral.org and request removal after fixing the cause.',
        'references': (BARRACUDA + ': Barracuda Reputation Block List',),
    },
    {
        'match': {'code': 550, 'text': r'permanent failure for one or more recipients'},
        'category': 'recipient_policy_rejected', 'status': 'permanent', 'vendor': 'barracuda',
        'summary': 'Permanent failure for one or more recipients: the recipient\'s Barracuda gateway blocked the '
                   'message by policy.',
        'causes': ('A block list, content or reputation policy of the recipient organisation (the text names the '
                   'recipient and "blocked").',),
        'remedy': 'Ask the recipient\'s mail administrator which Barracuda policy blocked it.',
        'references': (BARRACUDA + ': bounce seen from *.ess.barracudanetworks.com',),
    },
    # --- Without a vendor: the meaning is RFC 5321's ---
    {
        'match': {'code': 452, 'text': r'too many recipients'},
        'category': 'too_many_recipients', 'status': 'transient',
        'summary': 'Too many recipients for this transaction: send the rest in another one.',
        'causes': ('The server\'s per-message recipient limit was reached.',),
        'remedy': 'Send the remaining recipients in a new transaction (an MTA does this by itself).',
        'references': ('RFC 5321 4.5.3.1.10',),
    },
)

# ---------------------------------------------------------------------------------------------------------------
# 6. A passed dialogue, by the last step that ran (diagnose_success).
# ---------------------------------------------------------------------------------------------------------------
SUCCESS = (
    {
        'match': {'step': ('mx',)},
        'category': 'mx_ok', 'status': 'ok',
        'summary': 'MX records found; the exchangers have addresses.',
        'causes': ('The domain publishes MX records and every exchanger resolves to an address.',),
        'remedy': 'Nothing to fix.',
        'references': ('RFC 5321 5.1', G_NSLOOKUP),
    },
    {
        'match': {'step': ('route',)},
        'category': 'route_ok', 'status': 'ok',
        'summary': 'An exchanger of the domain accepts the recipients, as an MTA would find it.',
        'causes': ('The MX lookup succeeded and the first exchanger tried in preference order accepted.',),
        'remedy': 'Nothing to fix.',
        'references': ('RFC 5321 5.1',),
    },
    {
        'match': {'step': ('connect', 'banner')},
        'category': 'server_reachable', 'status': 'ok',
        'summary': 'The server is reachable and greets correctly.',
        'causes': ('The probe stopped after the greeting as asked.',), 'remedy': 'Nothing to fix.',
        'references': (G_OPEN,),
    },
    {
        'match': {'step': ('ehlo', 'helo', 'starttls', 'ehlo_tls', 'auth')},
        'category': 'session_ok', 'status': 'ok',
        'summary': 'The session setup passed (greeting, EHLO, and TLS/AUTH where asked).',
        'causes': ('The probe stopped before the mail transaction as asked.',), 'remedy': 'Nothing to fix.',
        'references': (G_EHLO,),
    },
    {
        'match': {'step': ('mail', 'rcpt', 'rset')},
        'category': 'recipients_accepted', 'status': 'ok',
        'summary': 'The server accepts this sender and these recipients (no message was sent).',
        'causes': ('The probe stopped before DATA as asked.',), 'remedy': 'Nothing to fix.',
        'references': (G_RCPT,),
    },
    {
        'match': {'step': ('data', 'message')},
        'category': 'message_queued', 'status': 'ok',
        'summary': 'The message was accepted and queued for delivery.',
        'causes': ('Every step got the expected reply.',), 'remedy': 'Nothing to fix.',
        'references': (G_SESSION,),
    },
    {
        'match': {'step': ('quit',)},
        'category': 'dialogue_ok', 'status': 'ok',
        'summary': 'The whole dialogue passed: every step got the expected reply.',
        'causes': ('Every step got the expected reply.',), 'remedy': 'Nothing to fix.',
        'references': (G_SESSION,),
    },
    {
        'match': {},
        'category': 'dialogue_ok', 'status': 'ok',
        'summary': 'The dialogue passed: every step got the expected reply.',
        'causes': ('Every step got the expected reply.',), 'remedy': 'Nothing to fix.',
        'references': (G_SESSION,),
    },
)

UNKNOWN = {
    'match': {},
    'category': 'unknown', 'status': 'protocol',
    'summary': 'Not a reply code or condition this catalog can explain.',
    'causes': ('The value is not an SMTP reply line, a basic code (200-599), an enhanced code (2/4/5.x.y) or a '
               'known condition name.',),
    'remedy': 'Pass a reply line such as "550 5.1.1 User unknown", a code such as 550 or "5.7.1", or a step reply.',
    'references': ('RFC 5321 4.2', 'RFC 3463'),
}

# Notes that depend on the dialogue context (the server may come from the reply text, see the classifier): `when` as
# for entries; failures_only: only when the status is not ok; unless_category: not when the entry already says it.
CONTEXT_NOTES = (
    {
        'when': {'port': 2525, 'server': 'exchange'},
        'note': EXCHANGE_2525,
        'failures_only': False, 'unless_category': ('internal_receive_connector',),
    },
    {
        'when': {'port': 587, 'authenticated': (False, None)},
        'note': 'Port 587 is message submission: expect STARTTLS and AUTH before MAIL FROM (RFC 6409).',
        'failures_only': True, 'unless_category': (),
    },
    {
        'when': {'port': 465, 'tls': (False, None)},
        'note': 'Port 465 is submission over implicit TLS: use tls: implicit (RFC 8314).',
        'failures_only': True, 'unless_category': (),
    },
)
STANDARD_SMTP_PORTS = (25, 465, 587, 2525)
# Conditions at connect/greeting time where an unusual port number is worth pointing out.
PORT_CHECK_ERRORS = (E.CONNECTION_REFUSED, E.CONNECT_TIMEOUT, E.COMMAND_TIMEOUT, E.REPLY_MALFORMED,
                     E.CONNECTION_CLOSED, E.CONNECTION_RESET)

# Banner and EHLO signatures for identify_server(): the first row (in this order) found in any line names the server.
# Gateways and Exchange Online come first: their banners may also carry a generic MTA's words.
SERVER_SIGNATURES = (
    {'vendor': 'exchange_online', 'pattern': r'\.(?:mail\.)?protection\.outlook\.com\b|\.outlook\.office365\.com\b',
     'source': 'Exchange Online MX and frontend host names (<domain>.mail.protection.outlook.com, '
               '*.prod.protection.outlook.com) in Microsoft 365 DNS setup and public transcripts'},
    {'vendor': 'mimecast', 'pattern': r'\bmimecast\.com\b',
     'source': 'Mimecast inbound MX host names (*-smtp-inbound-*.mimecast.com), Mimecast MX records article'},
    {'vendor': 'proofpoint', 'pattern': r'\bpphosted\.com\b|\bppe-hosted\.com\b',
     'source': 'Proofpoint hosted MX host names (mx0a-*.pphosted.com; Proofpoint Essentials *.ppe-hosted.com)'},
    {'vendor': 'cisco', 'pattern': r'\biphmx\.com\b|\bIronPort\b',
     'source': 'Cisco Secure Email Cloud Gateway host names (*.iphmx.com); IronPort in AsyncOS banners'},
    {'vendor': 'barracuda', 'pattern': r'\bbarracudanetworks\.com\b|\bBarracuda\b',
     'source': 'Barracuda Email Security Service MX host names (*.ess.barracudanetworks.com)'},
    {'vendor': 'exchange', 'pattern': r'Microsoft ESMTP MAIL Service|^(?:250[- ])?(?:X-EXPS|XEXCH50|X-ANONYMOUSTLS|XRDST)\b',
     'source': 'Exchange Telnet guide (220 ... Microsoft ESMTP MAIL Service ready); [MS-OXSMTP] EHLO keywords '
               'X-EXPS, XEXCH50, X-ANONYMOUSTLS, XRDST'},
    {'vendor': 'postfix', 'pattern': r'\bESMTP Postfix\b',
     'source': 'Postfix smtpd_banner default ($myhostname ESMTP $mail_name); observed in the lab: '
               '"220 mx1.fabrikam.test ESMTP Postfix"'},
    {'vendor': 'exim', 'pattern': r'\bESMTP Exim\b',
     'source': 'Exim smtp_banner default ($smtp_active_hostname ESMTP Exim $version_number $tod_full)'},
    {'vendor': 'opensmtpd', 'pattern': r'\bESMTP OpenSMTPD\b',
     'source': 'OpenSMTPD smtp_session.c: "220 %s ESMTP OpenSMTPD"'},
    {'vendor': 'sendmail', 'pattern': r'\bSendmail\b',
     'source': 'Sendmail confSMTP_LOGIN_MSG default ($j Sendmail $v/$Z; $b)'},
)

# What the classifier walks, by kind. The order inside each kind does not matter for lookups (the index does).
KINDS = (
    ('guide', GUIDE),
    ('transport', TRANSPORT),
    ('vendor', VENDOR),
    ('rfc5321', RFC5321),
    ('rfc3463', RFC3463),
    ('rfc3463_subject', RFC3463_SUBJECTS),
    ('class', CLASSES),
    ('policy', POLICY),
    ('sender', SENDER),
)
