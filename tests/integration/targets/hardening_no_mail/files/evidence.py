#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traces each no-mail case left, per unique sender, as JSON on stdout.

    python evidence.py --mx1-log F --mx1-offset N --fault-log F --fault-offset N --listener HOST:PORT \
        --source ADDRESS --maildir DIR --sender CASE=ADDRESS [--sender ...]

Only the log bytes written after the offsets are read (the lab logs are shared and grow), and only the fault
server's sessions on --listener from --source (the suite's own source address) count.
Per case: Postfix lines naming the sender, the queue ids they name and the cleanup lines of those ids; the
fault server's sessions (MAIL with that sender) and DATA commands in them; Maildir messages from the sender.
`fault_data_total` is every DATA the fault server saw from --source on --listener.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

QUEUE_ID_RE = re.compile(r'\]: ([0-9A-F]{6,}): ')


def read_from(path, offset):
    with open(path, 'rb') as handle:
        size = os.fstat(handle.fileno()).st_size
        # A log that shrank was restarted: read it whole.
        handle.seek(offset if offset <= size else 0)
        return handle.read().decode('utf-8', 'replace').splitlines()


def maildir_messages(maildir, sender):
    needle = sender.encode('utf-8')
    count = 0
    for sub in ('new', 'cur'):
        folder = os.path.join(maildir, sub)
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            with open(os.path.join(folder, name), 'rb') as handle:
                count += needle in handle.read()
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mx1-log', required=True)
    parser.add_argument('--mx1-offset', type=int, required=True)
    parser.add_argument('--fault-log', required=True)
    parser.add_argument('--fault-offset', type=int, required=True)
    parser.add_argument('--listener', required=True)
    parser.add_argument('--source', required=True)
    parser.add_argument('--maildir', required=True)
    parser.add_argument('--sender', action='append', required=True, help='CASE=ADDRESS')
    options = parser.parse_args()

    mx1_lines = read_from(options.mx1_log, options.mx1_offset)
    fault_commands = []
    for line in read_from(options.fault_log, options.fault_offset):
        if options.listener not in line:
            continue
        event = json.loads(line)
        if (event.get('listener') == options.listener and event.get('event') == 'command'
                and event.get('peer', '').rsplit(':', 1)[0] == options.source):
            fault_commands.append(event)

    evidence = {'fault_data_total': sum(1 for event in fault_commands if event.get('verb') == 'DATA'), 'cases': {}}
    for item in options.sender:
        case, sender = item.split('=', 1)
        sender_lines = [line for line in mx1_lines if sender in line]
        queue_ids = sorted(set(match.group(1) for match in (QUEUE_ID_RE.search(line) for line in sender_lines) if match))
        cleanup = [line for line in mx1_lines if '/cleanup[' in line and any('%s: ' % qid in line for qid in queue_ids)]
        conns = set(event['conn'] for event in fault_commands
                    if event.get('verb') == 'MAIL' and '<%s>' % sender in event.get('arg', ''))
        evidence['cases'][case] = {
            'sender': sender,
            'postfix_sender_lines': len(sender_lines),
            'postfix_queue_ids': queue_ids,
            'postfix_cleanup_lines': len(cleanup),
            'fault_sessions': len(conns),
            'fault_data': sum(1 for event in fault_commands if event.get('verb') == 'DATA' and event['conn'] in conns),
            'maildir_messages': maildir_messages(options.maildir, sender),
        }
    json.dump(evidence, sys.stdout, sort_keys=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
