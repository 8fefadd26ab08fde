"""Every job by name: a plain function ``job(ctx, *, dry_run=False) -> JobResult``, runnable by hand
(``catalog jobs run NAME``) and from the schedule alike."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from catalog.errors import InputError

if TYPE_CHECKING:
    from jobs.context import JobContext, JobResult


@dataclass(frozen=True)
class JobSpec:
    name: str
    target: str  # "module:function"; imported when the job first runs, so listing the jobs stays cheap
    about: str
    writes: bool = True  # False: the job leaves the history as it was (no new copy to publish, nothing to reload)

    @property
    def run(self) -> Callable[..., JobResult]:
        module, _, function = self.target.partition(":")
        return cast("Callable[..., JobResult]", getattr(importlib.import_module(module), function))


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec(
            "snapshot_catalog",
            "jobs.snapshots:snapshot_catalog",
            "one snapshot of /models and every model's /endpoints",
        ),
        JobSpec(
            "snapshot_providers",
            "jobs.snapshots:snapshot_providers",
            "one snapshot of /providers (and /models)",
        ),
        JobSpec(
            "prune_raw", "jobs.maintenance:prune_raw", "drop archived payloads of old snapshots that changed nothing"
        ),
        JobSpec(
            "checkpoint",
            "jobs.maintenance:checkpoint",
            "write the WAL into the database file; report size and free blocks",
        ),
        JobSpec(
            "build_site",
            "jobs.site:build_site",
            "render the static site (also after each successful sweep)",
            writes=False,
        ),
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
