# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What plugin_examples and docs_examples share: the documented map from the documentation's names to the lab's.

A map is a YAML file with ``text`` (pairs replaced in one pass; at one place the first listed pair that matches
wins, and nothing replaced is replaced again; ``$VARIABLES`` in a replacement come from the environment) and
``patterns`` (regular expressions, replaced after the text). Every entry must match something, so a map cannot rot.
"""

from __future__ import annotations

import os
import re


class ExampleMap:
    """Applies the text and patterns of a map, and remembers which entries matched."""

    def __init__(self, config, source='substitutions.yml'):
        self.text = config.get('text') or []
        self.patterns = config.get('patterns') or []
        self.source = source
        self.used = {'text': set(), 'patterns': set()}
        self._alternatives = re.compile('|'.join('(%s)' % re.escape(old) for old, _new in self.text)) if self.text else None

    def unset_variables(self):
        """The $VARIABLES the replacements use that the environment does not set."""
        names = set()
        for _old, new in self.text:
            names.update(name for name in re.findall(r'\$(\w+)', new) if name not in os.environ)
        return sorted(names)

    def substitute(self, text):
        if self._alternatives is not None:
            def replace(match):
                index = match.lastindex - 1
                self.used['text'].add(index)
                return os.path.expandvars(self.text[index][1])
            text = self._alternatives.sub(replace, text)
        for index, (pattern, replacement) in enumerate(self.patterns):
            text, count = re.subn(pattern, os.path.expandvars(replacement), text)
            if count:
                self.used['patterns'].add(index)
        return text

    def unused(self):
        """One problem line per entry that matched nothing."""
        return ['%s %s entry %r matched no example' % (self.source, section, entries[index][0])
                for section, entries in (('text', self.text), ('patterns', self.patterns))
                for index in range(len(entries)) if index not in self.used[section]]
