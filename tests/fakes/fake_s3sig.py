#!/usr/bin/env python3
"""A tiny S3 that checks AWS Signature V4, which s3rver 3.7 does not: the
header form (what libcurl signs) and the query form (presigned URLs),
both recomputed here from the request with the standard library, as AWS's
"Signature Version 4 signing process" describes them. A reference for the
tests only; filmeto itself signs with libcurl and libavutil.

    fake_s3sig.py --port-file F --log F --id ID --secret S [--token T]
                  [--put-delay S] [--lifetime S]

PUT /BUCKET/KEY stores the body (after --put-delay seconds: uploads that
overlap show in the log's times), GET returns it (NoSuchKey otherwise).
A bad signature is 403 SignatureDoesNotMatch; with --token, a request
whose signed headers (or query) lack that x-amz-security-token is 403
InvalidToken. Each request is logged as a JSON line: method, path, the
signed header names and the verdict.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import threading
import time
import urllib.parse

UNRESERVED = "-_.~"


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
        entry.update(method=self.command, path=self.path.split("?")[0], t=time.time())
        with self.server.lock:
            self.server.log.write(json.dumps(entry) + "\n")
            self.server.log.flush()

    def error(self, status, code, message):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                "<Message>%s</Message></Error>" % (code, message)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        bad = self.verify()
        signed = (self.headers.get("Authorization") or "").partition("SignedHeaders=")[2].split(",")[0]
        self.note(verdict=bad[0] if bad else "ok", signed=signed)
        if bad:
            return self.error(403, *bad)
        path = self.path.split("?")[0]
        if self.command == "PUT":
            time.sleep(self.server.args.put_delay)
            self.server.objects[path] = body
            self.send_response(200)
            self.send_header("ETag", '"%s"' % hashlib.md5(body).hexdigest())
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path in self.server.objects:
            data = self.server.objects[path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.error(404, "NoSuchKey", "The specified key does not exist.")

    do_GET = do_PUT = handle_one


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token")
    ap.add_argument("--put-delay", type=float, default=0)
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.args, srv.objects, srv.lock = args, {}, threading.Lock()
    srv.log = open(args.log, "a")
    threading.Timer(args.lifetime, srv.shutdown).start()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
