"""OpenRouter price catalog: the full history of OpenRouter's models and per-provider endpoint prices.

Data flows one way: ``openrouter`` (fetch + parse) → ``store`` (DuckDB history) → queries and the faces
(CLI, later the API and the site). ``bundle`` holds the offline recorded data and ``fake`` serves it over
real HTTP in the exact OpenRouter v1 shapes.
"""

__version__ = "0.1.0"
