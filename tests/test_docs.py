"""The README cannot drift: schema, commands and options are checked against the code."""

from __future__ import annotations

import re
import subprocess

import click
import duckdb
import pytest

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


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _scopes(text: str) -> list[tuple[str, str]]:
    """The README cut where a command's options are meant to be read together: paragraphs and list items, table
    rows (a ``↳`` row continues the one above), and each line of a code block."""
    scopes: list[tuple[str, str]] = []
    paragraph: list[str] = []
    in_code = False

    def flush() -> None:
        if paragraph:
            scopes.append(("text", " ".join(paragraph)))
            paragraph.clear()

    for line in text.splitlines():
        if line.startswith("```"):
            flush()
            in_code = not in_code
        elif in_code:
            scopes.append(("code", "`" + line.split("  #", 1)[0] + "`"))
        elif line.startswith("|"):
            flush()
            if line.startswith("| ↳") and scopes and scopes[-1][0] == "row":
                scopes[-1] = ("row", f"{scopes[-1][1]} {line}")
            else:
                scopes.append(("row", line))
        else:
            if not line.strip() or line.lstrip().startswith("- "):
                flush()
            if line.strip():
                paragraph.append(line)
    flush()
    return scopes


# A span of another program (`python …`, `pytest`, `pip`, `make`) ends the command before it; `catalog WORDS`
# names a command; then its long and short options.
_TOKEN = re.compile(
    r"`(python|pytest|pip|make)\b"
    r"|(?:^|[\s`/(])catalog((?: +[a-z][a-z-]*)+)"
    r"|(--[a-z][a-z0-9-]*|(?<=\s)-[a-zA-Z](?=[\s`\]]))"
)


def _resolve(words: list[str]) -> tuple[str, click.Command] | None:
    """The longest command path the words start with (``site build NAME`` → ``catalog site build``)."""
    command: click.Command = cli
    path = ["catalog"]
    for word in words:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command = command.commands[word]
        path.append(word)
    return (" ".join(path), command) if command is not cli else None


def _options_by_command(text: str) -> list[tuple[str, click.Command, str]]:
    """Each option the text names after ``catalog CMD``, with that command: in a table row the command is the
    row's (named first); elsewhere the one named last before the option."""
    found = []
    for kind, scope in _scopes(text):
        current: tuple[str, click.Command] | None = None
        for match in _TOKEN.finditer(scope):
            other, words, option = match.groups()
            if other:
                current = None
            elif words:
                named = _resolve(words.split())
                if named and not (kind == "row" and current):
                    current = named
            elif current:
                found.append((*current, option))
    return found


def _flags(command: click.Command) -> set[str]:
    return {flag for param in command.params for flag in (*param.opts, *param.secondary_opts)} | {"--help"}


def test_every_option_the_readme_gives_a_command_is_one_of_its_options() -> None:
    load_plugin_commands()
    named = _options_by_command(README)
    assert len(named) > 50  # the commands table alone names that many
    wrong = sorted({f"{name} {option}" for name, command, option in named if option not in _flags(command)})
    assert not wrong, f"the README gives these commands options they do not have: {wrong}"


def test_every_command_and_its_options_are_documented_with_that_command() -> None:
    load_plugin_commands()
    commands = _commands(cli, "catalog")
    assert {"catalog up", "catalog jobs run", "catalog jobs history"} <= {name for name, _ in commands}
    documented: dict[str, set[str]] = {}
    for name, _, option in _options_by_command(README):
        documented.setdefault(name, set()).add(option)
    # Options the Commands section introduces for every command at once (`--json`, `--db PATH`).
    intro = _section("Commands").split("\n\n", 1)[0]
    general = set(re.findall(r"--[a-z][a-z0-9-]*", intro))
    assert general, "the Commands section starts by naming the options every command shares"
    missing = [name for name, _ in commands if not re.search(rf"`{re.escape(name)}\b", README)]
    for name, command in commands:
        for param in command.params:
            if isinstance(param, click.Option) and not set(param.opts) & (documented.get(name, set()) | general):
                missing.append(f"{name} {param.opts}")
    assert not missing, f"undocumented in README (or not beside their command): {missing}"


def test_quick_start_has_exactly_two_commands() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    commands = [line for block in blocks[:2] for line in block.strip().splitlines()]
    assert len(commands) == 2
    assert commands[0].endswith("catalog up")
    assert "pytest" in commands[1]
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci, "CI runs the README's test command as written there"


def _layout() -> list[str]:
    """The paths the README's Layout block names, each relative to the project (``catalog/prices.py``)."""
    block = re.findall(r"```\n(.*?)```", _section("Layout"), flags=re.S)
    assert len(block) == 1, "the Layout section holds one plain ``` block"
    paths: list[str] = []
    parents: list[tuple[int, str]] = []  # (indent, folder) of the entries above
    for line in block[0].splitlines():
        match = re.match(r"( *)(\S+)", line)
        if not match:
            continue
        indent, name = len(match[1]), match[2]
        if not (name.endswith("/") or re.fullmatch(r"[\w.-]+\.\w+", name)):
            continue  # a description carried over from the line above
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = (parents[-1][1] if parents else "") + name
        paths.append(path.rstrip("/"))
        if name.endswith("/"):
            parents.append((indent, path))
    return paths


def _tracked() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        pytest.skip("not a git checkout: the tree to compare with is what git tracks")
    return done.stdout.splitlines()


def test_readme_layout_names_existing_paths_and_every_top_level_folder_and_package() -> None:
    named = _layout()
    assert "catalog" in named and len(named) > 10
    missing = [path for path in named if not (PROJECT_ROOT / path).exists()]
    assert not missing, f"the README's Layout names paths that do not exist: {missing}"
    tracked = _tracked()
    # Every top-level folder of the project (hidden ones aside) and every package inside a top-level package.
    folders = {path.split("/", 1)[0] for path in tracked if "/" in path and not path.startswith(".")}
    packages = {path.rsplit("/", 1)[0] for path in tracked if path.count("/") == 2 and path.endswith("/__init__.py")}
    packages = {p for p in packages if f"{p.split('/', 1)[0]}/__init__.py" in tracked}
    covered = {part for path in named for part in (path.split("/", 1)[0], "/".join(path.split("/")[:2]))}
    unnamed = sorted((folders | packages) - covered)
    assert not unnamed, f"the README's Layout does not name: {unnamed}"
