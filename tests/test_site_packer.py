"""The packer process that writes a full site build's pages (catalog/website/packer.py): each file, its hash and
its ``.gz`` exactly as ``Output.write`` makes them in this process, and a packer that fails fails the build
instead of leaving pages out."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from catalog.website.output import Output
from catalog.website.packer import Packer, PackerError

PAGES = {
    "index.html": b"<!doctype html><title>prices</title>" + b"<tr><td>$0.25/M</td></tr>\n" * 400,
    "models/openai/gpt-4o.html": "<p>caf\u00e9 \u2014 $2.50</p>".encode() * 200,
    "feeds/small.atom": b"<feed/>",  # below the size worth compressing: no .gz
    "static/big.json": bytes(range(256)) * 64,
}


def test_the_packer_writes_each_file_its_hash_and_gz_as_output_write_does(tmp_path: Path) -> None:
    here = Output(tmp_path / "here", "code-1")
    packed = Output(tmp_path / "packed", "code-1")
    packer = Packer.start(packed)
    for rel, data in PAGES.items():
        here.write(rel, data)
        packer.write(rel, data)
    assert packer.finish() == here.files
    assert packed.files == here.files
    for rel, data in PAGES.items():
        assert (tmp_path / "packed" / rel).read_bytes() == data
        assert packed.files[rel].sha256 == hashlib.sha256(data).hexdigest()
        gz = tmp_path / "packed" / (rel + ".gz")
        assert gz.exists() == (packed.files[rel].gzip_size is not None)
        if gz.exists():
            assert gz.read_bytes() == (tmp_path / "here" / (rel + ".gz")).read_bytes()
            assert gzip.decompress(gz.read_bytes()) == data
    assert packed.files["feeds/small.atom"].gzip_size is None


def test_a_packer_that_died_fails_the_build(tmp_path: Path) -> None:
    packer = Packer.start(Output(tmp_path / "site", "code-1"))
    packer.process.kill()
    packer.process.wait()
    with pytest.raises(PackerError, match="packer process failed"):
        for _ in range(100):  # the first writes may still fit in the pipe
            packer.write("index.html", PAGES["index.html"])
        packer.finish()
