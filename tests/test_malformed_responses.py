"""Malformed store answers (garbage, wrong types, missing fields) give a clear per-store error
while the other stores still load; huge pages still work. Real servers, real SDKs, over loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from citadel_tui.core.config import Config, SourceConfig, load_config
from citadel_tui.demo import CANARY, DemoStack, write_workspace
from citadel_tui.emulators.azure import AzureEmulator
from citadel_tui.emulators.faults import Fault, FaultInjector
from citadel_tui.emulators.proxy import FaultProxy
from citadel_tui.providers import open_source
from citadel_tui.workspace import Workspace

MALFORMED_FAULTS = (Fault.MALFORMED, Fault.WRONG_TYPES, Fault.MISSING_FIELDS)
EXPECTED_CLASSES = {"MalformedResponseError", "StoreUnavailableError"}
FAULTED = ("aws-prod", "vault-prod", "azure-prod", "gcp-staging")


@dataclass(frozen=True)
class Stores:
    config: Config
    environment: dict[str, str]
    injectors: dict[str, FaultInjector]
    """Per source name: where to queue faults for that source alone."""


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, demo_stack: DemoStack) -> Iterator[Stores]:
    """The demo's four stores; AWS (aws-prod only) and Vault behind fault proxies, no retries."""
    root = tmp_path_factory.mktemp("malformed")
    stack = demo_stack
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.environment().items():
            patch.setenv(name, value)
        config_path = write_workspace(stack, root)
        with FaultProxy(stack.endpoints["aws"]) as aws, FaultProxy(stack.bao.url) as vault:
            text = config_path.read_text()
            text = text.replace(f'prefix = "prod/shop/"\nregion = "us-east-1"\nendpoint_url = "{stack.endpoints["aws"]}"',
                                f'prefix = "prod/shop/"\nregion = "us-east-1"\nendpoint_url = "{aws.url}"')
            text = text.replace(f'url = "{stack.bao.url}"', f'url = "{vault.url}"')
            text = re.sub(r"(\[\[source\]\]\n)", r"\1max_retries = 0\n", text)
            config_path.write_text(text)
            injectors = {"aws-prod": aws.injector, "vault-prod": vault.injector,
                         "azure-prod": stack.azure.faults, "gcp-staging": stack.gcp.faults}
            yield Stores(load_config(config_path), stack.environment(), injectors)


@pytest.fixture
def workspace(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A fresh Workspace with the stores' credentials (the autouse home fixture clears them)."""
    for name, value in stores.environment.items():
        monkeypatch.setenv(name, value)
    opened = Workspace(stores.config)
    yield opened
    opened.close()


@pytest.mark.parametrize("compare_values", [False, True], ids=["metadata", "values"])
@pytest.mark.parametrize("fault", MALFORMED_FAULTS, ids=lambda f: f.value)
@pytest.mark.parametrize("name", FAULTED)
def test_malformed_answer_fails_one_store_clearly(stores: Stores, workspace: Workspace, name: str, fault: Fault,
                                                  compare_values: bool) -> None:
    injector = stores.injectors[name]
    injector.push(fault, times=1000)  # every request of this store, whichever one parses the answer
    try:
        inventories = {inv.source: inv for inv in workspace.load_all(compare_values=compare_values)}
    finally:
        injector.clear()
    broken = inventories.pop(name)
    if name == "gcp-staging" and fault is not Fault.MALFORMED:
        # gRPC drops fields of the wrong wire type: the list arrives empty, a legal answer (a read
        # answered so fails: see test_gcp.py::test_canary_value_never_in_errors_or_logs).
        assert broken.ok and broken.secrets == ()
    else:
        assert not broken.ok and broken.error_class in EXPECTED_CLASSES, broken
        assert broken.error and len(broken.error) < 400 and "Traceback" not in broken.error
        assert re.search(r"endpoint|proxy|parse|Secret Manager", broken.error), broken.error
        assert CANARY not in broken.error
    assert all(inv.ok and inv.secrets for inv in inventories.values()), inventories


@pytest.fixture
def big_azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureEmulator]:
    with AzureEmulator() as emulator:
        for name, value in emulator.environment().items():
            monkeypatch.setenv(name, value)
        yield emulator


def test_thousands_of_azure_secrets(big_azure: AzureEmulator) -> None:
    """3,000 secrets: 120 pages of Key Vault's 25, followed by `nextLink` to the end."""
    for i in range(3000):
        big_azure.seed_secret(f"app-KEY-{i}", f"v{i}")
    source = open_source(SourceConfig(name="az", kind="azure", prefix="app-", options={
        "vault_url": big_azure.vault_url, "ca_bundle": big_azure.ca_file, "authority_host": big_azure.authority_host,
    }))
    try:
        secrets = source.inventory()
    finally:
        source.close()
    assert len(secrets) == 3000 and source.client.requests >= 3000 // 25


def test_thousands_of_aws_secrets_over_many_pages(sm, moto_url: str) -> None:
    for i in range(2000):
        sm.create_secret(Name=f"bulk/KEY_{i}", SecretString="v")
    source = open_source(SourceConfig(name="aws", kind="aws", prefix="bulk/",
                                      options={"region": "us-east-1", "endpoint_url": moto_url}))
    try:
        secrets = source.inventory()
    finally:
        source.close()
    assert len(secrets) == 2000 and {s.key for s in secrets} == {f"KEY_{i}" for i in range(2000)}
