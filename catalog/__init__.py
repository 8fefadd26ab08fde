"""OpenRouter price catalog: the full history of OpenRouter's models and per-provider endpoint prices.

Data flows one way: ``openrouter`` (fetch over HTTP; pure payloads and parsing) → ``store`` (DuckDB history and
every SQL statement) → ``cost`` (the exact cost engine, pure of storage) → the faces: the Python library
(``library``), the CLI (``cli``), the query API (``api``), the static site (``website``) and the generation
client (``client``). ``money`` and ``exact_json`` hold the money rules and their one JSON spelling. ``bundle``
holds the offline recorded data, ``fake`` serves it over real HTTP in the exact OpenRouter v1 shapes and
``replay`` walks it into a history. The layers are checked by the import-linter contracts in pyproject.toml.
"""

__version__ = "0.1.0"

__all__ = ["Catalog", "__version__"]


def __getattr__(name: str) -> object:
    # Imported on first use so `import catalog` (and the CLI's start-up) does not load DuckDB and Polars.
    if name == "Catalog":
        from catalog.library import Catalog

        return Catalog
    raise AttributeError(f"module 'catalog' has no attribute {name!r}")
