"""Generated mail of mixed shapes for the benchmarks: plain, HTML alternative, attachments, replies."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

CUSTOMERS = ["alice@acme.com", "bob@acme.com", "carol@acme.com", "dave@globex.test", "erin@initech.test"]
WORDS = ("server outage login export report invoice latency error timeout database backup "
         "upgrade certificate password dashboard permission sync webhook crash memory").split()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def generate(count: int, seed: int = 7) -> list[bytes]:
    """`count` mails: about 50 % plain, 35 % multipart with HTML, 15 % with an attachment;
    a fifth of them reply to an earlier mail (In-Reply-To and the tracking number)."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)
    mails: list[bytes] = []
    for i in range(count):
        msg = EmailMessage()
        sender = rng.choice(CUSTOMERS)
        msg["From"] = sender
        msg["To"] = "support@example.com"
        msg["Date"] = format_datetime(start + timedelta(minutes=i))
        msg["Message-ID"] = f"<bench-{i}@{sender.split('@')[1]}>"
        body = "\n\n".join(_sentence(rng, rng.randint(8, 30)) for _ in range(rng.randint(2, 8)))
        if i > 10 and rng.random() < 0.2:
            parent = rng.randrange(i // 2)
            msg["Subject"] = f"Re: [SUP-{parent + 1:06d}] {rng.choice(WORDS)} problem"
            msg["In-Reply-To"] = f"<bench-{parent}@x.test>"
            body += "\n\nOn Monday someone wrote:\n> " + _sentence(rng, 20)
        else:
            msg["Subject"] = f"{_sentence(rng, 4)[:-1]} #{i}"
        shape = rng.random()
        msg.set_content(body + "\n\n-- \nA Customer\nAcme Corp\n")
        if shape >= 0.5:
            paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
            msg.add_alternative(f"<html><body>{paragraphs}<div>-- A Customer</div></body></html>", subtype="html")
        if shape >= 0.85:
            payload = rng.randbytes(rng.randint(2_000, 60_000))
            msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename=f"log-{i}.bin")
        mails.append(msg.as_bytes())
    return mails
