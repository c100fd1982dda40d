#!/usr/bin/env python3
"""A fast local webhook receiver for the benchmarks (asyncio, HTTP/1.1 keep-alive, 127.0.0.1).

Answers every POST `200` with an empty body at once and remembers (arrival time, webhook-id).
The same receiver serves overdued, the curl loop and wrk, so the three rates compare.
  GET /_dump   writes the remembered requests to --log (`<unix time> <webhook-id>` lines),
               forgets them, and answers with their count
  GET /_stats  answers `<requests> <distinct ids>` without forgetting
usage: receiver.py --port P --log FILE"""
import argparse, asyncio, time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
seen = []


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            wid = b"-"
            lines = head.split(b"\r\n")
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    wid = value.strip()
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            request = lines[0]
            if request.startswith(b"GET /_dump"):
                self.t.write(self.dump())
            elif request.startswith(b"GET /_stats"):
                body = f"{len(seen)} {len({w for _, w in seen})}\n".encode()
                self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                seen.append((time.time(), wid))
                self.t.write(OK)

    def dump(self):
        global seen
        rows, seen = seen, []
        with open(args.log, "a") as f:
            f.writelines(f"{t:.6f} {w.decode(errors='replace')}\n" for t, w in rows)
        body = f"{len(rows)}\n".encode()
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", args.port, backlog=1024, reuse_address=True)
    print(f"receiver on 127.0.0.1:{args.port}", flush=True)
    async with server:
        await server.serve_forever()


p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--log", required=True)
args = p.parse_args()
asyncio.run(main())
