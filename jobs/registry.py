"""Every job by name: a plain function ``job(ctx, *, dry_run=False) -> JobResult``, runnable by hand
(``catalog jobs run NAME``) and from the schedule alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from catalog.errors import InputError
from jobs.context import JobContext, JobResult
from jobs.maintenance import checkpoint, prune_raw
from jobs.site import build_site
from jobs.snapshots import snapshot_catalog, snapshot_providers


@dataclass(frozen=True)
class JobSpec:
    name: str
    run: Callable[..., JobResult]
    about: str
    writes: bool = True  # False: the job leaves the history as it was (no new copy to publish, nothing to reload)


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("snapshot_catalog", snapshot_catalog, "one snapshot of /models and every model's /endpoints"),
        JobSpec("snapshot_providers", snapshot_providers, "one snapshot of /providers (and /models)"),
        JobSpec("prune_raw", prune_raw, "drop archived payloads of old snapshots that changed nothing"),
        JobSpec("checkpoint", checkpoint, "write the WAL into the database file; report size and free blocks"),
        JobSpec("build_site", build_site, "render the static site (also after each successful sweep)", writes=False),
    )
}


def job_named(name: str) -> JobSpec:
    spec = JOBS.get(name)
    if spec is None:
        raise InputError(f"no job named {name!r}; the jobs are {', '.join(JOBS)}")
    return spec


def run_dry(ctx: JobContext, name: str) -> JobResult:
    """What the job would do, computed on ``ctx`` and rolled back; not logged."""
    return job_named(name).run(ctx, dry_run=True)


def _check_registry_matches_schedule() -> None:
    from jobs.config import default_schedules

    assert set(default_schedules("openrouter")) == set(JOBS), "every job needs a default schedule"


_check_registry_matches_schedule()
