"""Mails built for the ingest tests: byte literals shaped like what real MTAs
and clients send, written for these tests (no corpus file is copied here)."""

from __future__ import annotations

from email.message import EmailMessage

OUR_ID = "sup-000123.20250303T100000.abc@support.example.com"


def person(
    *,
    subject: str = "Printer on fire",
    body: str = "Hello,\n\nthe printer is on fire.\n\nAlice\n",
    headers: dict[str, str] | None = None,
    sender: str = "Alice Example <Alice@Acme.COM>",
) -> bytes:
    """A plain text mail from a customer."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Support <support@example.com>"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 03 Mar 2025 10:00:00 +0100"
    msg["Message-ID"] = "<CAF1234@mail.acme.com>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


# Postfix's DSN for a mail this service sent: human part, RFC 3464 fields,
# and the returned original with our Message-ID. Postfix adds Auto-Submitted.
POSTFIX_DSN = f"""Return-Path: <>
Received: by mx.acme.com (Postfix) id 3F2A81C0; Mon,  3 Mar 2025 10:00:05 +0100 (CET)
Date: Mon,  3 Mar 2025 10:00:05 +0100 (CET)
From: MAILER-DAEMON@mx.acme.com (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@example.com
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="3F2A81C0.1741000805/mx.acme.com"
Message-Id: <20250303090005.3F2A81C0@mx.acme.com>

This is a MIME-encapsulated message.

--3F2A81C0.1741000805/mx.acme.com
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.acme.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<gone@acme.com>: host mail.acme.com[192.0.2.7] said: 550 5.1.1
    <gone@acme.com>: Recipient address rejected: User unknown

--3F2A81C0.1741000805/mx.acme.com
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.com
X-Postfix-Queue-ID: 3F2A81C0
Arrival-Date: Mon,  3 Mar 2025 10:00:04 +0100 (CET)

Final-Recipient: rfc822; Gone@Acme.com
Original-Recipient: rfc822;gone@acme.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.acme.com
Diagnostic-Code: smtp; 550 5.1.1 <gone@acme.com>: Recipient address rejected

--3F2A81C0.1741000805/mx.acme.com
Content-Description: Undelivered Message
Content-Type: message/rfc822

From: Example Support <support@example.com>
To: gone@acme.com
Subject: [SUP-000123] We received your request
Message-ID: <{OUR_ID}>
Auto-Submitted: auto-replied
X-Inbox-Loop: support@example.com

Thank you, we are on it.

--3F2A81C0.1741000805/mx.acme.com--
""".encode()

# Exim's plain-text bounce: no RFC 3464 parts, the original quoted inline.
EXIM_BOUNCE = f"""Return-path: <>
X-Failed-Recipients: gone@acme.com
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.acme.com>
To: support@example.com
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1abc-0001@mx.acme.com>
Date: Mon, 03 Mar 2025 10:00:05 +0100

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  gone@acme.com
    Unrouteable address

------ This is a copy of the message, including all the headers. ------

From: Example Support <support@example.com>
To: gone@acme.com
Subject: [SUP-000123] We received your request
Message-ID:
 <{OUR_ID}>

Thank you, we are on it.
""".encode()

# Exchange Online's out-of-office reply.
EXCHANGE_OOF = b"""From: Bob Example <bob@acme.com>
To: Example Support <support@example.com>
Subject: Automatic reply: [SUP-000123] We received your request
Date: Mon, 3 Mar 2025 09:00:06 +0000
Message-ID: <a1b2c3@AM0PR01MB.eurprd01.prod.exchangelabs.com>
In-Reply-To: <sup-000123.20250303T100000.abc@support.example.com>
Auto-Submitted: auto-generated
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: bob@acme.com
Content-Type: text/plain; charset="us-ascii"
MIME-Version: 1.0

I am out of the office until Monday.
"""

# A vacation(1)-style RFC 3834 reply: only the standard header says so.
VACATION = b"""From: carol@acme.com
To: support@example.com
Subject: Re: [SUP-000123] We received your request
Date: Mon, 3 Mar 2025 09:00:06 +0000
Message-ID: <vacation.1@acme.com>
Auto-Submitted: auto-replied (vacation)
Precedence: bulk

Away until March 10.
"""
