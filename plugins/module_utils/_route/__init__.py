# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Route engine for mx_probe: MTA order (``plan``), per-probe outcomes and the domain verdict
(``verdict``), bounded concurrent fan-out (``fanout``) and the run itself (``engine``).

Plain Python: no Ansible import. It uses the DNS engine (``_dns``) for MX resolution and the
SMTP engine (``_smtp``) for every conversation, never a copy of either.
"""
