"""Secret store adapters, one module per store, loaded only when a source of that kind is used."""

from __future__ import annotations

import importlib

from citadel_tui.core.config import SourceConfig
from citadel_tui.core.errors import CitadelError
from citadel_tui.providers.base import Source, StoreClient

ADAPTERS = {
    "aws": ("citadel_tui.providers.aws", "AwsClient", "boto3"),
    "gcp": ("citadel_tui.providers.gcp", "GcpClient", "google.cloud.secretmanager"),
    "azure": ("citadel_tui.providers.azure", "AzureClient", "azure.keyvault.secrets"),
    "vault": ("citadel_tui.providers.vault", "VaultClient", "hvac"),
}


class MissingDependencyError(CitadelError):
    """The SDK a configured source needs is not installed."""


def open_source(config: SourceConfig) -> Source:
    """The Source for a configured store; imports that store's adapter (and SDK) now, not before."""
    module_name, class_name, sdk = ADAPTERS[config.kind]
    try:
        importlib.import_module(sdk)
    except ImportError:
        raise MissingDependencyError(
            f"source {config.name!r} needs the {config.kind} SDK ({sdk}); "
            f"install it with: pip install 'citadel-tui[{config.kind}]'"
        ) from None
    module = importlib.import_module(module_name)
    client: StoreClient = getattr(module, class_name)(config)
    return Source(config, client)


__all__ = ["MissingDependencyError", "Source", "StoreClient", "open_source"]
