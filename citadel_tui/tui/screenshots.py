"""SVG screenshots of the dashboard's main views, for the README: `citadel demo --screenshots DIR`.

Each view is a fresh app on one Workspace (the stores are read once, then served from their
cache), driven headless by Textual's pilot at a fixed 160x45 and saved with `save_screenshot`.
The store-in-error view runs on a copy of the configuration plus a source nobody listens for.
The confirmation view shows the first create action of step 2 (placeholders left out of the
selection first) and is never answered: nothing is written to a store (the checklist keeps its
state, such as that selection, in the workspace's `.citadel/`).
PNGs are not written: no SVG rasteriser is among Citadel's dependencies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import OptionList
from textual.worker import WorkerState

from citadel_tui.core.config import Config, SourceConfig
from citadel_tui.tui.app import CitadelApp
from citadel_tui.workspace import Workspace

SIZE = (160, 45)
UNREACHABLE = "http://127.0.0.1:9"
"""The discard port: nothing listens, so the connection is refused at once."""

Steps = Callable[[Pilot], Awaitable[None]]


async def settle(pilot: Pilot) -> None:
    """Wait until every worker has finished and every message they posted is handled."""
    busy = (WorkerState.PENDING, WorkerState.RUNNING)
    for _ in range(1000):
        await pilot.pause(0.01)
        if not any(w.state in busy for w in pilot.app.workers):
            await pilot.pause()
            if not any(w.state in busy for w in pilot.app.workers):
                return


def keys(*pressed: str) -> Steps:
    async def steps(pilot: Pilot) -> None:
        await pilot.press(*pressed)

    return steps


async def first_create(pilot: Pilot) -> None:
    """Step 2 as an operator gets it through: the keys holding no real value (placeholders)
    left out of the selection, then `p` plans the creates and the first one is shown."""
    await pilot.press("k", "down")
    await settle(pilot)
    items = pilot.app.screen.query_one("#step-items", OptionList)
    for index in range(items.option_count):
        prompt = Content.from_markup(str(items.get_option_at_index(index).prompt)).plain
        if prompt.startswith("[x]") and "no value (" in prompt:
            items.focus()
            items.highlighted = index
            await pilot.press("enter")
            await settle(pilot)
    await pilot.press("p")


def last_store(pilot: Pilot) -> Awaitable[None]:
    app = pilot.app
    assert isinstance(app, CitadelApp)
    app.action_show_store(f"store-{len(app.stores) - 1}")
    return settle(pilot)


@dataclass(frozen=True)
class Shot:
    name: str
    steps: Steps
    broken: bool = False
    """Taken on the configuration with an unreachable source added."""


SHOTS = (
    Shot("overview", keys()),
    Shot("filter", keys("slash", *"token", "enter")),
    Shot("details", keys("f", "slash", *"jwt", "enter", "down")),
    Shot("store-in-error", last_store, broken=True),
    Shot("rotation", keys("v")),
    Shot("checklist", keys("k")),
    Shot("checklist-create", keys("k", "down")),
    Shot("confirmation", first_create),
    Shot("reading-code", keys("k", "down", "down", "g")),
)


def with_unreachable_source(config: Config) -> Config:
    """A copy of `config` with one more AWS source, on a port where nothing listens."""
    environment = config.environments()[0] if config.environments() else "default"
    down = SourceConfig("aws-unreachable", "aws", environment, prefix="prod/", timeout_seconds=2, max_retries=0,
                        options={"region": "us-east-1", "endpoint_url": UNREACHABLE})
    return replace(config, sources=(*config.sources, down))


async def take(workspace: Workspace, shot: Shot, out_dir: Path) -> Path:
    app = CitadelApp(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await shot.steps(pilot)
        await settle(pilot)
        app.clear_notifications()
        await pilot.pause()
        return Path(app.save_screenshot(f"{shot.name}.svg", str(out_dir)))


async def save_all(config: Config, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    workspaces = {False: Workspace(config), True: Workspace(with_unreachable_source(config))}
    try:
        return [await take(workspaces[shot.broken], shot, out_dir) for shot in SHOTS]
    finally:
        for workspace in workspaces.values():
            workspace.close()


def save_screenshots(config: Config, out_dir: Path) -> list[Path]:
    """Write one SVG per view into `out_dir`; returns their paths in the order taken."""
    import asyncio

    return asyncio.run(save_all(config, out_dir))
