"""The benchmark suite at a tiny size, so it keeps working; asserts results, never timings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.inventory import api_minimum
from bench.run import main
from citadel_tui.emulators.openbao import find_bao


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    if find_bao() is None:
        pytest.skip("the bao executable is needed for the OpenBao benchmark")
    out = tmp_path_factory.mktemp("bench") / "PERFORMANCE.md"
    return main(["--n", "20", "--big-n", "0", "--repeats", "1", "--sample", "3", "--startup-runs", "1",
                 "--engine", "50", "4", "200", "--no-dashboard", "--out", str(out)])


def test_every_store_measured_at_both_delays(report) -> None:
    measured = {(r.store, r.latency_ms) for r in report.inventories}
    assert measured == {(s, d) for s in ("aws", "vault", "vault-list", "azure", "gcp") for d in (0.0, 20.0)}


def test_citadel_requests_equal_the_api_minimum(report) -> None:
    for r in report.inventories:
        assert r.minimum == api_minimum(r.store, 20)
        assert r.citadel.requests == r.minimum, r


def test_floors_make_the_plain_sequential_calls(report) -> None:
    by_store = {(r.store, r.latency_ms): r for r in report.inventories}
    assert by_store["aws", 0.0].floor.requests == 1
    assert by_store["azure", 0.0].floor.requests == 1
    assert by_store["vault", 0.0].floor.requests == 21  # LIST + one metadata read per key
    assert by_store["gcp", 0.0].floor.requests == 21  # ListSecrets + ListSecretVersions per secret
    assert by_store["vault", 20.0].floor.extrapolated  # 3 of 20 keys timed at 20 ms


def test_peer_cli_measured_or_skipped_with_a_reason(report) -> None:
    for r in report.inventories:
        if r.store in ("aws", "vault"):
            assert r.peer is not None or r.peer_note, r
        if r.peer is not None and r.store == "aws":
            assert r.peer.requests == 1  # awscli: one list-secrets page for 20 secrets


def test_all_stores_engine_and_startup_ran(report) -> None:
    assert [a.latency_ms for a in report.all_stores] == [0.0, 20.0]
    assert all(set(a.alone) == {"aws", "vault", "azure", "gcp"} and a.together > 0 for a in report.all_stores)
    assert report.engine is not None and report.engine.rows == 4 * 200 and report.engine.peak_bytes > 0
    assert [s.label for s in report.startup] == [
        "citadel --help", "citadel check (no stores)", "dashboard first frame (no stores)"]
    assert report.sdks_without_stores == []


def test_report_written(report) -> None:
    text = Path(report.args.out).read_text(encoding="utf-8")
    assert "| aws | 20 | 20 ms | 1 (1) |" in text
    assert "## Targets" in text and "Cloud SDKs imported by `citadel check` without stores: none." in text


def test_checklist_benchmark_measures_every_figure() -> None:
    from bench.checklist import bench

    rows = dict(bench(repeats=1))
    assert list(rows) == ["nine steps judged (R), all missing", "nine steps judged after a tick, all missing",
                          "nine steps judged (R), all created", "nine steps judged after a tick, all created",
                          "one create, all stores (plan to journal)",
                          "one AWS create: plan, confirm, write, verify, journal"]
    assert all(re.match(r"\d+ ms", figure) for figure in rows.values())
    assert "(14 actions)" in rows["one create, all stores (plan to journal)"]
