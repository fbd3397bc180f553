"""The S3-compatible API (/s3) with a second SDK, boto3 at its default
settings (since 1.36 it sends a CRC32 with every upload). Run by the
integration harness (tests/api/s3.rs) with the project venv:
  STRATA_BASE_URL        the worker
  STRATA_S3_CREDENTIALS  S3_CREDENTIALS: STRATATESTRW (read-write), STRATATESTRO (read-only)
"""

import concurrent.futures
import hashlib
import io
import json
import os
import urllib.error
import urllib.request

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
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


def raw(method, path, body=b"", headers=None, key_id="STRATATESTRW"):
    """A request no SDK method sends as is (a hand-written XML body, a
    header the SDK has no parameter for), signed by botocore's own SigV4.
    Answers the status and the body."""
    url = f"{base}/s3/{BUCKET}{path}"
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(Credentials(key_id, creds[key_id]["secret"]), "s3", "auto").add_auth(request)
    prepared = urllib.request.Request(url, data=body or None, method=method, headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(prepared) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def bounds_and_refusals(s3):
    """Listing parameters, DeleteObjects' VersionId and ETag, conditions a
    multipart step cannot enforce, and XML the reader refuses rather than
    misreads (found in review)."""
    # Listing parameters longer than a key can be are InvalidArgument, as
    # /v1/objects refuses them; a continuation token Strata never issued
    # does not reach R2.
    long = "k" * 1025
    for kw in [{"Prefix": long}, {"StartAfter": long}, {"Delimiter": long}, {"ContinuationToken": "<not a token>"}]:
        assert error_code(lambda: s3.list_objects_v2(Bucket=BUCKET, **kw)) == ("InvalidArgument", 400), kw
    assert error_code(lambda: s3.list_objects(Bucket=BUCKET, Marker=long)) == ("InvalidArgument", 400)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="k" * 1024)["KeyCount"] == 0

    # DeleteObjects on a bucket without versions: VersionId "null" is the
    # object; any other names no version and deletes nothing; an ETag
    # deletes only the object that still has it.
    etags = {k: s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())["ETag"] for k in ["del/a", "del/b", "del/c", "del/d"]}
    res = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": "del/a", "VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},
        {"Key": "del/b", "VersionId": "null"},
        {"Key": "del/c", "ETag": etags["del/a"]},
        {"Key": "del/d", "ETag": etags["del/d"]},
    ]})
    deleted = sorted((d["Key"], d.get("VersionId")) for d in res.get("Deleted", []))
    assert deleted == [("del/b", "null"), ("del/d", None)], res
    errors = sorted((e["Key"], e["Code"]) for e in res["Errors"])
    assert errors == [("del/a", "NoSuchVersion"), ("del/c", "PreconditionFailed")], res
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="del/")["Contents"]]
    assert left == ["del/a", "del/c"], left
    assert error_code(lambda: s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "del/a", "Size": 1}]})) == ("NotImplemented", 501)
    assert error_code(lambda: s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})) == ("MalformedXML", 400)

    # UploadPartCopy (and UploadPart) take no destination condition in S3;
    # one sent is refused, not ignored. The source's conditions apply.
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="del/part")["UploadId"]
    query = f"/del/part?partNumber=1&uploadId={up}"
    for condition in [{"If-Match": etags["del/a"]}, {"If-None-Match": "*"}]:
        status, body = raw("PUT", query, headers={"x-amz-copy-source": f"{BUCKET}/del/a", **condition})
        assert status == 501 and "<Code>NotImplemented</Code>" in body, (condition, status, body)
        status, body = raw("PUT", query, b"part", headers=condition)
        assert status == 501 and "<Code>NotImplemented</Code>" in body, (condition, status, body)
    part = s3.upload_part_copy(Bucket=BUCKET, Key="del/part", UploadId=up, PartNumber=1,
                               CopySource={"Bucket": BUCKET, "Key": "del/a"}, CopySourceIfMatch=etags["del/a"])
    assert part["CopyPartResult"]["ETag"], part
    s3.abort_multipart_upload(Bucket=BUCKET, Key="del/part", UploadId=up)

    # XML: comments and CDATA are read exactly; a DOCTYPE (which could
    # declare entities) is refused, and nothing is deleted.
    s3.put_object(Bucket=BUCKET, Key="del/<x>&y", Body=b"x")
    body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- <Object><Key>del/a</Key></Object> -->'
            b"<Delete><Object><Key><![CDATA[del/<x>&y]]></Key></Object><Quiet>false</Quiet></Delete>")
    status, text = raw("POST", "?delete", body)
    assert status == 200 and "<Deleted><Key>del/&lt;x&gt;&amp;y</Key></Deleted>" in text and "del/a" not in text, text
    for bad in [
        b'<!DOCTYPE Delete [<!ENTITY k "del/a">]><Delete><Object><Key>&k;</Key></Object></Delete>',
        b"<Delete><Object><Key>del/a</Key><Unknown>x</Unknown></Object></Delete>",
        b"<Delete>" + b"<a>" * 50 + b"</a>" * 50 + b"</Delete>",
    ]:
        status, text = raw("POST", "?delete", bad)
        assert status == 400 and "<Code>MalformedXML</Code>" in text, (bad, status, text)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="del/")["Contents"]] == ["del/a", "del/c"]


def bulk_delete(s3):
    """DeleteObjects at S3's cap of 1000 keys: all of them go (the Worker
    deletes them in one R2 call), each answered Deleted in the request's
    order, and the objects not named stay."""
    keys = [f"bulk/{i:04}" for i in range(1002)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=b"x"), keys))
    named = list(reversed(keys[3:])) + ["bulk/absent"]
    assert len(named) == 1000
    res = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in named]})
    assert "Errors" not in res, res["Errors"][:3]
    assert [d["Key"] for d in res["Deleted"]] == named
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="bulk/")["Contents"]]
    assert left == keys[:3], left
    # Quiet: nothing to report; a conditional key among unconditional ones
    # keeps its own answer.
    etag = s3.head_object(Bucket=BUCKET, Key="bulk/0001")["ETag"]
    res = s3.delete_objects(Bucket=BUCKET, Delete={"Quiet": True, "Objects": [
        {"Key": "bulk/0000"}, {"Key": "bulk/0001", "ETag": '"nope"'}, {"Key": "bulk/0002"},
    ]})
    assert "Deleted" not in res and [(e["Key"], e["Code"]) for e in res["Errors"]] == [("bulk/0001", "PreconditionFailed")], res
    res = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "bulk/0001", "ETag": etag}]})
    assert [d["Key"] for d in res["Deleted"]] == ["bulk/0001"], res
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="bulk/")["KeyCount"] == 0


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

    bounds_and_refusals(s3)
    bulk_delete(s3)

    # A presigned GET with plain urllib.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "boto/hello.txt"}, ExpiresIn=60)
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"Hello R2!"
    print("boto3: ok")


if __name__ == "__main__":
    main()
