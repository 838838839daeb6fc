"""Start-up, whole process: Citadel's commands vs a bare Python / bare Textual floor.

Each figure is the median wall time of several fresh processes. The dashboard is started
headless on a configuration without stores and exits as soon as its first frame is composed;
the floor is an empty Textual app doing the same. Also checks that no cloud SDK was imported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SDK_ROOTS = ("boto3", "botocore", "hvac", "google", "azure", "grpc")

FIRST_FRAME = """
import sys, time
{imports}
async def auto_pilot(pilot):
    await pilot.pause()
    pilot.app.exit()
{app}.run(headless=True, size=(140, 40), auto_pilot=auto_pilot)
"""
BARE_APP = FIRST_FRAME.format(imports="from textual.app import App", app="App()")
CITADEL_APP = FIRST_FRAME.format(
    imports="from citadel_tui.core.config import load_config\n"
            "from citadel_tui.tui.app import CitadelApp\n"
            "from citadel_tui.workspace import Workspace",
    app="CitadelApp(Workspace(load_config(__import__('pathlib').Path(sys.argv[1]))))",
)
SDK_PROBE = """
import sys
from citadel_tui.cli import main
code = main(["check", "--config", sys.argv[1]])
print(sorted({{m.split(".")[0] for m in sys.modules}} & set({roots!r})))
"""


@dataclass(frozen=True)
class StartupResult:
    label: str
    seconds: float
    floor_label: str
    floor: float


def median_run(command: list[str], runs: int, cwd: Path) -> float:
    times = []
    env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1"}
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True, cwd=cwd, env=env, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def workdir() -> Path:
    """A citadel.toml with one .env file and no stores."""
    folder = Path(tempfile.mkdtemp(prefix="citadel-bench-"))
    (folder / ".env").write_text("DATABASE_URL=postgres://localhost/app\nDEBUG=1\n", encoding="utf-8")
    (folder / "citadel.toml").write_text('[[env]]\npath = ".env"\n', encoding="utf-8")
    return folder


def citadel_command() -> list[str]:
    script = Path(sys.executable).parent / "citadel"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "citadel_tui"]


def bench_startup(runs: int) -> list[StartupResult]:
    folder = workdir()
    python = sys.executable
    bare_python = median_run([python, "-c", "pass"], runs, folder)
    bare_textual = median_run([python, "-c", BARE_APP], runs, folder)
    citadel = citadel_command()
    config = str(folder / "citadel.toml")
    return [
        StartupResult("citadel --help", median_run([*citadel, "--help"], runs, folder), "python -c pass", bare_python),
        StartupResult("citadel check (no stores)", median_run([*citadel, "check", "--config", config], runs, folder),
                      "python -c pass", bare_python),
        StartupResult("dashboard first frame (no stores)", median_run([python, "-c", CITADEL_APP, config], runs, folder),
                      "bare Textual app first frame", bare_textual),
    ]


def sdks_imported_without_stores() -> list[str]:
    """Cloud SDK packages imported by `citadel check` on a configuration without stores."""
    folder = workdir()
    output = subprocess.run(
        [sys.executable, "-c", SDK_PROBE.format(roots=SDK_ROOTS), str(folder / "citadel.toml")],
        check=True, capture_output=True, text=True, cwd=folder, timeout=120,
    ).stdout
    return json.loads(output.strip().splitlines()[-1].replace("'", '"'))
