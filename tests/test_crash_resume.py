"""A crash never loses or repeats work: `citadel migrate` killed with SIGKILL at random points.

A 100-action create plan runs against moto in a subprocess that is killed again and again; each
restart plans what is left and finishes it. At the end every secret exists exactly once, with
exactly one version, and the journal and state files still parse.
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citadel_tui.emulators.proxy import FaultProxy

KEYS = [f"SERVICE_{i:03d}_TOKEN" for i in range(100)]
KILLS = 15


def migrate(project: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "citadel_tui", "migrate", "--config", str(project / "citadel.toml"),
         "--step", "create", "--store", "aws", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def planned(project: Path) -> int:
    out, err = migrate(project, "--dry-run").communicate(timeout=120)
    match = re.search(r"^(\d+) action\(s\) planned", out, re.MULTILINE)
    assert match, err
    return int(match.group(1))


@pytest.fixture
def slow_moto(moto_url: str):
    """moto 30 ms away, as a store on a network is: the plan takes seconds, kills land inside it."""
    proxy = FaultProxy(moto_url).start()
    proxy.injector.latency = 0.03
    yield proxy.url
    proxy.stop()


@pytest.fixture
def project(tmp_path: Path, slow_moto: str) -> Path:
    run = random.getrandbits(32)
    (tmp_path / ".env").write_text("".join(f"{key}=canary-{run}-{i}\n" for i, key in enumerate(KEYS)))
    (tmp_path / "citadel.toml").write_text(f"""
[[env]]
path = ".env"
[[source]]
name = "aws"
kind = "aws"
prefix = "app/"
region = "us-east-1"
endpoint_url = "{slow_moto}"
""")
    return tmp_path


def test_sigkill_at_random_points_never_loses_or_repeats_a_write(project: Path, sm) -> None:
    rng = random.Random(20261128)
    survived = 0
    for _ in range(KILLS):
        remaining = planned(project)
        if remaining == 0:
            break
        process = migrate(project, "--yes-count", str(remaining))
        time.sleep(rng.uniform(0.3, 1.3))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            survived += 1
        process.communicate(timeout=60)
        journal = project / ".citadel" / "journal.jsonl"
        if journal.exists():
            lines = journal.read_text().splitlines()
            for line in lines[:-1]:
                json.loads(line)  # only the very last line may be torn by a kill
    remaining = planned(project)
    if remaining:
        process = migrate(project, "--yes-count", str(remaining))
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, out + err
    assert planned(project) == 0
    print(f"SIGKILLs survived: {survived}")
    assert survived >= 3, "the kills must land while the plan runs"

    names = []
    for page in sm.get_paginator("list_secrets").paginate():
        names += [s["Name"] for s in page["SecretList"]]
    assert sorted(names) == sorted(f"app/{key}" for key in KEYS)  # every secret exactly once
    for name in names:
        assert len(sm.list_secret_version_ids(SecretId=name)["Versions"]) == 1  # never written twice
    journal = [json.loads(line) for line in (project / ".citadel" / "journal.jsonl").read_text().splitlines()
               if line.strip().endswith("}")]
    verified = {e["target"] for e in journal if e["outcome"] == "verified"}
    assert verified == set(names)
    json.loads((project / ".citadel" / "state.json").read_text())
