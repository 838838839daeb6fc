from __future__ import annotations

from pathlib import Path

import pytest

from citadel_tui.core.config import load_config
from citadel_tui.core.errors import ConfigError


def load(tmp_path: Path, text: str):
    path = tmp_path / "citadel.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_full_configuration(tmp_path: Path) -> None:
    config = load(tmp_path, """
read_only = true
[policy]
stale_after_days = 30
[[env]]
path = ".env"
environment = "production"
[[source]]
name = "aws-prod"
kind = "aws"
environment = "production"
prefix = "prod/myapp/"
region = "us-east-1"
[[source]]
name = "db"
kind = "aws"
layout = "bundle"
secret = "prod/database"
""")
    assert config.policy.stale_after_days == 30 and config.policy.rotation_window_days == 14
    assert config.envs[0].path == tmp_path / ".env" and config.envs[0].environment == "production"
    aws = config.sources[0]
    assert (aws.name, aws.kind, aws.prefix, aws.option("region")) == ("aws-prod", "aws", "prod/myapp/", "us-east-1")
    assert config.sources[1].layout == "bundle" and config.sources[1].environment == "default"
    assert config.read_only is True
    assert config.environments() == ["production", "default"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1", "unknown key 'colour'"),
        ("[policy]\nstale_days = 3", "unknown key 'policy.stale_days'"),
        ("[policy]\nstale_after_days = 'x'", "policy.stale_after_days must be int"),
        ("[policy]\nstale_after_days = 0", "positive number of days"),
        ("[[env]]\nenvironment = 'x'", "env\\[0\\].path is required"),
        ("[[source]]\nname = 'a'\nkind = 'dropbox'", "kind must be one of aws, gcp, azure, vault"),
        ("[[source]]\nname = 'a'\nkind = 'aws'\nvault_url = 'https://x'", "unknown key 'source\\[0\\].vault_url'"),
        ("[[source]]\nname = 'a'\nkind = 'aws'\n[[source]]\nname = 'a'\nkind = 'aws'", "used more than once"),
        ("[[source]]\nname = 'a'\nkind = 'gcp'", "needs 'project'"),
        ("[[source]]\nname = 'a'\nkind = 'aws'\nlayout = 'flat'", "layout must be one of per-key, bundle"),
        ("[[source]]\nname = 'a'\nkind = 'aws'\nlayout = 'bundle'", "needs secret"),
        ("[[source]]\nname = 'a'\nkind = 'vault'\nurl = 'vault:8200'", "must start with http"),
        ("[[source]]\nname = 'a'\nkind = 'vault'\nurl = 'http://v'\nkv_version = 3", "kv_version must be 1 or 2"),
        ("[[source]]\nname = 'a'\nkind = 'aws'\nkeys = 'DB_PASSWORD'", "keys must be list"),
        ("[[source]]\nname = 'a'\nkind = 'aws'\nkeys = []", "must name at least one key"),
        ("[[source]]\nname = 'a'\nkind = 'aws'\nkeys = ['DB-PASSWORD', 3]", "not .env key names: 'DB-PASSWORD', 3"),
        ("[[source]]\nname = 'a'\nkind = 'aws'\nkeys = ['A', 'B', 'A']", "listed twice: A"),
        ("source = 3", "array of tables"),
        ("this is = not toml", "not valid TOML"),
    ],
)
def test_errors_name_file_key_and_what_is_allowed(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load(tmp_path, text)
    assert str(tmp_path / "citadel.toml") in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")


def test_keys_split_an_environment_across_stores(tmp_path: Path) -> None:
    config = load(tmp_path, "[[source]]\nname = 'db'\nkind = 'aws'\nkeys = ['DB_USER', 'DB_PASSWORD']\n"
                            "[[source]]\nname = 'rest'\nkind = 'aws'\n")
    db, rest = config.sources
    assert db.keys == ("DB_USER", "DB_PASSWORD") and "keys" not in db.options
    assert db.holds("DB_PASSWORD") and not db.holds("API_TOKEN")
    assert rest.keys is None and rest.holds("API_TOKEN")
