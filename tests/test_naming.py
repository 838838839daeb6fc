from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citadel_tui.core.errors import NamingError
from citadel_tui.core.naming import RULES, find_collisions, plan_names


def test_per_store_names() -> None:
    assert plan_names("aws", "prod/myapp/", ["DB_PASSWORD"]) == {"DB_PASSWORD": "prod/myapp/DB_PASSWORD"}
    assert plan_names("gcp", "prod_", ["DB_PASSWORD"]) == {"DB_PASSWORD": "prod_DB_PASSWORD"}
    assert plan_names("azure", "prod-", ["DB_PASSWORD"]) == {"DB_PASSWORD": "prod-DB-PASSWORD"}
    assert plan_names("vault", "", ["DB_PASSWORD"]) == {"DB_PASSWORD": "DB_PASSWORD"}


def test_reverse_mapping_prefers_the_env_key_tag() -> None:
    azure = RULES["azure"]
    assert azure.key_for("prod-", "prod-DB-PASSWORD") == "DB_PASSWORD"
    assert azure.key_for("prod-", "PROD-db-password", {"env-key": "db_password"}) == "db_password"
    assert azure.key_for("prod-", "other-thing") is None
    assert RULES["aws"].key_for("prod/", "Prod/X") is None


def test_collisions_and_impossible_names_are_all_reported() -> None:
    with pytest.raises(NamingError) as info:
        plan_names("azure", "app-", ["DB_URL", "DB-URL", "db_url", "ÜBER_KEY"])
    message = str(info.value)
    assert "DB_URL, DB-URL, db_url" in message
    assert "'ÜBER_KEY'" in message and "letters, digits and -" in message
    with pytest.raises(NamingError, match="1 to 255"):
        plan_names("gcp", "", ["K" * 256])
    with pytest.raises(NamingError, match="'/'"):
        plan_names("vault", "", ["A/B"])


def test_no_collision_on_case_sensitive_stores() -> None:
    assert find_collisions("aws", {"a": "x/a", "A": "x/A"}) == []
    assert len(find_collisions("azure", {"a": "x-a", "A": "x-A"})) == 1


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,40}", fullmatch=True))
def test_round_trip_for_every_valid_env_key(key: str) -> None:
    for kind, prefix in (("aws", "prod/app/"), ("gcp", "app_"), ("vault", "")):
        rules = RULES[kind]
        assert rules.key_for(prefix, rules.name_for(prefix, key)) == key
    azure = RULES["azure"]
    name = azure.name_for("app-", key)
    assert azure.key_for("app-", name, {"env-key": key}) == key
