"""The command line. Every headless feature is a thin layer over core/ and the Workspace.

Exit codes of `citadel check`: 0 no finding, 1 findings at or above --fail-on, 2 usage,
configuration or .env file error, 3 a source could not be read (the others are still reported).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from citadel_tui import __version__
from citadel_tui.core.errors import CitadelError
from citadel_tui.core.format import age
from citadel_tui.core.statuses import DEFAULT_FAIL_ON, STATUSES

if TYPE_CHECKING:  # imported where used, so `citadel --help` starts fast
    from pathlib import Path

    from citadel_tui.core.compare import Comparison
    from citadel_tui.core.config import Config
    from citadel_tui.core.plan import Action

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_SOURCE = 0, 1, 2, 3
MIGRATE_STEPS = ("create", "rotate", "schedule", "audit")
FORMATS = ("text", "json", "markdown", "csv")
STATUS_STYLE = {
    "missing": "bold red", "orphan": "magenta", "present": "green", "in-sync": "green",
    "drift": "bold red", "stale": "yellow", "no-rotation": "yellow", "rotation-due": "yellow",
    "rotation-overdue": "bold red", "expiring": "yellow", "expired": "bold red",
    "disabled": "dim", "unused": "cyan",
}


class UsageError(CitadelError):
    """The command line itself is wrong."""


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="citadel",
        description="Compare .env files with secret stores and walk the migration to a vault.",
    )
    parser.add_argument("--version", action="version", version=f"citadel {__version__}")
    parser.add_argument("--read-only", action="store_true", help="refuse every write to a store or to disk")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", help="open the dashboard (the default command)")
    _add_config(tui)

    check = sub.add_parser("check", help="headless report for CI; exit code says what was found")
    _add_config(check)
    check.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    check.add_argument("--compare-values", action="store_true",
                       help="read store values to compare fingerprints (in-sync / drift); values are never shown")
    check.add_argument("--fail-on", default=",".join(DEFAULT_FAIL_ON), metavar="STATUS,...",
                       help=f"statuses that make the exit code 1 (default: {','.join(DEFAULT_FAIL_ON)}); "
                            f"one or more of: {', '.join(STATUSES)}")
    check.add_argument("--output", "-o", type=_path, metavar="FILE", help="write the report to FILE instead of stdout")

    demo = sub.add_parser("demo", help="the dashboard on local AWS, Vault, GCP and Azure servers seeded with a scenario")
    demo.add_argument("--workspace", type=_path, metavar="DIR",
                      help="write the demo's .env files and citadel.toml here (default: a temporary folder)")
    demo.add_argument("--scenario", choices=("dashboard", "migration"), default="dashboard",
                      help="dashboard: stores seeded so every status shows; migration: empty stores and an "
                           "application to walk the nine-step checklist (k) from the start")
    demo.add_argument("--check", action="store_true", help="print `citadel check` for the demo instead of opening the dashboard")
    demo.add_argument("--format", choices=FORMATS, default="text", help="with --check: output format")
    demo.add_argument("--screenshots", type=_path, metavar="DIR", help="save SVG screenshots of the main views to DIR")

    run = sub.add_parser("run", help="run a command with the environment's secrets from the stores, never on disk")
    _add_config(run)
    run.add_argument("--environment", "-e", metavar="NAME", help="which environment's stores (default: the only one)")
    run.add_argument("--allow-missing", action="store_true", help="start even if .env keys are missing from the stores")
    run.add_argument("--no-redact", action="store_true", help="do not redact secret values in the command's output")
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...", help="the command to run")

    policy = sub.add_parser("policy", help="least-privilege read policies for the application (IAM, HCL, GCP, Azure RBAC)")
    _add_config(policy)
    policy.add_argument("--source", action="append", default=[], metavar="NAME", help="only this source (repeatable)")
    policy.add_argument("--key", action="append", default=[], metavar="KEY",
                        help="only this env key (repeatable; default: every secret-class key of the .env files)")
    policy.add_argument("--format", choices=("text", "json"), default="text")
    policy.add_argument("--account-id", help="AWS account id for exact ARNs (default: a placeholder)")
    policy.add_argument("--region", help="AWS region (default: the source's)")
    policy.add_argument("--principal", help="who the policy is for (role ARN, service account, object id)")
    policy.add_argument("--prefix-wide", action="store_true", help="AWS: grant the prefix (PREFIX*) instead of exact ARNs")

    migrate = sub.add_parser("migrate", help="plan and run one migration step; every action shown and confirmed")
    _add_config(migrate)
    migrate.add_argument("--step", required=True, choices=MIGRATE_STEPS, help="which checklist step to plan")
    migrate.add_argument("--store", action="append", default=[], metavar="NAME",
                         help="target source (repeatable; required for create, default: every source)")
    migrate.add_argument("--key", action="append", default=[], metavar="KEY",
                         help="create: only this env key (repeatable; default: the selected secret keys)")
    migrate.add_argument("--new-value", action="store_true",
                         help="rotate: replace one secret (--store, --key) with a credential issued at its owner, "
                              "read hidden from the terminal, or as the first line of standard input")
    migrate.add_argument("--dry-run", action="store_true", help="show the plan and run nothing")
    migrate.add_argument("--yes-count", metavar="N",
                         help="confirm every action shown; N must equal the number of actions (default: ask y/N each)")
    migrate.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                         help="refuse every write (same as the global flag)")

    checklist = sub.add_parser("checklist", help="the nine migration steps: state and what is still open (exit 1 until all done)")
    _add_config(checklist)
    checklist.add_argument("--format", choices=("text", "json"), default="text", help="text, or one JSON object")

    journal = sub.add_parser("journal", help="print the journal of every write Citadel made")
    _add_config(journal)
    journal.add_argument("--format", choices=("text", "json"), default="text", help="text, or JSON lines")

    code = sub.add_parser("code", help="checklist step 3: where the code reads each key, and code that reads it from a store")
    _add_config(code)
    code.add_argument("--source", required=True, metavar="NAME", help="the store the application will read from")
    code.add_argument("--style", choices=("reader", "sdk", "node"), default="reader",
                      help="reader: citadel_tui.runtime.SecretReader; sdk: the plain SDK with a TTL cache; node: AWS SDK v3")
    code.add_argument("--scan", type=_path, metavar="DIR", help="project tree to scan for uses (default: the config's folder)")
    code.add_argument("--key", action="append", default=[], metavar="KEY",
                      help="only this env key (repeatable; default: every secret-class key of the .env files)")

    login = sub.add_parser("login", help="store a credential the tool needs in the OS keyring")
    login.add_argument("store", choices=["vault"], help="which store the credential is for")
    login.add_argument("--url", required=True, help="the Vault/OpenBao address, e.g. https://vault:8200")
    return parser


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=_path, default=None, metavar="PATH",
                        help="configuration file (default: ./citadel.toml)")


def quiet_library_logs() -> None:
    """SDKs log warnings (credential probes, retries) through Python's last-resort handler,
    which would print over the dashboard. Citadel reports store failures through its own error
    classes, so library logs are dropped; SDK debug logs can carry request bodies, so they are
    never turned on by Citadel."""
    import logging

    logging.getLogger().addHandler(logging.NullHandler())
    for name in ("azure", "botocore", "boto3", "urllib3", "google", "grpc", "hvac", "werkzeug", "msal"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_library_logs()
    handlers = {
        "check": run_check, "demo": run_demo, "run": run_run, "policy": run_policy, "code": run_code,
        "login": run_login, "migrate": run_migrate, "journal": run_journal, "checklist": run_checklist,
    }
    try:
        return handlers.get(args.command, run_tui)(args)
    except CitadelError as exc:
        print(f"citadel: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def resolve_config(path: Path | None) -> Config:
    from citadel_tui.core.config import load_config

    return load_config(path if path is not None else _path("citadel.toml"))


def parse_statuses(text: str) -> list[str]:
    statuses = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise UsageError(f"--fail-on: unknown status {', '.join(unknown)}; allowed: {', '.join(STATUSES)}")
    return statuses


def run_check(args: argparse.Namespace) -> int:
    from citadel_tui.core import report
    from citadel_tui.workspace import Workspace

    fail_on = parse_statuses(args.fail_on)
    workspace = Workspace(resolve_config(args.config))
    try:
        env_files, env_errors = workspace.read_env_files()
        inventories = workspace.load_all(compare_values=args.compare_values)
        comparison = workspace.compare(env_files, inventories, compare_values=args.compare_values)
    finally:
        workspace.close()
    errors = [str(e) for e in env_errors]
    if args.format == "text":
        text = None
        _print_text(comparison, errors, fail_on, args.output)
    elif args.format == "json":
        text = report.to_json(comparison, errors)
    elif args.format == "markdown":
        text = report.to_markdown(comparison, errors)
    else:
        text = report.to_csv(comparison)
    if text is not None:
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    for error in errors:
        print(f"citadel: {error}", file=sys.stderr)
    for inv in comparison.inventories:
        if not inv.ok:
            print(f"citadel: source {inv.source!r} could not be read: {inv.error}", file=sys.stderr)
    if errors:
        return EXIT_USAGE
    if any(not inv.ok for inv in comparison.inventories):
        return EXIT_SOURCE
    return EXIT_FINDINGS if comparison.findings(fail_on) else EXIT_OK


def _print_text(comparison: Comparison, env_errors: list[str], fail_on: list[str], output: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    stream = output.open("w", encoding="utf-8") if output else sys.stdout
    console = Console(file=stream, width=None if stream.isatty() else 160)
    now = comparison.generated_at
    sources = Table(title="Sources", title_justify="left")
    for column in ("source", "kind", "environment", "state", "requests"):
        sources.add_column(column)
    for inv in comparison.inventories:
        state = Text(f"{len(inv.secrets)} secrets", style="green") if inv.ok else Text(f"error: {inv.error}", style="red")
        sources.add_row(inv.source, inv.kind, inv.environment, state, str(inv.requests))
    console.print(sources)
    problems = [(f, p) for f in comparison.env_files for p in f.problems]
    for error in env_errors:
        console.print(Text(f"✗ {error}", style="red"))
    for env, problem in problems:
        console.print(Text(f"! {env.path}:{problem.line} {problem.kind}: {problem.message}", style="yellow"))
    table = Table(title="Keys", title_justify="left")
    table.add_column("key", no_wrap=True, min_width=max((len(r.key) for r in comparison.rows), default=3))
    for column in ("env file", "source", "secret", "status", "changed", "rotation", "accessed"):
        table.add_column(column, overflow="fold")
    for row in comparison.rows:
        meta = row.secret
        status = Text()
        for i, s in enumerate(row.statuses):
            status.append(("" if i == 0 else " ") + s, style=STATUS_STYLE[s] + (" underline" if s in fail_on else ""))
        table.add_row(
            row.key, f"{_path(row.env_file).name}:{row.line}" if row.env_file else "—", row.source,
            meta.name if meta else "—", status,
            age(meta.last_changed, now) if meta else "",
            age(meta.next_rotation, now) if meta and meta.next_rotation else ("none" if meta else ""),
            age(meta.last_accessed, now) if meta else "",
        )
    console.print(table)
    counts = ", ".join(f"{k}: {v}" for k, v in comparison.counts().items() if v)
    console.print(f"Summary: {counts or 'no rows'}; findings ({','.join(fail_on)}): {len(comparison.findings(fail_on))}")


def run_demo(args: argparse.Namespace) -> int:
    from citadel_tui.demo import demo_workspace

    if args.workspace:
        args.workspace.mkdir(parents=True, exist_ok=True)
    print("Starting local AWS (moto), OpenBao, GCP and Azure servers…", file=sys.stderr)
    _exit_on_hangup()
    with demo_workspace(args.workspace, args.scenario) as demo:
        config_path = demo.config_path
        if args.check:
            check = argparse.Namespace(config=config_path, format=args.format, compare_values=True,
                                       fail_on=",".join(DEFAULT_FAIL_ON), output=None)
            return run_check(check)
        config = resolve_config(config_path)
        if args.screenshots:
            from citadel_tui.tui.screenshots import save_screenshots

            for path in save_screenshots(config, args.screenshots):
                print(f"wrote {path}")
            return EXIT_OK
        from citadel_tui.tui.app import run_app

        return run_app(config)


def _exit_on_hangup() -> None:
    """A closed terminal (SIGHUP) or a kill (SIGTERM) ends the demo the way Ctrl+C does: the
    context managers run, so the OpenBao server process and the temporary folders go with it."""
    import signal

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))


def run_run(args: argparse.Namespace) -> int:
    from citadel_tui.run import run_command
    from citadel_tui.workspace import Workspace

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        raise UsageError("citadel run needs a command: citadel run [options] -- COMMAND ...")
    config = resolve_config(args.config)
    environments = config.environments()
    environment = args.environment or (environments[0] if len(environments) == 1 else None)
    if environment is None or environment not in environments:
        raise UsageError(f"choose an environment with --environment; configured: {', '.join(environments) or 'none'}")
    workspace = Workspace(config)
    try:
        secrets, missing = workspace.secret_values(environment)
    finally:
        workspace.close()
    if missing and not args.allow_missing:
        raise UsageError(
            f"not in any {environment!r} store: {', '.join(missing)}; migrate them first "
            "or pass --allow-missing"
        )
    return run_command(command, secrets, redact=not args.no_redact)


def run_policy(args: argparse.Namespace) -> int:
    from citadel_tui.core.policies import policy_report

    config = resolve_config(args.config)
    keys = args.key or _secret_keys(config)
    sys.stdout.write(policy_report(config, args.source, keys, fmt=args.format, account_id=args.account_id,
                                   region=args.region, principal=args.principal, use_prefix=args.prefix_wide))
    return EXIT_OK


def run_code(args: argparse.Namespace) -> int:
    from citadel_tui.core.codegen import generate_code
    from citadel_tui.core.usage_scan import scan_usages

    config = resolve_config(args.config)
    source = next((s for s in config.sources if s.name == args.source), None)
    if source is None:
        raise UsageError(f"no source named {args.source!r}; configured: {', '.join(s.name for s in config.sources) or 'none'}")
    keys = args.key or _secret_keys(config)
    root = args.scan or (config.path.parent if config.path else _path("."))
    result = scan_usages(root, keys)
    by_key = result.by_key()
    print(f"# Uses of {len(keys)} key(s) in {root} ({result.files_scanned} files scanned)")
    for key in keys:
        uses = by_key.get(key, [])
        print(f"{key}: {len(uses)} use(s)" if uses else f"{key}: no use found (built at run time? check by hand)")
        for use in uses:
            print(f"  {use.path}:{use.line}  {use.kind}  {use.snippet}")
    generated = generate_code(source, keys, style=args.style, config_path=str(config.path or "citadel.toml"))
    print(f"\n# {generated.filename} ({generated.language}, {generated.style}) for {source.name}\n")
    print(generated.text)
    return EXIT_OK


def _secret_keys(config: Config) -> list[str]:
    """Every secret-class key of the configured .env files (no store is read)."""
    from citadel_tui.core.classify import SECRET
    from citadel_tui.workspace import Workspace

    env_files, failures = Workspace(config).read_env_files()
    if failures:
        raise failures[0]
    keys = sorted({e.key for f in env_files for e in f.entries if e.klass == SECRET})
    if not keys:
        raise UsageError("no secret keys found in the .env files; name them with --key")
    return keys


def run_login(args: argparse.Namespace) -> int:
    import getpass

    from citadel_tui import credentials

    token = getpass.getpass(f"Token for {args.url} (input hidden): ")
    if not token.strip():
        raise UsageError("no token entered; nothing stored")
    credentials.store_token(args.url, token.strip())
    print(f"Stored the token for {args.url} in the OS keyring.")
    return EXIT_OK


def _writable_config(args: argparse.Namespace) -> Config:
    """The configuration, read-only when `--read-only` was given (the Executor then refuses writes)."""
    from dataclasses import replace

    config = resolve_config(getattr(args, "config", None))
    return replace(config, read_only=True) if args.read_only else config


def run_migrate(args: argparse.Namespace) -> int:
    """Exit 0 when every action ran and verified, 1 when one was declined or failed."""
    from citadel_tui.migration import Migration
    from citadel_tui.workspace import Workspace

    if args.step == "create" and not args.store:
        raise UsageError("--step create needs --store NAME (the store to create the secrets in)")
    if args.new_value and (args.step != "rotate" or len(args.store) != 1 or len(args.key) != 1):
        raise UsageError("--new-value goes with --step rotate, one --store NAME and one --key KEY")
    workspace = Workspace(_writable_config(args))
    try:
        migration = Migration(workspace)
        stores = args.store or None
        if args.new_value:
            plan = [migration.plan_new_value(args.store[0], args.key[0], _read_new_value(args.store[0], args.key[0]))]
        elif args.step == "create":
            plan = migration.plan_creates(args.store, args.key or None)
        else:
            plan = {"rotate": migration.plan_rotations, "schedule": migration.plan_schedules,
                    "audit": migration.plan_audits}[args.step](stores)
        print(f"{len(plan)} action(s) planned for step {args.step}:")
        for number, action in enumerate(plan, 1):
            print(f"  {number}. {action.describe()}")
        if args.dry_run or not plan:
            return EXIT_OK
        if args.yes_count is not None and not Migration.confirm_all(args.yes_count, plan):
            raise UsageError(f"--yes-count {args.yes_count}: type the number of actions shown ({len(plan)}) to confirm them all")
        outcomes = migration.run(plan, (lambda action: True) if args.yes_count is not None else _ask)
    finally:
        workspace.close()
    for outcome in outcomes:
        print(f"{outcome.state:<9} {outcome.action.describe()}" + (f": {outcome.detail}" if outcome.detail else ""))
    return EXIT_OK if all(o.state in ("verified", "skipped") for o in outcomes) else EXIT_FINDINGS


def _read_new_value(store: str, key: str) -> str:
    """Hidden on a terminal; otherwise the first line of standard input (never an argument,
    which other users could read in the process list)."""
    import getpass

    from citadel_tui.core.concealed import Concealed

    if sys.stdin.isatty():
        return Concealed(getpass.getpass(f"New value of {key} for {store} (input hidden): "))
    return Concealed(sys.stdin.readline().rstrip("\r\n"))


def _ask(action: Action) -> bool:
    """One y/N question per action on the terminal; no answer (end of input) is no."""
    print(f"{action.describe()}\n  run it? [y/N] ", end="", flush=True)
    answer = sys.stdin.readline()
    print()
    return answer.strip().lower() in ("y", "yes")


def run_checklist(args: argparse.Namespace) -> int:
    """Exit 0 when all nine steps are done, 1 while one is open. Reads the stores; writes only
    the checklist state."""
    import json

    from citadel_tui.migration import Migration
    from citadel_tui.workspace import Workspace

    workspace = Workspace(resolve_config(args.config))
    try:
        statuses = Migration(workspace).step_status()
    finally:
        workspace.close()
    if args.format == "json":
        print(json.dumps({"steps": [{"number": n, "id": s.step.id, "title": s.step.title, "state": s.state,
                                     "open": list(s.open_items)} for n, s in enumerate(statuses.values(), 1)]},
                         ensure_ascii=False, indent=2))
    else:
        for number, status in enumerate(statuses.values(), 1):
            print(f"{number}. {status.state:<11} {status.step.title}")
            print("".join(f"     - {item}\n" for item in status.open_items), end="")
    return EXIT_OK if all(s.state == "done" for s in statuses.values()) else EXIT_FINDINGS


def run_journal(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from citadel_tui.core.journal import Journal
    from citadel_tui.migration import citadel_folder

    for entry in Journal(citadel_folder(resolve_config(args.config)) / "journal.jsonl").entries():
        if args.format == "json":
            print(json.dumps(asdict(entry), ensure_ascii=False))
        else:
            detail = f"  ({entry.detail})" if entry.detail else ""
            print(f"{entry.at}  {entry.user}  {entry.step}: {entry.action} {entry.target} in {entry.store}  "
                  f"{entry.outcome}{detail}")
    return EXIT_OK


def run_tui(args: argparse.Namespace) -> int:
    from citadel_tui.tui.app import run_app

    return run_app(_writable_config(args))
