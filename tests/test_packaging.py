"""The wheel carries what an installed copy needs, and an installed copy writes its data outside the package.

The end-to-end check (build the wheel, install it into a fresh virtualenv, run the commands) is
``.ci/wheel-smoke``; these are the fast parts of the same rule.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from catalog import settings

PYPROJECT = tomllib.loads((settings.PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_wheel_maps_the_projects_folders_to_where_settings_looks_for_them() -> None:
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert sorted(wheel["packages"]) == ["catalog", "jobs"]  # never `site`: it would shadow the stdlib module
    mapped = wheel["force-include"]
    assert mapped == {"site": "catalog/_site", "data/bundle": "catalog/_bundle"}
    for source in mapped:
        assert (settings.PROJECT_ROOT / source).is_dir(), source
    # In a checkout the packaged copies do not exist, so settings falls back to the checkout's folders.
    assert settings.IN_CHECKOUT
    assert settings.SITE_SOURCE == settings.PROJECT_ROOT / "site"
    assert settings.BUNDLE_DIR == settings.PROJECT_ROOT / "data" / "bundle"


def test_the_packaged_copy_wins_when_there_is_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "_bundle").mkdir()
    monkeypatch.setattr(settings, "PACKAGE_DIR", tmp_path)
    assert settings._shipped("_bundle", "data/bundle") == tmp_path / "_bundle"
    assert settings._shipped("_site", "site") == settings.PROJECT_ROOT / "site"


def test_installed_data_goes_to_the_current_folder_not_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CATALOG_DB", raising=False)
    monkeypatch.delenv("CATALOG_SITE_DIR", raising=False)
    assert settings.db_path() == settings.PROJECT_ROOT / "data" / "catalog.duckdb"  # a checkout keeps its data/
    monkeypatch.setattr(settings, "IN_CHECKOUT", False)
    monkeypatch.chdir(tmp_path)
    assert settings.db_path() == tmp_path / "data" / "catalog.duckdb"
    assert settings.site_dir() == tmp_path / "data" / "site"
    assert settings.site_dir(tmp_path / "other.duckdb") == tmp_path / "other-site"
