"""The tests' moto server (sandbox/serve.py) keeps a client's connection open between requests, as
AWS does, and a kept connection carries each request whole: a body moto never reads is not taken
for the next request, and a request werkzeug must read itself (chunked) still closes it."""
from __future__ import annotations

import http.client

STS_CALL = "Action=GetCallerIdentity&Version=2011-06-15"
SIGNED_FOR_STS = {
    # moto picks the service by the signing name in the credential scope.
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sts/aws4_request, "
                     "SignedHeaders=host, Signature=0",
    "Content-Type": "application/x-www-form-urlencoded",
}


def _connect(server) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.connect()
    return conn


def _identity(conn) -> http.client.HTTPResponse:
    conn.request("POST", "/", body=STS_CALL, headers=SIGNED_FOR_STS)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200 and b"<Account>" in body, body[:500]
    return response


def test_one_connection_carries_many_requests_each_read_whole(quiet_server):
    conn = _connect(quiet_server)
    sock = conn.sock
    for _ in range(3):
        assert not _identity(conn).will_close
    # A body the route never reads (the recorder's reset takes none) is not read as the next
    # request: the next one on the same connection gets its own answer.
    conn.request("POST", "/moto-api/recorder/reset-recording", body=b"GET / HTTP/1.1\r\n\r\n" * 50)
    reset = conn.getresponse()
    reset.read()
    assert reset.status == 200 and not reset.will_close
    assert not _identity(conn).will_close
    assert conn.sock is sock, "the server closed the connection: the client had to open another"
    conn.close()


def test_a_chunked_request_is_answered_then_the_connection_closed(quiet_server):
    conn = _connect(quiet_server)
    conn.request("POST", "/", body=iter([STS_CALL.encode()]), headers=SIGNED_FOR_STS, encode_chunked=True)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200 and b"<Account>" in body, body[:500]
    assert response.will_close
    conn.close()
