"""An MP4 file laid out box by box from a window whose every packet is known.

A past window is cut without FFmpeg's muxer: every sample's size and
timestamps are known before the first byte is written, so ``moov`` is built
first and the file streams out in its final order (``ftyp``, ``moov``,
``mdat``) with no ``+faststart`` pass that moves the media data behind it. The
bytes can then be hashed while they are written, and the sample data is never
copied (H.264 in Annex B, what RTSP gives, is converted once to the
length-prefixed form MP4 stores).

What is written, after ISO/IEC 14496-12 (ISO base media file format) and
14496-15 (AVC/HEVC in it), as FFmpeg's mov muxer writes it for one video track:

* ``ftyp``: major brand ``isom`` 512, compatible ``isom iso2 avc1 mp41``.
* ``moov``: ``mvhd`` (timescale 1000), one ``trak``: ``tkhd``, ``edts/elst``
  (one edit that starts playback at PTS 0, past the B-frames' composition
  offset or the frames an EXACT trim hides), ``mdia``: ``mdhd``
  (timescale: the track's time_base), ``hdlr`` vide, ``minf``: ``vmhd``,
  ``dinf/dref``, ``stbl``: ``stsd`` (``avc1`` + ``avcC``, or ``hev1`` +
  ``hvcC``), ``stts``, ``ctts`` (when any PTS differs from its DTS), ``stss``
  (when not every sample is a keyframe), ``stsc`` + ``stco``/``co64`` (all
  samples in one chunk: ``mdat`` holds them back to back), ``stsz``.
* ``mdat``: the samples in decode order (64-bit size past 4 GiB).

Not handled here (``Unsupported``; FFmpeg's muxer writes those): codecs other
than H.264/HEVC, HEVC in Annex B, H.264 whose parameter sets are not in the
extradata.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from eventclip.v1 import buffer_pb2

#: Movie timescale of mvhd/tkhd/elst (FFmpeg's MOV_TIMESCALE).
MOVIE_TIMESCALE = 1000
_U32 = 2**32 - 1
# Unity matrix of mvhd/tkhd (16.16, 16.16, 2.30 fixed point).
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_FTYP_BRANDS = (b"isom", b"iso2", b"avc1", b"mp41")
_SAMPLE_ENTRY = {"h264": b"avc1", "hevc": b"hev1"}
_CONFIG_BOX = {"h264": b"avcC", "hevc": b"hvcC"}


class Unsupported(Exception):
    """This window's codec or bitstream form is not laid out here; the message
    says why (FFmpeg's muxer writes it instead)."""


def box(kind: bytes, *payload: bytes) -> bytes:
    """One box: 32-bit size, four-character type, payload."""
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A FullBox: version (8 bits) and flags (24 bits) before the payload."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


@dataclass
class SampleTable:
    """The samples of one video track, in decode order, as MP4 stores them.

    Timestamps are in ``time_base`` units on the MP4's timeline (the first
    shown frame at PTS 0, earlier ones negative). ``data`` holds each sample's
    bytes in MP4 (length-prefixed) form.
    """

    codec: buffer_pb2.CodecParameters | None = None
    time_base: Fraction = Fraction(1)
    config: bytes = b""  # avcC / hvcC payload
    annexb: bool = False
    data: list[bytes] = field(default_factory=list)
    dts: list[int] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    keyframes: list[bool] = field(default_factory=list)

    layout: Mp4Layout | None = None

    def start_timeline(self, codec: buffer_pb2.CodecParameters, time_base: Fraction) -> None:
        """A timeline starts (``Mp4Writer``): the first describes the track.
        Raises Unsupported."""
        if self.codec is not None:
            if time_base != self.time_base:
                raise Unsupported(f"timelines in time_bases {self.time_base} and {time_base}")
            return
        name = codec.codec_name
        if name not in _SAMPLE_ENTRY:
            raise Unsupported(f"codec {name!r}")
        extradata = bytes(codec.extradata)
        if extradata[:1] == b"\x01":  # avcC / hvcC already (configurationVersion 1)
            self.config = extradata
        elif name == "h264":
            self.config = avcc_from_annexb(extradata)
            self.annexb = True
        else:
            raise Unsupported(f"{name} parameter sets in Annex B form")
        self.codec, self.time_base = codec, time_base

    def add(self, data: bytes, dts: int, pts: int, duration: int, keyframe: bool) -> None:
        """One sample (decode order); Annex B data is converted."""
        self.data.append(annexb_to_length_prefixed(data) if self.annexb else data)
        self.dts.append(dts)
        self.pts.append(pts)
        self.durations.append(duration)
        self.keyframes.append(keyframe)

    def finish(self, presentation_end: Fraction) -> int:
        """Lay the file out (``layout``); its size in bytes. ``presentation_end``:
        where the last frame ends on the MP4 timeline, seconds."""
        self.layout = lay_out(self, round(presentation_end / self.time_base))
        return self.layout.size_bytes

    def abort(self) -> None:
        """Nothing is written until the layout is streamed."""


@dataclass(frozen=True)
class Mp4Layout:
    """A whole MP4 file: ``head`` (ftyp, moov, mdat header), then ``samples``
    back to back; ``size_bytes`` in all."""

    head: bytes
    samples: list[bytes]
    size_bytes: int

    def buffers(self) -> Iterator[bytes]:
        """The file's bytes in order, as the head and one buffer per sample."""
        yield self.head
        yield from self.samples


def lay_out(table: SampleTable, presentation_end: int) -> Mp4Layout:
    """The MP4 holding ``table``'s samples. ``presentation_end``: where the last
    frame ends on the MP4 timeline (max PTS + duration, time_base units), so
    the file plays from PTS 0 to it. Raises Unsupported (a timescale MP4
    cannot state), ValueError when there are no samples."""
    codec = table.codec
    if codec is None or not table.data:
        raise ValueError("no samples")
    # mdhd's timescale is an integer: ticks of 1/den s, each timestamp times num,
    # doubled up to at least 10000 as FFmpeg's mov muxer does (movenc.c), so
    # the edit list and durations keep sub-frame precision.
    scale, multiplier = table.time_base.denominator, table.time_base.numerator
    while scale < 10000:
        scale, multiplier = scale * 2, multiplier * 2
    if scale > _U32:
        raise Unsupported(f"time_base {table.time_base}")
    first_dts = table.dts[0]
    # Sample times start at decode time 0; the edit list starts playback at PTS 0.
    dts = [(d - first_dts) * multiplier for d in table.dts]
    offsets = [(p - d) * multiplier for p, d in zip(table.pts, table.dts, strict=True)]
    deltas = [b - a for a, b in itertools.pairwise(dts)]
    deltas.append(table.durations[-1] * multiplier)
    media_duration = dts[-1] + deltas[-1]
    shown_from = -first_dts * multiplier  # media time of PTS 0
    # Rounded as FFmpeg's movenc.c does, so players report the same length: the
    # movie and track durations (PTS 0 to the end) round up; the edit's is the
    # whole PTS span rounded up, less the hidden lead-in (first PTS, <= 0)
    # rounded down (calc_pts_duration and mov_write_edts_tag).
    end = presentation_end * multiplier * MOVIE_TIMESCALE
    first_pts = table.pts[0] * multiplier * MOVIE_TIMESCALE
    movie_duration = -(-end // scale)
    edit_duration = -(-(end - first_pts) // scale) + first_pts // scale
    sizes = [len(d) for d in table.data]
    mdat_payload = sum(sizes)

    def moov(chunk_offset: int) -> bytes:
        stbl = box(
            b"stbl",
            _stsd(codec, table.config),
            full_box(b"stts", 0, 0, *_runs(deltas)),
            _ctts(offsets),
            _stss(table.keyframes),
            full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(sizes), 1)),
            full_box(b"stsz", 0, 0, struct.pack(f">II{len(sizes)}I", 0, len(sizes), *sizes)),
            _chunk_offsets(chunk_offset),
        )
        mdia = box(
            b"mdia",
            _mdhd(scale, media_duration),
            full_box(b"hdlr", 0, 0, b"\0" * 4, b"vide", b"\0" * 12, b"VideoHandler\0"),
            box(
                b"minf",
                full_box(b"vmhd", 0, 1, b"\0" * 8),
                box(
                    b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1))
                ),
                stbl,
            ),
        )
        # One edit: play from PTS 0 for the shown duration (written even when
        # it starts at media time 0, as FFmpeg does).
        edts = box(
            b"edts",
            full_box(b"elst", 0, 0, struct.pack(">IIihh", 1, edit_duration, shown_from, 1, 0)),
        )
        trak = box(b"trak", _tkhd(codec, movie_duration), edts, mdia)
        return box(b"moov", _mvhd(movie_duration), trak)

    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 512), *_FTYP_BRANDS)
    large = mdat_payload + 8 > _U32
    mdat_header = (
        struct.pack(">I4sQ", 1, b"mdat", mdat_payload + 16)
        if large
        else struct.pack(">I4s", mdat_payload + 8, b"mdat")
    )
    # The chunk offset is inside moov: lay it out once to learn moov's size
    # (stco or co64 decided by a first guess), then with the real offset.
    guess = len(ftyp) + len(moov(0)) + len(mdat_header)
    head_without_mdat = ftyp + moov(guess)
    offset = len(head_without_mdat) + len(mdat_header)
    if offset != guess:  # co64 instead of stco moved the data
        head_without_mdat = ftyp + moov(offset)
        offset = len(head_without_mdat) + len(mdat_header)
    head = head_without_mdat + mdat_header
    return Mp4Layout(head, table.data, len(head) + mdat_payload)


def _runs(values: list[int]) -> list[bytes]:
    """(count, value) run-length entries, with the entry count first."""
    entries: list[tuple[int, int]] = []
    for v in values:
        if entries and entries[-1][1] == v:
            entries[-1] = (entries[-1][0] + 1, v)
        else:
            entries.append((1, v))
    signed = any(v < 0 for _, v in entries)
    fmt = ">Ii" if signed else ">II"
    return [struct.pack(">I", len(entries))] + [struct.pack(fmt, c, v) for c, v in entries]


def _ctts(offsets: list[int]) -> bytes:
    if not any(offsets):
        return b""
    version = 1 if any(o < 0 for o in offsets) else 0  # v1: signed offsets
    return full_box(b"ctts", version, 0, *_runs(offsets))


def _stss(keyframes: list[bool]) -> bytes:
    if all(keyframes):
        return b""  # no stss: every sample is a sync sample
    numbers = [i + 1 for i, key in enumerate(keyframes) if key]
    return full_box(b"stss", 0, 0, struct.pack(f">I{len(numbers)}I", len(numbers), *numbers))


def _chunk_offsets(offset: int) -> bytes:
    if offset > _U32:
        return full_box(b"co64", 0, 0, struct.pack(">IQ", 1, offset))
    return full_box(b"stco", 0, 0, struct.pack(">II", 1, offset))


def _mvhd(duration: int) -> bytes:
    return full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, MOVIE_TIMESCALE, min(duration, _U32)),
        struct.pack(">IH", 0x10000, 0x0100),  # rate 1.0, volume 1.0
        b"\0" * 10,
        _MATRIX,
        b"\0" * 24,
        struct.pack(">I", 2),  # next_track_ID
    )


def _tkhd(codec: buffer_pb2.CodecParameters, duration: int) -> bytes:
    return full_box(
        b"tkhd",
        0,
        3,  # track_enabled | track_in_movie
        struct.pack(">IIIII", 0, 0, 1, 0, min(duration, _U32)),
        b"\0" * 8,
        struct.pack(">hhhH", 0, 0, 0, 0),  # layer, alternate_group, volume, reserved
        _MATRIX,
        struct.pack(">II", codec.width << 16, codec.height << 16),
    )


def _mdhd(timescale: int, duration: int) -> bytes:
    language = 0x55C4  # "und", ISO 639-2/T packed in three 5-bit letters
    if duration > _U32:
        return full_box(
            b"mdhd", 1, 0, struct.pack(">QQIQHH", 0, 0, timescale, duration, language, 0)
        )
    return full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, language, 0))


def _stsd(codec: buffer_pb2.CodecParameters, config: bytes) -> bytes:
    name = codec.codec_name
    entry = box(
        _SAMPLE_ENTRY[name],
        b"\0" * 6,
        struct.pack(">H", 1),  # data_reference_index
        b"\0" * 16,
        struct.pack(">HH", codec.width, codec.height),
        struct.pack(">II", 0x00480000, 0x00480000),  # 72 dpi
        b"\0" * 4,
        struct.pack(">H", 1),  # frame_count
        b"\0" * 32,  # compressorname
        struct.pack(">Hh", 0x18, -1),  # depth, pre_defined
        box(_CONFIG_BOX[name], config),
    )
    return full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry)


def nal_units(annexb: bytes) -> list[tuple[int, int]]:
    """(start, end) of each NAL unit in Annex B bytes (start codes 00 00 01 or
    00 00 00 01). As FFmpeg's ff_avc_parse_nal_units: a NAL ends where the next
    start code begins, its one leading zero byte included."""
    units: list[tuple[int, int]] = []
    find = annexb.find
    at = find(b"\x00\x00\x01")
    while at >= 0:
        start = at + 3
        nxt = find(b"\x00\x00\x01", start)
        end = len(annexb) if nxt < 0 else (nxt - 1 if annexb[nxt - 1] == 0 else nxt)
        if end > start:
            units.append((start, end))
        at = nxt
    return units


def annexb_to_length_prefixed(data: bytes) -> bytes:
    """Annex B NAL units as MP4 stores them: each after its 4-byte big-endian
    length (``lengthSizeMinusOne`` 3 in the avcC written here)."""
    units = nal_units(data)
    if not units:
        raise Unsupported("a packet without an Annex B start code")
    parts: list[bytes] = []
    view = memoryview(data)
    for start, end in units:
        parts += (struct.pack(">I", end - start), view[start:end])
    return b"".join(parts)


def avcc_from_annexb(extradata: bytes) -> bytes:
    """The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) of H.264
    parameter sets given in Annex B form. Raises Unsupported without SPS and PPS."""
    sps: list[bytes] = []
    pps: list[bytes] = []
    for start, end in nal_units(extradata):
        nal = extradata[start:end]
        kind = nal[0] & 0x1F
        if kind == 7:
            sps.append(nal)
        elif kind == 8:
            pps.append(nal)
    if not sps or not pps or len(sps[0]) < 4:
        raise Unsupported("H.264 extradata without SPS and PPS")
    record = [
        bytes([1, sps[0][1], sps[0][2], sps[0][3], 0xFF, 0xE0 | len(sps)]),
        *(struct.pack(">H", len(s)) + s for s in sps),
        bytes([len(pps)]),
        *(struct.pack(">H", len(p)) + p for p in pps),
    ]
    return b"".join(record)
