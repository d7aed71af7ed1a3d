# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The round-trip engine of mail_roundtrip: send a marked message, wait for it in a mailbox, read its path.

Plain Python 3.8+, no Ansible. ``engine.run_roundtrip`` is the entry point.
"""
