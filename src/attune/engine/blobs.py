"""Large payloads travel outside Temporal's history ("claim check").

Temporal refuses any single payload over 2 MB and a history over 50 MB, yet a with_items task of
10,000 items of 5 KB each has a 50 MB result, and a slice of it 2.5 MB. Every client and worker of
a deployment encodes payloads through this codec: one larger than OFFLOAD_BYTES is written to a
content-addressed file in the blob directory (ATTUNE_BLOB_DIR, default `<state dir>/blobs`;
containers share it as a volume) and replaced in the history by a small reference, which every
reader with the same directory turns back into the payload. Workflow code sees the full values,
so expressions, records and results behave as before; the Temporal Web UI shows the reference.

Blobs are content-addressed and never rewritten; they are kept (a deployment that needs to
reclaim the space can delete files older than its history retention).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

# Payloads above this go to the blob directory. 64 KiB, not 256: a with_items slice keeps
# its 500 items' inputs and results in its history (a slice never continues as new), and
# 500 results of 200 KB passed Temporal's 50 MB. A workflow's input (its actions'
# definitions, ~1.3 KB each) stays readable in the Web UI below it.
OFFLOAD_BYTES = 64 * 1024
ENCODING = b"binary/attune-blob"


class BlobError(RuntimeError):
    pass


class BlobCodec(PayloadCodec):
    def __init__(self, directory: str | Path, offload_bytes: int = OFFLOAD_BYTES) -> None:
        self.directory = Path(directory)
        self.offload_bytes = offload_bytes

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if all(p.ByteSize() <= self.offload_bytes for p in payloads):
            return list(payloads)  # the common case: no thread, no I/O
        return await asyncio.to_thread(lambda: [self._offload(p) for p in payloads])

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not any(p.metadata.get("encoding") == ENCODING for p in payloads):
            return list(payloads)
        return await asyncio.to_thread(lambda: [self._restore(p) for p in payloads])

    def _offload(self, payload: Payload) -> Payload:
        if payload.ByteSize() <= self.offload_bytes:
            return payload
        raw = payload.SerializeToString()
        digest = hashlib.sha256(raw).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            os.replace(tmp, path)  # atomic: a reader never sees half a blob
        reference = json.dumps({"sha256": digest, "bytes": len(raw)}).encode()
        return Payload(metadata={"encoding": ENCODING}, data=reference)

    def _restore(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        digest = json.loads(payload.data)["sha256"]
        path = self._path(digest)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise BlobError(f"payload {digest} is not in the blob directory {self.directory}: "
                            f"every API, orchestrator and worker of a deployment must share "
                            f"ATTUNE_BLOB_DIR ({exc.strerror})") from None
        if hashlib.sha256(raw).hexdigest() != digest:
            raise BlobError(f"payload {digest} in {self.directory} is corrupt")
        return Payload.FromString(raw)

    def _path(self, digest: str) -> Path:
        return self.directory / digest[:2] / digest


def data_converter(blob_dir: str | Path) -> DataConverter:
    """The pydantic data converter with large payloads offloaded to `blob_dir`."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=BlobCodec(blob_dir))
