#!/usr/bin/python3
"""An SMTP server for tests: accepts every message and writes it to a folder.

Run with Debian's interpreter, which has python3-aiosmtpd:

    /usr/bin/python3 tests/support/smtp_sink.py --folder DIR [--port 0]

It listens on 127.0.0.1, prints "PORT <n>" on one line once it accepts
connections, and writes each message as DIR/<n>.eml (the message as received,
after SMTP dot-unstuffing) with DIR/<n>.env beside it (MAIL FROM on the first
line, one RCPT TO per following line). Files appear atomically: a test that
sees <n>.eml can read it whole. It exits on SIGTERM or when its stdin closes,
so a test that dies does not leave it running.
"""

import argparse
import asyncio
import itertools
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


class FolderHandler:
    def __init__(self, folder):
        self.folder = folder
        self.counter = itertools.count(1)

    def _write(self, name, data):
        tmp = os.path.join(self.folder, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.folder, name))

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        envelope_text = "\n".join([envelope.mail_from or ""] + list(envelope.rcpt_tos)) + "\n"
        self._write(f"{n}.env", envelope_text.encode("utf-8"))
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        self._write(f"{n}.eml", content)
        return "250 Message accepted for delivery"


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)

    loop = asyncio.get_running_loop()
    handler = FolderHandler(args.folder)
    server = await loop.create_server(lambda: SMTP(handler, hostname="pixelmill-test-sink"), "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    done = loop.create_future()

    def finish():
        if not done.done():
            done.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, finish)
    loop.add_signal_handler(signal.SIGINT, finish)

    def stdin_readable():
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            finish()

    try:
        loop.add_reader(sys.stdin.fileno(), stdin_readable)
    except (OSError, ValueError, PermissionError):
        pass  # stdin is not watchable (a file, /dev/null): SIGTERM only

    await done
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
