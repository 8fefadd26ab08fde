"""``python -m catalog.bundle build --from ../shared/data/openrouter [--out data/bundle]``.

A small maintainer script, so plain argparse; the user-facing CLI lives in ``catalog.cli``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from catalog import settings
from catalog.bundle.build import build, write_bundle
from catalog.errors import CatalogError


def main(argv: list[str] | None = None) -> int:
    """Run the script; returns the exit code (2 for an expected failure, printed as one line)."""
    parser = argparse.ArgumentParser(
        prog="python -m catalog.bundle", description="Build the bundled offline data in data/bundle."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="derive data/bundle from the recorded OpenRouter data")
    build_cmd.add_argument(
        "--from", dest="source", type=Path, required=True, help="the recorded data, …/shared/data/openrouter"
    )
    build_cmd.add_argument(
        "--out", type=Path, default=None, help="bundle directory (default: CATALOG_BUNDLE or data/bundle)"
    )
    args = parser.parse_args(argv)

    if args.out is None and not os.environ.get("CATALOG_BUNDLE") and not settings.IN_CHECKOUT:
        # An installed package is read-only data: never rewrite the copy inside it.
        print("error: outside a clone of the project, name the bundle directory with --out", file=sys.stderr)
        return 2
    out: Path = args.out or settings.bundle_dir()
    try:
        result = build(args.source)
        written = write_bundle(result, out)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    snapshots = result.manifest["snapshots"]
    full = [s for s in snapshots if s["kind"] == "full"]
    print(
        f"wrote {out}: {len(snapshots)} snapshots "
        f"({len(full)} full days, {len(snapshots) - len(full)} models-only), "
        f"{sum(s['models'] for s in snapshots):,} model entries, "
        f"{sum(s['endpoints'] for s in snapshots):,} endpoints, "
        f"{len(result.manifest['chat'])} chat recordings, "
        f"{(result.manifest.get('spec') or {}).get('schemas', 0)} spec schemas, "
        f"{len(result.files) + 1} files, {written:,} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
