"""Mail from files: `.eml` files, mbox files and maildir folders, as raw bytes.

Recognised by content, not name: a file that begins with "From " is an mbox;
any other file is one message, even an empty one. A directory with cur/ or
new/ is a maildir; any other directory is walked for files.
"""

from __future__ import annotations

import mailbox
from pathlib import Path
from typing import Iterator


def read_messages(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(source label, bytes) for every message under the given paths, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from _read_dir(path)
        else:
            yield from _read_file(path)


def _read_dir(path: Path) -> Iterator[tuple[str, bytes]]:
    if (path / "cur").is_dir() or (path / "new").is_dir():
        for sub in ("new", "cur"):
            folder = path / sub
            if folder.is_dir():
                for file in sorted(folder.iterdir()):
                    if file.is_file() and not file.name.startswith("."):
                        yield f"maildir:{file}", file.read_bytes()
        return
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        yield from _read_file(file)


def _read_file(path: Path) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    # mailbox.mbox splits on LF only: a CR-only file would come out as one empty
    # message, so without any LF it is read whole, as one message.
    if head.startswith(b"From ") and b"\n" in head:
        box = mailbox.mbox(str(path), create=False)
        try:
            for index, key in enumerate(box.iterkeys()):
                yield f"mbox:{path}#{index}", box.get_bytes(key)
        finally:
            box.close()
        return
    yield f"file:{path}", path.read_bytes()
