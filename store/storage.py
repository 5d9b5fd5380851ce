"""Artifact storage: one interface, a local-disk backend (the embedded default) and S3.

Uploads stream: the file is never held in memory. Size and SHA-256 are computed while the bytes
arrive, the configured maximum is enforced as they arrive, and a failed or oversized upload
leaves nothing behind (local: a temporary file is renamed into place only when complete; S3:
the multipart upload is aborted).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote

from store import netguard
from store.errors import (
    BadGateway,
    DomainError,
    TooLarge,  # noqa: F401 - raised here, and callers import it from here
    Unavailable,
)

CHUNK = 1024 * 1024
PART = 8 * 1024 * 1024  # S3 multipart part size (the minimum is 5 MiB)


@dataclass(frozen=True)
class Stored:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Info:
    size: int
    etag: str  # quoted, strong
    modified: datetime.datetime  # naive UTC, whole seconds


class Storage(Protocol):
    def save(self, key: str, stream: BinaryIO, max_bytes: int) -> Stored: ...
    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...
    def delete(self, key: str) -> None: ...
    def move(self, source: str, target: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def stat(self, key: str) -> Info | None: ...
    def local_path(self, key: str) -> Path | None: ...
    def presigned_url(self, key: str, filename: str, expires: int = 300) -> str | None: ...


def attachment_header(filename: str) -> str:
    """Content-Disposition for a download (RFC 6266): an ASCII fallback and the exact name in filename*."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in filename) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _chunks(stream: BinaryIO, max_bytes: int, digest, size: list[int]) -> Iterator[bytes]:
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        size[0] += len(chunk)
        if size[0] > max_bytes:
            raise TooLarge(f"upload larger than {max_bytes} bytes")
        digest.update(chunk)
        yield chunk


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        raise ValueError(f"unsafe storage key {key!r}")
    return key


class LocalStorage:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / _check_key(key)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"unsafe storage key {key!r}")
        return path

    def save(self, key: str, stream: BinaryIO, max_bytes: int) -> Stored:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), [0]
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(stream, max_bytes, digest, size):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Stored(key, size[0], digest.hexdigest())

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with open(self._path(key), "rb") as f:
            f.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def move(self, source: str, target: str) -> None:
        os.replace(self._path(source), self._path(target))  # atomic: the old file or the new one

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> Info | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        modified = datetime.datetime.fromtimestamp(int(st.st_mtime), datetime.UTC).replace(tzinfo=None)
        return Info(st.st_size, f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"', modified)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def presigned_url(self, key: str, filename: str, expires: int = 300) -> str | None:
        return None  # served by the write API itself


class S3Storage:
    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        path_style: bool = False,
        checksums: str = "when_required",
        team: bool = False,
        allow_private: bool = True,
    ):
        """``team``: a bucket a team configured. It is signed with the team's keys only (anonymous
        without them, never with the deployment's credential chain), and unless ``allow_private`` every
        connection is checked to reach a public address (store/netguard.py)."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        self.bucket, self.team = bucket, team
        unsigned = team and not (access_key and secret_key)
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=None if unsigned else access_key or None,
            aws_secret_access_key=None if unsigned else secret_key or None,
            config=Config(
                s3={"addressing_style": "path" if path_style else "auto"},
                request_checksum_calculation=checksums,
                response_checksum_validation=checksums,
                retries={"max_attempts": 5 if not team else 2, "mode": "standard"},
                signature_version=UNSIGNED if unsigned else None,
                connect_timeout=10,
                read_timeout=30,
            ),
        )
        if team and not allow_private:
            _guard_connections(self.client)

    @contextmanager
    def _calling(self) -> Iterator[None]:
        """S3's refusals and connection failures as domain errors: a team's bucket is the team's to fix
        (502), the deployment's storage is retried later (503); neither is a server error of Gatehouse's."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise self._failure(f"S3 storage answered {code}") from None
        except BotoCoreError as exc:
            # A refused connection's own reason (the address check's) is the one worth reading.
            cause = getattr(exc, "kwargs", {}).get("error") or exc
            raise self._failure(f"S3 storage unreachable: {cause}") from None

    def _failure(self, message: str) -> DomainError:
        return BadGateway(f"the team's {message}") if self.team else Unavailable(message)

    def save(self, key: str, stream: BinaryIO, max_bytes: int) -> Stored:
        with self._calling():
            return self._save(key, stream, max_bytes)

    def _save(self, key: str, stream: BinaryIO, max_bytes: int) -> Stored:
        _check_key(key)
        digest, size = hashlib.sha256(), [0]
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        parts, buffer, number = [], bytearray(), 1
        try:
            for chunk in _chunks(stream, max_bytes, digest, size):
                buffer += chunk
                if len(buffer) >= PART:
                    parts.append(self._part(key, upload["UploadId"], number, bytes(buffer)))
                    buffer.clear()
                    number += 1
            if buffer or not parts:
                parts.append(self._part(key, upload["UploadId"], number, bytes(buffer)))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
            raise
        return Stored(key, size[0], digest.hexdigest())

    def _part(self, key: str, upload_id: str, number: int, data: bytes) -> dict:
        res = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": res["ETag"]}

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        byte_range = f"bytes={start}-{'' if end is None else end}"
        with self._calling():
            body = self.client.get_object(Bucket=self.bucket, Key=_check_key(key), Range=byte_range)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def delete(self, key: str) -> None:
        with self._calling():
            self.client.delete_object(Bucket=self.bucket, Key=_check_key(key))

    def move(self, source: str, target: str) -> None:
        with self._calling():
            self.client.copy(
                {"Bucket": self.bucket, "Key": _check_key(source)}, self.bucket, _check_key(target)
            )
            self.client.delete_object(Bucket=self.bucket, Key=source)

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def stat(self, key: str) -> Info | None:
        from botocore.exceptions import ClientError

        with self._calling():
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=_check_key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        modified = head["LastModified"].astimezone(datetime.UTC).replace(tzinfo=None, microsecond=0)
        return Info(head["ContentLength"], head["ETag"], modified)

    def local_path(self, key: str) -> Path | None:
        return None

    def presigned_url(self, key: str, filename: str, expires: int = 300) -> str | None:
        return self.client.generate_presigned_url(
            "get_object",
            ExpiresIn=expires,
            Params={
                "Bucket": self.bucket,
                "Key": _check_key(key),
                "ResponseContentDisposition": attachment_header(filename),
                "ResponseContentType": "application/octet-stream",
            },
        )


def _guard_connections(client) -> None:
    """Every connection the client opens is checked, once connected and before a byte is sent, to reach a
    public address: the name of a team's endpoint may resolve elsewhere later than when it was saved."""
    from botocore.awsrequest import (
        AWSHTTPConnection,
        AWSHTTPConnectionPool,
        AWSHTTPSConnection,
        AWSHTTPSConnectionPool,
    )
    from urllib3.exceptions import NewConnectionError

    def guarded(base):
        class Guarded(base):
            def _new_conn(self):
                sock = super()._new_conn()
                try:
                    netguard.check_peer(sock, allow_private=False)
                except netguard.Refused as refused:
                    sock.close()
                    raise NewConnectionError(self, str(refused)) from None
                return sock

        return Guarded

    class GuardedHTTP(AWSHTTPConnectionPool):
        ConnectionCls = guarded(AWSHTTPConnection)

    class GuardedHTTPS(AWSHTTPSConnectionPool):
        ConnectionCls = guarded(AWSHTTPSConnection)

    # botocore keeps one pool-class table per session, shared with its pool managers.
    client._endpoint.http_session._pool_classes_by_scheme.update({"http": GuardedHTTP, "https": GuardedHTTPS})


def make_storage(settings) -> Storage:
    """The backend GATEHOUSE_STORAGE_BACKEND names, configured from the settings."""
    if settings.storage_backend == "s3":
        return S3Storage(
            settings.s3_bucket,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
            settings.s3_path_style,
            settings.s3_checksums,
        )
    return LocalStorage(settings.data_dir / "artifacts")


class Backends:
    """Opens the storage a file is on from the descriptor its row keeps: "" the deployment's storage,
    "local" the local disk, "s3|endpoint|region|bucket" a team's bucket, with the credentials its
    settings hold now (``credentials(team_id)`` -> (access key, secret key)). Switching a team's storage
    therefore applies to new uploads only; earlier files are read where they were written."""

    def __init__(
        self,
        default: Storage,
        data_dir: Path,
        credentials,
        path_style: bool = True,
        allow_private: bool = False,
    ):
        self.default, self.data_dir, self.credentials, self.path_style = (
            default,
            data_dir,
            credentials,
            path_style,
        )
        self.allow_private = allow_private
        self._local: LocalStorage | None = None
        # One client per bucket and keys: a boto3 client costs tens of milliseconds to build, and every
        # download, upload and delete opens its backend. Bounded; new keys make a new entry.
        self._buckets: dict[tuple[str, str, str], S3Storage] = {}

    def open(self, descriptor: str, team_id: int) -> Storage:
        if not descriptor:
            return self.default
        if descriptor == "local":
            if isinstance(self.default, LocalStorage):
                return self.default
            if self._local is None:
                self._local = LocalStorage(Path(self.data_dir) / "artifacts")
            return self._local
        kind, endpoint, region, bucket = descriptor.split("|", 3)
        if kind != "s3" or not bucket:
            raise ValueError(f"unknown storage backend {descriptor!r}")
        access, secret = self.credentials(team_id)
        key = (descriptor, access, secret)
        storage = self._buckets.get(key)
        if storage is None:
            if len(self._buckets) >= 64:
                self._buckets.clear()
            storage = self._buckets[key] = S3Storage(
                bucket,
                endpoint or None,
                region or "us-east-1",
                access,
                secret,
                self.path_style,
                team=True,
                allow_private=self.allow_private,
            )
        return storage
