# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Received headers as the lab's servers wrote them (copied from delivered messages, folding kept)."""

from __future__ import annotations

# slow@roundtrip.test through the round-trip chain: rt_relay held it 4 s. Newest first, as in the message.
SLOW_CHAIN = [
    'from mx.roundtrip.test\r\n\tby imap.roundtrip.test with LMTP\r\n\tid SGQ+OLoDE2u5HgAAg+zDdQ\r\n'
    '\t(envelope-from <kate@roundtrip.test>)\r\n\tfor <kate@roundtrip.test>; Fri, 04 Dec 2026 18:17:30 +0000',
    'from relay.roundtrip.test (unknown [127.0.0.1])\r\n'
    '\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n'
    '\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n'
    '\t(No client certificate requested)\r\n\tby mx.roundtrip.test (Postfix) with ESMTPS id E5E1E17013D\r\n'
    '\tfor <slow@roundtrip.test>; Fri,  4 Dec 2026 18:17:30 +0000 (UTC)',
    'from smtp.roundtrip.test (unknown [127.0.0.1])\r\n'
    '\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n'
    '\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n'
    '\t(No client certificate requested)\r\n\tby relay.roundtrip.test (Postfix) with ESMTPS id E4855170152\r\n'
    '\tfor <slow@roundtrip.test>; Fri,  4 Dec 2026 18:17:26 +0000 (UTC)',
    'from vm (unknown [127.0.0.1])\r\n'
    '\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n'
    '\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n'
    '\t(No client certificate requested)\r\n\tby smtp.roundtrip.test (Postfix) with ESMTPSA id D18EB17013D\r\n'
    '\tfor <slow@roundtrip.test>; Fri,  4 Dec 2026 18:17:26 +0000 (UTC)',
]

# The lab's Exim 4.96 (mx.exim.test) after STARTTLS, from `exim -Mvh`.
EXIM = ('from [127.0.0.1] (helo=vm)\r\n\tby mx.exim.test with esmtps  (TLS1.3) tls TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\r\n'
        '\t(Exim 4.96)\r\n\t(envelope-from <chris@contoso.test>)\r\n\tid 1xZXzJ-00021p-2K\r\n\tfor kate@exim.test;\r\n'
        '\tFri, 04 Dec 2026 18:26:29 +0000')

# The form Exchange Server writes between its own servers (names from the documentation's examples).
EXCHANGE = ('from MAIL1.contoso.com (10.0.0.11) by MAIL2.contoso.com (10.0.0.12) with Microsoft SMTP Server '
            '(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.2.1118.40; '
            'Fri, 4 Dec 2026 19:00:05 +0100')

# A Postfix hop without TLS (the lab's mx1 before this issue: smtpd_tls_received_header, no STARTTLS used).
PLAIN = ('from contoso.test (unknown [127.0.0.1])\r\n\tby mx1.fabrikam.test (Postfix) with ESMTP id 4B7E91703FA\r\n'
         '\tfor <kate@fabrikam.test>; Fri,  4 Dec 2026 18:00:00 +0000 (UTC)')
