"""Generated reading code: valid Python for every store x layout x style, and it really reads.

The reader and SDK styles are executed against moto (AWS) and OpenBao (Vault) with real secrets.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from citadel_tui.core.codegen import function_names, generate_code
from citadel_tui.core.config import KINDS, LAYOUTS, SourceConfig
from citadel_tui.core.errors import NamingError
from citadel_tui.emulators.openbao import OpenBaoServer

CANARY = "canary-codegen-7f3e2d1c"
KEYS = ["DB_PASSWORD", "API_KEY", "class", "2FA_SEED"]
OPTIONS: dict[str, dict[str, Any]] = {
    "aws": {"region": "eu-west-1"},
    "gcp": {"project": "acme-prod", "location": "europe-west1"},
    "azure": {"vault_url": "https://acme.vault.azure.net"},
    "vault": {"url": "https://vault:8200", "mount": "kv", "path": "apps/web", "namespace": "team"},
}


def config(kind: str, layout: str = "per-key", **options: Any) -> SourceConfig:
    secret = "app-config" if layout == "bundle" else None
    return SourceConfig(name=f"{kind}-prod", kind=kind, prefix="" if kind == "azure" else "prod-",
                        layout=layout, secret=secret, options={**OPTIONS[kind], **options})


def run_module(text: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "citadel_secrets"}
    exec(compile(text, "citadel_secrets.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("style", ["reader", "sdk"])
def test_python_compiles_for_every_store_and_layout(kind: str, layout: str, style: str) -> None:
    code = generate_code(config(kind, layout), KEYS, style=style)
    tree = ast.parse(code.text)
    compile(code.text, code.filename, "exec")
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"db_password", "api_key", "secret_class", "secret_2fa_seed"} <= defined
    assert code.language == "python" and CANARY not in code.text


def test_kv_v1_and_plain_variants_compile() -> None:
    for cfg in (config("vault", kv_version=1, namespace=None), config("gcp", location=None),
                config("aws", endpoint_url="http://localhost:4566")):
        compile(generate_code(cfg, KEYS, style="sdk").text, "m.py", "exec")


def test_sdk_names_follow_store_naming() -> None:
    azure = generate_code(config("azure"), ["DB_PASSWORD"], style="sdk").text
    assert "'DB_PASSWORD': 'DB-PASSWORD'," in azure
    vault = generate_code(config("vault"), ["DB_PASSWORD"], style="sdk").text
    assert "'DB_PASSWORD': 'apps/web/prod-DB_PASSWORD'," in vault and "MOUNT = 'kv'" in vault
    gcp = generate_code(config("gcp"), ["DB_PASSWORD"], style="sdk").text
    assert 'f"projects/{PROJECT}/locations/{LOCATION}/secrets/{name}/versions/latest"' in gcp
    bundle = generate_code(config("aws", "bundle"), ["DB_PASSWORD"], style="sdk").text
    assert "BUNDLE_SECRET = 'app-config'" in bundle and "json.loads(_fetch(BUNDLE_SECRET))[key]" in bundle


def test_impossible_names_are_refused() -> None:
    with pytest.raises(NamingError, match="collide|would all be stored"):
        generate_code(config("azure"), ["DB_PASSWORD", "DB-PASSWORD"], style="sdk")


def test_hostile_source_name_cannot_break_the_module() -> None:
    cfg = SourceConfig(name='x"""\nimport os; os.system("id")  #', kind="aws", options={"region": "us-east-1"})
    text = generate_code(cfg, ["A"], style="reader").text
    tree = ast.parse(text)
    assert [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
            and any(a.name == "os" for a in n.names)] == [tree.body[2]]


def test_function_names_are_distinct_identifiers() -> None:
    assert function_names(["DB_URL", "db_url", "import", "get_secret", "_X"]) == {
        "DB_URL": "db_url", "db_url": "db_url_2", "import": "secret_import",
        "get_secret": "get_secret_2", "_X": "secret_x",
    }


def test_unknown_style() -> None:
    with pytest.raises(ValueError, match="style must be one of"):
        generate_code(config("aws"), KEYS, style="go")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_node_module_is_valid_javascript(layout: str, tmp_path: Path) -> None:
    code = generate_code(config("aws", layout), KEYS, style="node")
    path = tmp_path / code.filename
    path.write_text(code.text, encoding="utf-8")
    subprocess.run(["node", "--check", str(path)], check=True, capture_output=True, timeout=30)
    assert code.language == "javascript"


def test_node_is_aws_only() -> None:
    with pytest.raises(ValueError, match="for AWS sources"):
        generate_code(config("gcp"), KEYS, style="node")


# -- executed against real servers ---------------------------------------------------------


def aws_toml(tmp_path: Path, moto_url: str, layout: str) -> Path:
    bundle = 'layout = "bundle"\nsecret = "app-config"\n' if layout == "bundle" else ""
    path = tmp_path / "citadel.toml"
    path.write_text(
        f'[[source]]\nname = "aws-prod"\nkind = "aws"\nprefix = "prod/"\nregion = "us-east-1"\n'
        f'endpoint_url = "{moto_url}"\n{bundle}', encoding="utf-8")
    return path


@pytest.mark.parametrize("style", ["reader", "sdk"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_generated_module_reads_from_moto(style: str, layout: str, sm, moto_url: str, tmp_path: Path) -> None:
    if layout == "bundle":
        sm.create_secret(Name="app-config", SecretString=json.dumps({"DB_PASSWORD": CANARY, "PORT": 5432}))
    else:
        sm.create_secret(Name="prod/DB_PASSWORD", SecretString=CANARY)
        sm.create_secret(Name="prod/PORT", SecretString="5432")
    toml = aws_toml(tmp_path, moto_url, layout)
    from citadel_tui.core.config import load_config

    cfg = load_config(toml).sources[0]
    code = generate_code(cfg, ["DB_PASSWORD", "PORT"], style=style, config_path=str(toml))
    assert CANARY not in code.text
    module = run_module(code.text)
    assert module["db_password"]() == CANARY
    assert module["port"]() == "5432"

    # Rotation: the cached value is served until the wrapped call fails, then re-read once.
    rotated = CANARY + "-rotated"
    if layout == "bundle":
        sm.put_secret_value(SecretId="app-config", SecretString=json.dumps({"DB_PASSWORD": rotated}))
    else:
        sm.put_secret_value(SecretId="prod/DB_PASSWORD", SecretString=rotated)
    seen: list[str] = []

    @module["refresh_on"](PermissionError, key="DB_PASSWORD")
    def connect() -> str:
        seen.append(module["get_secret"]("DB_PASSWORD"))
        if seen[-1] != rotated:
            raise PermissionError("password authentication failed")
        return "connected"

    assert connect() == "connected"
    assert seen == [CANARY, rotated]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_generated_sdk_module_reads_from_openbao(layout: str, bao: OpenBaoServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import hvac

    root = hvac.Client(url=bao.url, token=bao.token, timeout=5)
    folder = f"codegen-{layout}"
    if layout == "bundle":
        root.secrets.kv.v2.create_or_update_secret(f"{folder}/app-config", {"DB_PASSWORD": CANARY, "PORT": 5432},
                                                   mount_point="secret")
    else:
        root.secrets.kv.v2.create_or_update_secret(f"{folder}/DB_PASSWORD", {"value": CANARY}, mount_point="secret")
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    cfg = SourceConfig(name="bao", kind="vault", layout=layout, secret="app-config" if layout == "bundle" else None,
                       options={"url": bao.url, "path": folder})
    module = run_module(generate_code(cfg, ["DB_PASSWORD"], style="sdk").text)
    assert module["db_password"]() == CANARY
