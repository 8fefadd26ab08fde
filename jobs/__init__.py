"""Scheduled jobs: thin wrappers that call the pipeline in ``catalog`` on a schedule.

The scheduler and its jobs arrive with the jobs issue; until then ``catalog sync`` and ``catalog replay`` are
the one-shot forms of the catalog sweep. Nothing in ``catalog`` imports this package.
"""
