"""The README cannot drift: schema, commands and options are checked against the code."""

from __future__ import annotations

import re

import click
import duckdb

from catalog.cli import cli, load_plugin_commands
from catalog.settings import PROJECT_ROOT
from catalog.store.migrations import describe_schema, migrate

README = (PROJECT_ROOT / "README.md").read_text()


def test_readme_schema_matches_the_migrations() -> None:
    con = duckdb.connect()
    migrate(con)
    block = README.split("<!-- schema:start -->\n", 1)[1].split("<!-- schema:end -->", 1)[0]
    assert block.strip() == describe_schema(con).strip(), "run `python -m catalog.store.migrations` and paste"


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    """Every command, with the subcommands of groups (``catalog jobs run``)."""
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix} {name}"))
    return found


def test_every_command_and_option_is_documented() -> None:
    missing = []
    load_plugin_commands()
    commands = _commands(cli, "catalog")
    assert {"catalog up", "catalog jobs run", "catalog jobs history"} <= {name for name, _ in commands}
    for name, command in commands:
        if name not in README:
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option):
                longs = [o for o in param.opts if o.startswith("--")]
                if not any(o in README for o in longs):
                    missing.append(f"{name} {longs}")
    assert not missing, f"undocumented in README: {missing}"


def test_quick_start_has_exactly_two_commands() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    commands = [line for block in blocks[:2] for line in block.strip().splitlines()]
    assert len(commands) == 2
    assert commands[0].endswith("catalog up")
    assert "pytest" in commands[1]
