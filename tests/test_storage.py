"""Artifact storage, both backends: local disk, and S3 against a real moto server process."""

from __future__ import annotations

import hashlib
import io
import os

import httpx
import pytest

from store.storage import PART, LocalStorage, S3Storage, TooLarge


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "artifacts")
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = S3Storage(
        f"bucket-{os.urandom(4).hex()}", endpoint, access_key="test", secret_key="test", path_style=True
    )
    s3.client.create_bucket(Bucket=s3.bucket)
    return s3


class Interrupted(io.RawIOBase):
    """A client that sends ``good`` bytes and then drops the connection."""

    def __init__(self, good: int):
        self.left = good

    def readable(self):
        return True

    def readinto(self, buf):
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        n = min(len(buf), self.left)
        buf[:n] = b"x" * n
        self.left -= n
        return n


def test_save_streams_and_reports_size_and_sha256(storage):
    data = os.urandom(PART + 3 * 1024 * 1024)  # more than one multipart part
    stored = storage.save("apps/1/build.apk", io.BytesIO(data), max_bytes=len(data))
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert b"".join(storage.read("apps/1/build.apk")) == data
    assert storage.exists("apps/1/build.apk")


def test_ranges(storage):
    data = bytes(range(256)) * 100
    storage.save("a/b.bin", io.BytesIO(data), max_bytes=10**6)
    assert b"".join(storage.read("a/b.bin", 10, 19)) == data[10:20]
    assert b"".join(storage.read("a/b.bin", len(data) - 5)) == data[-5:]


def test_too_large_leaves_nothing(storage):
    with pytest.raises(TooLarge):
        storage.save("big.bin", io.BytesIO(b"x" * 5000), max_bytes=4096)
    assert not storage.exists("big.bin")
    if isinstance(storage, LocalStorage):
        assert list(storage.root.rglob("*")) == []


def test_interrupted_upload_leaves_nothing_and_keeps_the_old_file(storage):
    storage.save("app.ipa", io.BytesIO(b"version one"), max_bytes=10**9)
    with pytest.raises(ConnectionResetError):
        storage.save("app.ipa", io.BufferedReader(Interrupted(3 * 1024 * 1024)), max_bytes=10**9)
    assert b"".join(storage.read("app.ipa")) == b"version one"
    if isinstance(storage, S3Storage):
        assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []


def test_stat_gives_size_and_a_validator_that_changes_with_the_content(storage):
    assert storage.stat("none.bin") is None
    storage.save("s.bin", io.BytesIO(b"one"), max_bytes=10)
    first = storage.stat("s.bin")
    storage.save("s.bin", io.BytesIO(b"three"), max_bytes=10)
    second = storage.stat("s.bin")
    assert (first.size, second.size) == (3, 5) and first.etag != second.etag
    assert first.etag.startswith('"') and second.modified.microsecond == 0


def test_delete(storage):
    storage.save("gone.bin", io.BytesIO(b"x"), max_bytes=10)
    storage.delete("gone.bin")
    assert not storage.exists("gone.bin")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", "a\\b"])
def test_unsafe_keys_are_refused(storage, key):
    with pytest.raises(ValueError):
        storage.save(key, io.BytesIO(b"x"), max_bytes=10)


def test_s3_presigned_download_carries_the_filename(s3_endpoint, tmp_path):
    s3 = S3Storage("presign", s3_endpoint, access_key="test", secret_key="test", path_style=True)
    s3.client.create_bucket(Bucket="presign")
    s3.save("k/app.apk", io.BytesIO(b"apk bytes"), max_bytes=100)
    url = s3.presigned_url("k/app.apk", "Mein Spiel é.apk")
    res = httpx.get(url)
    assert res.status_code == 200 and res.content == b"apk bytes"
    assert "filename*=UTF-8''Mein%20Spiel%20%C3%A9.apk" in res.headers["content-disposition"]
    assert LocalStorage(tmp_path).presigned_url("k", "f") is None  # local files are served by the write API
