"""The read-only HTTP query API (``catalog serve``; mounted by ``catalog up``)."""

from catalog.api.app import create_app, serving_interpreter, settle_heap
from catalog.api.state import ApiState

__all__ = ["ApiState", "create_app", "serving_interpreter", "settle_heap"]
