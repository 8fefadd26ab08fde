"""Talking to OpenRouter: the HTTP client (``client``), one sweep fetched over it (``fetch``), and the pure side the
store also reads — payload types and parsing (``payload``), records (``records``). No storage here."""
