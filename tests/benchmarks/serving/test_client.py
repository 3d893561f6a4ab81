"""The raw HTTP/1.1 load generator: the requests it writes and the responses it reads."""

from __future__ import annotations

import asyncio

from benchmarks.serving.client import multipart_request, read_response


def test_bench_raw_client_reads_length_chunked_and_closing_responses() -> None:
    async def parse(raw: bytes) -> tuple[int, bytes, bool]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_response(reader)

    fixed = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
    chunked = (
        b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    closing = b"HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    assert asyncio.run(parse(fixed)) == (200, b"hello", True)
    assert asyncio.run(parse(chunked)) == (503, b"abcde", True)
    assert asyncio.run(parse(closing)) == (413, b"{}", False)
    request = multipart_request("127.0.0.1", 8000, "/predict", b"ID3\x00mp3", "a.mp3")
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /predict HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert b'name="file"; filename="a.mp3"' in body and b"\r\n\r\nID3\x00mp3\r\n--" in body
