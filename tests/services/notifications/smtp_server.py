"""A tiny in-process SMTP server on asyncio streams, enough for smtplib.

It speaks EHLO/HELO, optional AUTH PLAIN, MAIL, RCPT, DATA (with
dot-unstuffing), RSET, NOOP and QUIT, and keeps what it received.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class Envelope:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    login: tuple[str, str] | None

    def message(self) -> EmailMessage:
        # Stored the way a mailbox would: native line endings instead of the wire's CRLF.
        parsed = message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    host: str = "127.0.0.1"
    port: int = 0
    advertise_auth: bool = False
    received: list[Envelope] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(*lines: str) -> None:
            *more, last = lines
            writer.write(b"".join(f"{line[:3]}-{line[4:]}\r\n".encode() for line in more) + f"{last}\r\n".encode())
            await writer.drain()

        mail_from: str | None = None
        rcpt_to: list[str] = []
        login: tuple[str, str] | None = None
        await reply("220 fake.smtp ESMTP ready")
        try:
            while line := await reader.readline():
                command = line.decode().rstrip("\r\n")
                verb, _, argument = command.partition(" ")
                verb = verb.upper()
                self.commands.append(verb)
                if verb == "EHLO":
                    await reply("250 fake.smtp", *(["250 AUTH PLAIN"] if self.advertise_auth else []), "250 8BITMIME")
                elif verb == "HELO":
                    await reply("250 fake.smtp")
                elif verb == "AUTH" and self.advertise_auth and argument.upper().startswith("PLAIN "):
                    _, user, password = base64.b64decode(argument.split(" ", 1)[1]).decode().split("\0")
                    login = (user, password)
                    await reply("235 2.7.0 Authentication successful")
                elif verb == "MAIL":
                    mail_from, rcpt_to = _address(argument), []
                    await reply("250 2.1.0 OK")
                elif verb == "RCPT":
                    rcpt_to.append(_address(argument))
                    await reply("250 2.1.5 OK")
                elif verb == "DATA":
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    data = bytearray()
                    while (chunk := await reader.readline()) != b".\r\n":
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    self.received.append(Envelope(mail_from or "", rcpt_to, bytes(data), login))
                    await reply("250 2.0.0 OK queued")
                elif verb == "RSET":
                    mail_from, rcpt_to = None, []
                    await reply("250 2.0.0 OK")
                elif verb == "NOOP":
                    await reply("250 2.0.0 OK")
                elif verb == "QUIT":
                    await reply("221 2.0.0 Bye")
                    break
                else:
                    await reply("502 5.5.2 Command not recognized")
        finally:
            writer.close()
            await writer.wait_closed()


def _address(argument: str) -> str:
    """``FROM:<a@b.c> SIZE=1`` → ``a@b.c``."""
    return argument.partition(":")[2].strip().split(" ")[0].strip("<>")


@asynccontextmanager
async def running_smtp_server(*, advertise_auth: bool = False, port: int = 0) -> AsyncIterator[SmtpServer]:
    """Serve on ``port`` (a free one by default) until the block ends."""
    server = SmtpServer(advertise_auth=advertise_auth)
    listener = await asyncio.start_server(server.handle, server.host, port)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
