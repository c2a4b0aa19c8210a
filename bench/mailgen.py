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
        _fill(msg, body + "\n\n-- \nA Customer\nAcme Corp\n", rng, i)
        mails.append(msg.as_bytes())
    return mails


def _fill(msg: EmailMessage, text: str, rng: random.Random, i: int) -> None:
    """The body in one of the three shapes: plain, with an HTML alternative, with an attachment too."""
    shape = rng.random()
    msg.set_content(text)
    if shape >= 0.5:
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n-- ")[0].split("\n\n"))
        msg.add_alternative(f"<html><body>{paragraphs}<div>-- A Customer</div></body></html>", subtype="html")
    if shape >= 0.85:
        payload = rng.randbytes(rng.randint(2_000, 60_000))
        msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename=f"log-{i}.bin")


def threads(n: int, seed: int = 11, tag: str = "bench") -> list[bytes]:
    """2n mails: n openings (shaped as generate's: about 50 % plain, 35 % with an HTML
    alternative, 15 % with an attachment), then a reply to each (In-Reply-To and References)."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)
    openings: list[bytes] = []
    replies: list[bytes] = []
    for i in range(n):
        sender = rng.choice(CUSTOMERS)
        domain = sender.split("@")[1]
        subject = f"{_sentence(rng, 4)[:-1]} #{i}"
        body = "\n\n".join(_sentence(rng, rng.randint(8, 30)) for _ in range(rng.randint(2, 8)))
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = "support@example.com"
        msg["Date"] = format_datetime(start + timedelta(minutes=i))
        msg["Message-ID"] = f"<{tag}-{i}@{domain}>"
        msg["Subject"] = subject
        _fill(msg, body + "\n\n-- \nA Customer\n", rng, i)
        openings.append(msg.as_bytes())

        reply = EmailMessage()
        reply["From"] = sender
        reply["To"] = "support@example.com"
        reply["Date"] = format_datetime(start + timedelta(minutes=i, hours=2))
        reply["Message-ID"] = f"<{tag}-{i}-re@{domain}>"
        reply["Subject"] = f"Re: {subject}"
        reply["In-Reply-To"] = f"<{tag}-{i}@{domain}>"
        reply["References"] = f"<{tag}-{i}@{domain}>"
        quoted = "\n".join("> " + line for line in body.splitlines()[:6])
        answer = " ".join(_sentence(rng, rng.randint(8, 20)) for _ in range(3))
        reply.set_content(f"{answer}\n\nOn Monday I wrote:\n{quoted}\n")
        replies.append(reply.as_bytes())
    return openings + replies
