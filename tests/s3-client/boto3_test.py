"""The S3-compatible API (/s3) with a second SDK, boto3 at its default
settings (since 1.36 it sends a CRC32 with every upload). Run by the
integration harness (tests/api/s3.rs) with the project venv:
  STRATA_BASE_URL        the worker
  STRATA_S3_CREDENTIALS  S3_CREDENTIALS: STRATATESTRW (read-write), STRATATESTRO (read-only)
"""

import hashlib
import io
import json
import os
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

base = os.environ["STRATA_BASE_URL"]
creds = json.loads(os.environ["STRATA_S3_CREDENTIALS"])
BUCKET = "strata"


def client(key_id, secret=None):
    return boto3.client(
        "s3",
        region_name="auto",
        endpoint_url=f"{base}/s3",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret or creds[key_id]["secret"],
        config=Config(s3={"addressing_style": "path"}),
    )


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("expected an error")


def main():
    s3 = client("STRATATESTRW")
    ro = client("STRATATESTRO")

    # put_object with bytes; get it back, with metadata.
    s3.put_object(Bucket=BUCKET, Key="boto/hello.txt", Body=b"Hello R2!", Metadata={"owner": "boto"})
    got = s3.get_object(Bucket=BUCKET, Key="boto/hello.txt")
    assert got["Body"].read() == b"Hello R2!"
    assert got["Metadata"] == {"owner": "boto"}, got["Metadata"]

    # upload_fileobj: a file-like body (s3transfer), multipart beyond 8 MiB.
    data = bytes((i * 13) % 251 for i in range(20 * 1024 * 1024))
    s3.upload_fileobj(io.BytesIO(data), BUCKET, "boto/big.bin")
    back = io.BytesIO()
    s3.download_fileobj(BUCKET, "boto/big.bin", back)
    assert hashlib.sha256(back.getvalue()).hexdigest() == hashlib.sha256(data).hexdigest()

    # Range, head, list, delete.
    part = s3.get_object(Bucket=BUCKET, Key="boto/big.bin", Range="bytes=0-9")["Body"].read()
    assert part == data[:10]
    assert s3.head_object(Bucket=BUCKET, Key="boto/big.bin")["ContentLength"] == len(data)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="boto/")["Contents"]]
    assert keys == ["boto/big.bin", "boto/hello.txt"], keys
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]

    # copy_object: COPY keeps the source's metadata, REPLACE takes the
    # request's; botocore URL-encodes the source's key.
    src = {"Bucket": BUCKET, "Key": "boto-copy/src \u00fc+?&.txt"}
    put = s3.put_object(Body=b"copy me", ContentType="text/plain", Metadata={"owner": "boto"}, **src)
    res = s3.copy_object(Bucket=BUCKET, Key="boto-copy/dst", CopySource=src)
    assert res["CopyObjectResult"]["ETag"] == put["ETag"], res
    got = s3.get_object(Bucket=BUCKET, Key="boto-copy/dst")
    assert (got["Body"].read(), got["Metadata"], got["ContentType"]) == (b"copy me", {"owner": "boto"}, "text/plain")
    s3.copy_object(
        Bucket=BUCKET, Key="boto-copy/dst", CopySource=src,
        MetadataDirective="REPLACE", Metadata={"team": "x"}, ContentType="text/csv",
    )
    head = s3.head_object(Bucket=BUCKET, Key="boto-copy/dst")
    assert (head["Metadata"], head["ContentType"]) == ({"team": "x"}, "text/csv"), head
    # Refusals: a condition, a missing source, a read-only pair.
    copy = lambda c=s3, **kw: c.copy_object(Bucket=BUCKET, Key="boto-copy/refused", **{"CopySource": src, **kw})
    assert error_code(lambda: copy(CopySourceIfMatch='"nope"')) == ("PreconditionFailed", 412)
    assert error_code(lambda: copy(CopySourceIfNoneMatch=put["ETag"])) == ("PreconditionFailed", 412)
    assert error_code(lambda: copy(CopySource={"Bucket": BUCKET, "Key": "boto-copy/missing"})) == ("NoSuchKey", 404)
    assert error_code(lambda: copy(ro)) == ("AccessDenied", 403)
    assert error_code(lambda: s3.head_object(Bucket=BUCKET, Key="boto-copy/refused")) == ("404", 404)
    # The managed copy (s3transfer): 20 MiB is over its 8 MiB threshold, so
    # it copies in parts with UploadPartCopy and source ranges.
    s3.copy({"Bucket": BUCKET, "Key": "boto/big.bin"}, BUCKET, "boto-copy/big.bin")
    back = io.BytesIO()
    s3.download_fileobj(BUCKET, "boto-copy/big.bin", back)
    assert hashlib.sha256(back.getvalue()).hexdigest() == hashlib.sha256(data).hexdigest()
    s3.delete_object(Bucket=BUCKET, Key="boto/big.bin")
    assert error_code(lambda: s3.get_object(Bucket=BUCKET, Key="boto/big.bin")) == ("NoSuchKey", 404)
    assert error_code(lambda: s3.head_object(Bucket=BUCKET, Key="boto/big.bin")) == ("404", 404)

    # A read-only pair cannot write; a wrong secret is refused.
    assert error_code(lambda: ro.put_object(Bucket=BUCKET, Key="boto/x", Body=b"x")) == ("AccessDenied", 403)
    wrong = client("STRATATESTRW", "not-the-secret-at-all-000000000000000000")
    assert error_code(lambda: wrong.list_objects_v2(Bucket=BUCKET))[0] == "SignatureDoesNotMatch"

    # An empty body is checked too: a wrong checksum stores nothing.
    assert error_code(
        lambda: s3.put_object(Bucket=BUCKET, Key="boto/empty-bad", Body=b"", ChecksumCRC32="AQIDBA==")
    ) == ("BadDigest", 400)
    assert error_code(lambda: s3.head_object(Bucket=BUCKET, Key="boto/empty-bad")) == ("404", 404)
    s3.put_object(Bucket=BUCKET, Key="boto/empty-ok", Body=b"")
    assert s3.head_object(Bucket=BUCKET, Key="boto/empty-ok")["ContentLength"] == 0

    # A folder placeholder as the v1 marker is a key: the keys under it follow.
    for k in ["fold/", "fold/a", "fold/b"]:
        s3.put_object(Bucket=BUCKET, Key=k, Body=b"x")
    keys = [
        o["Key"]
        for p in s3.get_paginator("list_objects").paginate(
            Bucket=BUCKET, Prefix="fold/", Delimiter="/", PaginationConfig={"PageSize": 1}
        )
        for o in p.get("Contents", [])
    ]
    assert keys == ["fold/", "fold/a", "fold/b"], keys

    # Listing pages: v2's StartAfter and v1's Marker are keys; the
    # paginators follow continuation tokens (v2) and NextMarker (v1), with
    # and without a delimiter, and see every key exactly once.
    names = ["pg/a/1", "pg/a/2", "pg/b", "pg/c/1", "pg/d"] + [f"pg/e{i:02}" for i in range(7)]
    for k in names:
        s3.put_object(Bucket=BUCKET, Key=k, Body=b"x")
    v2 = s3.list_objects_v2(Bucket=BUCKET, Prefix="pg/", StartAfter="pg/b")
    assert [o["Key"] for o in v2["Contents"]] == names[3:], v2
    v1 = s3.list_objects(Bucket=BUCKET, Prefix="pg/", Marker="pg/a/2")
    assert [o["Key"] for o in v1["Contents"]] == names[2:], v1
    for method in ["list_objects", "list_objects_v2"]:
        pages = s3.get_paginator(method).paginate(Bucket=BUCKET, Prefix="pg/", PaginationConfig={"PageSize": 3})
        assert [o["Key"] for p in pages for o in p.get("Contents", [])] == names, method
        pages = s3.get_paginator(method).paginate(
            Bucket=BUCKET, Prefix="pg/", Delimiter="/", PaginationConfig={"PageSize": 2}
        )
        seen = [(o["Key"] if "Key" in o else o["Prefix"]) for p in pages for o in p.get("Contents", []) + p.get("CommonPrefixes", [])]
        want = ["pg/b", "pg/d"] + [f"pg/e{i:02}" for i in range(7)] + ["pg/a/", "pg/c/"]
        assert sorted(seen) == sorted(want) and len(seen) == len(want), (method, seen)

    # A presigned GET with plain urllib.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "boto/hello.txt"}, ExpiresIn=60)
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"Hello R2!"
    print("boto3: ok")


if __name__ == "__main__":
    main()
