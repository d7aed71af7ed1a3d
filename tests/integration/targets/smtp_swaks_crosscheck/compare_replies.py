# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare smtp_probe's per-step replies with swaks's transcript of the same dialogue.

Input: the JSON the playbook writes (variants, probe_steps, swaks_lines, ...). For every variant, each step swaks
took (banner, EHLO, STARTTLS, EHLO after TLS, MAIL, each RCPT, QUIT) must have the same reply code, enhanced code
and reply lines in the module's result. The module's own RSET (it closes a transaction it opened) and its connect
step have no swaks counterpart. Exit status 0 only when every variant matches.
"""

import argparse
import json
import re
import sys

# swaks marks sent lines " -> " (" ~> " inside TLS), received lines "<-  " ("<~  "), and error replies "<** " ("<~* ").
SENT = re.compile(r'^ [-~]> (.*)$')
RECEIVED = re.compile(r'^<[-~*][ *] (.*)$')
REPLY_LINE = re.compile(r'^(\d{3})([ -])(.*)$')
ENHANCED = re.compile(r'^([245]\.\d{1,3}\.\d{1,3})(?: |$)')
VERBS = {'EHLO': 'ehlo', 'HELO': 'helo', 'STARTTLS': 'starttls', 'MAIL': 'mail', 'RCPT': 'rcpt', 'DATA': 'data',
         'RSET': 'rset', 'QUIT': 'quit'}
# Steps only the module takes: connect (no command) and the RSET before QUIT when it stops after RCPT.
MODULE_ONLY = ('connect', 'rset')


def _replies(lines):
    """Complete replies (lists of lines) in the order received."""
    replies, current = [], []
    for line in lines:
        match = RECEIVED.match(line)
        if not match:
            continue
        text = match.group(1)
        current.append(text)
        reply = REPLY_LINE.match(text)
        if reply and reply.group(2) == ' ':
            replies.append(current)
            current = []
    if current:
        raise ValueError('swaks transcript ends inside a reply: %r' % current)
    return replies


def _reply_summary(lines):
    last = REPLY_LINE.match(lines[-1])
    enhanced = ENHANCED.match(last.group(3))
    return {'code': int(last.group(1)), 'enhanced': enhanced.group(1) if enhanced else None, 'lines': list(lines)}


def swaks_steps(lines):
    """[(step name, command, reply summary)] from swaks's transcript; replies pair with commands in order
    (pipelined groups keep their order, RFC 2920)."""
    commands = []
    tls_started = False
    for line in lines:
        if line.startswith('=== TLS started'):
            tls_started = True
        match = SENT.match(line)
        if match:
            command = match.group(1)
            name = VERBS.get(command.split(' ', 1)[0].split(':', 1)[0].upper(), command.lower())
            if name == 'ehlo' and tls_started:
                name = 'ehlo_tls'
            commands.append((name, command))
    replies = _replies(lines)
    if len(replies) != len(commands) + 1:
        raise ValueError('swaks: %d replies for %d commands plus the banner' % (len(replies), len(commands)))
    steps = [('banner', None, _reply_summary(replies[0]))]
    steps += [(name, command, _reply_summary(reply)) for (name, command), reply in zip(commands, replies[1:])]
    return steps


def module_steps(steps):
    return [(step['name'], step['command'], step['reply']) for step in steps if step['name'] not in MODULE_ONLY]


def compare(module, swaks):
    """Differences between the two step lists, as readable strings (empty: equal)."""
    problems = []
    module_names = [name for name, _command, _reply in module]
    swaks_names = [name for name, _command, _reply in swaks]
    if module_names != swaks_names:
        return ['steps differ: module %s, swaks %s' % (module_names, swaks_names)]
    for index, ((name, command, mine), (_name, swaks_command, theirs)) in enumerate(zip(module, swaks)):
        if mine is None:
            problems.append('step %d %s: the module got no reply' % (index, name))
            continue
        if command is not None and swaks_command is not None and command != swaks_command:
            problems.append('step %d %s: commands differ: module %r, swaks %r' % (index, name, command, swaks_command))
        for key in ('code', 'enhanced', 'lines'):
            if mine[key] != theirs[key]:
                problems.append('step %d %s: %s differs: module %r, swaks %r' % (index, name, key, mine[key], theirs[key]))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', help='JSON written by the playbook')
    args = parser.parse_args()
    with open(args.results, encoding='utf-8') as handle:
        results = json.load(handle)

    failed = False
    codes_seen = set()
    for variant, steps, lines, rc in zip(results['variants'], results['probe_steps'], results['swaks_lines'],
                                         results['swaks_rc']):
        mine = module_steps(steps)
        try:
            theirs = swaks_steps(lines)
        except ValueError as exc:
            print('%s: cannot read the swaks transcript: %s' % (variant, exc))
            failed = True
            continue
        print('== %s (swaks exit %s)' % (variant, rc))
        print('   %-9s %-44s %-14s %s' % ('step', 'command', 'module', 'swaks'))
        for (name, command, reply), (_name, _command, swaks_reply) in zip(mine, theirs):
            mine_text = '%s %s' % (reply['code'], reply['enhanced'] or '') if reply else '-'
            swaks_text = '%s %s' % (swaks_reply['code'], swaks_reply['enhanced'] or '')
            print('   %-9s %-44s %-14s %s' % (name, (command or '')[:44], mine_text, swaks_text))
            codes_seen.add(swaks_reply['code'])
        problems = compare(mine, theirs)
        for problem in problems:
            print('   MISMATCH %s' % problem)
        failed = failed or bool(problems)

        # The comparison must be able to fail: one changed code is reported.
        tampered = [(name, command, dict(reply, code=reply['code'] + 1) if name == 'rcpt' else reply)
                    for name, command, reply in mine]
        if not compare(tampered, theirs):
            print('   SELF-CHECK FAILED: a changed RCPT code was not reported')
            failed = True

    # Every variant carries an accepted, an unknown and a relayed recipient: the parse saw all three outcomes.
    for code in (220, 221, 250, 550, 554):
        if code not in codes_seen:
            print('no %d reply was parsed from swaks: the transcript parser missed steps' % code)
            failed = True
    print('crosscheck: %s' % ('FAILED' if failed else 'every step has the same reply in swaks and smtp_probe'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
