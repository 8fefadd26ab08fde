"""Talking to OpenRouter: fetch (``client``), parse (``records``) and sweep (``sweep``). No storage here."""
