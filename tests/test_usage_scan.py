"""Usage scan (checklist step 3): a fixture project with known usages at known lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from citadel_tui.core.usage_scan import Usage, language_for, redact, scan_text, scan_usages

KEYS = ["DB_PASSWORD", "API_KEY", "DATABASE_URL", "SECRET_KEY", "DEBUG", "UNUSED"]

FILES: dict[str, str | None] = {
"app/db.py": '''import os
from os import getenv
password = os.environ["DB_PASSWORD"]
old = os.environ["DB_PASSWORD_OLD"]
key = os.getenv("API_KEY", "canary-default-111")
token = getenv('API_KEY')
url = os.environ.get("DATABASE_URL")
# DB_PASSWORD in a comment is not a use
label = "DB_PASSWORD"
''',
"app/settings.py": '''from decouple import config
SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = config("DEBUG", default=False)
DB_PASSWORD = "canary-hardcoded-222"
''',
"app/conf.py": '''from pydantic_settings import BaseSettings
class Settings(BaseSettings):
    api_key: str
    db_password_old: str
    database_url: str = "canary-pydantic-333"
''',
"app/helpers.py": '''DB_PASSWORD = 1
''',
"web/src/client.ts": '''const key = process.env.API_KEY;
const pw = process.env["DB_PASSWORD"] || "canary-js-444";
const url = import.meta.env.DATABASE_URL;
const { DB_PASSWORD, API_KEY: k, OTHER } = process.env;
const x = process.env.API_KEY_V2;
''',
"scripts/deploy.sh": '''#!/bin/bash
export DB_PASSWORD=canary-shell-555
psql "postgres://app:$DB_PASSWORD@db/app"
echo ${API_KEY:-canary-default-666} ${DATABASE_URL}
echo $DB_PASSWORD_OLD
''',
"scripts/run": '''#!/usr/bin/env sh
curl -H "Authorization: $API_KEY" https://x
''',
"Dockerfile": '''FROM python:3.11
ARG API_KEY
ENV DB_PASSWORD=canary-docker-777 DATABASE_URL=postgres://x
RUN --mount=type=secret,id=API_KEY cat /run/secrets/API_KEY
''',
"docker-compose.yml": '''services:
  app:
    environment:
      - DB_PASSWORD=canary-compose-888
      - API_KEY
      DATABASE_URL: ${DATABASE_URL}
''',
"k8s/deploy.yaml": '''apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: app-secrets
                  key: DB_PASSWORD
            - name: API_KEY_V2
''',
".github/workflows/ci.yml": '''jobs:
  test:
    env:
      API_KEY: ${{ secrets.API_KEY }}
    steps:
      - run: echo ${{ secrets.DB_PASSWORD }}
''',
".env": "DB_PASSWORD=canary-env-999\n",
".env.production": "API_KEY=canary-env-000\n",
"node_modules/x/index.js": "process.env.DB_PASSWORD\n",
".venv/pyvenv.cfg": "",
".venv/lib/x.py": "os.environ['DB_PASSWORD']\n",
"other/pyvenv.cfg": "",
"other/y.py": "os.environ['DB_PASSWORD']\n",
"README.md": "DB_PASSWORD\n",
"data.bin": None,
"big.py": "x = 1\n" * 200_000 + "os.environ['DB_PASSWORD']\n",
}


EXPECTED = [
    ('.github/workflows/ci.yml', 4, 'API_KEY', 'ci:ci-secret', 'API_KEY: ${{ secrets.API_KEY }}'),
    ('.github/workflows/ci.yml', 6, 'DB_PASSWORD', 'ci:ci-secret', '- run: …${{ secrets.DB_PASSWORD }}'),
    ('Dockerfile', 2, 'API_KEY', 'dockerfile:dockerfile', 'ARG API_KEY'),
    ('Dockerfile', 3, 'DATABASE_URL', 'dockerfile:dockerfile-assign', 'ENV DB_PASSWORD=… DATABASE_URL=…'),
    ('Dockerfile', 3, 'DB_PASSWORD', 'dockerfile:dockerfile', 'ENV DB_PASSWORD=… DATABASE_URL=…'),
    ('Dockerfile', 4, 'API_KEY', 'dockerfile:dockerfile-secret', 'RUN --mount=…API_KEY…API_KEY'),
    ('app/conf.py', 3, 'API_KEY', 'python:settings', 'api_key: str'),
    ('app/conf.py', 5, 'DATABASE_URL', 'python:settings', 'database_url: str = "…"'),
    ('app/db.py', 3, 'DB_PASSWORD', 'python:os.environ', 'password = os.environ["DB_PASSWORD"]'),
    ('app/db.py', 5, 'API_KEY', 'python:getenv', 'key = os.getenv("API_KEY", "…")'),
    ('app/db.py', 6, 'API_KEY', 'python:getenv', "token = getenv('API_KEY')"),
    ('app/db.py', 7, 'DATABASE_URL', 'python:os.environ', 'url = os.environ.get("DATABASE_URL")'),
    ('app/settings.py', 2, 'SECRET_KEY', 'python:os.environ', 'SECRET_KEY = os.environ["SECRET_KEY"]'),
    ('app/settings.py', 3, 'DEBUG', 'python:config', 'DEBUG = config("DEBUG", default=False)'),
    ('app/settings.py', 4, 'DB_PASSWORD', 'python:settings', 'DB_PASSWORD = "…"'),
    ('docker-compose.yml', 4, 'DB_PASSWORD', 'compose:yaml-list', '- DB_PASSWORD=…'),
    ('docker-compose.yml', 5, 'API_KEY', 'compose:yaml-list', '- API_KEY'),
    ('docker-compose.yml', 6, 'DATABASE_URL', 'compose:shell-var', 'DATABASE_URL: ${DATABASE_URL}'),
    ('k8s/deploy.yaml', 8, 'DB_PASSWORD', 'kubernetes:yaml-env-name', '- name: DB_PASSWORD'),
    ('k8s/deploy.yaml', 12, 'DB_PASSWORD', 'kubernetes:yaml-ref-key', 'key: DB_PASSWORD'),
    ('scripts/deploy.sh', 2, 'DB_PASSWORD', 'shell:shell-assign', 'export DB_PASSWORD=…'),
    ('scripts/deploy.sh', 3, 'DB_PASSWORD', 'shell:shell-var', 'psql "…$DB_PASSWORD…"'),
    ('scripts/deploy.sh', 4, 'API_KEY', 'shell:shell-var', 'echo ${API_KEY:-…} ${DATABASE_URL}'),
    ('scripts/deploy.sh', 4, 'DATABASE_URL', 'shell:shell-var', 'echo ${API_KEY:-…} ${DATABASE_URL}'),
    ('scripts/run', 2, 'API_KEY', 'shell:shell-var', 'curl -H "…$API_KEY" https://x'),
    ('web/src/client.ts', 1, 'API_KEY', 'javascript:process.env', 'const key = process.env.API_KEY;'),
    ('web/src/client.ts', 2, 'DB_PASSWORD', 'javascript:process.env', 'const pw = process.env["DB_PASSWORD"] || "…";'),
    ('web/src/client.ts', 3, 'DATABASE_URL', 'javascript:import.meta.env', 'const url = import.meta.env.DATABASE_URL;'),
    ('web/src/client.ts', 4, 'API_KEY', 'javascript:process.env', 'const { DB_PASSWORD, API_KEY: k, OTHER } = process.env;'),
    ('web/src/client.ts', 4, 'DB_PASSWORD', 'javascript:process.env', 'const { DB_PASSWORD, API_KEY: k, OTHER } = process.env;'),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            path.write_bytes(b"\0\1os.environ['DB_PASSWORD']")
        else:
            path.write_text(text, encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "hook.py").write_text("os.environ['DB_PASSWORD']\n", encoding="utf-8")
    return root


def test_exact_usages(project: Path) -> None:
    result = scan_usages(project, KEYS)
    assert [(u.path, u.line, u.key, u.kind, u.snippet) for u in result.usages] == EXPECTED
    assert result.files_scanned == 11
    assert result.skipped == {"too-large": 1, "env-file": 2}
    assert result.unused(KEYS) == ["UNUSED"]
    assert [u.line for u in result.by_key()["DATABASE_URL"]] == [3, 5, 7, 6, 4, 3]


def test_canary_values_never_appear(project: Path) -> None:
    text = repr(scan_usages(project, KEYS))
    assert "canary" not in text


def test_usage_id_is_path_line_key() -> None:
    assert Usage("API_KEY", "app/db.py", 5, "python:getenv", "").id == "app/db.py:5:API_KEY"


def test_word_boundaries_are_exact() -> None:
    text = 'a = os.environ["DB_PASSWORD_OLD"]\nb = process.env.XDB_PASSWORD\nc = "$DB_PASSWORD_2"\n'
    keys = frozenset({"DB_PASSWORD"})
    assert scan_text(text, "a.py", "python", keys) == []
    assert scan_text(text, "a.js", "javascript", keys) == []
    assert scan_text(text, "a.sh", "shell", keys) == []


def test_first_line_and_specific_form_wins() -> None:
    text = 'SECRET_KEY = os.environ["SECRET_KEY"]\n'
    [usage] = scan_text(text, "settings.py", "python", frozenset({"SECRET_KEY"}))
    assert (usage.line, usage.kind) == (1, "python:os.environ")


def test_module_constants_outside_settings_files_are_not_uses() -> None:
    assert scan_text("DEBUG = True\n", "app/views.py", "python", frozenset({"DEBUG"})) == []
    [usage] = scan_text("DEBUG = True\n", "app/settings.py", "python", frozenset({"DEBUG"}))
    assert usage.snippet == "DEBUG = True"


@pytest.mark.parametrize(
    ("rel", "head", "language"),
    [
        ("x/Dockerfile.prod", None, "dockerfile"),
        ("compose.yaml", None, "compose"),
        (".github/workflows/ci.yaml", None, "ci"),
        (".gitlab-ci.yml", None, "ci"),
        ("k8s/a.yaml", "apiVersion: v1\n", "kubernetes"),
        ("ansible/a.yaml", "- hosts: all\n", None),
        ("bin/tool", "#!/usr/bin/env bash\n", "shell"),
        ("bin/tool", "#!/usr/bin/env python3\n", None),
        ("docs/a.md", None, None),
    ],
)
def test_language_for(rel: str, head: str | None, language: str | None) -> None:
    assert language_for(rel, head) == language


@pytest.mark.parametrize(
    ("line", "language", "expected"),
    [
        ("export DB_PASSWORD='s3cr3t value'", "shell", "export DB_PASSWORD=…"),
        ("ENV DB_PASSWORD s3cr3t", "dockerfile", "ENV DB_PASSWORD …"),
        ("DB_PASSWORD: hunter2", "compose", "DB_PASSWORD: …"),
        ("url: postgres://u:$DB_PASSWORD@h/db", "ci", "url: …$DB_PASSWORD…"),
        ('pw = os.getenv("DB_PASSWORD", "hunter2")', "python", 'pw = os.getenv("DB_PASSWORD", "…")'),
        ('x = """DB_PASSWORD hunter2', "python", 'x = """DB_PASSWORD…'),
        ("echo ${DB_PASSWORD:-hunter2}", "shell", "echo ${DB_PASSWORD:-…}"),
    ],
)
def test_redact(line: str, language: str, expected: str) -> None:
    assert redact(line, frozenset({"DB_PASSWORD"}), language) == expected


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.py").write_text("os.environ['DB_PASSWORD']\n", encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    assert scan_usages(root, ["DB_PASSWORD"]).usages == ()
