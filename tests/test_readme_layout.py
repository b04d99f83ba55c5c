"""The README's layout section names every module and folder of the code, so it cannot drift:
for each code folder, every .py file below it (but __init__.py and __main__.py) by its file name and
every subfolder with a trailing slash, inside the fenced block under the heading "## Layout"."""
from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.test_layers import PACKAGES


def layout_block(readme: str) -> str:
    found = re.search(r"^## Layout\n+```[^\n]*\n(.*?)^```", readme, re.M | re.S)
    assert found, "README.md needs a fenced block right under '## Layout'"
    return found.group(1)


def unnamed(block: str) -> list[str]:
    missing = []
    for package in sorted(PACKAGES):
        root = ROOT / package
        for path in sorted(root.rglob("*")):
            if "__pycache__" in path.parts or path.name.startswith("."):
                continue
            if path.is_dir() and not re.search(rf"(?<![\w/]){re.escape(path.name)}/", block):
                missing.append(f"{path.relative_to(ROOT)}/")
            elif path.suffix == ".py" and path.name not in ("__init__.py", "__main__.py") \
                    and not re.search(rf"(?<![\w.]){re.escape(path.name)}", block):
                missing.append(str(path.relative_to(ROOT)))
    return missing


def test_the_layout_section_names_every_module_and_folder():
    assert unnamed(layout_block((ROOT / "README.md").read_text(encoding="utf-8"))) == []


def test_a_module_left_out_of_the_layout_is_named():
    block = layout_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert unnamed(block.replace("server_record.py", "")) == ["core/server_record.py"]
