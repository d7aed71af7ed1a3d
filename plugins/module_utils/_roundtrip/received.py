# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Received chain of a delivered message, as hops (RFC 5321 4.4, RFC 5322 3.6.7).

Each MTA puts its Received header on top, so the headers read bottom-up are the path. A hop is the reception one
header records: who handed the message over (``from``), who took it (``by``), the protocol, the queue id, the time
and, where the header says, TLS protocol and cipher. ``delay_s`` is the time since the previous hop (the first hop:
since the message was sent, when that is known): the time the previous host held the message.
"""

from __future__ import annotations

import datetime
import email.utils
import ipaddress
import re

_KEYWORDS = ('from', 'by', 'via', 'with', 'id', 'for')
# TLS as each MTA family writes it into Received.
_TLS_PATTERNS = (
    # Postfix: (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) ...)
    re.compile(r'using\s+(?P<protocol>(?:TLS|SSL)v?[\d.]+)\s+with\s+cipher\s+(?P<cipher>[\w-]+)', re.IGNORECASE),
    # Microsoft: (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)
    re.compile(r'version=(?P<protocol>TLS1_\d)(?:,\s*cipher=(?P<cipher>[\w-]+))?', re.IGNORECASE),
    # Sendmail: (version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=NOT)
    re.compile(r'version=(?P<protocol>TLSv[\d.]+)\s+cipher=(?P<cipher>[\w-]+)', re.IGNORECASE),
    # Exim: with esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384
    re.compile(r'\((?P<protocol>TLS\s?1\.\d)\)\s*(?:tls\s+(?P<cipher>[\w-]+))?', re.IGNORECASE),
)
# RFC 3848: ESMTPS, ESMTPSA, LMTPS, ... say TLS was used even when the header gives no detail.
_TLS_WITH = re.compile(r'^(?:E?SMTPS|ESMTPSA|LMTPS|LMTPSA|UTF8SMTPS|UTF8SMTPSA)$', re.IGNORECASE)
_ADDRESS_LITERAL = re.compile(r'\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]')


def _clauses(text):
    """Clause keyword -> (value, comments after it) for the part before the date."""
    found = {}
    # Keep each comment where it was, to give it to the clause it follows.
    tokens = re.split(r'(\((?:[^()\\]|\\.|\((?:[^()\\]|\\.)*\))*\))', text)
    current = None
    for token in tokens:
        if token.startswith('('):
            if current is not None:
                found[current][1].append(' '.join(token[1:-1].split()))
            continue
        words = token.split()
        for word in words:
            lowered = word.lower()
            if lowered in _KEYWORDS and lowered not in found:
                current = lowered
                found[current] = ['', []]
            elif current is not None and not found[current][0]:
                found[current][0] = word
    return dict((key, (value, comments)) for key, (value, comments) in found.items())


def _address_in(text):
    """The IP address of an address literal ([192.0.2.1], [IPv6:...]) in the text, or of the text's first word
    (Exchange writes "(10.0.0.11)"); None when there is none."""
    match = _ADDRESS_LITERAL.search(text or '')
    candidates = [match.group(1)] if match else []
    candidates += (text or '').split()[:1]
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate.strip('[]')))
        except ValueError:
            continue
    return None


def parse_time(text):
    """The date after the last ';' as an aware datetime in UTC, or None."""
    if not text or not text.strip():
        return None
    try:
        stamp = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        # RFC 5322 -0000: the time is UTC with no information on the local zone.
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.astimezone(datetime.timezone.utc)


def tls_of(text, with_protocol=None):
    """{protocol, cipher} from a Received header's text; {protocol: None, cipher: None} when only the ``with``
    keyword says TLS (ESMTPS); None when nothing says TLS."""
    unfolded = ' '.join(text.split())
    for pattern in _TLS_PATTERNS:
        match = pattern.search(unfolded)
        if match:
            protocol = match.group('protocol').replace(' ', '')
            return {'protocol': protocol, 'cipher': match.group('cipher')}
    if with_protocol and _TLS_WITH.match(with_protocol):
        return {'protocol': None, 'cipher': None}
    return None


def parse_received(value):
    """One Received header value -> a hop dict (without index and delay)."""
    unfolded = ' '.join(str(value).split())
    head, _sep, date_text = unfolded.rpartition(';')
    if not _sep:
        head, date_text = unfolded, ''
    clauses = _clauses(head)
    stamp = parse_time(date_text)

    def clause(name):
        return clauses.get(name, ('', []))

    from_host, from_comments = clause('from')
    with_protocol = clause('with')[0] or None
    from_ip = None
    for text in [from_host] + from_comments:
        from_ip = _address_in(text)
        if from_ip:
            break
    recipient = clause('for')[0].strip('<>') or None
    return {
        'from': from_host or None,
        'from_ip': from_ip,
        'from_detail': '; '.join(from_comments) or None,
        'by': clause('by')[0] or None,
        'with': with_protocol,
        'id': clause('id')[0].rstrip(';') or None,
        'for': recipient,
        'time': stamp.isoformat() if stamp else None,
        'epoch': stamp.timestamp() if stamp else None,
        'tls': tls_of(head, with_protocol),
        'raw': unfolded,
    }


def parse_chain(values, sent_at=None):
    """Received header values as they stand in the message (newest first) -> hops oldest first.

    ``sent_at``: epoch seconds when the message was handed to the first server; the first hop's delay is measured
    from it (in whole seconds, as the headers are)."""
    hops = []
    previous = float(int(sent_at)) if sent_at is not None else None
    for index, value in enumerate(reversed(list(values or []))):
        hop = parse_received(value)
        hop['index'] = index
        epoch = hop['epoch']
        hop['delay_s'] = round(epoch - previous, 3) if epoch is not None and previous is not None else None
        if epoch is not None:
            previous = epoch
        hops.append(hop)
    for hop in hops:
        del hop['epoch']
    return hops


def slowest_hop(hops):
    """The hop with the largest delay, with ``held_by``: the host that had the message during that delay (the
    previous hop's receiver, else this hop's sender); None when no hop has a delay."""
    timed = [hop for hop in hops if hop.get('delay_s') is not None]
    if not timed:
        return None
    hop = max(timed, key=lambda each: each['delay_s'])
    index = hop['index']
    held_by = hops[index - 1]['by'] if index > 0 and hops[index - 1].get('by') else (hop.get('from') or 'the sender')
    return {'index': index, 'by': hop.get('by'), 'from': hop.get('from'), 'delay_s': hop['delay_s'],
            'held_by': held_by}


def header_latency(hops):
    """Seconds between the first and the last timed hop (header resolution: whole seconds), or None."""
    times = [hop['time'] for hop in hops if hop.get('time')]
    if len(times) < 2:
        return None
    first = datetime.datetime.fromisoformat(times[0])
    last = datetime.datetime.fromisoformat(times[-1])
    return (last - first).total_seconds()
