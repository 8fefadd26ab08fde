"""``catalog up`` serves the latest site build and rebuilds it after each sweep that stored a snapshot."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from test_service import Up, wait_until

from catalog.bundle import Bundle
from catalog.store.db import connect

pytestmark = pytest.mark.service


def _runs(up: Up, job: str) -> list[dict[str, object]]:
    response = httpx.get(f"{up.url}/jobs/runs", params={"job": job, "limit": 100}, timeout=10)
    assert response.status_code == 200
    return list(response.json())


def test_the_service_serves_the_site_and_rebuilds_it_after_each_sweep(tmp_path: Path, bundle: Bundle) -> None:
    db = tmp_path / "demo.duckdb"
    env = {
        "CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "4s",
        "CATALOG_JOB_PRUNE_RAW_ENABLED": "false",
        "CATALOG_JOB_CHECKPOINT_ENABLED": "false",
    }
    up = Up(db, env, "--source", "replay")
    try:
        # The replay starts at the first recorded full day; each sweep adds the next day and queues a build.
        def built_after_a_sweep() -> dict[str, object] | None:
            sweeps = [r for r in _runs(up, "snapshot_catalog") if r["status"] == "ok" and r["snapshot_id"]]
            builds = [r for r in _runs(up, "build_site") if r["status"] == "ok"]
            if not sweeps:
                return None
            last = max(sweeps, key=lambda r: str(r["finished_at"]))
            later = [b for b in builds if str(b["started_at"]) >= str(last["finished_at"])]
            return {"sweep": last, "build": later[0]} if later else None

        found = wait_until(built_after_a_sweep, 120, "a site build after a stored sweep")
        build, sweep = found["build"], found["sweep"]
        assert isinstance(build, dict) and isinstance(sweep, dict) and build["trigger"] == "schedule"
        as_of = build["detail"]["as_of"]
        # The build shows the day the sweep stored (or a later one, if another sweep came between).
        assert datetime.fromisoformat(as_of) >= datetime.fromisoformat(sweep["detail"]["taken_at"])

        home = httpx.get(f"{up.url}/", timeout=10)
        assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
        # The service adds the pages' policy as headers, where it can also forbid framing.
        assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
        assert home.headers["x-content-type-options"] == "nosniff"
        shown = re.search(r'<time datetime="([^"]+)"', home.text)
        assert shown is not None
        # The page served is that build or a newer one.
        assert datetime.fromisoformat(shown.group(1)) >= datetime.fromisoformat(as_of)
        rows = re.findall(r'<tr data-model="\d+" data-id="([^"]+)"', home.text)
        assert len(rows) > 300
        model_page = httpx.get(f"{up.url}/models/{rows[0]}.html", timeout=10)
        assert model_page.status_code == 200 and "price-data" in model_page.text
        assert model_page.headers["content-security-policy"] == home.headers["content-security-policy"]
        # Pages go gzipped, and a page unchanged since it was fetched is a 304 (`/` is the index itself).
        assert home.headers["content-encoding"] == "gzip" and home.num_bytes_downloaded < len(home.content) / 3
        again = httpx.get(f"{up.url}/", headers={"if-none-match": home.headers["etag"]}, timeout=10)
        assert again.status_code == 304
        assert httpx.get(f"{up.url}/index.html", timeout=10).text == home.text
        download = httpx.get(f"{up.url}/downloads/catalog.duckdb", timeout=10)
        assert download.status_code == 200 and "content-encoding" not in download.headers  # binary: sent as is
        assert httpx.get(f"{up.url}/providers.html", timeout=10).status_code == 200
        assert (
            httpx.get(f"{up.url}/static/cost.js", timeout=10)
            .headers["content-type"]
            .startswith(("text/javascript", "application/javascript"))
        )
        # The API and the service's own routes are still there beside the site.
        assert httpx.get(f"{up.url}/v1/models", params={"limit": 1}, timeout=10).json()["total"] > 300
        health = httpx.get(f"{up.url}/health", timeout=10)
        assert health.json()["service"]["source"] == "replay"
        service = httpx.get(f"{up.url}/service", timeout=10)
        assert service.json()["links"]["site"] == f"{up.url}/"
        # Whoever reaches the port learns the database's name, never where it lives on the machine.
        assert health.json()["db"] == service.json()["db"] == db.name
        assert str(db.parent) not in health.text + service.text
        missing = httpx.get(f"{up.url}/models/no/such-model.html", timeout=10)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert httpx.post(f"{up.url}/index.html", timeout=10).status_code == 405
    finally:
        code = up.stop()
    assert code == 0, up.output()
    con = connect(db, read_only=True)
    newest = con.execute("SELECT max(taken_at) FROM snapshots WHERE status <> 'failed'").fetchall()[0][0]
    builds = con.execute("SELECT count(*) FROM job_runs WHERE job = 'build_site' AND status = 'ok'").fetchall()[0][0]
    con.close()
    assert builds >= 2  # the first (no site yet) and at least one after a sweep
    site = db.with_name("demo-site")
    assert (site / "index.html").is_file()
    assert newest is not None
