# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a round trip's outcome means: the diagnosis entries (data) and the rule that picks one.

``RULES`` is read top-down: the first entry whose ``when`` fields all equal the run's facts is the diagnosis.
The facts are ``mailbox_ok`` (the mailbox could be opened), ``accepted`` (the first server queued the message),
``delivered`` (found before the timeout), ``junk`` (found in a junk folder) and ``delayed`` (latency over
max_latency). Texts are ``str.format`` templates over the run's details (see ``engine``).
"""

from __future__ import annotations

RULES = (
    ('mailbox_unreachable', {'mailbox_ok': False}),
    ('refused_at_submission', {'accepted': False}),
    ('not_delivered', {'delivered': False}),
    ('delivered_to_junk', {'junk': True}),
    ('delayed', {'delayed': True}),
    ('delivered', {}),
)

ENTRIES = {
    'delivered': {
        'status': 'ok',
        'summary': 'delivered to {folder} in {latency_s} s over {hop_count} hops',
        'causes': [],
        'remedy': 'Nothing to do.',
    },
    'mailbox_unreachable': {
        'status': 'mailbox',
        'summary': 'the mailbox could not be opened ({mailbox_error}); no message was sent',
        'causes': [
            'The IMAP server is down, or does not listen on that address and port.',
            'The certificate does not verify against ca_path, or its name is not the one connected to.',
            'The user name or password is wrong, or the account is locked.',
            'The Maildir path does not exist on the managed host.',
        ],
        'remedy': 'Check the mailbox settings with an IMAP client (openssl s_client -connect HOST:993) and the '
                  'account; the round trip sends nothing until the mailbox it waits at can be read.',
    },
    'refused_at_submission': {
        'status': 'refused',
        'summary': '{server} refused the message at {step}{reply}: {smtp_summary}',
        'causes': [
            'The submission service wants AUTH, or the credentials are wrong (530, 535).',
            'The sender or the recipient is not allowed through this server (relay access denied, 550 5.7.1).',
            'The server is down or not listening on the port (no reply).',
        ],
        'remedy': 'Read the SMTP diagnosis in smtp.diagnosis: it says what the refusal means and what to change; '
                  'run smtp_probe against the same server for the full dialogue.',
    },
    'not_delivered': {
        'status': 'not_delivered',
        'summary': 'not delivered within {timeout} s: {server} accepted it as {queued_as}, and it did not reach '
                   '{folders}',
        'causes': [
            'The message is still queued on a hop (a deferred delivery, an unreachable next hop, a full disk).',
            'A hop discarded, quarantined or bounced it (a content filter, a discard rule, an unknown recipient).',
            'A mailbox rule filed it into a folder that is not watched, or the timeout is shorter than the path.',
        ],
        'remedy': 'Follow queue id {queued_as} in the log of {server} (postqueue -p, Get-MessageTrackingLog on '
                  'Exchange): it names the next hop and what happened there; then follow the next queue id.',
    },
    'delivered_to_junk': {
        'status': 'junk',
        'summary': 'delivered in {latency_s} s, but into {folder}: a spam filter classed the test message as junk',
        'causes': [
            'A content filter or mailbox rule (Sieve, an Outlook rule, Exchange Online Protection) marked it as spam.',
            'The sender domain fails SPF, DKIM or DMARC at the receiving side.',
            'The sending host has a poor reputation or no matching reverse DNS.',
        ],
        'remedy': 'Read the filter headers of the message (X-Spam-*, Authentication-Results, X-Forefront-*) and '
                  'the mailbox rules; allow the test sender or fix the authentication that failed.',
    },
    'delayed': {
        'status': 'delayed',
        'summary': 'delivered in {latency_s} s, over max_latency {max_latency} s; {held_by} held it {hold_s} s '
                   '(hop {hop_index}: to {hop_by})',
        'causes': [
            'A queue on that hop: a deferred delivery retried later, a greylisting or throttling peer.',
            'A content filter (antivirus, spam scanning) that is slow or overloaded.',
            'A slow connection or a tarpit on the next hop.',
        ],
        'remedy': 'Look at the log of {held_by} around the time of hop {hop_index} (its delays= field in Postfix); '
                  'compare with the baseline of earlier round trips.',
    },
}


def choose(facts):
    """The diagnosis category for the run's facts (first matching rule)."""
    for category, when in RULES:
        if all(facts.get(key) == value for key, value in when.items()):
            return category
    raise ValueError(f'no rule matches {facts!r}')


class _Blank(dict):
    def __missing__(self, key):
        return '?'


def explain(category, details, notes=None):
    """The diagnosis dict: category, status, summary, causes, remedy, notes."""
    entry = ENTRIES[category]
    values = _Blank(details)
    return {
        'category': category,
        'status': entry['status'],
        'summary': entry['summary'].format_map(values),
        'causes': list(entry['causes']),
        'remedy': entry['remedy'].format_map(values),
        'notes': list(notes or []),
    }
