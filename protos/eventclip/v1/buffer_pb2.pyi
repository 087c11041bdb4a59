import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Camera(_message.Message):
    __slots__ = ("id", "source", "state", "status_message", "codec", "fps", "bitrate_bps", "buffered_duration", "oldest_time", "newest_time", "last_packet_age", "buffered_bytes", "gop_count", "buffer_limit", "buffer_limit_bytes", "reconnects")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Camera.State]
        CONNECTING: _ClassVar[Camera.State]
        ONLINE: _ClassVar[Camera.State]
        OFFLINE: _ClassVar[Camera.State]
    STATE_UNSPECIFIED: Camera.State
    CONNECTING: Camera.State
    ONLINE: Camera.State
    OFFLINE: Camera.State
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    BUFFERED_DURATION_FIELD_NUMBER: _ClassVar[int]
    OLDEST_TIME_FIELD_NUMBER: _ClassVar[int]
    NEWEST_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_PACKET_AGE_FIELD_NUMBER: _ClassVar[int]
    BUFFERED_BYTES_FIELD_NUMBER: _ClassVar[int]
    GOP_COUNT_FIELD_NUMBER: _ClassVar[int]
    BUFFER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BUFFER_LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    state: Camera.State
    status_message: str
    codec: CodecParameters
    fps: float
    bitrate_bps: int
    buffered_duration: _duration_pb2.Duration
    oldest_time: _timestamp_pb2.Timestamp
    newest_time: _timestamp_pb2.Timestamp
    last_packet_age: _duration_pb2.Duration
    buffered_bytes: int
    gop_count: int
    buffer_limit: _duration_pb2.Duration
    buffer_limit_bytes: int
    reconnects: int
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., state: _Optional[_Union[Camera.State, str]] = ..., status_message: _Optional[str] = ..., codec: _Optional[_Union[CodecParameters, _Mapping]] = ..., fps: _Optional[float] = ..., bitrate_bps: _Optional[int] = ..., buffered_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., oldest_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., newest_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_packet_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., buffered_bytes: _Optional[int] = ..., gop_count: _Optional[int] = ..., buffer_limit: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., buffer_limit_bytes: _Optional[int] = ..., reconnects: _Optional[int] = ...) -> None: ...

class CodecParameters(_message.Message):
    __slots__ = ("codec_name", "extradata", "width", "height", "time_base_num", "time_base_den", "frame_rate_num", "frame_rate_den", "timeline_id", "pix_fmt")
    CODEC_NAME_FIELD_NUMBER: _ClassVar[int]
    EXTRADATA_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TIME_BASE_NUM_FIELD_NUMBER: _ClassVar[int]
    TIME_BASE_DEN_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_NUM_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_DEN_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_ID_FIELD_NUMBER: _ClassVar[int]
    PIX_FMT_FIELD_NUMBER: _ClassVar[int]
    codec_name: str
    extradata: bytes
    width: int
    height: int
    time_base_num: int
    time_base_den: int
    frame_rate_num: int
    frame_rate_den: int
    timeline_id: int
    pix_fmt: str
    def __init__(self, codec_name: _Optional[str] = ..., extradata: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., time_base_num: _Optional[int] = ..., time_base_den: _Optional[int] = ..., frame_rate_num: _Optional[int] = ..., frame_rate_den: _Optional[int] = ..., timeline_id: _Optional[int] = ..., pix_fmt: _Optional[str] = ...) -> None: ...

class Packet(_message.Message):
    __slots__ = ("data", "pts", "dts", "duration", "keyframe", "wall_time")
    DATA_FIELD_NUMBER: _ClassVar[int]
    PTS_FIELD_NUMBER: _ClassVar[int]
    DTS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    pts: int
    dts: int
    duration: int
    keyframe: bool
    wall_time: _timestamp_pb2.Timestamp
    def __init__(self, data: _Optional[bytes] = ..., pts: _Optional[int] = ..., dts: _Optional[int] = ..., duration: _Optional[int] = ..., keyframe: _Optional[bool] = ..., wall_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListCamerasRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCamerasResponse(_message.Message):
    __slots__ = ("cameras",)
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    cameras: _containers.RepeatedCompositeFieldContainer[Camera]
    def __init__(self, cameras: _Optional[_Iterable[_Union[Camera, _Mapping]]] = ...) -> None: ...

class GetCameraRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ReadWindowRequest(_message.Message):
    __slots__ = ("camera_id", "start_time", "end_time")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, camera_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PacketBatch(_message.Message):
    __slots__ = ("packets",)
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    packets: _containers.RepeatedCompositeFieldContainer[Packet]
    def __init__(self, packets: _Optional[_Iterable[_Union[Packet, _Mapping]]] = ...) -> None: ...

class ReadWindowResponse(_message.Message):
    __slots__ = ("codec", "packets")
    CODEC_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    codec: CodecParameters
    packets: PacketBatch
    def __init__(self, codec: _Optional[_Union[CodecParameters, _Mapping]] = ..., packets: _Optional[_Union[PacketBatch, _Mapping]] = ...) -> None: ...

class CutWindowRequest(_message.Message):
    __slots__ = ("camera_id", "start_time", "end_time", "event_time", "exact_start", "output_file")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    EXACT_START_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILE_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    event_time: _timestamp_pb2.Timestamp
    exact_start: bool
    output_file: str
    def __init__(self, camera_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exact_start: _Optional[bool] = ..., output_file: _Optional[str] = ...) -> None: ...

class CutWindowResponse(_message.Message):
    __slots__ = ("header", "mp4", "written")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    MP4_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    header: CutWindowHeader
    mp4: bytes
    written: CutWindowWritten
    def __init__(self, header: _Optional[_Union[CutWindowHeader, _Mapping]] = ..., mp4: _Optional[bytes] = ..., written: _Optional[_Union[CutWindowWritten, _Mapping]] = ...) -> None: ...

class CutWindowWritten(_message.Message):
    __slots__ = ("sha256", "size_bytes")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size_bytes: int
    def __init__(self, sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class CutWindowHeader(_message.Message):
    __slots__ = ("timelines", "media", "thumbnail_keyframe", "thumbnail_timeline_id")
    TIMELINES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_KEYFRAME_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_TIMELINE_ID_FIELD_NUMBER: _ClassVar[int]
    timelines: _containers.RepeatedCompositeFieldContainer[TimelineIndex]
    media: CutMedia
    thumbnail_keyframe: Packet
    thumbnail_timeline_id: int
    def __init__(self, timelines: _Optional[_Iterable[_Union[TimelineIndex, _Mapping]]] = ..., media: _Optional[_Union[CutMedia, _Mapping]] = ..., thumbnail_keyframe: _Optional[_Union[Packet, _Mapping]] = ..., thumbnail_timeline_id: _Optional[int] = ...) -> None: ...

class TimelineIndex(_message.Message):
    __slots__ = ("codec", "packets")
    CODEC_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    codec: CodecParameters
    packets: _containers.RepeatedCompositeFieldContainer[Packet]
    def __init__(self, codec: _Optional[_Union[CodecParameters, _Mapping]] = ..., packets: _Optional[_Iterable[_Union[Packet, _Mapping]]] = ...) -> None: ...

class CutMedia(_message.Message):
    __slots__ = ("media_start_time", "media_end_time", "duration_seconds", "frame_count", "size_bytes", "first_is_keyframe", "codec_name", "width", "height", "timelines_used", "note")
    MEDIA_START_TIME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FIRST_IS_KEYFRAME_FIELD_NUMBER: _ClassVar[int]
    CODEC_NAME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TIMELINES_USED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    media_start_time: _timestamp_pb2.Timestamp
    media_end_time: _timestamp_pb2.Timestamp
    duration_seconds: float
    frame_count: int
    size_bytes: int
    first_is_keyframe: bool
    codec_name: str
    width: int
    height: int
    timelines_used: int
    note: str
    def __init__(self, media_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., media_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_seconds: _Optional[float] = ..., frame_count: _Optional[int] = ..., size_bytes: _Optional[int] = ..., first_is_keyframe: _Optional[bool] = ..., codec_name: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., timelines_used: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("camera_id", "max_width")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    max_width: int
    def __init__(self, camera_id: _Optional[str] = ..., max_width: _Optional[int] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("camera_id", "jpeg", "width", "height", "frame_time", "source_width", "source_height")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FRAME_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    jpeg: bytes
    width: int
    height: int
    frame_time: _timestamp_pb2.Timestamp
    source_width: int
    source_height: int
    def __init__(self, camera_id: _Optional[str] = ..., jpeg: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., frame_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source_width: _Optional[int] = ..., source_height: _Optional[int] = ...) -> None: ...

class SampleFramesRequest(_message.Message):
    __slots__ = ("camera_id", "fps", "max_width")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    fps: float
    max_width: int
    def __init__(self, camera_id: _Optional[str] = ..., fps: _Optional[float] = ..., max_width: _Optional[int] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("camera_id", "frame_time", "width", "height", "rgb", "source_width", "source_height", "keyframe")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_TIME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RGB_FIELD_NUMBER: _ClassVar[int]
    SOURCE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    frame_time: _timestamp_pb2.Timestamp
    width: int
    height: int
    rgb: bytes
    source_width: int
    source_height: int
    keyframe: bool
    def __init__(self, camera_id: _Optional[str] = ..., frame_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., rgb: _Optional[bytes] = ..., source_width: _Optional[int] = ..., source_height: _Optional[int] = ..., keyframe: _Optional[bool] = ...) -> None: ...
