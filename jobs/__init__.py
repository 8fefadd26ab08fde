"""The service: scheduled jobs (``registry``) that call ``catalog``'s pipeline and store, the scheduler
(APScheduler), the run loop and its HTTP routes, the config, and the ``up`` / ``status`` / ``jobs`` commands,
found by ``catalog`` through an entry point. Nothing in ``catalog`` imports this package.
"""
