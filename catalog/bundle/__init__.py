"""The bundled offline data: recorded OpenRouter snapshots and chat responses, shipped with the project in
``data/bundle``.

``build`` derives it from the recordings in ``../shared/data/openrouter``; ``read`` serves it to the fake
server and the CLI.
"""

from catalog.bundle.read import Bundle, ChatRecordingInfo, DayState, SnapshotInfo

__all__ = ["Bundle", "ChatRecordingInfo", "DayState", "SnapshotInfo"]
