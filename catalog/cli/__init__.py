"""The ``catalog`` command. Each area lives in its own module; this one wires them and owns the error edge."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click

from catalog import __version__
from catalog.cli.account import account_cmd, generation_cmd
from catalog.cli.cost import cheapest_cmd, cost_cmd, price_cmd, reconcile_cmd
from catalog.cli.gen import gen_cmd
from catalog.cli.history import changes_cmd, endpoints_cmd, history_cmd, models_cmd, snapshots_cmd
from catalog.cli.servers import fake_openrouter_cmd, serve_cmd
from catalog.cli.site import site_group
from catalog.cli.sync import init_cmd, rederive_cmd, replay_cmd, sync_cmd
from catalog.errors import CatalogError, FetchError, GenerationError
from catalog.redact import redact


class CatalogGroup(click.Group):
    """The command group; commands registered by other packages are added when first listed or looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Bytes that are not UTF-8 reach Python as lone surrogates; nothing downstream (DuckDB, files, JSON)
        # can take them, so they are refused here for every command at once.
        # A NUL cannot come from a shell (argv entries are C strings) but can from a program calling main();
        # no file name, address or value holds one.
        for position, arg in enumerate(args, 1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
                raise click.UsageError(
                    f"argument {position} ({shown}) is not valid UTF-8 text; check the terminal's encoding", ctx
                ) from None
            if "\x00" in arg:
                shown = arg[:60].encode("ascii", "backslashreplace").decode().replace("\x00", "\\x00")
                raise click.UsageError(f"argument {position} ({shown}) holds a NUL character; remove it", ctx)
        return super().parse_args(ctx, args)


@click.group(cls=CatalogGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="catalog")
def cli() -> None:
    """OpenRouter price catalog: the full history of models and per-provider endpoint prices.

    Times accept a date (2026-07-20: the whole UTC day) or an ISO timestamp (2026-07-20T12:00:00Z).
    The database is data/catalog.duckdb unless --db or CATALOG_DB says otherwise.
    """


for command in (
    init_cmd,
    sync_cmd,
    replay_cmd,
    rederive_cmd,
    models_cmd,
    endpoints_cmd,
    history_cmd,
    changes_cmd,
    snapshots_cmd,
    cost_cmd,
    cheapest_cmd,
    price_cmd,
    reconcile_cmd,
    serve_cmd,
    fake_openrouter_cmd,
    site_group,
    gen_cmd,
    account_cmd,
    generation_cmd,
):
    cli.add_command(command)


_plugins_loaded = False


def load_plugin_commands() -> None:
    """Add the commands other packages of the project register (``jobs``: up, status, jobs) via entry points.

    Done on first use, not at import: those packages import parts of ``catalog`` themselves.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in sorted(entry_points(group="catalog.commands"), key=lambda e: e.name):
        cli.add_command(entry.load(), entry.name)


def main() -> None:
    """Console entry point: expected failures become one line on stderr, never a traceback."""
    try:
        cli.main(standalone_mode=False, prog_name="catalog")
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FetchError as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)  # a URL's credentials, an echoed key: never shown
        sys.exit(2 if isinstance(exc, GenerationError) and exc.bad_input else 1)  # an unknown id, a missing key
    except CatalogError as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
