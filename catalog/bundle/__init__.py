"""The bundled offline data: recorded OpenRouter snapshots and chat responses, shipped with the project in
``data/bundle``.

``build`` derives it from the recordings in ``../shared/data/openrouter``; ``read`` serves it to the fake
server and the CLI; ``spec`` holds the OpenAPI schemas the project validates its output against
(``spec_schema("ProviderPreferences")``).
"""

from catalog.bundle.read import Bundle, ChatRecordingInfo, DayState, SnapshotInfo
from catalog.bundle.spec import spec_schema, spec_schemas

__all__ = ["Bundle", "ChatRecordingInfo", "DayState", "SnapshotInfo", "spec_schema", "spec_schemas"]
