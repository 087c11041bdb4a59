"""ReadWindow packet replies encoded without building messages: the bytes must be
exactly those the generated protobuf classes write."""

from __future__ import annotations

import time

import grpc

from eventclip.buffer.ring import BufferedPacket
from eventclip.buffer.service import Buffer, BufferServicer, add_buffer_servicer
from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.buffer.wire import encode_packet_batch, varint
from eventclip.config import CameraConfig
from eventclip.rpc import CHANNEL_OPTIONS
from eventclip.timeutil import to_timestamp
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

from .media import codec_for, synthetic_packets


def generated(packets: list[BufferedPacket]) -> bytes:
    """What protobuf itself writes for a ReadWindowResponse holding ``packets``."""
    return buffer_pb2.ReadWindowResponse(
        packets=buffer_pb2.PacketBatch(
            packets=[
                buffer_pb2.Packet(
                    data=p.data,
                    pts=p.pts,
                    dts=p.dts,
                    duration=p.duration,
                    keyframe=p.keyframe,
                    wall_time=to_timestamp(p.wall_time),
                )
                for p in packets
            ]
        )
    ).SerializeToString()


def test_varint_matches_the_protobuf_encoding() -> None:
    for value in (0, 1, 127, 128, 300, 2**31, 2**63 - 1):
        assert buffer_pb2.Packet.FromString(b"\x10" + varint(value)).pts == value
    assert varint(300) == b"\xac\x02"  # the example of the protobuf encoding guide


def test_real_h264_packets_encode_as_protobuf_does() -> None:
    packets = synthetic_packets(SyntheticSpec(width=640, height=360, fps=15, gop_frames=15), 30)
    assert any(len(p.data) >= 128 for p in packets)  # multi-byte length varints
    encoded = encode_packet_batch(packets)

    assert encoded == generated(packets)
    parsed = buffer_pb2.ReadWindowResponse.FromString(encoded).packets.packets
    assert [p.data for p in parsed] == [p.data for p in packets]
    assert [p.keyframe for p in parsed] == [p.keyframe for p in packets]


def test_defaults_negative_timestamps_and_empty_batches() -> None:
    odd = [
        BufferedPacket(b"", 0, 0, 0, False, 0.0, 1),  # every field at its default
        BufferedPacket(b"\x00\x00\x01\x65", -3, -(2**40), 1, True, -12.25, 1),
        BufferedPacket(b"x" * 20000, 2**62, 5, 3003, False, 1_700_000_000.123456789, 1),
    ]
    for batch in ([], odd[:1], odd):
        assert encode_packet_batch(batch) == generated(batch)


async def test_both_ways_of_mounting_the_servicer_send_the_same_replies() -> None:
    """``add_buffer_servicer`` (what the service uses) sends the batches as
    encoded; the generated ``add_BufferServiceServicer_to_server`` parses them
    back into messages first. A reader gets the same replies from both."""
    spec = SyntheticSpec(width=640, height=360, fps=15, gop_frames=15)
    buffer = Buffer([CameraConfig(id="cam", source="synthetic://")], max_window_seconds=60)
    packets = synthetic_packets(spec, 45, wall_zero=time.time() - 10)
    for packet in packets:
        buffer.camera("cam").ring.append(packet, codec_for(spec, timeline_id=1))
    # The window ends well inside what is buffered: ReadWindow ends at the first
    # packet whose DTS reaches end_time, and would wait for live packets if the
    # last one (whose DTS lags its PTS) fell short of it by a rounding.
    end_index = len(packets) - 8
    request = buffer_pb2.ReadWindowRequest(
        camera_id="cam",
        start_time=to_timestamp(packets[0].wall_time),
        end_time=to_timestamp(packets[end_index].wall_time),
    )
    replies = []
    for mount in (add_buffer_servicer, buffer_pb2_grpc.add_BufferServiceServicer_to_server):
        server = grpc.aio.server(options=CHANNEL_OPTIONS)
        mount(BufferServicer(buffer), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = buffer_pb2_grpc.BufferServiceStub(channel)
                replies.append([r async for r in stub.ReadWindow(request, timeout=10)])
        finally:
            await server.stop(0)

    encoded, parsed = replies
    assert encoded == parsed
    assert encoded[0].HasField("codec")
    sent = [p.data for r in encoded[1:] for p in r.packets.packets]
    assert len(sent) > end_index - 3  # through the DTS of packet end_index
    assert sent == [p.data for p in packets[: len(sent)]]
