# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks the files of the report_security target.

check_files.py report DIR     the security rows in report.md, report.html, report.xml and report.json
check_files.py regressed DIR  baseline-diff.json names exactly the four regressions
"""

import html.parser
import json
import os
import sys
from xml.etree import ElementTree as ET

ROWS = {
    # check id: (status, brief) as the lab gives them in the "before" phase
    'inbound/policy-lab/mta_sts/lab-domain': ('pass', 'mode enforce'),
    'inbound/dane-lab/dane/lab-mx': ('pass', 'mx.ee-11.dane.test: match 3 1 1 (DANE-EE SPKI SHA2-256)'),
    'outbound/sender.test/egress_identity/transport1':
        ('pass', u'PTR mta1.sender.test \u00b7 FCrDNS pass \u00b7 EHLO match \u00b7 SPF pass'),
    'outbound/good.sender.test/spf/good.sender.test': ('pass', '1 of 10 lookups, -all'),
    'outbound/good.sender.test/dmarc/good.sender.test': ('pass', 'p=reject'),
    'inbound/sender.test/smtp_smuggling/smuggle-open': ('fail', 'exposed: <LF>.<LF>, <LF>.<CR><LF>, <CR><LF>.<LF>'),
    'inbound/sender.test/smtp_smuggling/smuggle-strict': ('pass', 'safe: 8 sequences'),
    'inbound/fabrikam.test/open_relay/mx1.fabrikam.test': ('pass', 'rcpt 554 5.7.1 (expected)'),
}


def fail(message):
    print('check_files.py: FAILED: ' + message, file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def read(directory, name):
    with open(os.path.join(directory, name), encoding='utf-8') as handle:
        return handle.read()


class SecurityCells(html.parser.HTMLParser):
    """The rows of the HTML page's Security section: [heading, cell, ...] texts."""

    def __init__(self):
        super().__init__()
        self.inside = False
        self.rows = []
        self.cell = None

    def handle_starttag(self, tag, attrs):
        if tag == 'section' and dict(attrs).get('class') == 'security':
            self.inside = True
        elif self.inside and tag == 'tr':
            self.rows.append([])
        elif self.inside and tag in ('th', 'td'):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == 'section':
            self.inside = False
        elif self.inside and tag in ('th', 'td') and self.cell is not None:
            self.rows[-1].append(''.join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def check_report(directory):
    document = json.loads(read(directory, 'report.json'))
    records = dict((record['id'], record) for record in document['checks'])
    security = [record for record in document['checks'] if record['area'] == 'security']
    expect(sorted(record['id'] for record in security) == sorted(ROWS),
           'security rows: %s' % sorted(record['id'] for record in security))
    for check_id, (status, brief) in ROWS.items():
        record = records[check_id]
        expect((record['status'], record['brief']) == (status, brief), '%s: %r' % (check_id, (record['status'], record['brief'])))
    expect(document['security'] == [column['id'] for column in document['columns'] if column['area'] == 'security'],
           'document security ids')
    expect(document['columns'][-1]['area'] == 'security', 'the security columns come last')
    roundtrip = records['roundtrip/roundtrip.test/roundtrip/monitored-mailbox']
    expect(roundtrip['area'] == 'delivery' and roundtrip['status'] == 'pass', 'round trip row: %r' % roundtrip['status'])

    markdown = read(directory, 'report.md')
    expect('## Security' in markdown, 'report.md has no Security section')
    table = markdown.split('## Security')[1].split('## Failures')[0]
    lines = [line for line in table.splitlines() if line.startswith('| ') and not line.startswith('| check ')]
    expect(len(lines) == len(ROWS), 'report.md security lines: %r' % lines)
    expect(u'| mta_sts | lab-domain | \u2714 mode enforce |' in table, 'report.md mta_sts line')
    expect(u'| egress_identity | transport1 | \u2714 PTR mta1.sender.test' in table, 'report.md egress line')
    expect(u'| open_relay | mx1.fabrikam.test | \u2714 rcpt 554 5.7.1 (expected) |' in table, 'report.md open relay line')
    failures = markdown.split('## Failures')[1]
    expect('**smtp_smuggling** smuggle-open (security)' in failures, 'report.md failure of the open Postfix')
    expect('**Causes** (`smtp_smuggling`): Postfix before 3.9' in failures, 'report.md causes with category')
    expect('**Remedy:** Postfix: smtpd_forbid_bare_newline' in failures, 'report.md remedy')

    parser = SecurityCells()
    parser.feed(read(directory, 'report.html'))
    rows = parser.rows[1:]
    expect(len(rows) == len(ROWS), 'report.html security rows: %d' % len(rows))
    smuggling = [row for row in rows if row[0] == 'smtp_smugglingsmuggle-open'][0]
    expect(smuggling[1].startswith(u'\u2716exposed: <LF>.<LF>'), 'report.html smuggling cell: %r' % smuggling[1][:60])
    expect('category: smtp_smuggling' in smuggling[1] and 'Remedy: Postfix' in smuggling[1], 'report.html diagnosis')
    expect(any(row[0] == 'danelab-mx' and row[1].startswith(u'\u2714mx.ee-11.dane.test: match') for row in rows),
           'report.html dane row')

    root = ET.fromstring(read(directory, 'report.xml').encode('utf-8'))
    cases = [case for case in root.iter('testcase') if case.get('classname').startswith('mailflow.edge1.security.')]
    expect(len(cases) == len(ROWS), 'report.xml security testcases: %d' % len(cases))
    failed = [case for case in cases if case.find('failure') is not None]
    expect([case.get('name') for case in failed] == ['smtp_smuggling @ smuggle-open'], 'report.xml failures')
    failure = failed[0].find('failure')
    expect(failure.get('type') == 'smtp_smuggling' and 'cause: ' in failure.text and 'remedy: ' in failure.text,
           'report.xml failure diagnosis')
    print('check_files.py: report: %d security rows in JSON, Markdown, HTML and JUnit' % len(ROWS))


def check_regressed(directory):
    diff = json.loads(read(directory, 'baseline-diff.json'))
    expect(diff['verdict'] == 'regressed', 'verdict %r' % diff['verdict'])
    regressions = dict((change['id'], change) for change in diff['changes'] if change['kind'] == 'regression')
    expect(sorted(regressions) == sorted([
        'inbound/policy-lab/mta_sts/lab-domain', 'inbound/dane-lab/dane/lab-mx',
        'outbound/sender.test/egress_identity/transport1', 'roundtrip/roundtrip.test/roundtrip/monitored-mailbox']),
        'regressions: %s' % sorted(regressions))
    mode = regressions['inbound/policy-lab/mta_sts/lab-domain']
    expect(mode.get('reason') == 'watched' and mode['fields'] == {'mta_sts mode': ['enforce', 'testing']}, 'mode: %r' % mode)
    dane = regressions['inbound/dane-lab/dane/lab-mx']
    expect(dane['fields'] == {'tlsa': ['match', 'no_match']} and 'no match' in dane['after'], 'dane: %r' % dane)
    egress = regressions['outbound/sender.test/egress_identity/transport1']
    expect(egress['fields'] == {'ptr name': ['mta1.sender.test', 'mta3.sender.test'], 'fcrdns': ['pass', 'fail']},
           'egress: %r' % egress)
    latency = regressions['roundtrip/roundtrip.test/roundtrip/monitored-mailbox']
    before, after = latency['latency_s']
    expect(latency['reason'] == 'latency' and after - before > 2 and after > 2 * before, 'latency: %r' % latency)
    expect(diff['latency_threshold'] == {'growth_s': 2.0, 'growth_factor': 2.0}, 'threshold %r' % diff['latency_threshold'])
    markdown = read(directory, 'baseline-diff.md')
    expect('the MTA-STS mode changed' in markdown and 'past the threshold (+2 s and x2)' in markdown, 'baseline-diff.md')
    print('check_files.py: regressed: MTA-STS mode, TLSA match, egress PTR/FCrDNS and latency %.3f s -> %.3f s'
          % (before, after))


if __name__ == '__main__':
    if len(sys.argv) != 3 or sys.argv[1] not in ('report', 'regressed'):
        fail('usage: check_files.py report|regressed DIR')
    {'report': check_report, 'regressed': check_regressed}[sys.argv[1]](sys.argv[2])
