"""ReadWindow packet replies encoded straight from the ring's packets.

A 60 s window at 1080p is ~900 packets and ~30 MB. Building a ``Packet``
message per packet, copying the messages into a ``PacketBatch`` and serializing
it copies the video twice and spends ~20 µs of Python per packet on a path
where the whole clip waits for it. ``encode_packet_batch`` writes the protobuf
wire format directly instead (https://protobuf.dev/programming-guides/encoding/):
upb serializes each packet's small fields from a data-less ``Packet``, the
length-delimited ``data`` field is put in front of them, and the reply is joined
once. The bytes are exactly those of
``ReadWindowResponse(packets=PacketBatch(packets=[...])).SerializeToString()``
(fields in field-number order, proto3 defaults left out), so a reader parses
them with the generated classes as before: the wire format does not change.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.v1 import buffer_pb2

# Wire tags: (field number << 3) | 2 (length-delimited).
_PACKET_DATA = b"\x0a"  # Packet.data = 1
_BATCH_PACKET = b"\x0a"  # PacketBatch.packets = 1
_RESPONSE_PACKETS = b"\x12"  # ReadWindowResponse.packets = 2


def varint(value: int) -> bytes:
    """``value`` (>= 0) as a protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def packet_fields(packet: BufferedPacket) -> bytes:
    """Fields 2.. of ``Packet`` (everything but ``data``), serialized by upb."""
    message = buffer_pb2.Packet(
        pts=packet.pts, dts=packet.dts, duration=packet.duration, keyframe=packet.keyframe
    )
    # As eventclip.timeutil.to_timestamp: whole nanoseconds since the epoch.
    message.wall_time.FromNanoseconds(round(packet.wall_time * 1e9))
    return message.SerializeToString()


def encode_packet_batch(packets: Sequence[BufferedPacket]) -> bytes:
    """A serialized ``ReadWindowResponse`` whose ``packets`` batch holds
    ``packets`` (decode order), byte for byte what the generated classes write."""
    parts: list[bytes] = []
    size = 0
    for packet in packets:
        data = packet.data
        fields = packet_fields(packet)
        head = _PACKET_DATA + varint(len(data)) if data else b""  # proto3 omits b""
        length = len(head) + len(data) + len(fields)
        prefix = _BATCH_PACKET + varint(length) + head
        parts += (prefix, data, fields)
        size += len(prefix) + length - len(head)
    return b"".join([_RESPONSE_PACKETS, varint(size), *parts])


def codec_message(codec: CodecParams) -> buffer_pb2.CodecParameters:
    """The wire form of a timeline's codec parameters."""
    rate = codec.frame_rate
    return buffer_pb2.CodecParameters(
        codec_name=codec.codec_name,
        extradata=codec.extradata,
        width=codec.width,
        height=codec.height,
        time_base_num=codec.time_base.numerator,
        time_base_den=codec.time_base.denominator,
        frame_rate_num=rate.numerator if rate else 0,
        frame_rate_den=rate.denominator if rate else 0,
        timeline_id=codec.timeline_id,
        pix_fmt=codec.pix_fmt,
    )
