"""The API's routes, one router per area; ``catalog.api.app`` includes them in this order."""

from catalog.api.routes import changes, cheapest, cost, models, providers, snapshots

ROUTERS = (models.router, providers.router, changes.router, cheapest.router, cost.router, snapshots.router)

__all__ = ["ROUTERS"]
