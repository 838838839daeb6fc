"""The headless report: JSON, Markdown and CSV renderings of a Comparison. Never a value."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from citadel_tui.core.compare import Comparison, Row
from citadel_tui.core.envfile import EnvFile


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def row_dict(row: Row) -> dict[str, Any]:
    meta = row.secret
    return {
        "key": row.key,
        "environment": row.environment,
        "env_file": row.env_file,
        "line": row.line,
        "class": row.klass,
        "source": row.source,
        "secret": meta.name if meta else None,
        "statuses": list(row.statuses),
        "problems": list(row.problems),
        "last_changed": iso(meta.last_changed) if meta else None,
        "next_rotation": iso(meta.next_rotation) if meta else None,
        "last_accessed": iso(meta.last_accessed) if meta else None,
        "expires": iso(meta.expires) if meta else None,
    }


def to_dict(comparison: Comparison, env_errors: list[str] | None = None) -> dict[str, Any]:
    return {
        "generated_at": iso(comparison.generated_at),
        "policy": asdict(comparison.policy),
        "compared_values": comparison.compared_values,
        "env_files": [
            {
                "path": str(f.path),
                "environment": f.environment,
                "keys": len(f.entries),
                "problems": [{"line": p.line, "kind": p.kind, "message": p.message} for p in f.problems],
            }
            for f in comparison.env_files
        ],
        "env_errors": list(env_errors or []),
        "sources": [
            {
                "name": inv.source,
                "kind": inv.kind,
                "environment": inv.environment,
                "ok": inv.ok,
                "error": inv.error,
                "error_class": inv.error_class,
                "secrets": len(inv.secrets) if inv.ok else None,
                "requests": inv.requests,
            }
            for inv in comparison.inventories
        ],
        "counts": comparison.counts(),
        "rows": [row_dict(r) for r in comparison.rows],
    }


def to_json(comparison: Comparison, env_errors: list[str] | None = None) -> str:
    return json.dumps(to_dict(comparison, env_errors), indent=2)


CSV_COLUMNS = ("key", "environment", "env_file", "line", "class", "source", "secret", "statuses",
               "problems", "last_changed", "next_rotation", "last_accessed", "expires")


def to_csv(comparison: Comparison) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in comparison.rows:
        data = row_dict(row)
        data["statuses"] = " ".join(data["statuses"])
        data["problems"] = " ".join(data["problems"])
        writer.writerow({k: _csv_safe(data[k]) for k in CSV_COLUMNS})
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    """Defuse spreadsheet formulas: a cell starting with = + - @ is prefixed with a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _md(text: Any) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(comparison: Comparison, env_errors: list[str] | None = None) -> str:
    lines = [f"# Citadel check — {comparison.generated_at:%Y-%m-%d %H:%M} UTC", ""]
    counts = {k: v for k, v in comparison.counts().items() if v}
    lines += ["## Summary", "", ", ".join(f"{k}: {v}" for k, v in counts.items()) or "no rows", ""]
    lines += ["## Sources", "", "| source | kind | environment | state |", "|---|---|---|---|"]
    for inv in comparison.inventories:
        state = f"{len(inv.secrets)} secrets" if inv.ok else f"error: {inv.error}"
        lines.append(f"| {_md(inv.source)} | {inv.kind} | {_md(inv.environment)} | {_md(state)} |")
    problems = [(f, p) for f in comparison.env_files for p in f.problems]
    if problems or env_errors:
        lines += ["", "## .env problems", ""]
        lines += [f"- {_md(e)}" for e in env_errors or []]
        lines += [f"- `{_md(f.path)}:{p.line}` {p.kind}: {_md(p.message)}" for f, p in problems]
    lines += ["", "## Keys", "", "| key | env file | source | secret | statuses |", "|---|---|---|---|---|"]
    for row in comparison.rows:
        where = f"{row.env_file}:{row.line}" if row.env_file else ""
        lines.append(
            f"| {_md(row.key)} | {_md(where)} | {_md(row.source)} | "
            f"{_md(row.secret.name if row.secret else '')} | {', '.join(row.statuses)} |"
        )
    return "\n".join(lines) + "\n"


# -- the migration inventory (step 1): keys of the .env files, never a value ------------------

INVENTORY_COLUMNS = ("key", "environment", "env_file", "line", "class", "problems")


def inventory_rows(env_files: Sequence[EnvFile]) -> list[dict[str, Any]]:
    """One row per key of each .env file, with the kinds of problems found on it."""
    return [
        {
            "key": entry.key,
            "environment": env.environment,
            "env_file": str(env.path),
            "line": entry.line,
            "class": entry.klass,
            "problems": list(dict.fromkeys(p.kind for p in env.problems_for(entry.key))),
        }
        for env in env_files
        for entry in env.entries
    ]


def inventory_problems(env_files: Sequence[EnvFile]) -> list[dict[str, Any]]:
    return [{"env_file": str(env.path), "line": p.line, "kind": p.kind, "message": p.message}
            for env in env_files for p in env.problems]


def inventory_json(env_files: Sequence[EnvFile], generated_at: datetime) -> str:
    return json.dumps({"generated_at": iso(generated_at), "keys": inventory_rows(env_files),
                       "problems": inventory_problems(env_files)}, indent=2) + "\n"


def inventory_csv(env_files: Sequence[EnvFile]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=INVENTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in inventory_rows(env_files):
        writer.writerow({k: _csv_safe(" ".join(v) if k == "problems" else v) for k, v in row.items()})
    return out.getvalue()


def inventory_markdown(env_files: Sequence[EnvFile], generated_at: datetime) -> str:
    lines = [f"# Citadel inventory — {generated_at:%Y-%m-%d %H:%M} UTC", "",
             "| key | environment | env file | line | class | problems |", "|---|---|---|---|---|---|"]
    lines += [f"| {_md(r['key'])} | {_md(r['environment'])} | {_md(r['env_file'])} | {r['line']} | "
              f"{r['class']} | {', '.join(r['problems'])} |" for r in inventory_rows(env_files)]
    problems = inventory_problems(env_files)
    if problems:
        lines += ["", "## .env problems", ""]
        lines += [f"- `{_md(p['env_file'])}:{p['line']}` {p['kind']}: {_md(p['message'])}" for p in problems]
    return "\n".join(lines) + "\n"
