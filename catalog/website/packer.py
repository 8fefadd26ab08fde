"""Writing a build's pages, with their hash and ``.gz``, in a process of their own while this one renders.

A thread did it before, but a thread needs the GIL back after each call it makes outside Python (open, write,
hash, compress: about ten for a page) and the rendering thread holds it: the thread fell behind by most of a
full build's pages and wrote them after the rendering ended (1-1.6 s of a ~3 s build at 20 days, measured
on two cores). A started process (not forked: it copies nothing and no lock of this one's threads) reads the
pages from a pipe and writes each as ``Output.write`` does; at the end it reports what it wrote, and this
process's ``Output`` takes it in. The bytes are those ``Output.write`` gives (it is what the packer calls).

Protocol, on the packer's stdin: per file, the lengths of its name and bytes (``!IQ``), the name (UTF-8), the
bytes; a name of length 0 ends the input. On its stdout, once: the JSON of every file written (name ->
[sha256, size, size of its .gz or null]).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO

import catalog
from catalog.website.output import FileFacts, Output

HEADER = struct.Struct("!IQ")
PIPE_SIZE = 1 << 20  # bytes the pipe holds: a page is rarely larger, so this process seldom waits for a write


class PackerError(OSError):
    """The packer process failed: its pages are not all written (the build fails, as a failed write does)."""


class Packer:
    """A started process writing pages into a build folder (``Output.write``); ``write`` sends one, ``finish``
    waits for the rest and puts what was written into this process's ``Output``."""

    def __init__(self, output: Output, process: subprocess.Popen[bytes]) -> None:
        self.output, self.process = output, process
        assert process.stdin is not None
        self.sink: IO[bytes] = process.stdin

    @classmethod
    def start(cls, output: Output) -> Packer:
        """The packer for ``output``'s folder, with the same code version and previous build (whose ``.gz`` of
        equal bytes it takes, as ``Output`` does). It runs this package's code, wherever it was imported from."""
        root = str(Path(catalog.__file__).resolve().parent.parent)
        code = f"import sys; sys.path.insert(0, {root!r}); from catalog.website.packer import serve; serve()"
        previous = "" if output.previous is None else str(output.previous)
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", code, str(output.folder), output.code, previous],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdin is not None
        with contextlib.suppress(OSError):  # a larger pipe where the system allows it
            fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        return cls(output, process)

    def write(self, rel: str, data: bytes) -> None:
        name = rel.encode()
        try:
            self.sink.write(HEADER.pack(len(name), len(data)) + name)
            self.sink.write(data)
        except BrokenPipeError:
            raise self._failed() from None

    def finish(self) -> dict[str, FileFacts]:
        """End the input, wait for the packer and take in what it wrote."""
        try:
            self.sink.write(HEADER.pack(0, 0))
            out, err = self.process.communicate()  # flushes and closes the input first
        except BrokenPipeError:
            raise self._failed() from None
        if self.process.returncode != 0:
            raise self._failed(err)
        files = {rel: FileFacts(sha, size, packed) for rel, (sha, size, packed) in json.loads(out).items()}
        self.output.files.update(files)
        return files

    def stop(self) -> None:
        """An error in this process: the packer is ended and waited for (its files go with the build folder)."""
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.process.communicate(timeout=10)

    def _failed(self, err: bytes | None = None) -> PackerError:
        if err is None:
            self.stop()
            err = b""
        lines = err.decode(errors="replace").strip().splitlines()
        return PackerError(f"the site's packer process failed: {lines[-1] if lines else 'no message'}")


def serve() -> None:
    """The packer process: ``argv`` is the build folder, the code version and the previous build (or "")."""
    folder, code, previous = sys.argv[1:4]
    output = Output(Path(folder), code, Path(previous) if previous else None)
    source = sys.stdin.buffer
    while True:
        head = source.read(HEADER.size)
        if len(head) < HEADER.size:
            raise SystemExit("the site's packer input ended early")
        size_name, size = HEADER.unpack(head)
        if size_name == 0:
            break
        rel = source.read(size_name).decode()
        data = source.read(size)
        if len(data) < size:
            raise SystemExit("the site's packer input ended early")
        output.write(rel, data)
    written = {rel: [f.sha256, f.size, f.gzip_size] for rel, f in output.files.items()}
    sys.stdout.write(json.dumps(written))
    sys.stdout.flush()
    os._exit(0)  # nothing to tidy: what it made is on disk and in its answer
