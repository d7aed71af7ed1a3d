# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport security policies of a mail domain: MTA-STS (RFC 8461), TLS-RPT (RFC 8460), DANE (RFC 7672)."""
