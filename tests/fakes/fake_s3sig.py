#!/usr/bin/env python3
"""A tiny S3 that checks AWS Signature V4, which s3rver 3.7 does not: the
header form (what libcurl signs) and the query form (presigned URLs),
both recomputed here from the request with the standard library, as AWS's
"Signature Version 4 signing process" describes them. A reference for the
tests only; filmeto itself signs with libcurl and libavutil.

    fake_s3sig.py --port-file F --log F --id ID --secret S [--token T]
                  [--put-delay S] [--fail-part N] [--lifetime S]

PUT /BUCKET/KEY stores the body (after --put-delay seconds: uploads that
overlap show in the log's times), GET returns it (NoSuchKey otherwise).
A bad signature is 403 SignatureDoesNotMatch; with --token, a request
whose signed headers (or query) lack that x-amz-security-token is 403
InvalidToken.

It keeps multipart uploads as S3 does, which s3rver 3.7 does not (no
AbortMultipartUpload, no ListMultipartUploads), with S3's XML and codes:
POST KEY?uploads (CreateMultipartUpload), PUT KEY?partNumber=&uploadId=
(UploadPart, after --put-delay; 404 NoSuchUpload once the upload is
gone), POST KEY?uploadId= (CompleteMultipartUpload: InvalidPart,
InvalidPartOrder, EntityTooSmall as S3 checks them), DELETE KEY?uploadId=
(AbortMultipartUpload, 204), GET BUCKET?uploads[&prefix=]
(ListMultipartUploads). With --fail-part N, every attempt at part N is
500 InternalError, with Retry-After: 0 so that the client's retries do
not make a test wait.

Each request is logged when answered, as a JSON line: method, path,
t (when it came), op (S3's name for it), part, status, the signed header
names and the verdict.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import threading
import os
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

UNRESERVED = "-_.~"
# S3's smallest part but the last.
PART_MIN = 5 * 1024 * 1024


def enc(s):
    return urllib.parse.quote(s, safe=UNRESERVED)


def canonical_query(raw, drop=()):
    pairs = []
    for part in raw.split("&") if raw else []:
        k, _, v = part.partition("=")
        k, v = urllib.parse.unquote(k), urllib.parse.unquote(v)
        if k not in drop:
            pairs.append((enc(k), enc(v)))
    return "&".join("%s=%s" % p for p in sorted(pairs))


def hm(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret, date, region, service, sts):
    k = hm(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        k = hm(k, part)
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def note(self, **entry):
        entry.update(method=self.command, path=self.path.split("?")[0], t=self.t)
        with self.server.lock:
            self.server.log.write(json.dumps(entry) + "\n")
            self.server.log.flush()

    def answer(self, status, body=b"", headers=()):
        self.status = status
        self.send_response(status)
        for h in headers:
            self.send_header(*h)
        if body:
            self.send_header("Content-Type", "application/xml")
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message, headers=()):
        self.answer(status, xml("Error", [("Code", code), ("Message", message)]), headers)

    def verify(self):
        """None when the request is signed right, else (code, message)."""
        path, _, query = self.path.partition("?")
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        a = self.server.args
        if "X-Amz-Signature" in q:
            cred, stamp = q.get("X-Amz-Credential", ""), q.get("X-Amz-Date", "")
            signed, given = q.get("X-Amz-SignedHeaders", ""), q["X-Amz-Signature"]
            cq = canonical_query(query, drop=("X-Amz-Signature",))
            payload = "UNSIGNED-PAYLOAD"
            token = q.get("X-Amz-Security-Token")
        else:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("AWS4-HMAC-SHA256 "):
                return ("AccessDenied", "no SigV4 Authorization")
            fields = dict(f.strip().split("=", 1) for f in auth[17:].split(","))
            cred, signed, given = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
            stamp = self.headers.get("x-amz-date", "")
            cq = canonical_query(query)
            payload = self.headers.get("x-amz-content-sha256", "")
            token = self.headers.get("x-amz-security-token") if "x-amz-security-token" in signed.split(";") else None
        key_id, date, region, service, _ = (cred.split("/") + [""] * 5)[:5]
        if key_id != a.id:
            return ("InvalidAccessKeyId", "unknown key id")
        if a.token and token != a.token:
            return ("InvalidToken", "the session token is missing, unsigned or wrong")
        # A header signed but not sent cannot be checked: AWS refuses it too.
        if any(self.headers.get(h) is None for h in signed.split(";")):
            return ("SignatureDoesNotMatch", "a signed header was not sent")
        headers = "".join("%s:%s\n" % (h, " ".join(self.headers.get(h).split()))
                          for h in signed.split(";"))
        canon = "\n".join([self.command, path, cq, headers, signed, payload])
        scope = "/".join([date, region, service, "aws4_request"])
        sts = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
        if not hmac.compare_digest(signature(a.secret, date, region, service, sts), given):
            return ("SignatureDoesNotMatch", "The request signature we calculated does not match")
        return None

    def handle_one(self):
        self.t, self.status = time.time(), None
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        query = dict(urllib.parse.parse_qsl(self.path.partition("?")[2], keep_blank_values=True))
        bad = self.verify()
        signed = (self.headers.get("Authorization") or "").partition("SignedHeaders=")[2].split(",")[0]
        entry = dict(verdict=bad[0] if bad else "ok", signed=signed, op=operation(self.command, query))
        if "partNumber" in query:
            entry["part"] = int(query["partNumber"])
        try:
            if bad:
                self.error(403, *bad)
            else:
                self.route(self.path.split("?")[0], query, body)
        except (BrokenPipeError, ConnectionResetError):
            entry["gone"] = True  # the client went away (a cancel)
        self.note(status=self.status, **entry)

    def route(self, path, query, body):
        srv = self.server
        if "uploadId" in query:
            with srv.lock:
                up = srv.uploads.get(query["uploadId"])
            if not up or up["path"] != path:
                return self.error(404, "NoSuchUpload", "The specified upload does not exist. "
                                  "The upload ID may be invalid, or the upload may have been "
                                  "aborted or completed.")
            if self.command == "PUT" and "partNumber" in query:
                return self.upload_part(up, query["uploadId"], int(query["partNumber"]), body)
            if self.command == "POST":
                return self.complete(up, query["uploadId"], body)
            if self.command == "DELETE":
                with srv.lock:
                    srv.uploads.pop(query["uploadId"], None)
                return self.answer(204)
        elif self.command == "POST" and "uploads" in query:
            return self.create(path)
        elif self.command == "GET" and "uploads" in query:
            return self.list_uploads(path, query.get("prefix", ""))
        elif self.command == "PUT":
            time.sleep(srv.args.put_delay)
            srv.objects[path] = body
            return self.answer(200, headers=[("ETag", etag(body))])
        elif self.command == "DELETE":
            srv.objects.pop(path, None)
            return self.answer(204)
        elif self.command == "GET" and path in srv.objects:
            data = srv.objects[path]
            self.status = 200
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        elif self.command == "GET":
            return self.error(404, "NoSuchKey", "The specified key does not exist.")
        self.error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")

    def create(self, path):
        bucket, _, key = path[1:].partition("/")
        upload_id = uuid.uuid4().hex
        with self.server.lock:
            self.server.uploads[upload_id] = dict(
                path=path, key=key, parts={},
                initiated=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))
        self.answer(200, xml("InitiateMultipartUploadResult",
                             [("Bucket", bucket), ("Key", key), ("UploadId", upload_id)]))

    def upload_part(self, up, upload_id, n, body):
        time.sleep(self.server.args.put_delay)
        if n == self.server.args.fail_part:
            return self.error(500, "InternalError", "We encountered an internal error. Please try again.",
                              [("Retry-After", "0")])
        if not 1 <= n <= 10000:
            return self.error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
        with self.server.lock:
            # Aborted while the part was on its way: S3 keeps nothing of it.
            if self.server.uploads.get(upload_id) is not up:
                return self.error(404, "NoSuchUpload", "The specified upload does not exist.")
            up["parts"][n] = (etag(body), body)
        self.answer(200, headers=[("ETag", etag(body))])

    def complete(self, up, upload_id, body):
        try:
            listed = [(int(p.findtext("{*}PartNumber", p.findtext("PartNumber"))),
                       p.findtext("{*}ETag", p.findtext("ETag")))
                      for p in ET.fromstring(body).iter() if p.tag.split("}")[-1] == "Part"]
        except (ET.ParseError, TypeError, ValueError):
            return self.error(400, "MalformedXML", "The XML you provided was not well-formed "
                              "or did not validate against our published schema.")
        if not listed:
            return self.error(400, "MalformedXML", "The XML you provided was not well-formed "
                              "or did not validate against our published schema.")
        numbers = [n for n, _ in listed]
        if numbers != sorted(set(numbers)):
            return self.error(400, "InvalidPartOrder", "The list of parts was not in ascending order. "
                              "Parts must be ordered by part number.")
        for i, (n, tag) in enumerate(listed):
            have = up["parts"].get(n)
            if not have or have[0] != tag:
                return self.error(400, "InvalidPart", "One or more of the specified parts could not be "
                                  "found. The part may not have been uploaded, or the specified entity "
                                  "tag may not match the part's entity tag.")
            if i < len(listed) - 1 and len(have[1]) < PART_MIN:
                return self.error(400, "EntityTooSmall", "Your proposed upload is smaller than the "
                                  "minimum allowed object size.")
        data = b"".join(up["parts"][n][1] for n in numbers)
        md5s = b"".join(bytes.fromhex(up["parts"][n][0].strip('"')) for n in numbers)
        tag = '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(numbers))
        with self.server.lock:
            self.server.objects[up["path"]] = data
            self.server.uploads.pop(upload_id, None)
        bucket, _, key = up["path"][1:].partition("/")
        self.answer(200, xml("CompleteMultipartUploadResult",
                             [("Location", "http://127.0.0.1%s" % up["path"]), ("Bucket", bucket),
                              ("Key", key), ("ETag", tag)]))

    def list_uploads(self, path, prefix):
        bucket = path.strip("/")
        with self.server.lock:
            ups = sorted((u["key"], i, u["initiated"]) for i, u in self.server.uploads.items()
                         if u["path"].startswith("/%s/" % bucket) and u["key"].startswith(prefix))
        owner = [("ID", "fake-owner"), ("DisplayName", "fake")]
        fields = [("Bucket", bucket), ("KeyMarker", ""), ("UploadIdMarker", ""),
                  ("NextKeyMarker", ups[-1][0] if ups else ""),
                  ("NextUploadIdMarker", ups[-1][1] if ups else ""), ("Prefix", prefix),
                  ("MaxUploads", "1000"), ("IsTruncated", "false")]
        fields += [("Upload", [("Key", k), ("UploadId", i), ("Initiator", owner), ("Owner", owner),
                               ("StorageClass", "STANDARD"), ("Initiated", t)]) for k, i, t in ups]
        self.answer(200, xml("ListMultipartUploadsResult", fields))

    do_GET = do_PUT = do_POST = do_DELETE = handle_one


def operation(method, q):
    """S3's name for the request, for the log."""
    if "uploadId" in q:
        return {"PUT": "UploadPart", "POST": "CompleteMultipartUpload",
                "DELETE": "AbortMultipartUpload", "GET": "ListParts"}.get(method, method)
    if "uploads" in q:
        return {"POST": "CreateMultipartUpload", "GET": "ListMultipartUploads"}.get(method, method)
    return {"PUT": "PutObject", "GET": "GetObject", "DELETE": "DeleteObject"}.get(method, method)


def etag(body):
    return '"%s"' % hashlib.md5(body).hexdigest()


def xml(root, fields):
    """S3's XML: ROOT in S3's namespace (an error has none), FIELDS (name, text or fields) in order."""
    def inner(fs):
        return "".join("<%s>%s</%s>" % (k, inner(v) if isinstance(v, list) else escape(v), k)
                       for k, v in fs)
    ns = "" if root == "Error" else ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<%s%s>%s</%s>' % (root, ns, inner(fields), root)).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token")
    ap.add_argument("--put-delay", type=float, default=0)
    ap.add_argument("--fail-part", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.args, srv.objects, srv.uploads, srv.lock = args, {}, {}, threading.Lock()
    srv.log = open(args.log, "a")
    threading.Timer(args.lifetime, srv.shutdown).start()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
