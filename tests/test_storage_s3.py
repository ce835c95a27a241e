"""S3 evidence storage against a real S3-compatible server (s3rver, started on loopback by the test).

s3rver is installed under tools/s3rver by scripts/ensure-test-deps.sh (`npm ci`); without node or the
package the tests skip with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from s3_support import BUCKET, free_port, s3_spec  # fixtures s3_endpoint: tests/s3_support.py (plugin)
from store_events import jpeg, make_event


def _spec(endpoint: str, prefix: str, **opts: str) -> str:
    return s3_spec(endpoint, prefix, **opts)


def _objects(endpoint: str, prefix: str) -> list[str]:
    """What the bucket holds under prefix, read with a separate plain boto3 client."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"})
    )
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


def test_put_get_exists_and_content_addressing(s3_endpoint: str) -> None:
    from serve.store.storage import content_key, open_storage
    from serve.store.storage_s3 import S3EvidenceStorage

    storage = open_storage(_spec(s3_endpoint, "unit"))
    assert isinstance(storage, S3EvidenceStorage)
    data = jpeg(1)
    key = storage.put(data)
    assert key == content_key(data, ".jpg")
    assert storage.exists(key)
    assert storage.get(key) == data
    assert storage.path(key) is None  # not a local file: the API streams it
    assert storage.url(key) == f"/v1/evidence/{key}"

    # The same bytes again, from another process's point of view (a fresh client): same key, one object.
    other = open_storage(_spec(s3_endpoint, "unit"))
    assert other.put(data) == key
    png = other.put(b"\x89PNG not really", ".png")
    assert png.endswith(".png") and png != key
    assert _objects(s3_endpoint, "unit") == sorted([f"unit/{key[:2]}/{key}", f"unit/{png[:2]}/{png}"])

    missing = content_key(b"never stored")
    assert not storage.exists(missing)
    with pytest.raises(KeyError):
        storage.get(missing)


def test_keys_are_checked_and_bad_specs_are_refused(s3_endpoint: str) -> None:
    from detector.errors import ConfigError, InputError
    from serve.store.storage import open_storage

    storage = open_storage(_spec(s3_endpoint, "unit"))
    for bad in ("../secret", "abc", "0" * 64 + "/x"):
        with pytest.raises(InputError):
            storage.get(bad)
    with pytest.raises(ConfigError, match="unknown option"):
        open_storage(f"s3://{BUCKET}/x?endpoint={s3_endpoint}")
    with pytest.raises(ConfigError, match="addressing_style"):
        open_storage(f"s3://{BUCKET}/x?addressing_style=sideways")


def test_presigned_urls_fetch_the_object(s3_endpoint: str) -> None:
    import httpx

    from serve.store.storage import open_storage

    storage = open_storage(_spec(s3_endpoint, "signed", url_mode="presign", expires="600"))
    data = jpeg(7)
    key = storage.put(data)
    url = storage.url(key)
    assert url.startswith(s3_endpoint) and "Signature" in url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200 and response.content == data


def test_unreachable_server_is_a_clear_error(s3_endpoint: str) -> None:
    from detector.errors import ConfigError
    from serve.store.storage import open_storage

    dead = f"http://127.0.0.1:{free_port()}"
    storage = open_storage(f"s3://{BUCKET}/x?endpoint_url={dead}&addressing_style=path")
    storage.client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(ConfigError, match="s3://evidence/x"):
        storage.put(jpeg(3))


def test_case_store_with_s3_evidence_ingests_end_to_end(s3_endpoint: str, tmp_path: Path) -> None:
    from serve.store import CaseStore

    store = CaseStore.open(f"sqlite:///{tmp_path / 'cases.db'}", _spec(s3_endpoint, "cases"))
    try:
        first = store.cases.ingest_event(make_event("s3-a", vehicle_id="veh-1"))
        second = store.cases.ingest_event(make_event("s3-b", north_m=3.0, vehicle_id="veh-2"))
        assert first.created and not second.created and second.case.id == first.case.id
        detail = store.cases.get_case_detail(first.case.id)
        assert detail.observation_count == 2
        keys = {detail.evidence_key, detail.crop_key} | {o.evidence_key for o in detail.observations}
        keys.discard(None)
        assert keys
        for key in keys:
            assert store.evidence.get(key)[:2] == b"\xff\xd8"  # JPEG from the bucket
        stored = _objects(s3_endpoint, "cases")
        assert {k.rsplit("/", 1)[1] for k in stored} >= keys
        # re-ingesting the same event stores nothing new
        again = store.cases.ingest_event(make_event("s3-a", vehicle_id="veh-1"))
        assert not again.observation_added
        assert _objects(s3_endpoint, "cases") == stored
    finally:
        store.close()


def test_spec_that_went_through_a_path_field_still_opens_s3(s3_endpoint: str) -> None:
    """Settings fields typed Path (e.g. STREETWATCH_EVIDENCE_DIR=s3://...) collapse `//` to `/`."""
    from serve.store.storage import open_storage
    from serve.store.storage_s3 import S3EvidenceStorage

    storage = open_storage(Path(_spec(s3_endpoint, "viapath")))
    assert isinstance(storage, S3EvidenceStorage)
    assert storage.location.bucket == BUCKET and storage.location.prefix == "viapath"
    assert storage.get(storage.put(jpeg(11))) == jpeg(11)
    assert isinstance(open_storage(str(Path(_spec(s3_endpoint, "viapath")))), S3EvidenceStorage)
