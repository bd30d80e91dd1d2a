"""The README's Layout lists every module of ablations/, report/ and senet_core/ under its
room, so that a new engineer finds each thing where the README says."""

from __future__ import annotations

import re

from tests.conftest import ROOT

PACKAGES = ("ablations", "report", "senet_core")


def _layout() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Layout"):]
    return section[: section.index("```", section.index("```") + 3)]


def _blocks(layout: str) -> dict[str, str]:
    """Each room's text: from its heading line (``  engine/``, ``report/``) to the next."""
    heads = list(re.finditer(r"^ {0,2}([a-z_]+/)", layout, re.M))
    out = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(layout)
        out[m.group(1).rstrip("/")] = layout[m.start():end]
    return out


def test_every_module_is_in_the_readme_layout_under_its_room():
    layout = _layout()
    blocks = _blocks(layout)
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name.startswith("__"):
                continue
            parts = path.relative_to(ROOT).parts
            room = parts[1] if package == "ablations" and len(parts) > 2 else package
            # ablations' own modules (cli.py, errors.py, wording.py) sit anywhere among its rooms
            text = layout[layout.index("\nablations/"):layout.index("\nreport/")] if room == "ablations" else blocks.get(room, "")
            if not re.search(rf"(?<![\w.]){re.escape(path.name)}", text):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"modules missing from the README's Layout: {missing}"
