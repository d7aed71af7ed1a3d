#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prove that every example task of the manifest ran and passed, from the junit callback's report.

    python check_results.py --manifest manifest.json --junit-dir DIR

Prints one line per plugin and the count ("N examples of M plugins ran"). A task skipped by its own ``when:`` is
counted apart, never as run; a task missing from the report, or failed, fails the check (exit status 1).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from xml.etree import ElementTree


def outcomes(junit_dir):
    """Task name -> 'failed', 'skipped' or 'ran' (the worst over hosts), from every junit file in junit_dir."""
    found = {}
    rank = {'ran': 0, 'skipped': 1, 'failed': 2}
    for path in glob.glob(os.path.join(junit_dir, '*.xml')):
        for case in ElementTree.parse(path).getroot().iter('testcase'):
            if case.find('failure') is not None or case.find('error') is not None:
                outcome = 'failed'
            elif case.find('skipped') is not None:
                outcome = 'skipped'
            else:
                outcome = 'ran'
            name = case.get('name', '')
            if rank[outcome] >= rank[found.get(name, 'ran')]:
                found[name] = outcome
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--manifest', required=True)
    parser.add_argument('--junit-dir', required=True)
    args = parser.parse_args()
    with open(args.manifest) as handle:
        manifest = json.load(handle)
    reported = outcomes(args.junit_dir)

    counts = {'ran': 0, 'skipped': 0, 'failed': 0, 'missing': 0}
    per_plugin = {}
    for example in manifest['examples']:
        # junit names a case "[host] play: task"; the task label is unique ([example K] ...).
        matches = [outcome for name, outcome in reported.items() if name.endswith(': ' + example['task'])]
        outcome = max(matches, key=['ran', 'skipped', 'failed'].index) if matches else 'missing'
        counts[outcome] += 1
        per_plugin.setdefault((example['type'], example['plugin']), []).append((example['task'], outcome))

    for (plugin_type, plugin), tasks in per_plugin.items():
        summary = ', '.join('%d %s' % (sum(1 for _task, outcome in tasks if outcome == word), word)
                            for word in ('ran', 'skipped', 'failed', 'missing')
                            if any(outcome == word for _task, outcome in tasks))
        print('check_results.py: %s %s: %d examples: %s' % (plugin_type, plugin, len(tasks), summary))
        for task, outcome in tasks:
            if outcome != 'ran':
                print('check_results.py:   %s: %s' % (outcome, task))
    for entry in manifest['not_run']:
        count = 'its documentation does not load' if entry['examples'] is None else '%d examples' % entry['examples']
        print('check_results.py: NOT RUN: %s %s (%s): %s' % (entry['type'], entry['plugin'], count, entry['reason']))
    print('%d examples of %d plugins ran (%d more skipped by their own when: condition, which was evaluated); '
          '%d failed, %d never ran' % (counts['ran'], len(per_plugin), counts['skipped'], counts['failed'], counts['missing']))
    return 1 if counts['failed'] or counts['missing'] or len(per_plugin) != manifest['plugins'] else 0


if __name__ == '__main__':
    sys.exit(main())
