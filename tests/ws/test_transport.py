"""The server's WebSocket reading (ws/transport.py): a socket is read on while its messages
are handled as they come, and held back once `UNREAD_MAX` of them wait unread."""

from __future__ import annotations

import asyncio

from streamloop.ws.transport import UNREAD_MAX, ReadOnWebSocket


class Transport:
    """What the protocol asks of its transport here: reading paused, and resumed."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def pause_reading(self) -> None:
        self.said.append("pause")

    def resume_reading(self) -> None:
        self.said.append("resume")


def socket() -> tuple[ReadOnWebSocket, Transport]:
    """The protocol's state after its handshake, as far as reading messages goes."""
    protocol = ReadOnWebSocket.__new__(ReadOnWebSocket)
    transport = Transport()
    protocol.transport = transport  # type: ignore[assignment]
    protocol.queue = asyncio.Queue()
    protocol.read_paused = False
    protocol.close_sent = False
    protocol.frames = []
    return protocol, transport


def arrives(protocol: ReadOnWebSocket, text: str) -> None:
    """A whole text message arrives (what uvicorn does with a final frame)."""
    protocol.curr_msg_data_type = "text"
    protocol.frames = [text.encode()]
    protocol.send_receive_event_to_app()


async def test_a_message_answered_before_the_next_one_never_stops_the_reading():
    protocol, transport = socket()
    for n in range(3 * UNREAD_MAX):
        arrives(protocol, f"label {n}")
        assert (await protocol.receive())["text"] == f"label {n}"
    assert transport.said == []  # uvicorn's own paused and resumed at each message


async def test_a_client_sending_faster_than_its_messages_are_handled_is_held_back():
    protocol, transport = socket()
    sent = [f"m{n}" for n in range(UNREAD_MAX)]
    for text in sent[:-1]:
        arrives(protocol, text)
    assert transport.said == []
    arrives(protocol, sent[-1])  # the last with room
    arrives(protocol, "one more")  # in the same packet: read on by uvicorn, not paused twice
    assert transport.said == ["pause"] and protocol.read_paused
    assert [(await protocol.receive())["text"] for _ in sent] == sent
    assert transport.said == ["pause"]  # one still waits
    assert (await protocol.receive())["text"] == "one more"
    assert transport.said == ["pause", "resume"] and not protocol.read_paused


async def test_once_the_server_has_closed_the_socket_is_read_for_the_clients_reply():
    protocol, transport = socket()
    for n in range(UNREAD_MAX - 1):
        arrives(protocol, f"m{n}")
    protocol.close_sent = True  # the app closed it (a client that stopped reading, say)
    protocol.queue.put_nowait({"type": "websocket.disconnect", "code": 1013})
    arrives(protocol, "one more, dropped")
    assert transport.said == [] and protocol.queue.qsize() == UNREAD_MAX
