"""OpenRouter price catalog: the full history of OpenRouter's models and per-provider endpoint prices.

Data flows one way: ``openrouter`` (fetch + parse) → ``store`` (DuckDB history) → queries and the faces
(CLI, later the API and the site). ``bundle`` holds the offline recorded data and ``fake`` serves it over
real HTTP in the exact OpenRouter v1 shapes.
"""

__version__ = "0.1.0"

__all__ = ["Catalog", "__version__"]


def __getattr__(name: str) -> object:
    # Imported on first use so `import catalog` (and the CLI's start-up) does not load DuckDB and Polars.
    if name == "Catalog":
        from catalog.library import Catalog

        return Catalog
    raise AttributeError(f"module 'catalog' has no attribute {name!r}")
