"""The README documents exactly the config keys the model accepts and commands that exist."""

from __future__ import annotations

import re

from components.config import StackConfig
from scripts.config_reference import BEGIN, END, embed, reference
from tests.conftest import ROOT


def test_readme_config_reference_is_current():
    readme = (ROOT / "README.md").read_text()
    assert embed(readme) == readme, "run: python -m scripts.config_reference --write README.md"


def test_reference_lists_every_top_level_key():
    text = reference()
    assert text.startswith(BEGIN) and text.rstrip().endswith(END)
    for name, info in StackConfig.model_fields.items():
        key = "aws:region" if name == "region" else f"gpu-platform:{info.alias}"
        assert f"`{key}`" in text


def test_readme_make_targets_exist():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.M))
    for target in set(re.findall(r"\bmake ([a-z-]+)", readme)):
        assert target in targets, (
            f"README mentions `make {target}`, the Makefile has no such target"
        )
