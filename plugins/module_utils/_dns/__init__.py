# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS engine: MX resolution on dnspython (``mx``) and input checks (``validate``)."""
