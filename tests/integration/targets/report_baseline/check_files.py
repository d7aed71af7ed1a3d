# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks the files the report and baseline roles wrote, and the Chromium screenshot. Stdlib only.

    check_files.py report DIR      the four report files of runme.yml's probes
    check_files.py png FILE        the screenshot: a 1400x900 PNG showing green and red cells
    check_files.py regressed DIR   baseline-diff.json after mx2 was stopped: exactly the checks that touch mx2
    check_files.py unchanged DIR   baseline-diff.json after mx2 is back: nothing changed
"""

from __future__ import annotations

import html.parser
import json
import os
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

HOSTS = ('edge1', 'edge2')
# What tasks/probes.yml arranges, per host: the failing required checks, the failing optional one.
FAILED = {
    'inbound/fault.test/anonymous_accepted/mail-530.faultd.test': 'anonymous_submission_refused',
    'inbound/nullmx.test/mx_set/nullmx.test': 'null_mx',
}
OPTIONAL_FAILED = 'outbound/primary-down.test/port25_open/down.primary-down.test'
CHECKS = {'edge1': 10, 'edge2': 9}  # edge1 has the unlabelled adhoc_mx1 as well
SUMMARY_LINE = ('mailflow: 4 of 17 required checks failed on 2 hosts: '
                'anonymous_accepted @ mail-530.faultd.test (mail 530 5.7.1) on edge1, edge2; '
                'mx_set @ nullmx.test (null mx) on edge1, edge2')
# Stopping mx2 breaks exactly these, on both hosts: the probes of mx2, and primary-down.test, whose only working
# exchanger is mx2.
TOUCH_MX2 = {
    'inbound/fabrikam.test/recipients_accepted/mx2.fabrikam.test',
    'inbound/fabrikam.test/recipient_validation/mx2.fabrikam.test',
    'outbound/primary-down.test/deliverable/primary-down.test',
}


def fail(message):
    sys.stderr.write('check_files: FAILED: %s\n' % message)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def load_json(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


class Page(html.parser.HTMLParser):
    def __init__(self):
        html.parser.HTMLParser.__init__(self)
        self.tags = []
        self.cells = {}
        self.references = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == 'td' and 'cell' in (attributes.get('class') or '').split():
            status = attributes['class'].split()[1]
            self.cells[status] = self.cells.get(status, 0) + 1
        self.references.extend(value for name, value in attrs if name in ('src', 'href'))


def check_report(directory):
    for name in ('report.json', 'report.md', 'report.xml', 'report.html'):
        path = os.path.join(directory, name)
        expect(os.path.isfile(path) and os.path.getsize(path) > 200, '%s missing or empty' % path)

    document = load_json(os.path.join(directory, 'report.json'))
    summary = document['summary']
    expect(summary['line'] == SUMMARY_LINE, 'report.json summary line is %r' % summary['line'])
    expect((summary['checks'], summary['required'], summary['failed'], summary['optional_failed'])
           == (19, 17, 4, 2), 'report.json counts %r' % summary)
    expect(document['hosts'] == list(HOSTS), 'hosts %r' % document['hosts'])
    for host in HOSTS:
        for check_id in FAILED:
            expect(document['matrix'][host][check_id] == 'fail', '%s %s is %s' % (host, check_id, document['matrix'][host][check_id]))
        expect(document['matrix'][host][OPTIONAL_FAILED] == 'optional_fail', '%s optional check' % host)
        expect(document['matrix'][host]['outbound/primary-down.test/deliverable/primary-down.test'] == 'warn',
               '%s primary-down.test should pass through its fallback, with a warning' % host)
    expect(document['matrix']['edge1'].get('smtp:adhoc_mx1') == 'pass' and 'smtp:adhoc_mx1' not in document['matrix']['edge2'],
           'the unlabelled probe is on edge1 only')

    root = ET.parse(os.path.join(directory, 'report.xml')).getroot()
    expect((root.tag, root.get('tests'), root.get('failures'), root.get('skipped'), root.get('errors'))
           == ('testsuites', '19', '4', '2', '0'), 'JUnit totals %r' % (root.attrib,))
    for suite in root.findall('testsuite'):
        host = suite.get('name')
        cases = suite.findall('testcase')
        failures = [case for case in cases if case.find('failure') is not None]
        skipped = [case for case in cases if case.find('skipped') is not None]
        expect(len(cases) == CHECKS[host] == int(suite.get('tests')), 'JUnit %s has %d testcases' % (host, len(cases)))
        expect(len(failures) == 2 == int(suite.get('failures')), 'JUnit %s has %d failures' % (host, len(failures)))
        expect(len(skipped) == 1 == int(suite.get('skipped')), 'JUnit %s has %d skipped' % (host, len(skipped)))
        types = sorted(case.find('failure').get('type') for case in failures)
        expect(types == sorted(FAILED.values()), 'JUnit %s failure types %r' % (host, types))
        for case in failures:
            expect('remedy:' in case.find('failure').text, 'JUnit failure without the remedy')
    expect([suite.get('name') for suite in root.findall('testsuite')] == list(HOSTS), 'JUnit suites')

    with open(os.path.join(directory, 'report.md'), encoding='utf-8') as handle:
        markdown = handle.read()
    expect(markdown.splitlines()[0] == u'# Mail flow report: real lab: \u2716 FAILED', 'Markdown verdict line')
    expect('**%s**' % SUMMARY_LINE in markdown, 'Markdown summary line')
    expect('Client was not authenticated' in markdown and 'Remedy:' in markdown, 'Markdown diagnosis')

    page = Page()
    with open(os.path.join(directory, 'report.html'), encoding='utf-8') as handle:
        page.feed(handle.read())
    expect('script' not in page.tags and not page.references, 'the HTML has a script or an external reference')
    expect(page.cells.get('fail') == 4 and page.cells.get('optional_fail') == 2 and page.cells.get('missing') == 1,
           'HTML cells %r' % page.cells)
    print('check_files: report files ok (19 checks, 4 failures, 2 optional failures, JUnit parses)')


def png_pixels(path):
    """Width, height and RGB(A) rows of an 8-bit RGB or RGBA PNG."""
    with open(path, 'rb') as handle:
        data = handle.read()
    expect(data[:8] == b'\x89PNG\r\n\x1a\n', '%s is not a PNG' % path)
    position = 8
    idat = b''
    width = height = channels = None
    while position < len(data):
        length, kind = struct.unpack('>I4s', data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b'IHDR':
            width, height, depth, colour = struct.unpack('>IIBB', body[:10])
            expect(depth == 8 and colour in (2, 6), 'PNG depth %d colour type %d' % (depth, colour))
            channels = 3 if colour == 2 else 4
        elif kind == b'IDAT':
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows = []
    previous = bytearray(stride)
    for row_index in range(height):
        start = row_index * (stride + 1)
        kind = raw[start]
        row = bytearray(raw[start + 1:start + 1 + stride])
        for index in range(stride):
            left = row[index - channels] if index >= channels else 0
            up = previous[index]
            up_left = previous[index - channels] if index >= channels else 0
            if kind == 1:
                row[index] = (row[index] + left) & 0xff
            elif kind == 2:
                row[index] = (row[index] + up) & 0xff
            elif kind == 3:
                row[index] = (row[index] + (left + up) // 2) & 0xff
            elif kind == 4:
                guess = left + up - up_left
                distances = (abs(guess - left), abs(guess - up), abs(guess - up_left))
                predictor = (left, up, up_left)[distances.index(min(distances))]
                row[index] = (row[index] + predictor) & 0xff
        rows.append(row)
        previous = row
    return width, height, channels, rows


def check_png(path):
    expect(os.path.isfile(path) and os.path.getsize(path) > 20000, '%s missing or too small for a rendered report' % path)
    width, height, channels, rows = png_pixels(path)
    expect((width, height) == (1400, 900), 'screenshot is %dx%d' % (width, height))
    colours = {}
    for row in rows[::3]:
        for index in range(0, len(row), channels * 3):
            pixel = tuple(row[index:index + 3])
            colours[pixel] = colours.get(pixel, 0) + 1
    # the report's cell backgrounds: passed #dafbe1, failed #ffebe9
    green = colours.get((0xda, 0xfb, 0xe1), 0)
    red = colours.get((0xff, 0xeb, 0xe9), 0)
    expect(len(colours) > 50, 'the screenshot has only %d colours' % len(colours))
    expect(green > 500 and red > 200, 'the screenshot shows %d green and %d red sample pixels' % (green, red))
    print('check_files: screenshot ok (%dx%d, %d colours, green and red cells)' % (width, height, len(colours)))


def check_regressed(directory):
    diff = load_json(os.path.join(directory, 'baseline-diff.json'))
    expected = sorted((host, check_id) for host in HOSTS for check_id in TOUCH_MX2)
    regressions = sorted((change['host'], change['id']) for change in diff['changes'] if change['kind'] == 'regression')
    expect(regressions == expected, 'regressions %r, expected %r' % (regressions, expected))
    elsewhere = [change for change in diff['changes'] if (change['host'], change['id']) not in expected]
    expect(not elsewhere, 'changes outside the checks that touch mx2: %r' % elsewhere)
    expect(diff['verdict'] == 'regressed', 'verdict %r' % diff['verdict'])
    afters = set(change['after'] for change in diff['changes'] if change['kind'] == 'regression')
    expect(afters == {'connect connection_refused', 'all refused'}, 'regressions end in %r' % afters)
    with open(os.path.join(directory, 'baseline-diff.md'), encoding='utf-8') as handle:
        expect(handle.readline().strip() == u'# Mail flow baseline comparison: \u2716 REGRESSED', 'baseline-diff.md verdict')
    print('check_files: exactly the 6 checks touching mx2 regressed, nothing else changed')


def check_unchanged(directory):
    diff = load_json(os.path.join(directory, 'baseline-diff.json'))
    expect(diff['verdict'] == 'ok' and diff['changes'] == [], 'after restarting mx2: %s %r' % (diff['line'], diff['changes']))
    expect(diff['checks_unchanged'] == 19, 'unchanged checks %r' % diff['checks_unchanged'])
    print('check_files: after the restart the baseline compares equal (19 checks)')


def main(argv):
    commands = {'report': check_report, 'png': check_png, 'regressed': check_regressed, 'unchanged': check_unchanged}
    if len(argv) != 3 or argv[1] not in commands:
        fail('usage: check_files.py {%s} PATH' % ','.join(sorted(commands)))
    commands[argv[1]](argv[2])


if __name__ == '__main__':
    main(sys.argv)
