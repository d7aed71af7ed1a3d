# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by the benchmarks: the repository is the collection root, reached as ansible_collections.mailops.mailflow."""

from __future__ import annotations

import datetime
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def link_collection(path):
    """Make PATH/ansible_collections/mailops/mailflow point at the repository; return PATH."""
    namespace = os.path.join(path, 'ansible_collections', 'mailops')
    os.makedirs(namespace)
    os.symlink(REPO, os.path.join(namespace, 'mailflow'))
    return path


def expose_collection(workdir):
    """Let this process import the collection's plugins as plain Python."""
    sys.path.insert(0, link_collection(workdir))


def task_times(log, started=None):
    """[(task name, seconds)] from an ansible log: each TASK (or PLAY RECAP) line's timestamp to the next one.

    With started (a datetime.datetime.now() taken when ansible was launched), the time to the first task comes first.
    """
    marks = [('start-up, to the first task', started)] if started else []
    with open(log, encoding='utf-8', errors='replace') as handle:
        for line in handle:
            stamp, _sep, rest = line.partition(' p=')
            text = rest.partition('| ')[2].strip()
            if text.startswith(('TASK [', 'PLAY RECAP')):
                moment = datetime.datetime.strptime(stamp.strip(), '%Y-%m-%d %H:%M:%S,%f')
                marks.append((text.split(']')[0].replace('TASK [', '') if text.startswith('TASK') else 'end', moment))
    return [(name, (marks[index + 1][1] - moment).total_seconds()) for index, (name, moment) in enumerate(marks[:-1])]
