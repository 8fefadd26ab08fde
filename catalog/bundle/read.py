"""Read the bundled offline data (``data/bundle``): the manifest, one snapshot at a time, and the recorded
chat responses byte for byte.

The fake OpenRouter server and the CLI use this; the format is described in ``catalog.bundle.build``.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from catalog import settings
from catalog.errors import BundleError, InputError, NotFoundError

SUPPORTED_FORMAT = 1
REBUILD_HINT = "rebuild it with `python -m catalog.bundle build --from ../shared/data/openrouter`"
KINDS = ("full", "models")


@dataclass(frozen=True)
class SnapshotInfo:
    """One manifest entry: what a snapshot is and how big it is."""

    id: str
    taken_at: datetime  # UTC-aware
    kind: Literal["full", "models"]
    file: str
    models: int
    endpoints: int
    providers: int


@dataclass(frozen=True)
class DayState:
    """The market as one snapshot recorded it; shared by every caller of ``Bundle.load``, so read-only."""

    info: SnapshotInfo
    models: list[dict[str, Any]]
    endpoints: dict[str, dict[str, Any]]  # model id -> v1 endpoints ``data``; {} for models-only snapshots
    providers: list[dict[str, Any]] | None  # None for models-only snapshots
    # models of the other kinds (embeddings, image, video …) that /models lists only for output_modalities=all;
    # their endpoints are in ``endpoints`` too. Empty for models-only snapshots and older bundles.
    more_models: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ChatRecordingInfo:
    """One ``chat`` manifest entry: a recorded response kept byte for byte, and the size and sha256 of its
    raw (not gzipped) bytes."""

    name: str
    file: str
    bytes: int
    sha256: str


def _chat_info(entry: Any, manifest: Path) -> ChatRecordingInfo:
    try:
        info = ChatRecordingInfo(
            name=str(entry["name"]), file=str(entry["file"]), bytes=int(entry["bytes"]), sha256=str(entry["sha256"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{manifest} has a malformed chat entry ({exc}); {REBUILD_HINT}") from None
    if not info.name or "/" in info.name or len(info.sha256) != 64:
        raise BundleError(f"{manifest} has a malformed chat entry {info.name!r}; {REBUILD_HINT}")
    return info


def _snapshot_info(entry: Any, manifest: Path) -> SnapshotInfo:
    try:
        kind = entry["kind"]
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}")
        return SnapshotInfo(
            id=str(entry["id"]),
            taken_at=datetime.fromisoformat(entry["taken_at"]).astimezone(UTC),
            kind=cast(Literal["full", "models"], kind),
            file=str(entry["file"]),
            models=int(entry["models"]),
            endpoints=int(entry["endpoints"]),
            providers=int(entry["providers"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{manifest} has a malformed snapshot entry ({exc}); {REBUILD_HINT}") from None


class Bundle:
    """The bundled snapshots under ``root`` (default ``catalog.settings.bundle_dir()``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else settings.bundle_dir()
        manifest = self.root / "manifest.json"
        try:
            document = json.loads(manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BundleError(
                f"no bundled data at {self.root} (manifest.json is missing); {REBUILD_HINT}, "
                "or point CATALOG_BUNDLE at a bundle directory"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"cannot read {manifest} ({exc}); {REBUILD_HINT}") from None
        if not isinstance(document, dict) or document.get("format") != SUPPORTED_FORMAT:
            found = document.get("format") if isinstance(document, dict) else None
            raise BundleError(
                f"{manifest} has format {found!r}, this code reads format {SUPPORTED_FORMAT}; {REBUILD_HINT}"
            )
        infos = [_snapshot_info(entry, manifest) for entry in document.get("snapshots") or []]
        self._snapshots = sorted(infos, key=lambda info: (info.taken_at, info.id))
        self._by_id = {info.id: info for info in self._snapshots}
        if not self._snapshots or len(self._by_id) != len(self._snapshots):
            raise BundleError(f"{manifest} lists no snapshots or repeats an id; {REBUILD_HINT}")
        # A bundle built before chat recordings were bundled has no "chat" key: it simply holds none.
        chat = [_chat_info(entry, manifest) for entry in document.get("chat") or []]
        self._chat = {info.name: info for info in sorted(chat, key=lambda info: info.name)}
        if len(self._chat) != len(chat):
            raise BundleError(f"{manifest} repeats a chat recording name; {REBUILD_HINT}")
        # Plain dicts: two threads loading one snapshot at once both parse it and one result wins; harmless.
        self._loaded: dict[str, DayState] = {}
        self._chat_bytes: dict[str, bytes] = {}

    def snapshots(self, kind: str | None = None) -> list[SnapshotInfo]:
        """Every snapshot in chronological order, or only those of ``kind`` ("full" or "models")."""
        if kind is not None and kind not in KINDS:
            raise InputError(f"unknown snapshot kind {kind!r}; use one of {', '.join(KINDS)}")
        return [info for info in self._snapshots if kind is None or info.kind == kind]

    def get(self, snapshot_id: str) -> SnapshotInfo:
        """The manifest entry of ``snapshot_id``; an unknown id names the closest ones and the range held."""
        info = self._by_id.get(snapshot_id)
        if info is not None:
            return info
        # A day given for a same-day pair ("2026-01-10") should suggest both captures before look-alike days.
        ids = list(self._by_id)
        prefixed = [i for i in ids if i.startswith(snapshot_id)] if snapshot_id else []
        similar = difflib.get_close_matches(snapshot_id, ids, n=3, cutoff=0.5)
        closest = list(dict.fromkeys(prefixed + similar))[:3]
        hint = f"closest: {', '.join(closest)}; " if closest else ""
        first, last = self._snapshots[0].id, self._snapshots[-1].id
        raise NotFoundError(
            f"no snapshot {snapshot_id!r} in the bundle; {hint}"
            f"it holds {len(self._snapshots)} snapshots from {first} to {last}"
        )

    def load(self, snapshot_id: str) -> DayState:
        """The contents of one snapshot (parsed once, then cached)."""
        info = self.get(snapshot_id)
        state = self._loaded.get(info.id)
        if state is None:
            state = self._read(info)
            self._loaded[info.id] = state
        return state

    def _read(self, info: SnapshotInfo) -> DayState:
        path = self.root / info.file
        try:
            document = json.loads(gzip.decompress(path.read_bytes()))
        except FileNotFoundError:
            raise BundleError(f"{path} is missing (listed in the manifest as {info.id}); {REBUILD_HINT}") from None
        except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"{path} is corrupt ({exc}); {REBUILD_HINT}") from None
        models = document.get("models") if isinstance(document, dict) else None
        if (
            not isinstance(document, dict)
            or document.get("id") != info.id
            or document.get("kind") != info.kind
            or not isinstance(models, list)
            or len(models) != info.models
        ):
            raise BundleError(f"{path} does not match its manifest entry {info.id}; {REBUILD_HINT}")
        if info.kind == "models":
            return DayState(info=info, models=models, endpoints={}, providers=None)
        endpoints, providers = document.get("endpoints"), document.get("providers")
        more = document.get("more_models", [])
        if not isinstance(endpoints, dict) or not isinstance(providers, list) or not isinstance(more, list):
            raise BundleError(f"{path} lacks the endpoints or providers of a full day; {REBUILD_HINT}")
        return DayState(info=info, models=models, endpoints=endpoints, providers=providers, more_models=more)

    def chat_recordings(self) -> list[str]:
        """The file names of the recorded chat responses (``stream-2025-08-06.sse`` …), sorted."""
        return list(self._chat)

    def chat_recording(self, name: str) -> bytes:
        """The exact recorded bytes of one chat response, checked against the manifest's size and sha256.

        An unknown name is a NotFoundError naming the closest ones; a missing, corrupt or altered file is a
        BundleError naming it.
        """
        info = self._chat.get(name)
        if info is None:
            closest = difflib.get_close_matches(name, list(self._chat), n=3, cutoff=0.5)
            hint = f"closest: {', '.join(closest)}; " if closest else ""
            raise NotFoundError(f"no chat recording {name!r} in the bundle; {hint}it holds {len(self._chat)}")
        data = self._chat_bytes.get(name)
        if data is None:
            data = self._read_chat(info)
            self._chat_bytes[name] = data
        return data

    def _read_chat(self, info: ChatRecordingInfo) -> bytes:
        path = self.root / info.file
        try:
            data = gzip.decompress(path.read_bytes())
        except FileNotFoundError:
            raise BundleError(f"{path} is missing (listed in the manifest as {info.name}); {REBUILD_HINT}") from None
        except (OSError, EOFError) as exc:
            raise BundleError(f"{path} is corrupt ({exc}); {REBUILD_HINT}") from None
        if len(data) != info.bytes or hashlib.sha256(data).hexdigest() != info.sha256:
            raise BundleError(
                f"{path} does not match the manifest's sha256 for chat recording {info.name}; {REBUILD_HINT}"
            )
        return data
