"""Evidence in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, SeaweedFS, s3rver...).

Same contract as the local folder (`serve.store.storage.EvidenceStorage`): keys are
`sha256(bytes).hex() + suffix`, objects live under `<prefix>/<key[:2]>/<key>`, a put of bytes that are
already there costs one HEAD request and writes nothing. Several API processes and Ray workers on
different machines share one bucket the way they share one PostgreSQL database.

Spec (what `CaseStore.open(url, evidence=...)`, `--evidence` and `STREETWATCH_EVIDENCE_DIR` accept):

    s3://BUCKET[/PREFIX][?endpoint_url=URL&region=REGION&addressing_style=path|virtual|auto
                         &url_mode=api|presign&expires=SECONDS&create_bucket=1]

Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, AWS_PROFILE, instance roles); never put them in the spec. Without `endpoint_url`,
boto3's own `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` variables apply, else AWS itself.
`STREETWATCH_S3_ADDRESSING_STYLE` sets the default addressing style (`path` is what most self-hosted
servers want). `url_mode=api` (default) gives `/v1/evidence/<key>` URLs: the service reads the object
and serves it behind its own access control; `presign` gives time-limited direct links to the bucket.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from detector.errors import ConfigError, InputError
from serve.store.storage import STORAGE_SCHEMES, EvidenceStorage, check_key, content_key

_ADDRESSING = ("path", "virtual", "auto")


@dataclass(frozen=True)
class S3Location:
    """Where evidence goes and how to reach it (parsed from an `s3://` spec)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str = "auto"
    url_mode: str = "api"
    expires: int = 3600
    create_bucket: bool = False

    @classmethod
    def parse(cls, spec: str) -> S3Location:
        parts = urlsplit(spec)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"evidence storage {spec!r}: expected s3://BUCKET[/PREFIX][?options]")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        known = {"endpoint_url", "region", "addressing_style", "url_mode", "expires", "create_bucket"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise ConfigError(
                f"evidence storage {spec!r}: unknown option {unknown[0]!r} (known: {sorted(known)})"
            )
        style = query.get("addressing_style") or os.environ.get("STREETWATCH_S3_ADDRESSING_STYLE", "auto")
        if style not in _ADDRESSING:
            raise ConfigError(f"evidence storage {spec!r}: addressing_style must be one of {_ADDRESSING}")
        url_mode = query.get("url_mode", "api")
        if url_mode not in ("api", "presign"):
            raise ConfigError(f"evidence storage {spec!r}: url_mode must be api or presign")
        try:
            expires = int(query.get("expires", "3600"))
        except ValueError:
            raise ConfigError(f"evidence storage {spec!r}: expires must be whole seconds") from None
        return cls(
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            # "http:/host" when the spec went through a Path (settings fields typed Path collapse "//")
            endpoint_url=re.sub(r"^(https?):/(?!/)", r"\1://", query.get("endpoint_url", "")) or None,
            region=query.get("region") or None,
            addressing_style=style,
            url_mode=url_mode,
            expires=expires,
            create_bucket=query.get("create_bucket", "0").lower() in ("1", "true", "yes"),
        )


class S3EvidenceStorage:
    """Content-addressed evidence objects in one bucket (thread-safe: boto3 clients are)."""

    def __init__(
        self, location: S3Location | str, url_prefix: str = "/v1/evidence/", client: Any = None
    ) -> None:
        import boto3
        from botocore.config import Config

        self.location = S3Location.parse(location) if isinstance(location, str) else location
        self.url_prefix = url_prefix
        self._known: set[str] = set()  # keys this process stored or saw (skip the HEAD next time)
        self._lock = threading.Lock()
        loc = self.location
        self.client = client or boto3.client(
            "s3",
            endpoint_url=loc.endpoint_url,
            region_name=loc.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            config=Config(
                s3={"addressing_style": loc.addressing_style},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )
        if loc.create_bucket:
            self._ensure_bucket()

    def __repr__(self) -> str:
        loc = self.location
        where = f" at {loc.endpoint_url}" if loc.endpoint_url else ""
        return f"S3EvidenceStorage('s3://{loc.bucket}/{loc.prefix}'{where})"

    # -- helpers
    def _object_key(self, key: str) -> str:
        check_key(key)
        name = f"{key[:2]}/{key}"
        return f"{self.location.prefix}/{name}" if self.location.prefix else name

    def _error_code(self, exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def _fail(self, what: str, exc: Exception) -> ConfigError:
        loc = self.location
        return ConfigError(f"evidence storage s3://{loc.bucket}/{loc.prefix}: {what} failed: {exc}")

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except ClientError as exc:
            if self._error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise self._fail("head_bucket", exc) from None
            try:
                self.client.create_bucket(Bucket=self.location.bucket)
            except ClientError as exc2:
                if self._error_code(exc2) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise self._fail("create_bucket", exc2) from None
        except BotoCoreError as exc:
            raise self._fail("head_bucket", exc) from None

    # -- EvidenceStorage
    def put(self, data: bytes, suffix: str = ".jpg") -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        key = content_key(data, suffix)
        if key in self._known or self.exists(key):
            return key
        content_type = (
            "image/png"
            if key.endswith(".png")
            else "image/jpeg"
            if key.endswith((".jpg", ".jpeg"))
            else "application/octet-stream"
        )
        try:
            # One PUT is atomic in S3: readers see the whole object or none. Same key, same bytes, so
            # two writers racing on it store identical content.
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self._object_key(key),
                Body=data,
                ContentType=content_type,
                CacheControl="private, max-age=31536000, immutable",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"put {key}", exc) from None
        with self._lock:
            self._known.add(key)
        return key

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._object_key(key)
        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=name)
            return response["Body"].read()
        except ClientError as exc:
            if self._error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(key) from None
            raise self._fail(f"get {key}", exc) from None
        except BotoCoreError as exc:
            raise self._fail(f"get {key}", exc) from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._object_key(key)
        if key in self._known:
            return True
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=name)
        except ClientError as exc:
            if self._error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail(f"head {key}", exc) from None
        except BotoCoreError as exc:
            raise self._fail(f"head {key}", exc) from None
        with self._lock:
            self._known.add(key)
        return True

    def url(self, key: str) -> str:
        if self.location.url_mode == "presign":
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.location.bucket, "Key": self._object_key(key)},
                ExpiresIn=self.location.expires,
            )
        return self.url_prefix + check_key(key)

    def path(self, key: str) -> Path | None:
        check_key(key)
        return None  # not a local file: the API streams get(key)


def open_s3_storage(spec: str) -> EvidenceStorage:
    """Factory registered for the `s3` scheme in STORAGE_SCHEMES."""
    try:
        return S3EvidenceStorage(spec)
    except ImportError as exc:  # boto3 is a runtime dependency, but say so clearly if it is missing
        raise InputError(
            f"S3 evidence storage needs boto3: pip install 'streetwatch[scale]' ({exc})"
        ) from None


STORAGE_SCHEMES["s3"] = open_s3_storage
