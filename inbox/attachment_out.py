"""Writing an attachment out to a file a person asked for, safely.

`file_name` turns a name a stranger wrote into one that is only a file name in the current
directory: no path, no "..", no control or format characters, no leading dot (a hidden file, or
".bashrc"), none of the characters or device names Windows refuses, bounded in characters and in
bytes, never empty. `write` creates the file without following a link and without replacing what
is there, unless told to replace it, and then replaces it whole (a temporary file renamed over it).
It writes nowhere but the path it is given.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

__all__ = ["MAX_NAME_BYTES", "FileExists", "file_name", "write"]

MAX_NAME_CHARS = 150
MAX_NAME_BYTES = 240  # below the 255 bytes most file systems allow a name, as UTF-8
_RESERVED = re.compile(r'[<>:"|?*]')
# Names Windows gives to devices, with any extension ("CON", "nul.txt", "COM1.log").
_DEVICE = re.compile(r"^(?:con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(?:\..*)?$", re.IGNORECASE)


class FileExists(Exception):
    """The file is there already and replacing it was not asked for."""


def file_name(name: str | None, number: int) -> str:
    """A safe name for attachment `number` called `name` (see the module's docstring)."""
    text = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in text if not unicodedata.category(c).startswith("C"))  # controls, bidi overrides
    text = _RESERVED.sub("_", text).strip(" ").lstrip(".").rstrip(" .")
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, dot, ext = text, "", ""
    while stem and (len(stem) + len(dot + ext) > MAX_NAME_CHARS
                    or len((stem + dot + ext).encode("utf-8")) > MAX_NAME_BYTES):
        stem = stem[:-1]
    text = (stem.rstrip(" .") + dot + ext) if stem.rstrip(" .") else ""
    if not text:
        return f"attachment-{number}"
    if _DEVICE.match(text):
        return f"_{text}"
    return text


def write(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write `data` to `path`: a new file (FileExists if anything is there, a dangling link
    included), or with `replace` a whole new file renamed over the old one."""
    if not replace:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            raise FileExists(str(path)) from None
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return
    fd, temporary = tempfile.mkstemp(prefix=".inbox-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)  # replaces a link itself, never the file it points to
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
