import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import interval_pb2 as _interval_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Trim(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIM_UNSPECIFIED: _ClassVar[Trim]
    KEYFRAME: _ClassVar[Trim]
    EXACT: _ClassVar[Trim]
TRIM_UNSPECIFIED: Trim
KEYFRAME: Trim
EXACT: Trim

class Clip(_message.Message):
    __slots__ = ("id", "camera_id", "event_id", "alert_id", "state", "failure_reason", "start_time", "end_time", "event_time", "media_start_time", "media_end_time", "duration", "size_bytes", "sha256", "thumbnail_size_bytes", "thumbnail_sha256", "codec_name", "width", "height", "attempts", "create_time", "update_time", "complete", "gaps", "trim", "legal_hold", "expire_time", "delete_time", "metadata_size_bytes", "metadata_sha256")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Clip.State]
        PENDING: _ClassVar[Clip.State]
        RECORDING: _ClassVar[Clip.State]
        READY: _ClassVar[Clip.State]
        FAILED: _ClassVar[Clip.State]
        CANCELLED: _ClassVar[Clip.State]
        DELETED: _ClassVar[Clip.State]
    STATE_UNSPECIFIED: Clip.State
    PENDING: Clip.State
    RECORDING: Clip.State
    READY: Clip.State
    FAILED: Clip.State
    CANCELLED: Clip.State
    DELETED: Clip.State
    ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_START_TIME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_SHA256_FIELD_NUMBER: _ClassVar[int]
    CODEC_NAME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    TRIM_FIELD_NUMBER: _ClassVar[int]
    LEGAL_HOLD_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    METADATA_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    METADATA_SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    camera_id: str
    event_id: str
    alert_id: str
    state: Clip.State
    failure_reason: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    event_time: _timestamp_pb2.Timestamp
    media_start_time: _timestamp_pb2.Timestamp
    media_end_time: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    size_bytes: int
    sha256: str
    thumbnail_size_bytes: int
    thumbnail_sha256: str
    codec_name: str
    width: int
    height: int
    attempts: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    complete: bool
    gaps: _containers.RepeatedCompositeFieldContainer[_interval_pb2.Interval]
    trim: Trim
    legal_hold: bool
    expire_time: _timestamp_pb2.Timestamp
    delete_time: _timestamp_pb2.Timestamp
    metadata_size_bytes: int
    metadata_sha256: str
    def __init__(self, id: _Optional[str] = ..., camera_id: _Optional[str] = ..., event_id: _Optional[str] = ..., alert_id: _Optional[str] = ..., state: _Optional[_Union[Clip.State, str]] = ..., failure_reason: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., media_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., media_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., thumbnail_size_bytes: _Optional[int] = ..., thumbnail_sha256: _Optional[str] = ..., codec_name: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., attempts: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete: _Optional[bool] = ..., gaps: _Optional[_Iterable[_Union[_interval_pb2.Interval, _Mapping]]] = ..., trim: _Optional[_Union[Trim, str]] = ..., legal_hold: _Optional[bool] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata_size_bytes: _Optional[int] = ..., metadata_sha256: _Optional[str] = ...) -> None: ...

class CreateClipRequest(_message.Message):
    __slots__ = ("camera_id", "event_time", "pre_roll", "post_roll", "event_id", "alert_id", "request_id", "trim")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    PRE_ROLL_FIELD_NUMBER: _ClassVar[int]
    POST_ROLL_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRIM_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    event_time: _timestamp_pb2.Timestamp
    pre_roll: _duration_pb2.Duration
    post_roll: _duration_pb2.Duration
    event_id: str
    alert_id: str
    request_id: str
    trim: Trim
    def __init__(self, camera_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pre_roll: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., post_roll: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., event_id: _Optional[str] = ..., alert_id: _Optional[str] = ..., request_id: _Optional[str] = ..., trim: _Optional[_Union[Trim, str]] = ...) -> None: ...

class GetClipRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListClipsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "camera_id", "event_id", "alert_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    camera_id: str
    event_id: str
    alert_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., camera_id: _Optional[str] = ..., event_id: _Optional[str] = ..., alert_id: _Optional[str] = ...) -> None: ...

class ListClipsResponse(_message.Message):
    __slots__ = ("clips", "next_page_token")
    CLIPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    clips: _containers.RepeatedCompositeFieldContainer[Clip]
    next_page_token: str
    def __init__(self, clips: _Optional[_Iterable[_Union[Clip, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReadClipMediaRequest(_message.Message):
    __slots__ = ("clip_id", "kind", "offset", "length", "download")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ReadClipMediaRequest.Kind]
        VIDEO: _ClassVar[ReadClipMediaRequest.Kind]
        THUMBNAIL: _ClassVar[ReadClipMediaRequest.Kind]
        METADATA: _ClassVar[ReadClipMediaRequest.Kind]
    KIND_UNSPECIFIED: ReadClipMediaRequest.Kind
    VIDEO: ReadClipMediaRequest.Kind
    THUMBNAIL: ReadClipMediaRequest.Kind
    METADATA: ReadClipMediaRequest.Kind
    CLIP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_FIELD_NUMBER: _ClassVar[int]
    clip_id: str
    kind: ReadClipMediaRequest.Kind
    offset: int
    length: int
    download: bool
    def __init__(self, clip_id: _Optional[str] = ..., kind: _Optional[_Union[ReadClipMediaRequest.Kind, str]] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., download: _Optional[bool] = ...) -> None: ...

class ReadClipMediaResponse(_message.Message):
    __slots__ = ("total_size", "content_type", "data")
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    total_size: int
    content_type: str
    data: bytes
    def __init__(self, total_size: _Optional[int] = ..., content_type: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class CancelClipRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class HoldClipRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseClipRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("clip_id", "sequence", "time", "action", "actor", "detail", "previous_sha256", "sha256")
    CLIP_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SHA256_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    clip_id: str
    sequence: int
    time: _timestamp_pb2.Timestamp
    action: str
    actor: str
    detail: str
    previous_sha256: str
    sha256: str
    def __init__(self, clip_id: _Optional[str] = ..., sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., action: _Optional[str] = ..., actor: _Optional[str] = ..., detail: _Optional[str] = ..., previous_sha256: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class ListAuditEntriesRequest(_message.Message):
    __slots__ = ("clip_id", "page_size", "page_token")
    CLIP_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    clip_id: str
    page_size: int
    page_token: str
    def __init__(self, clip_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "chain_intact", "chain_error")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CHAIN_INTACT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ERROR_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_page_token: str
    chain_intact: bool
    chain_error: str
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., chain_intact: _Optional[bool] = ..., chain_error: _Optional[str] = ...) -> None: ...

class ExportEvidenceRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class ExportEvidenceResponse(_message.Message):
    __slots__ = ("file_name", "content_type", "data")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    content_type: str
    data: bytes
    def __init__(self, file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetEvidencePublicKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EvidencePublicKey(_message.Message):
    __slots__ = ("algorithm", "pem", "fingerprint_sha256")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PEM_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_SHA256_FIELD_NUMBER: _ClassVar[int]
    algorithm: str
    pem: str
    fingerprint_sha256: str
    def __init__(self, algorithm: _Optional[str] = ..., pem: _Optional[str] = ..., fingerprint_sha256: _Optional[str] = ...) -> None: ...
