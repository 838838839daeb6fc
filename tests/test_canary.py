"""Canary suite: on the demo scenario every seeded value contains `demo.CANARY`; no output, file,
log record, exception message or traceback of any command may contain a value, the marker, or
their base64 / URL-encoded forms. Real stores on loopback; faults from the fault proxy and emulators."""

from __future__ import annotations

import base64
import io
import logging
import re
import sys
import traceback
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from citadel_tui.cli import main
from citadel_tui.core.config import Config, load_config
from citadel_tui.core.errors import SourceError
from citadel_tui.demo import CANARY, DemoStack, write_workspace
from citadel_tui.emulators.faults import Fault, FaultInjector
from citadel_tui.emulators.proxy import FaultProxy
from citadel_tui.workspace import Workspace


@dataclass(frozen=True)
class Scenario:
    config_path: Path
    environment: dict[str, str]
    values: tuple[str, ...]
    """Every value of the workspace's .env files (the stores hold the same or other canary values)."""
    injectors: dict[str, FaultInjector]
    log: io.StringIO
    """Everything the `citadel_tui` logger emitted at DEBUG while the suite ran."""

    def forms(self) -> set[str]:
        """What must never appear: the marker, each value, and their base64 / URL-encoded forms."""
        plain = {CANARY, *(v for v in self.values if CANARY.lower() in v.lower())}
        return plain | {base64.b64encode(p.encode()).decode() for p in plain} | {urllib.parse.quote(p, safe="") for p in plain}

    def assert_clean(self, *texts: str) -> None:
        for text in texts:
            for form in self.forms():
                assert form not in text, f"{form!r} leaked into: {text[:300]!r}"


"""Names of the canary runs, counted for the report."""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, demo_stack: DemoStack) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("scenario")
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logger = logging.getLogger("citadel_tui")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in demo_stack.environment().items():
                patch.setenv(name, value)
            config_path = write_workspace(demo_stack, root)
            with FaultProxy(demo_stack.endpoints["aws"]) as aws, FaultProxy(demo_stack.bao.url) as vault:
                text = config_path.read_text().replace(f'endpoint_url = "{demo_stack.endpoints["aws"]}"',
                                                        f'endpoint_url = "{aws.url}"')
                text = re.sub(r"(\[\[source\]\]\n)", r"\1max_retries = 0\n", text.replace(demo_stack.bao.url, vault.url))
                config_path.write_text(text)
                values = tuple(line.split("=", 1)[1] for env in (".env", ".env.staging")
                               for line in (root / env).read_text().splitlines() if "=" in line)
                yield Scenario(config_path, demo_stack.environment(), values,
                               {"aws": aws.injector, "vault": vault.injector, "azure": demo_stack.azure.faults,
                                "gcp": demo_stack.gcp.faults}, log)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


@pytest.fixture
def demo(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scenario]:
    for name, value in scenario.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(scenario.config_path.parent)
    yield scenario
    for injector in scenario.injectors.values():
        injector.clear()


def cli(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "csv"])
@pytest.mark.parametrize("values", [False, True], ids=["metadata", "compare-values"])
def test_check_in_every_format(demo: Scenario, capfd: pytest.CaptureFixture[str], tmp_path: Path, fmt: str,
                               values: bool) -> None:
    args = ["check", "--config", str(demo.config_path), "--format", fmt, *(["--compare-values"] if values else [])]
    code, out, err = cli(capfd, *args)
    assert code == 1 and "DB_PASSWORD" in out
    report = tmp_path / f"report.{fmt}"
    code, out2, err2 = cli(capfd, *args, "--output", str(report))
    assert code == 1 and "DB_PASSWORD" in report.read_text()
    demo.assert_clean(out, err, out2, err2, report.read_text())


def test_run_redacts_every_value(demo: Scenario, capfd: pytest.CaptureFixture[str]) -> None:
    printer = "import os; print(os.environ['DB_PASSWORD'], os.environ['API_TOKEN'], file=__import__('sys').stderr); print(os.environ['DB_PASSWORD'])"
    code, out, err = cli(capfd, "run", "--config", str(demo.config_path), "-e", "production", "--allow-missing",
                         "--", sys.executable, "-c", printer)
    assert code == 0 and out.strip() and err.strip()
    demo.assert_clean(out, err)
    code, out, _ = cli(capfd, "run", "--config", str(demo.config_path), "-e", "production", "--allow-missing",
                       "--no-redact", "--", sys.executable, "-c", printer)
    with pytest.raises(AssertionError):  # the detector sees a value when one is really printed
        demo.assert_clean(out)


def test_policy_output(demo: Scenario, capfd: pytest.CaptureFixture[str]) -> None:
    for fmt in ("text", "json"):
        code, out, err = cli(capfd, "policy", "--config", str(demo.config_path), "--format", fmt)
        assert code == 0 and out
        demo.assert_clean(out, err)


@pytest.mark.parametrize(("store", "fault"), [
    ("aws", Fault.DROP), ("aws", Fault.MALFORMED), ("vault", Fault.DROP), ("vault", Fault.WRONG_TYPES),
    ("azure", Fault.DROP), ("azure", Fault.MALFORMED), ("gcp", Fault.DROP), ("gcp", Fault.MALFORMED),
    ("aws", Fault.FORBIDDEN), ("vault", Fault.SERVER_ERROR),
])
def test_store_failing_mid_read(demo: Scenario, capfd: pytest.CaptureFixture[str], store: str, fault: Fault) -> None:
    """A store failing while Citadel reads it (connection cut mid-answer, garbage, denial): the
    per-store error reaches the report and stderr without a value."""
    injector = demo.injectors[store]
    injector.push(fault, times=200)
    code, out, err = cli(capfd, "check", "--config", str(demo.config_path), "--format", "json", "--compare-values")
    assert code == 3 and "could not be read" in err
    demo.assert_clean(out, err)


def test_exception_messages_and_tracebacks(demo: Scenario) -> None:
    """Every failing read raises a SourceError whose text and whole traceback hold no value."""
    config: Config = load_config(demo.config_path)
    failures: list[BaseException] = []
    for store, fault in [("aws", Fault.DROP), ("vault", Fault.MALFORMED), ("azure", Fault.WRONG_TYPES),
                         ("gcp", Fault.MISSING_FIELDS), ("azure", Fault.FORBIDDEN)]:
        source = next(s for s in config.sources if s.kind == store)
        workspace = Workspace(config)
        try:
            key = next(m.key for m in workspace.source(source.name).inventory() if m.key and m.enabled)
            demo.injectors[store].push(fault, times=50)
            with pytest.raises(SourceError) as info:
                workspace.source(source.name).read_value(key)
            failures.append(info.value)
        finally:
            demo.injectors[store].clear()
            workspace.close()
    for failure in failures:
        text = "".join(traceback.format_exception(failure))
        demo.assert_clean(str(failure), repr(failure), text)


def test_debug_log_output(demo: Scenario, capfd: pytest.CaptureFixture[str]) -> None:
    cli(capfd, "check", "--config", str(demo.config_path), "--compare-values")
    demo.assert_clean(demo.log.getvalue())


def test_fingerprints_are_keyed_per_run(demo: Scenario) -> None:
    """The same store value gives a different fingerprint in two runs: a leaked report cannot be
    matched against a dictionary of hashes."""
    config = load_config(demo.config_path)
    runs = []
    for _ in range(2):
        workspace = Workspace(config)
        try:
            inventory = workspace.load(next(s for s in config.sources if s.name == "aws-prod"), compare_values=True)
            env_files, _ = workspace.read_env_files()
        finally:
            workspace.close()
        runs.append(({s.name: s.fingerprint for s in inventory.secrets},
                     {e.key: e.fingerprint for f in env_files for e in f.entries if e.fingerprint}))
    (stores_a, env_a), (stores_b, env_b) = runs
    assert stores_a.keys() == stores_b.keys() and all(stores_a[k] != stores_b[k] for k in stores_a)
    assert env_a.keys() == env_b.keys() and all(env_a[k] != env_b[k] for k in env_a)
