"""The migration engine against real servers: moto (through the fault proxy where a store must
fail), OpenBao and the Azure Key Vault emulator. Every .env holds canary values that must never
reach the journal, the state, an export or an exception's text."""

from __future__ import annotations

import io
import json
import re
import subprocess
import uuid
from pathlib import Path

import hvac
import pytest

from citadel_tui import cli
from citadel_tui.core.config import load_config, parse_config
from citadel_tui.core.errors import CitadelError, ConfigError, NamingError, ReadOnlyError
from citadel_tui.core.model import AuditState
from citadel_tui.emulators.azure import AzureEmulator
from citadel_tui.emulators.faults import Fault
from citadel_tui.emulators.openbao import OpenBaoServer
from citadel_tui.emulators.proxy import FaultProxy
from citadel_tui.migration import DeleteBlockedError, Migration, MigrationError
from citadel_tui.workspace import Workspace

RUN = uuid.uuid4().hex[:8]
PROD = {"DB_PASSWORD": f"canary-db-{RUN}", "API_TOKEN": f"canary-api-{RUN}", "STRIPE_KEY": f"canary-stripe-{RUN}"}
STAGING = {"DB_PASSWORD": f"canary-stg-db-{RUN}", "API_TOKEN": f"canary-stg-api-{RUN}"}
CANARIES = [*PROD.values(), *STAGING.values()]


class Crash(BaseException):
    """Stands for the process dying between a store write and the journal entry after it."""


def write_project(root: Path, sources: str, env: dict[str, str] = PROD, extra_env: str = "") -> Path:
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()) + "LOG_LEVEL=info\n" + extra_env)
    (root / ".env.staging").write_text("".join(f"{k}={v}\n" for k, v in STAGING.items()))
    (root / "citadel.toml").write_text(
        '[[env]]\npath = ".env"\nenvironment = "production"\n\n'
        '[[env]]\npath = ".env.staging"\nenvironment = "staging"\n\n' + sources
    )
    return root / "citadel.toml"


def aws_sources(url: str) -> str:
    return "".join(
        f'[[source]]\nname = "aws-{env}"\nkind = "aws"\nenvironment = "{environment}"\nprefix = "{env}/app/"\n'
        f'region = "us-east-1"\nendpoint_url = "{url}"\nmax_retries = 0\n\n'
        for env, environment in (("prod", "production"), ("staging", "staging"))
    )


def migration(config_path: Path, **kwargs: object) -> Migration:
    return Migration(Workspace(load_config(config_path)), **kwargs)  # type: ignore[arg-type]


def assert_no_canary(root: Path, *texts: str) -> None:
    citadel = root / ".citadel"
    files = [p for p in citadel.rglob("*") if p.is_file()] if citadel.exists() else []
    for text in [*(p.read_text() for p in files), *texts]:
        for canary in CANARIES:
            assert canary not in text


@pytest.fixture
def project(tmp_path: Path, moto_url: str) -> Path:
    return write_project(tmp_path, aws_sources(moto_url))


def versions(sm, name: str) -> int:
    return len(sm.list_secret_version_ids(SecretId=name)["Versions"])


def test_plan_confirm_each_decline_one_then_retry(project: Path, sm) -> None:
    m = migration(project)
    plan = m.plan_creates(["aws-prod"])
    assert [a.target for a in plan] == ["prod/app/DB_PASSWORD", "prod/app/API_TOKEN", "prod/app/STRIPE_KEY"]
    facts = dict(plan[0].facts)
    assert facts["layout"] == "per-key" and facts["DB_PASSWORD length"] == str(len(PROD["DB_PASSWORD"]))
    assert facts["DB_PASSWORD fingerprint"] == m.workspace.fingerprint(PROD["DB_PASSWORD"])
    assert "env-key=DB_PASSWORD" in facts["tags"]

    assert [o.state for o in m.run(plan, lambda a: True, dry_run=True)] == ["planned"] * 3
    assert sm.list_secrets()["SecretList"] == []
    assert not Migration.confirm_all("2", plan) and Migration.confirm_all(" 3 ", plan)

    outcomes = m.run(plan, confirm=lambda a: "API_TOKEN" not in a.target)
    assert [o.state for o in outcomes] == ["verified", "declined", "verified"]
    assert sorted(s["Name"] for s in sm.list_secrets()["SecretList"]) == ["prod/app/DB_PASSWORD", "prod/app/STRIPE_KEY"]
    assert sm.get_secret_value(SecretId="prod/app/DB_PASSWORD")["SecretString"] == PROD["DB_PASSWORD"]

    again = m.plan_creates(["aws-prod"])
    assert [a.target for a in again] == ["prod/app/API_TOKEN"]
    assert [o.state for o in m.run(again, lambda a: True)] == ["verified"]
    assert m.plan_creates(["aws-prod"]) == []
    entries = list(m.journal.entries())
    assert {(e.target, e.outcome) for e in entries} >= {("prod/app/API_TOKEN", "declined"), ("prod/app/API_TOKEN", "verified")}
    assert {e.step for e in entries} == {"create"} and all(e.user for e in entries)
    assert m.state.selected_keys == ["API_TOKEN", "DB_PASSWORD", "STRIPE_KEY"]
    assert_no_canary(project.parent, *(a.describe() for a in plan))


def test_existing_secret_with_another_value_is_never_overwritten(project: Path, sm) -> None:
    m = migration(project)
    plan = m.plan_creates(["aws-prod"], keys=["DB_PASSWORD"])
    sm.create_secret(Name="prod/app/DB_PASSWORD", SecretString="someone-else")
    [outcome] = m.run(plan, lambda a: True)
    assert outcome.state == "failed" and "never overwrites" in outcome.detail
    assert sm.get_secret_value(SecretId="prod/app/DB_PASSWORD")["SecretString"] == "someone-else"
    with pytest.raises(MigrationError, match="NOPE"):
        m.plan_creates(["aws-prod"], keys=["NOPE"])
    with pytest.raises(MigrationError, match="no source named 'gone'"):
        m.plan_creates(["gone"])


def test_a_value_changed_after_the_plan_was_shown_is_not_written(project: Path, sm) -> None:
    m = migration(project)
    plan = m.plan_creates(["aws-prod"], keys=["API_TOKEN"])
    env = project.parent / ".env"
    env.write_text(env.read_text().replace(PROD["API_TOKEN"], PROD["API_TOKEN"] + "-new"))
    [outcome] = m.run(plan, lambda a: True)
    assert outcome.state == "failed" and "changed after the plan was shown" in outcome.detail
    assert sm.list_secrets()["SecretList"] == []


def test_store_failing_mid_plan_journals_what_succeeded_and_retries_the_rest(tmp_path: Path, moto_url: str, sm) -> None:
    with FaultProxy(moto_url) as proxy:
        config = write_project(tmp_path, aws_sources(proxy.url))
        m = migration(config)
        plan = m.plan_creates(["aws-prod"])

        def confirm(action) -> bool:
            if "API_TOKEN" in action.target:
                proxy.injector.push(Fault.SERVER_ERROR, times=2)  # the store fails from here on
            return True

        outcomes = m.run(plan, confirm)
        assert [o.state for o in outcomes] == ["verified", "failed", "failed"]
        assert "try again later" in outcomes[1].detail
        assert [s["Name"] for s in sm.list_secrets()["SecretList"]] == ["prod/app/DB_PASSWORD"]
        journal = [(e.target, e.outcome) for e in m.journal.entries()]
        assert ("prod/app/DB_PASSWORD", "verified") in journal and ("prod/app/STRIPE_KEY", "failed") in journal

        retry = migration(config)
        plan = retry.plan_creates(["aws-prod"])
        assert [a.target for a in plan] == ["prod/app/API_TOKEN", "prod/app/STRIPE_KEY"]
        assert [o.state for o in retry.run(plan, lambda a: True)] == ["verified", "verified"]
        assert_no_canary(tmp_path, *(o.detail for o in outcomes))


def test_kill_between_confirm_and_verify_resumes_without_a_second_write(project: Path, sm) -> None:
    m = migration(project)
    client = m.workspace.source("aws-prod").client
    create = client.create_secret

    def create_then_die(name: str, value: str, tags: dict[str, str]) -> None:
        create(name, value, tags)
        if name.endswith("API_TOKEN"):
            raise Crash

    client.create_secret = create_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        m.run(m.plan_creates(["aws-prod"]), lambda a: True)
    assert [e.outcome for e in m.journal.entries() if e.target.endswith("API_TOKEN")] == ["confirmed", "started"]

    fresh = migration(project)
    plan = fresh.plan_creates(["aws-prod"])
    assert [a.target for a in plan] == ["prod/app/API_TOKEN", "prod/app/STRIPE_KEY"]  # re-checked, not rewritten
    confirmed = []
    assert [o.state for o in fresh.run(plan, lambda a: confirmed.append(a.target) or True)] == ["verified", "verified"]
    assert confirmed == ["prod/app/STRIPE_KEY"]
    assert versions(sm, "prod/app/API_TOKEN") == 1
    assert [e.outcome for e in fresh.journal.entries() if e.target.endswith("API_TOKEN")][-2:] == ["rechecked", "verified"]


def test_an_action_verified_earlier_whose_effect_is_gone_runs_again(project: Path, sm) -> None:
    m = migration(project)
    m.run(m.plan_creates(["aws-prod"], keys=["DB_PASSWORD"]), lambda a: True)
    sm.delete_secret(SecretId="prod/app/DB_PASSWORD", ForceDeleteWithoutRecovery=True)
    [outcome] = m.run(m.plan_creates(["aws-prod"], keys=["DB_PASSWORD"]), lambda a: True)
    assert outcome.state == "verified" and outcome.detail != "already finished in an earlier run"
    assert sm.get_secret_value(SecretId="prod/app/DB_PASSWORD")["SecretString"] == PROD["DB_PASSWORD"]
    outcomes = [e.outcome for e in m.journal.entries()]
    assert outcomes[outcomes.index("rechecked"):] == ["rechecked", "confirmed", "started", "done", "verified"]


def test_naming_collision_refused_before_any_store_is_written(tmp_path: Path, moto_url: str, sm, azure_vault) -> None:
    config = write_project(tmp_path, aws_sources(moto_url) + azure_source(azure_vault),
                           extra_env=f"api_token=canary-lower-{RUN}\n")
    m = migration(config)
    m.select_keys(["API_TOKEN", "api_token", "DB_PASSWORD"])
    with pytest.raises(NamingError, match="API_TOKEN, api_token would all be stored as 'prod-app-API-TOKEN'") as caught:
        m.plan_creates(["aws-prod", "azure-prod"])
    assert sm.list_secrets()["SecretList"] == [] and f"canary-lower-{RUN}" not in str(caught.value)

    m.select_keys(["API_TOKEN", "DB_PASSWORD"])
    plan = m.plan_creates(["azure-prod"])
    assert [a.target for a in plan] == ["prod-app-DB-PASSWORD", "prod-app-API-TOKEN"]
    assert [o.state for o in m.run(plan, lambda a: True)] == ["verified", "verified"]
    assert azure_vault.secret("prod-app-DB-PASSWORD").current.value == PROD["DB_PASSWORD"]
    schedules = m.plan_schedules(["azure-prod"])
    assert [o.state for o in m.run(schedules, lambda a: True)] == ["verified", "verified"]
    assert m.plan_schedules(["azure-prod"]) == []
    assert m.audit_statuses()["azure-prod"].state is AuditState.OFF
    assert "AuditEvent" in m.audit_guidance("azure-prod")
    assert_no_canary(tmp_path)


def test_rotation_burn_proof_fails_until_every_value_is_rotated(project: Path, sm) -> None:
    m = migration(project)
    m.run(m.plan_creates(["aws-prod"]), lambda a: True)
    assert m.burn_proof() == dict.fromkeys(PROD, False)
    plan = m.plan_rotations()
    assert {a.kind for a in plan} == {"add-version"} and len(plan) == 3
    outcomes = m.run(plan, confirm=lambda a: "STRIPE" not in a.target)
    assert [o.state for o in outcomes] == ["verified", "verified", "declined"]
    assert m.burn_proof() == {"DB_PASSWORD": True, "API_TOKEN": True, "STRIPE_KEY": False}
    assert sm.get_secret_value(SecretId="prod/app/DB_PASSWORD")["SecretString"] != PROD["DB_PASSWORD"]
    assert versions(sm, "prod/app/DB_PASSWORD") == 2
    again = m.plan_rotations()
    assert [a.target for a in again] == ["prod/app/STRIPE_KEY"]
    m.run(again, lambda a: True)
    assert m.burn_proof() == dict.fromkeys(PROD, True)
    assert m.plan_rotations() == []
    assert_no_canary(project.parent)


def test_aws_secret_with_a_rotation_lambda_is_rotated_by_it(project: Path, sm) -> None:
    from moto.backends import get_backend

    from citadel_tui.emulators.moto_ext import DEFAULT_ACCOUNT

    m = migration(project)
    m.run(m.plan_creates(["aws-prod"], keys=["DB_PASSWORD"]), lambda a: True)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:rotate-db"
    secret = get_backend("secretsmanager")[DEFAULT_ACCOUNT]["us-east-1"].secrets["prod/app/DB_PASSWORD"]
    secret.rotation_requested = secret.rotation_enabled = True  # as after a RotateSecret with a real Lambda
    secret.rotation_lambda_arn, secret.auto_rotate_after_days = arn, 30
    [action] = m.plan_rotations()
    assert (action.kind, dict(action.facts)["how"]) == ("rotate-now", f"rotation Lambda {arn}")


def test_schedule_uses_the_policy_period(project: Path, sm) -> None:
    m = migration(project)
    m.run(m.plan_creates(["aws-prod"]), lambda a: True)
    plan = m.plan_schedules()
    assert [dict(a.facts)["every"] for a in plan] == ["30 days"] * 3
    assert [o.state for o in m.run(plan, lambda a: True)] == ["verified"] * 3
    assert sm.describe_secret(SecretId="prod/app/API_TOKEN")["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert m.plan_schedules() == []


@pytest.mark.parametrize(("days", "ok"), [(29, False), (30, True), (90, True), (91, False)])
def test_rotation_period_policy_is_30_to_90_days(days: int, ok: bool) -> None:
    raw = {"policy": {"rotation_period_days": days}}
    if ok:
        assert parse_config(raw, None).policy.rotation_period_days == days
    else:
        with pytest.raises(ConfigError, match="rotation_period_days must be from 30 to 90"):
            parse_config(raw, None)
    assert parse_config({}, None).policy.rotation_period_days == 30


def test_staging_verification_reports_per_key(project: Path, sm) -> None:
    sm.create_secret(Name="staging/app/API_TOKEN", SecretString="not-the-staging-value")
    m = migration(project)
    plan = m.plan_creates(["aws-staging"])
    assert [a.target for a in plan] == ["staging/app/DB_PASSWORD"]
    m.run(plan, lambda a: True)
    assert m.verify_staging() == {"DB_PASSWORD": True, "API_TOKEN": False}
    assert m.step_status()["staging"].open_items == ("API_TOKEN",)
    with pytest.raises(MigrationError, match="environment = 'qa'"):
        m.verify_staging("qa")

    sm.put_secret_value(SecretId="staging/app/API_TOKEN", SecretString=STAGING["API_TOKEN"])
    m.workspace.source("aws-staging").invalidate()
    assert m.step_status()["staging"].state == "done"
    m.run(m.plan_rotations(["aws-staging"]), lambda a: True)  # rotated: the check fails now, on purpose
    assert m.verify_staging() == {"DB_PASSWORD": False, "API_TOKEN": False}
    assert m.step_status()["staging"].state == "done"
    restarted = migration(project)  # what passed is in the state file
    (project.parent / ".env.staging").write_text(
        (project.parent / ".env.staging").read_text() + f"REDIS_PASSWORD=canary-stg-redis-{RUN}\n")
    restarted.select_keys(["API_TOKEN", "DB_PASSWORD", "REDIS_PASSWORD"])
    assert restarted.step_status()["staging"].open_items == ("REDIS_PASSWORD",)  # a new key is tested again
    (project.parent / ".env.staging").unlink()
    assert restarted.step_status()["staging"].state == "done"  # the file is gone once all is migrated


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


def test_delete_env_file_only_once_migrated_and_burned(project: Path, sm) -> None:
    root = project.parent
    git(root, "init", "-q")
    (root / ".gitignore").write_text(".env\n")
    git(root, "add", ".gitignore", ".env.staging")
    git(root, "commit", "-q", "-m", "oops")
    (root / ".env.example").write_text("DB_PASSWORD=changeme\n")
    m = migration(project)

    reports = {r.path.name: r for r in m.env_file_report()}
    assert set(reports) == {".env", ".env.staging", ".env.example"}
    assert reports[".env"].git_ignored is True and reports[".env"].commits == ()
    assert reports[".env.staging"].git_ignored is False and len(reports[".env.staging"].commits) == 1
    assert reports[".env.example"].secret_keys == ()  # a placeholder is not a value

    env = root / ".env"
    with pytest.raises(DeleteBlockedError, match="not migrated: DB_PASSWORD, API_TOKEN, STRIPE_KEY"):
        m.plan_delete(env)
    m.run(m.plan_creates(["aws-prod"]), lambda a: True)
    with pytest.raises(DeleteBlockedError, match="not proven rotated: DB_PASSWORD, API_TOKEN, STRIPE_KEY") as caught:
        m.plan_delete(env)
    m.run(m.plan_rotations(["aws-prod"]), lambda a: "STRIPE" not in a.target)
    with pytest.raises(DeleteBlockedError, match=r"cannot be deleted yet: not proven rotated: STRIPE_KEY \(step 5\)$"):
        m.plan_delete(env)
    m.run(m.plan_rotations(["aws-prod"]), lambda a: True)

    action = m.plan_delete(env)
    assert dict(action.facts)["git-ignored"] == "yes"
    assert not m.confirm_delete(".env.staging", action) and m.confirm_delete(".env", action)
    assert [o.state for o in m.run([action], lambda a: m.confirm_delete("env", a))] == ["declined"]
    assert env.exists()
    assert [o.state for o in m.run([action], lambda a: m.confirm_delete(".env", a))] == ["verified"]
    assert not env.exists()
    assert m.burn_proof() == dict.fromkeys(PROD, True)  # proven by the journal once the file is gone
    assert m.step_status()["remove-env"].open_items == ()  # .env.staging's keys are in no staging store
    assert_no_canary(root, str(caught.value))


def test_unlisted_env_file_is_never_deletable_and_paths_are_resolved(project: Path, sm, monkeypatch) -> None:
    root = project.parent
    m = migration(project)
    m.run(m.plan_creates(["aws-prod"]), lambda a: True)
    m.run(m.plan_rotations(["aws-prod"]), lambda a: True)
    local = root / ".env.local"
    local.write_text(f"DB_PASSWORD=canary-local-{RUN}-never-stored\n")  # a value no store ever held
    report = {r.path.name: r for r in m.env_file_report()}[".env.local"]
    assert report.configured is False and report.migrated == ()
    with pytest.raises(DeleteBlockedError, match="not in citadel.toml: add it as an \\[\\[env\\]\\] entry"):
        m.plan_delete(local)
    monkeypatch.chdir(root)
    assert m.plan_delete(Path(".env")).target == ".env"  # a relative path still finds its [[env]] entry


def test_step_status_audit_emergency_and_state_survive_a_restart(project: Path, sm) -> None:
    m = migration(project)
    status = m.step_status()
    assert status["create"].state == "todo" and len(status["create"].open_items) == 5  # every store, before a write
    assert status["inventory"].open_items == ("the inventory has not been reviewed",)
    assert "found no use of the selected keys" in status["code"].open_items[0]
    m.confirm_no_usage()
    assert m.step_status()["code"].state == "done"
    m.review_inventory()
    (project.parent / "app.py").write_text('import os\n\npw = os.environ["DB_PASSWORD"]\ntoken = os.getenv("API_TOKEN")\n')
    with pytest.raises(MigrationError, match="found 2 use"):
        m.confirm_no_usage()
    m.tick_usage("app.py:3:DB_PASSWORD")
    assert m.step_status()["code"].open_items == ("app.py:4:API_TOKEN",)
    m.run(m.plan_creates(["aws-prod"]), lambda a: True)
    audit = m.audit_statuses()
    assert audit["aws-prod"].state is AuditState.OFF
    assert "start-logging" in m.audit_guidance("aws-prod")
    with pytest.raises(MigrationError, match="no such file"):
        m.confirm_runbook_saved(project.parent / "runbook.md")
    (project.parent / "runbook.md").write_text("# break glass\n")
    m.confirm_runbook_saved(project.parent / "runbook.md")
    status = m.step_status()
    assert {k: s.state for k, s in status.items() if s.state == "done"} == {
        "inventory": "done", "create": "done", "emergency": "done"}
    assert status["audit"].state == "in-progress" or status["audit"].open_items

    exports = [m.export_inventory(fmt) for fmt in ("markdown", "json", "csv")]
    assert all(p.parent == project.parent / ".citadel" / "exports" and p.stat().st_mode & 0o077 == 0 for p in exports)
    keys = [row["key"] for row in json.loads(exports[1].read_text())["keys"]]
    assert keys == ["DB_PASSWORD", "API_TOKEN", "STRIPE_KEY", "LOG_LEVEL", "DB_PASSWORD", "API_TOKEN"]
    assert "| LOG_LEVEL | production |" in exports[0].read_text()
    with pytest.raises(MigrationError, match="choose one of markdown, json, csv"):
        m.export_inventory("xml")

    restarted = migration(project)
    assert restarted.state.steps["create"] == "done" and restarted.state.runbook_saved
    assert_no_canary(project.parent)


def test_read_only_refuses_with_a_clear_message(project: Path, sm) -> None:
    m = migration(project, read_only=True)
    plan = m.plan_creates(["aws-prod"])
    assert len(m.run(plan, lambda a: True, dry_run=True)) == 3
    with pytest.raises(ReadOnlyError, match="refusing to run 3 action"):
        m.run(plan, lambda a: True)
    assert sm.list_secrets()["SecretList"] == []


def test_env_value_reads_the_last_binding_now(project: Path) -> None:
    workspace = Workspace(load_config(project))
    env = project.parent / ".env"
    env.write_text(env.read_text() + "API_TOKEN='quoted # value'\n")
    assert workspace.env_value(env, "API_TOKEN") == "quoted # value"
    with pytest.raises(CitadelError, match="no value for NOPE"):
        workspace.env_value(env, "NOPE")


# -- OpenBao ---------------------------------------------------------------------------------

def test_openbao_bundle_adds_only_missing_fields_then_rotates_and_schedules(
        tmp_path: Path, bao: OpenBaoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    folder = f"t-{uuid.uuid4().hex[:10]}"
    root = hvac.Client(url=bao.url, token=bao.token, timeout=5)
    root.secrets.kv.v2.create_or_update_secret(path=f"{folder}/app", secret={"EXISTING": 5, "DB_PASSWORD": PROD["DB_PASSWORD"]})
    config = write_project(tmp_path, (
        f'[[source]]\nname = "bao-prod"\nkind = "vault"\nenvironment = "production"\nlayout = "bundle"\n'
        f'secret = "app"\nurl = "{bao.url}"\npath = "{folder}"\n'))
    m = migration(config)
    [action] = m.plan_creates(["bao-prod"])
    assert (action.target, dict(action.facts)["layout"]) == ("app", "bundle: adds only missing fields to the existing JSON")
    assert [o.state for o in m.run([action], lambda a: True)] == ["verified"]
    stored = root.secrets.kv.v2.read_secret_version(path=f"{folder}/app", raise_on_deleted_version=True)["data"]["data"]
    assert stored == {"EXISTING": 5, **PROD}

    plan = m.plan_rotations()
    assert sorted(a.target for a in plan) == ["app#API_TOKEN", "app#DB_PASSWORD", "app#STRIPE_KEY"]
    m.run(plan, lambda a: True)
    assert m.burn_proof() == dict.fromkeys(PROD, True)
    stored = root.secrets.kv.v2.read_secret_version(path=f"{folder}/app", raise_on_deleted_version=True)["data"]["data"]
    assert stored["EXISTING"] == 5 and not set(stored.values()) & set(PROD.values())

    issued = f"canary-issued-api-{RUN}"  # a credential issued elsewhere replaces one field only
    [outcome] = m.run([m.plan_new_value("bao-prod", "API_TOKEN", issued)], lambda a: True)
    assert outcome.state == "verified" and outcome.action.target == "app#API_TOKEN"
    after = root.secrets.kv.v2.read_secret_version(path=f"{folder}/app", raise_on_deleted_version=True)["data"]["data"]
    assert after == {**stored, "API_TOKEN": issued}

    [schedule] = m.plan_schedules()
    assert schedule.target == "app"
    assert [o.state for o in m.run([schedule], lambda a: True)] == ["verified"]
    assert m.audit_statuses()["bao-prod"].state is AuditState.OFF
    assert 'audit "file"' in m.audit_guidance("bao-prod")
    assert_no_canary(tmp_path)


# -- Azure emulator --------------------------------------------------------------------------

def azure_source(emu: AzureEmulator) -> str:
    return (f'[[source]]\nname = "azure-prod"\nkind = "azure"\nenvironment = "production"\nprefix = "prod-app-"\n'
            f'vault_url = "{emu.vault_url}"\nca_bundle = "{emu.ca_file}"\nauthority_host = "{emu.authority_host}"\n'
            f'management_url = "{emu.management_url}"\nvault_resource_id = "{emu.vault_resource_id}"\n'
            'timeout_seconds = 5\n\n')


# -- the command line ------------------------------------------------------------------------

def test_cli_migrate_dry_run_confirm_each_yes_count_and_journal(project: Path, sm, capsys, monkeypatch) -> None:
    base = ["migrate", "--config", str(project), "--step", "create", "--store", "aws-prod"]
    assert cli.main([*base, "--dry-run"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "3 action(s)" in out and "prod/app/DB_PASSWORD" in out and sm.list_secrets()["SecretList"] == []

    monkeypatch.setattr("sys.stdin", io.StringIO("y\nn\n"))  # the third answer is missing: no
    assert cli.main(base) == cli.EXIT_FINDINGS
    assert [s["Name"] for s in sm.list_secrets()["SecretList"]] == ["prod/app/DB_PASSWORD"]
    capsys.readouterr()

    assert cli.main([*base, "--yes-count", "3"]) == cli.EXIT_USAGE
    assert "type the number of actions shown (2)" in capsys.readouterr().err
    assert cli.main([*base, "--yes-count", "2"]) == cli.EXIT_OK
    assert len(sm.list_secrets()["SecretList"]) == 3
    assert cli.main(["--read-only", *base, "--yes-count", "0"]) == cli.EXIT_OK  # nothing left to do
    sm.delete_secret(SecretId="prod/app/STRIPE_KEY", ForceDeleteWithoutRecovery=True)
    assert cli.main([*base, "--read-only", "--yes-count", "1"]) == cli.EXIT_USAGE
    assert "read-only mode" in capsys.readouterr().err

    assert cli.main(["journal", "--config", str(project), "--format", "json"]) == cli.EXIT_OK
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"declined", "verified"} <= {e["outcome"] for e in entries}
    assert cli.main(["journal", "--config", str(project)]) == cli.EXIT_OK
    text = capsys.readouterr().out
    assert "create prod/app/API_TOKEN" in text and "declined" in text
    assert_no_canary(project.parent, out, text)


def test_keys_split_across_stores_plan_read_and_generate_only_their_own(tmp_path: Path, moto_url: str, sm) -> None:
    sources = "".join(
        f'[[source]]\nname = "{name}"\nkind = "aws"\nenvironment = "production"\nprefix = "{prefix}"\n'
        f'keys = {keys}\nregion = "us-east-1"\nendpoint_url = "{moto_url}"\nmax_retries = 0\n\n'
        for name, prefix, keys in (("aws-db", "prod/db/", '["DB_PASSWORD"]'),
                                   ("aws-app", "prod/app/", '["API_TOKEN", "STRIPE_KEY"]'))
    )
    m = migration(write_project(tmp_path, sources))
    plan = m.plan_creates(["aws-db", "aws-app"])
    assert [(a.store, a.target) for a in plan] == [
        ("aws-db", "prod/db/DB_PASSWORD"), ("aws-app", "prod/app/API_TOKEN"), ("aws-app", "prod/app/STRIPE_KEY")]
    assert [o.state for o in m.run(plan, lambda a: True)] == ["verified"] * 3
    comparison = m.workspace.compare(*m.workspace.read_env_files()[:1], m.workspace.load_all())
    assert comparison.findings(["missing"]) == []

    sm.create_secret(Name="prod/db/API_TOKEN", SecretString="an old token the db store should not hold")
    values, unheld = m.workspace.secret_values("production")
    assert values == PROD and unheld == []

    read = {path.parent.name: re.findall(r"^# (\w+) <- ", generated.text, re.M) for path, generated in m.generate_code()}
    assert read == {"aws-db": ["DB_PASSWORD"], "aws-app": ["API_TOKEN", "STRIPE_KEY"]}


def test_a_placeholder_or_empty_value_is_never_stored(tmp_path: Path, moto_url: str, sm) -> None:
    env = {**PROD, "GITHUB_TOKEN": "changeme", "SMTP_PASSWORD": ""}
    m = migration(write_project(tmp_path, aws_sources(moto_url), env=env))
    with pytest.raises(MigrationError, match=r"no real value to store for GITHUB_TOKEN \(.env:4 placeholder\), "
                                             r"SMTP_PASSWORD \(.env:5 empty-value\): set the value"):
        m.plan_creates(["aws-prod"])
    with pytest.raises(MigrationError, match="GITHUB_TOKEN"):
        m.plan_creates(["aws-prod"], ["DB_PASSWORD", "GITHUB_TOKEN"])
    assert sm.list_secrets()["SecretList"] == []
    m.select_keys(PROD)
    assert [a.target for a in m.plan_creates(["aws-prod"])] == [f"prod/app/{k}" for k in PROD]


def test_a_new_value_issued_elsewhere_replaces_the_env_value_and_proves_the_burn(project: Path, sm) -> None:
    """The operator rotated the database password at the database: the new value goes to the store
    through one confirmed action; only its fingerprint is shown and journaled."""
    new_value = f"canary-new-db-{RUN}"
    m = migration(project)
    with pytest.raises(MigrationError, match="DB_PASSWORD is not in aws-prod yet: create it first"):
        m.plan_new_value("aws-prod", "DB_PASSWORD", new_value)
    m.run(m.plan_creates(["aws-prod"]), lambda a: True)
    with pytest.raises(MigrationError, match="is the .env value: it would burn nothing"):
        m.plan_new_value("aws-prod", "DB_PASSWORD", PROD["DB_PASSWORD"])
    with pytest.raises(MigrationError, match="empty"):
        m.plan_new_value("aws-prod", "DB_PASSWORD", "  ")

    action = m.plan_new_value("aws-prod", "DB_PASSWORD", new_value)
    facts = dict(action.facts)
    assert (action.kind, action.target) == ("set-value", "prod/app/DB_PASSWORD")
    assert facts["new fingerprint"] == m.workspace.fingerprint(new_value) and facts["new length"] == str(len(new_value))
    assert [o.state for o in m.run([action], lambda a: False)] == ["declined"]
    assert sm.get_secret_value(SecretId="prod/app/DB_PASSWORD")["SecretString"] == PROD["DB_PASSWORD"]
    [outcome] = m.run([action], lambda a: True)  # the value was dropped after the declined run
    assert outcome.state == "failed" and "enter it again" in outcome.detail

    action = m.plan_new_value("aws-prod", "DB_PASSWORD", new_value)
    assert [o.state for o in m.run([action], lambda a: True)] == ["verified"]
    assert sm.get_secret_value(SecretId="prod/app/DB_PASSWORD")["SecretString"] == new_value
    assert m.burn_proof()["DB_PASSWORD"] is True
    assert sorted(migration(project).step_status()["rotate"].open_items) == ["API_TOKEN", "STRIPE_KEY"]  # judged live
    assert [a.target for a in m.plan_rotations()] == ["prod/app/API_TOKEN", "prod/app/STRIPE_KEY"]
    with pytest.raises(MigrationError, match="already holds this value"):
        m.plan_new_value("aws-prod", "DB_PASSWORD", new_value)
    newer = f"canary-newer-db-{RUN}"  # rotated by hand once more, later: the same action id runs again
    assert [o.state for o in m.run([m.plan_new_value("aws-prod", "DB_PASSWORD", newer)], lambda a: True)] == ["verified"]
    assert sm.get_secret_value(SecretId="prod/app/DB_PASSWORD")["SecretString"] == newer
    stale = m.plan_new_value("aws-prod", "DB_PASSWORD", f"canary-newest-db-{RUN}")
    sm.put_secret_value(SecretId="prod/app/DB_PASSWORD", SecretString="changed by someone after the plan")
    [outcome] = m.run([stale], lambda a: True)  # journaled verified before: re-checked first, and refused
    assert outcome.state == "failed" and "changed since the plan was shown" in outcome.detail
    fresh = m.plan_new_value("aws-prod", "API_TOKEN", f"canary-new-api-{RUN}")  # never run before
    sm.put_secret_value(SecretId="prod/app/API_TOKEN", SecretString="changed by someone after the plan")
    [outcome] = m.run([fresh], lambda a: True)
    assert outcome.state == "failed" and "changed since the plan was shown" in outcome.detail
    assert sm.get_secret_value(SecretId="prod/app/API_TOKEN")["SecretString"] == "changed by someone after the plan"

    assert dict(action.facts)["replaces"] == "the .env value"
    sm.put_secret_value(SecretId="prod/app/API_TOKEN", SecretString="set by someone else")
    m.workspace.source("aws-prod").invalidate()
    again = m.plan_new_value("aws-prod", "API_TOKEN", f"canary-new-api-{RUN}")
    assert dict(again.facts)["replaces"] == "a value rotated before (not the .env one)"

    journal = (project.parent / ".citadel" / "journal.jsonl").read_text()
    assert new_value not in journal and all(c not in journal for c in CANARIES)
    assert "set-value" in journal


def test_cli_new_value_reads_the_credential_from_stdin_never_from_arguments(project: Path, sm, capsys, monkeypatch) -> None:
    new_value = f"canary-cli-new-{RUN}"
    assert cli.main(["migrate", "--config", str(project), "--step", "create", "--store", "aws-prod", "--yes-count", "3"]) == 0
    base = ["migrate", "--config", str(project), "--step", "rotate", "--store", "aws-prod", "--key", "API_TOKEN", "--new-value"]
    assert cli.main(base[:-3] + ["--new-value"]) == cli.EXIT_USAGE  # one store and one key
    assert "one --store NAME and one --key KEY" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{new_value}\ny\n"))
    assert cli.main(base) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "set-value 'prod/app/API_TOKEN' in aws-prod" in out and "verified" in out and new_value not in out
    assert sm.get_secret_value(SecretId="prod/app/API_TOKEN")["SecretString"] == new_value
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PROD['DB_PASSWORD']}\n"))
    assert cli.main([*base[:-3], "--key", "DB_PASSWORD", "--new-value"]) == cli.EXIT_USAGE
    assert "it would burn nothing" in capsys.readouterr().err
    assert_no_canary(project.parent, out)


def test_cli_checklist_prints_every_step_and_exits_1_until_all_are_done(project: Path, sm, capsys) -> None:
    assert cli.main(["checklist", "--config", str(project)]) == cli.EXIT_FINDINGS
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("1. todo") and "Inventory all secrets" in lines[0]
    assert "     - the inventory has not been reviewed" in lines
    assert sum(1 for line in lines if re.match(r"\d\. ", line)) == 9
    assert cli.main(["migrate", "--config", str(project), "--step", "create", "--store", "aws-prod", "--yes-count", "3"]) == 0
    capsys.readouterr()
    assert cli.main(["checklist", "--config", str(project), "--format", "json"]) == cli.EXIT_FINDINGS
    steps = json.loads(capsys.readouterr().out)["steps"]
    assert [s["id"] for s in steps][:2] == ["inventory", "create"] and len(steps) == 9
    assert steps[1]["state"] == "done" and steps[1]["open"] == []
    assert sorted(steps[4]["open"]) == sorted(PROD)  # created, not yet rotated
    assert_no_canary(project.parent, out)


def test_a_whole_file_is_ticked_or_unticked_at_once(project: Path, sm) -> None:
    (project.parent / "app.py").write_text('import os\n\npw = os.environ["DB_PASSWORD"]\ntoken = os.getenv("API_TOKEN")\n')
    (project.parent / "run.sh").write_text('echo "$STRIPE_KEY"\n')
    m = migration(project)
    assert m.tick_file("app.py") == ["app.py:3:DB_PASSWORD", "app.py:4:API_TOKEN"]
    assert m.step_status()["code"].open_items == ("run.sh:1:STRIPE_KEY",)
    m.tick_file("app.py", migrated=False)
    assert len(m.step_status()["code"].open_items) == 3
    with pytest.raises(MigrationError, match="nowhere.py: the scan finds no use"):
        m.tick_file("nowhere.py")


def test_the_usage_scan_is_kept_until_the_selection_changes_or_a_rescan(project: Path, sm) -> None:
    """Ticking usages must not rescan a large tree each time; R (rescan) and a new selection do."""
    root = project.parent
    (root / "app.py").write_text('import os\npw = os.environ["DB_PASSWORD"]\n')
    m = migration(project)
    first = m.usages()
    assert [u.id for u in first.usages] == ["app.py:2:DB_PASSWORD"]
    (root / "worker.py").write_text('import os\ntoken = os.getenv("API_TOKEN")\n')
    assert m.usages() is first and len(m.step_status()["code"].open_items) == 1
    assert len(m.step_status(fresh=True)["code"].open_items) == 2
    m.select_keys(["API_TOKEN"])
    assert [u.id for u in m.usages().usages] == ["worker.py:2:API_TOKEN"]
