"""`citadel demo --screenshots`: every view is saved as an SVG, and no SVG holds a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from citadel_tui.core.config import load_config
from citadel_tui.demo import CANARY, DemoStack, write_workspace
from citadel_tui.tui.screenshots import SHOTS, save_screenshots


def env_values(*paths: Path) -> set[str]:
    """Every value (raw and unquoted) of every assignment line. `8080` and `info` are left out:
    four letters of ordinary text, not secrets, and they would match by chance."""
    values = set()
    for path in paths:
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                raw = line.split("=", 1)[1]
                values |= {raw, raw.strip("'\"")}
    return {v for v in values if len(v) > 4}


def test_screenshots_of_every_view_hold_no_value(tmp_path: Path, demo_stack: DemoStack,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in demo_stack.environment().items():
        monkeypatch.setenv(name, value)
    config_path = write_workspace(demo_stack, tmp_path)
    paths = save_screenshots(load_config(config_path), tmp_path / "shots")
    assert [p.name for p in paths] == [f"{s.name}.svg" for s in SHOTS]
    secrets = env_values(tmp_path / ".env", tmp_path / ".env.staging")
    assert len(secrets) > 15
    for path in paths:
        svg = path.read_text()
        assert svg.startswith("<svg")
        assert CANARY.lower() not in svg.lower(), path.name
        assert not [v for v in secrets if v in svg], path.name
    confirmation = (tmp_path / "shots" / "confirmation.svg").read_text().replace("&#160;", " ")
    assert "create secrets: action 1 of" in confirmation and "fingerprint" in confirmation
    error_view = (tmp_path / "shots" / "store-in-error.svg").read_text()
    assert "aws-unreachable" in error_view and "StoreUnavailableError" in error_view
