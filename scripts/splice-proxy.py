#!/usr/bin/env python3
"""A WAN stand-in for scripts/bench-remote.mjs that costs next to no CPU.

    python3 scripts/splice-proxy.py UPSTREAM_HOST:PORT DELAY_MS

Listens on a free loopback port (printed as `127.0.0.1:PORT` on stdout) and runs until stdin
closes. Every chunk a client sends is held DELAY_MS and then forwarded: an HTTP/1.1 request
without a body arrives in one chunk, and a client sends the next one on that connection only
after the answer, so each request is answered DELAY_MS late, as by a registry a round trip away.
Answers go back with splice(2), in the kernel, without being copied through this process.

Why not the Node proxy of the tests (test/helpers/latency-proxy.ts): it parses and copies every
byte of every answer, which cost 1.4 to 2.1 s of CPU per 690 MB, as much as the serialize it
stood in front of; on a 2-core machine that CPU, not the 50 ms, limited the FIFO check (issue 11).
A real WAN costs the client machine nothing. This one measured 0.3 to 0.45 s for the same bytes.
It keeps no statistics: the tests use the Node proxy for that.
"""
import os
import socket
import sys
import threading
import time


def close_both(a, b):
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def requests(client, up, delay):
    """Client to upstream: each chunk held `delay` seconds from its arrival, order kept."""
    try:
        while True:
            data = client.recv(1 << 16)
            arrived = time.monotonic()
            if not data:
                break
            wait = arrived + delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            up.sendall(data)
    except OSError:
        pass
    finally:
        close_both(client, up)


def answers(client, up):
    """Upstream to client through a pipe with splice(2): the bytes stay in the kernel."""
    r, w = os.pipe()
    try:
        while True:
            n = os.splice(up.fileno(), w, 1 << 20)
            if n == 0:
                break
            while n > 0:
                n -= os.splice(r, client.fileno(), n)
    except OSError:
        pass
    finally:
        os.close(r)
        os.close(w)
        close_both(client, up)


def serve(client, upstream, delay):
    try:
        up = socket.create_connection(upstream)
    except OSError:
        client.close()
        return
    for s in (client, up):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=answers, args=(client, up), daemon=True)
    back.start()
    requests(client, up, delay)
    back.join()
    client.close()
    up.close()


def main():
    host, port = sys.argv[1].rsplit(':', 1)
    upstream = (host, int(port))
    delay = float(sys.argv[2]) / 1000
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(512)
    print(f'127.0.0.1:{srv.getsockname()[1]}', flush=True)

    def accept():
        while True:
            client, _ = srv.accept()
            threading.Thread(target=serve, args=(client, upstream, delay), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()  # the bench closes our stdin to stop us


if __name__ == '__main__':
    main()
