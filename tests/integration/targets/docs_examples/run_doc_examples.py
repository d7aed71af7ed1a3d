#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run every fenced example of README.md, roles/*/README.md and docs/*.md against the lab.

    python run_doc_examples.py --root COLLECTION --config substitutions.yml --work-dir DIR

A block fenced as ini is an inventory, as yaml a playbook (a list of plays), as sh a shell script. Each is changed
only as substitutions.yml says (setup_examples/examples_map.py applies it) and run: a playbook with
ansible-playbook, against the inventory block before it in the same document or else the lab inventory of the map;
a shell script with bash -e from the collection root; an inventory by the playbook that uses it. A yaml block
that is not a list of plays (a configuration file) fails: the map has no way to run one yet. A block just
below a ``<!-- not-an-example -->`` line, and a fence without a language (program output), is counted and not
run; a block the map says cannot run in a test is listed with the map's reason. Prints one line per example and
"N examples from M documents ran". Exit status 1 when an example fails or the map has an entry that matched nothing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import time

import yaml

from examples_map import ExampleMap

DOCUMENTS = ('README.md', 'roles/*/README.md', 'docs/*.md')
KINDS = {'ini': 'inventory', 'yaml': 'playbook', 'yml': 'playbook', 'sh': 'shell', 'bash': 'shell', 'shell': 'shell'}
NOT_AN_EXAMPLE = '<!-- not-an-example -->'
FENCE = re.compile(r'^(\s*)```\s*([\w-]*)\s*$')
WINDOWS_CONNECTIONS = re.compile(r'^\s*ansible_connection\s*=\s*(winrm|psrp)\s*$', re.MULTILINE)


class Block:
    def __init__(self, document, line, language, text, marked):
        self.document, self.line, self.language, self.text, self.marked = document, line, language, text, marked
        self.kind = KINDS.get(language)

    @property
    def label(self):
        return '%s:%d (%s)' % (self.document, self.line, self.kind or self.language or 'no language')


def fenced_blocks(root, document):
    blocks = []
    with open(os.path.join(root, document)) as handle:
        lines = handle.read().splitlines()
    index = 0
    previous = ''
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        indent, language = match.groups()
        end = index + 1
        while end < len(lines) and lines[end].strip() != '```':
            end += 1
        body = [line[len(indent):] if line.startswith(indent) else line for line in lines[index + 1:end]]
        blocks.append(Block(document, index + 1, language.lower(), '\n'.join(body) + '\n', previous == NOT_AN_EXAMPLE))
        previous = ''
        index = end + 1
    return blocks


def documents(root):
    found = []
    for pattern in DOCUMENTS:
        found.extend(sorted(os.path.relpath(path, root) for path in glob.glob(os.path.join(root, pattern))))
    return found


class Runner:
    def __init__(self, root, config, work_dir):
        self.root, self.config, self.work_dir = root, config, work_dir
        self.example_map = ExampleMap(config)
        self.used_runs = set()
        self.used_not_runnable = set()

    def environment(self, kind):
        env = dict(os.environ)
        for name, value in (self.config['environment'].get(kind) or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = os.path.expandvars(str(value))
        return env

    def runs(self, text):
        """The extra vars of each run of a block: one run without any, unless the map's runs say otherwise."""
        for index, entry in enumerate(self.config['runs']):
            if re.search(entry['match'], text):
                self.used_runs.add(index)
                return entry['extra_vars']
        return [{}]

    def not_runnable(self, text):
        for index, entry in enumerate(self.config['not_runnable']):
            if re.search(entry['match'], text, re.MULTILINE):
                self.used_not_runnable.add(index)
                return entry['reason']
        return None

    def write(self, name, text):
        path = os.path.join(self.work_dir, name)
        with open(path, 'w') as handle:
            handle.write(text)
        return path

    def lab_inventory(self, number):
        inventory = {'all': {'vars': self.config['lab_inventory']['vars'],
                             'children': {group: {'hosts': {host: {} for host in hosts}}
                                          for group, hosts in self.config['lab_inventory']['groups'].items()}}}
        for host, host_vars in self.config['lab_inventory']['hosts'].items():
            for group in inventory['all']['children'].values():
                if host in group['hosts']:
                    group['hosts'][host] = host_vars
        return self.write('inventory-%d.yml' % number, yaml.safe_dump(inventory, sort_keys=False))

    def run(self, command, kind, log_name):
        # Shell examples run from the collection root, as the README says; playbooks where their relative
        # outputs (mailflow-report/) land in the scratch directory.
        cwd = self.root if kind == 'shell' else self.work_dir
        with open(os.path.join(self.work_dir, log_name), 'w') as log:
            process = subprocess.run(command, cwd=cwd, env=self.environment(kind), stdout=log,
                                     stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        return process.returncode

    def run_playbook(self, number, block, text, inventory):
        plays = yaml.safe_load(text)
        if not isinstance(plays, list) or not all(isinstance(play, dict) and 'hosts' in play for play in plays):
            return ['a yaml example that is not a playbook (a list of plays): the map says nothing of how to run it']
        windows = inventory is not None and WINDOWS_CONNECTIONS.search(inventory)
        if not windows:
            for play in plays:
                defaults = dict(self.config['module_defaults'])
                defaults.update(play.get('module_defaults') or {})
                play['module_defaults'] = defaults
        playbook = self.write('example-%d.yml' % number, yaml.safe_dump(plays, sort_keys=False))
        if windows:
            inventory_path = self.write('inventory-%d.ini' % number, inventory)
            windows_vars = yaml.safe_dump(self.config['windows']['extra_vars'], default_flow_style=True, width=1000)
            options = ['-e', os.path.expandvars(windows_vars.strip())]
            kind = 'windows'
        else:
            inventory_path = self.lab_inventory(number)
            options, kind = [], 'playbook'
        problems = []
        for run, extra_vars in enumerate(self.runs(block.text)):
            command = ['ansible-playbook', playbook, '-i', inventory_path] + options
            if extra_vars:
                command += ['-e', yaml.safe_dump(extra_vars, default_flow_style=True).strip()]
            log_name = 'example-%d-run-%d.log' % (number, run)
            if self.run(command, kind, log_name) != 0:
                problems.append('ansible-playbook failed with %s (log: %s)' % (extra_vars or 'no extra vars', log_name))
        return problems

    def unused(self):
        """One problem line per entry of the map that matched no block."""
        problems = self.example_map.unused()
        problems += ['substitutions.yml runs entry %r matched no example' % entry['match']
                     for index, entry in enumerate(self.config['runs']) if index not in self.used_runs]
        problems += ['substitutions.yml not_runnable entry %r matched no example' % entry['match']
                     for index, entry in enumerate(self.config['not_runnable']) if index not in self.used_not_runnable]
        return problems

    def run_shell(self, number, text):
        path = self.write('example-%d.sh' % number, text)
        log_name = 'example-%d.log' % number
        if self.run(['bash', '-euo', 'pipefail', path], 'shell', log_name) != 0:
            return ['bash failed (log: %s)' % log_name]
        return []


def tail(path, lines=25):
    with open(path) as handle:
        return handle.read().splitlines()[-lines:]


def plan(runner, root, only):
    """Per document, in order: (number, block, text after the map, the inventory block before it) of each example;
    and the counts of the blocks that are not run."""
    counts = {'not_runnable': 0, 'marked': 0, 'output': 0}
    per_document, notes, failures = [], [], []
    number = 0
    for document in documents(root):
        if only and not re.search(only, document):
            continue
        examples, inventory = [], None
        for block in fenced_blocks(root, document):
            if block.marked:
                counts['marked'] += 1
                notes.append('not-an-example (marked in the document): %s' % block.label)
            elif not block.language:
                counts['output'] += 1
            elif block.kind is None:
                failures.append('%s: a %s fence: not an example kind this test knows (yaml, ini, sh)' % (block.label, block.language))
            elif runner.not_runnable(block.text):
                counts['not_runnable'] += 1
                notes.append('NOT RUN %s: %s' % (block.label, runner.not_runnable(block.text)))
            elif block.kind == 'inventory':
                inventory = runner.example_map.substitute(block.text)
            else:
                number += 1
                examples.append((number, block, runner.example_map.substitute(block.text), inventory))
                inventory = None
        if inventory is not None:
            failures.append('%s: an inventory block that no playbook after it uses' % document)
        if examples:
            per_document.append((document, examples))
    return per_document, counts, notes, failures


def run_document(runner, examples):
    """Runs the examples of one document in order (a later one may use what an earlier one made); one line each."""
    results = []
    for number, block, text, inventory in examples:
        started = time.monotonic()
        if block.kind == 'playbook':
            problems = runner.run_playbook(number, block, text, inventory)
        else:
            problems = runner.run_shell(number, text)
        with_inventory = ' with the inventory block before it' if inventory else ''
        what = '[example %d] %s%s in %.1f s' % (number, block.label, with_inventory, time.monotonic() - started)
        lines = ['ok %s' % what] if not problems else ['FAILED %s: %s' % (what, '; '.join(problems))]
        if problems:
            for log in sorted(glob.glob(os.path.join(runner.work_dir, 'example-%d-*.log' % number))
                              + glob.glob(os.path.join(runner.work_dir, 'example-%d.log' % number))):
                lines.extend('    | %s' % line for line in tail(log))
        results.append((block, problems, lines))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', required=True, help='the collection root (README.md, roles/, docs/)')
    parser.add_argument('--config', required=True)
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--only', default='', help='a regex: run the documents whose path matches (no map check)')
    parser.add_argument('--jobs', type=int, default=3, help='documents run at once; the examples of one in order')
    args = parser.parse_args()
    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    runner = Runner(args.root, config, args.work_dir)
    unset = runner.example_map.unset_variables()
    if unset:
        print('run_doc_examples.py: set %s in the environment (substitutions.yml uses it)' % ', '.join(unset), file=sys.stderr)
        return 1

    per_document, counts, notes, failures = plan(runner, args.root, args.only)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda item: run_document(runner, item[1]), per_document))
    ran = failed = 0
    ran_documents = set()
    for (document, _examples), results in zip(per_document, outcomes):
        for block, problems, lines in results:
            print('\n'.join(lines))
            if problems:
                failed += 1
                failures.append('%s: %s' % (block.label, '; '.join(problems)))
            else:
                ran += 1
                ran_documents.add(document)
    for note in notes:
        print(note)

    problems = [] if args.only else runner.unused()
    for problem in failures + problems:
        print('run_doc_examples.py: %s' % problem, file=sys.stderr)
    print('%d examples from %d documents ran; %d failed; %d not run (listed above with the reason); '
          '%d blocks marked not-an-example; %d fences without a language (program output) not run'
          % (ran, len(ran_documents), failed, counts['not_runnable'], counts['marked'], counts['output']))
    return 1 if failures or problems else 0


if __name__ == '__main__':
    sys.exit(main())
