"""What `classify` reads: a view of one message and of the customer who sent it.

Protocols and plain frozen data only. Must never import from `inbox` (a
`ParsedMessage` satisfies `MessageView` by shape, not by inheritance) and
never does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


class AttachmentView(Protocol):
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...


class MessageView(Protocol):
    @property
    def subject(self) -> str: ...
    @property
    def visible_text(self) -> str: ...  # the new text: quoted history and signature already cut
    @property
    def from_addr(self) -> str: ...
    @property
    def attachments(self) -> Sequence[AttachmentView]: ...


@dataclass(frozen=True)
class CustomerView:
    id: str | None
    plan: str | None
    # The plan lets a customer's stated severity ("Severity: 1") raise the ticket...
    stated_may_raise: bool = False
    # ...but never above this severity name (None: no cap).
    stated_up_to: str | None = None
