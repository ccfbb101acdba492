"""The payload codec that carries large payloads outside Temporal's history."""

from __future__ import annotations

import json

import pytest
from temporalio.api.common.v1 import Payload

from attune.engine.blobs import ENCODING, BlobCodec, BlobError, data_converter


def payload(size: int) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=b"x" * size)


async def test_small_payloads_pass_through_and_large_ones_become_references(tmp_path):
    codec = BlobCodec(tmp_path, offload_bytes=1000)
    small, large = payload(10), payload(5000)
    encoded = await codec.encode([small, large])
    assert encoded[0] == small
    assert encoded[1].metadata["encoding"] == ENCODING and len(encoded[1].data) < 200
    reference = json.loads(encoded[1].data)
    assert (tmp_path / reference["sha256"][:2] / reference["sha256"]).is_file()
    assert await codec.decode(encoded) == [small, large]


async def test_the_same_payload_is_stored_once(tmp_path):
    codec = BlobCodec(tmp_path, offload_bytes=100)
    first, second = await codec.encode([payload(500), payload(500)])
    assert first == second and len(list(tmp_path.rglob("*"))) == 2  # one folder, one file


async def test_a_reader_without_the_blob_directory_gets_a_clear_error(tmp_path):
    encoded = await BlobCodec(tmp_path / "writer", offload_bytes=100).encode([payload(500)])
    with pytest.raises(BlobError, match="must share ATTUNE_BLOB_DIR"):
        await BlobCodec(tmp_path / "reader").decode(encoded)


async def test_a_corrupt_blob_is_refused(tmp_path):
    codec = BlobCodec(tmp_path, offload_bytes=100)
    encoded = await codec.encode([payload(500)])
    digest = json.loads(encoded[0].data)["sha256"]
    (tmp_path / digest[:2] / digest).write_bytes(b"tampered")
    with pytest.raises(BlobError, match="corrupt"):
        await codec.decode(encoded)


async def test_the_data_converter_round_trips_a_value_over_the_payload_limit(tmp_path):
    converter = data_converter(tmp_path)
    value = {"results": ["x" * 5000] * 600}  # 3 MB: over Temporal's 2 MB per payload
    encoded = await converter.encode([value])
    assert encoded[0].ByteSize() < 1000
    assert await converter.decode(encoded, [dict]) == [value]
