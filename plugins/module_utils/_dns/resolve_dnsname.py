# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MX resolution from ``Resolve-DnsName`` answers (the Windows path of mx_lookup and mx_probe).

``win_mx_lookup.ps1`` asks the host's resolver the questions ``mx.resolve_mx`` would ask and
returns each question with its raw records and the Windows error code. ``answer_source`` turns
them into the ``source`` that ``resolve_mx``/``resolve_many`` take, so order, preference groups,
null MX, implicit MX, CNAME and dangling warnings and statuses are the Linux code, unchanged.

Plain Python: no Ansible import, no dnspython.
"""

from __future__ import annotations

from .mx import Reply, resolve_many

# Windows DNS error codes (winerror.h) -> the query outcome the dnspython path gives for the same case.
WINDOWS_DNS_ERRORS = {
    9001: ('DNS_ERROR_RCODE_FORMAT_ERROR', 'error'),
    9002: ('DNS_ERROR_RCODE_SERVER_FAILURE', 'servfail'),
    9003: ('DNS_ERROR_RCODE_NAME_ERROR', 'nxdomain'),
    9004: ('DNS_ERROR_RCODE_NOT_IMPLEMENTED', 'error'),
    9005: ('DNS_ERROR_RCODE_REFUSED', 'error'),
    9501: ('DNS_INFO_NO_RECORDS', 'nodata'),
    9502: ('DNS_ERROR_BAD_PACKET', 'error'),
    9503: ('DNS_ERROR_NO_PACKET', 'error'),
    9701: ('DNS_ERROR_RECORD_DOES_NOT_EXIST', 'nodata'),
    9852: ('DNS_ERROR_NO_DNS_SERVERS', 'error'),
    1460: ('ERROR_TIMEOUT', 'timeout'),
    10060: ('WSAETIMEDOUT', 'timeout'),
}
UNKNOWN_ERROR_OUTCOME = 'error'

# Resolve-DnsName's record types (Microsoft.DnsClient.Commands.RecordType) and sections (DnsSection).
RECORD_TYPES = {1: 'A', 5: 'CNAME', 6: 'SOA', 15: 'MX', 28: 'AAAA'}
ANSWER_SECTION = 1
_SECTION_NAMES = {'question': 0, 'answer': 1, 'authority': 2, 'additional': 3}


def _type_name(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return RECORD_TYPES.get(value, str(value))
    return str(value or '').upper()


def _in_answer(record):
    section = record.get('Section', ANSWER_SECTION)
    if isinstance(section, str):
        section = _SECTION_NAMES.get(section.lower())
    return section == ANSWER_SECTION


def _host_text(name):
    return str(name or '').rstrip('.').lower()


def error_outcome(code):
    """(Windows error name, query outcome) for a Windows error code."""
    name, outcome = WINDOWS_DNS_ERRORS.get(code, (None, UNKNOWN_ERROR_OUTCOME))
    return name or f'error {code}', outcome


def _alias_chain(name, records):
    """Names from the question to the canonical name, following the answer's CNAME records."""
    targets = dict((_host_text(record.get('Name')), _host_text(record.get('NameHost')))
                   for record in records if _type_name(record.get('Type')) == 'CNAME')
    chain = [name]
    while chain[-1] in targets and targets[chain[-1]] not in chain:
        chain.append(targets[chain[-1]])
    return chain


def reply_from_answer(name, rdtype, answer, options):
    """A ``mx.Reply`` from one ``win_mx_lookup`` question: ``{name, type, records, error_code, error_message}``."""
    nameserver = options.nameservers[0] if options.nameservers and len(options.nameservers) == 1 else None
    code = answer.get('error_code')
    if code:
        error_name, outcome = error_outcome(code)
        detail = answer.get('error_message') or ''
        if outcome == 'nxdomain':
            message = f'{name} does not exist (NXDOMAIN)'
        elif outcome == 'timeout':
            message = (f'no answer for {name} {rdtype} within the {options.lifetime:g} s lifetime '
                       f'(Resolve-DnsName {code} {error_name})')
        else:
            message = f"Resolve-DnsName {name} {rdtype}: {code} {error_name}{': ' + detail if detail else ''}"
        return Reply(outcome, nameserver=nameserver, port=options.port,
                     message=None if outcome == 'nodata' else message)
    answered = [record for record in answer.get('records') or [] if _in_answer(record)]
    chain = _alias_chain(name, answered)
    wanted = [record for record in answered if _type_name(record.get('Type')) == rdtype]
    if rdtype == 'MX':
        values = [(int(record.get('Preference') or 0), _host_text(record.get('NameExchange'))) for record in wanted]
    else:
        values = [str(record.get('IPAddress')) for record in wanted if record.get('IPAddress')]
    ttls = [int(record['TTL']) for record in wanted if record.get('TTL') is not None]
    return Reply('answer' if values else 'nodata', records=values, chain=chain, ttl=min(ttls) if ttls else None,
                 nameserver=nameserver, port=options.port)


class AnswerBook:
    """The answers win_mx_lookup gave so far, by (name, type), and the questions still to ask.

    ``ask`` is the ``source`` for ``mx.resolve_mx``: a question without an answer yet is noted
    in ``missing`` and answered with an error, so a pass over the domains shows the next
    questions the MTA logic needs (MX first, then the addresses its answers lead to).
    """

    def __init__(self, options):
        self.options = options
        self.answers = {}
        self.missing = set()

    def add(self, answers):
        for answer in answers or []:
            self.answers[(_host_text(answer.get('name')), str(answer.get('type') or '').upper())] = answer

    def ask(self, name, rdtype):
        question = (_host_text(name), rdtype)
        answer = self.answers.get(question)
        if answer is None:
            self.missing.add(question)
            return Reply('error', port=self.options.port, message='Resolve-DnsName gave no answer for {} {}'.format(*question))
        return reply_from_answer(question[0], rdtype, answer, self.options)


# MX, then the exchangers' (or the domain's own) addresses: two rounds; one more would mean a loop.
MAX_ROUNDS = 3


def resolve_on_host(domains, options, ask_host):
    """mx records for ``domains`` (already normalised), with the questions asked by ``ask_host``.

    ``ask_host(questions)`` runs win_mx_lookup on the managed host: it takes a sorted list of
    ``(name, type)`` and returns its ``answers``. Every round asks only what the previous
    round's answers lead to.
    """
    book = AnswerBook(options)
    records = []
    for round_number in range(MAX_ROUNDS + 1):
        records = resolve_many(domains, options, max_workers=1, source=book.ask)
        questions = sorted(book.missing)
        if not questions or round_number == MAX_ROUNDS:
            break
        book.missing = set()
        book.add(ask_host(questions))
    return records
