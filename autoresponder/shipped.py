"""The shipped default templates: the texts of the repository's `templates/` files at this version.

They are package data (`shipped_templates.json`, written from `templates/` by
`python -m autoresponder.shipped`; a unit test fails when the two differ), so an installation knows
its defaults even when the admins edited the files of its templates folder on disk: a reset goes
back to them, and the first start after the upgrade imports the files that differ from them.

It never reads the config's templates folder (that is the fallback source, not the defaults).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MANIFEST = Path(__file__).with_name("shipped_templates.json")


def shipped_texts() -> dict[str, str]:
    """path ("acknowledgement/body.txt.j2") -> the shipped text."""
    return dict(json.loads(MANIFEST.read_text(encoding="utf-8")))


def folder_texts(directory: Path) -> dict[str, str]:
    """The `*.j2` files of a templates folder as path -> text (what the manifest is made from)."""
    return {p.relative_to(directory).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(directory.rglob("*.j2")) if p.is_file()}


if __name__ == "__main__":  # python -m autoresponder.shipped [TEMPLATES_DIR]
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "templates"
    MANIFEST.write_text(json.dumps(folder_texts(source), indent=0, sort_keys=True, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    print(f"{MANIFEST}: {len(folder_texts(source))} templates")
