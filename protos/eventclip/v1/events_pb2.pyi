import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PosEvent(_message.Message):
    __slots__ = ("event_id", "type", "store_id", "register_id", "operator_id", "approver_id", "amount", "transaction_id", "occurred_at", "attributes", "detection", "lines", "tender", "customer_id", "original_transaction_id", "sent_at")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[PosEvent.Type]
        SALE: _ClassVar[PosEvent.Type]
        REFUND: _ClassVar[PosEvent.Type]
        VOID: _ClassVar[PosEvent.Type]
        NO_SALE: _ClassVar[PosEvent.Type]
        PRICE_OVERRIDE: _ClassVar[PosEvent.Type]
        DISCOUNT: _ClassVar[PosEvent.Type]
        DETECTION: _ClassVar[PosEvent.Type]
    TYPE_UNSPECIFIED: PosEvent.Type
    SALE: PosEvent.Type
    REFUND: PosEvent.Type
    VOID: PosEvent.Type
    NO_SALE: PosEvent.Type
    PRICE_OVERRIDE: PosEvent.Type
    DISCOUNT: PosEvent.Type
    DETECTION: PosEvent.Type
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: PosEvent.Type
    store_id: str
    register_id: str
    operator_id: str
    approver_id: str
    amount: _money_pb2.Money
    transaction_id: str
    occurred_at: _timestamp_pb2.Timestamp
    attributes: _containers.ScalarMap[str, str]
    detection: Detection
    lines: _containers.RepeatedCompositeFieldContainer[PosLine]
    tender: Tender
    customer_id: str
    original_transaction_id: str
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[_Union[PosEvent.Type, str]] = ..., store_id: _Optional[str] = ..., register_id: _Optional[str] = ..., operator_id: _Optional[str] = ..., approver_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., transaction_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., detection: _Optional[_Union[Detection, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[PosLine, _Mapping]]] = ..., tender: _Optional[_Union[Tender, _Mapping]] = ..., customer_id: _Optional[str] = ..., original_transaction_id: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PosLine(_message.Message):
    __slots__ = ("sku", "description", "quantity", "amount", "voided", "scanned_at", "list_amount")
    SKU_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    VOIDED_FIELD_NUMBER: _ClassVar[int]
    SCANNED_AT_FIELD_NUMBER: _ClassVar[int]
    LIST_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    sku: str
    description: str
    quantity: float
    amount: _money_pb2.Money
    voided: bool
    scanned_at: _timestamp_pb2.Timestamp
    list_amount: _money_pb2.Money
    def __init__(self, sku: _Optional[str] = ..., description: _Optional[str] = ..., quantity: _Optional[float] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., voided: _Optional[bool] = ..., scanned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., list_amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class Tender(_message.Message):
    __slots__ = ("kind", "amount", "card_last4")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Tender.Kind]
        CASH: _ClassVar[Tender.Kind]
        CARD: _ClassVar[Tender.Kind]
        GIFT_CARD: _ClassVar[Tender.Kind]
        MOBILE: _ClassVar[Tender.Kind]
        CHECK: _ClassVar[Tender.Kind]
        STORE_CREDIT: _ClassVar[Tender.Kind]
        OTHER: _ClassVar[Tender.Kind]
    KIND_UNSPECIFIED: Tender.Kind
    CASH: Tender.Kind
    CARD: Tender.Kind
    GIFT_CARD: Tender.Kind
    MOBILE: Tender.Kind
    CHECK: Tender.Kind
    STORE_CREDIT: Tender.Kind
    OTHER: Tender.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CARD_LAST4_FIELD_NUMBER: _ClassVar[int]
    kind: Tender.Kind
    amount: _money_pb2.Money
    card_last4: str
    def __init__(self, kind: _Optional[_Union[Tender.Kind, str]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., card_last4: _Optional[str] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x_min", "y_min", "x_max", "y_max")
    X_MIN_FIELD_NUMBER: _ClassVar[int]
    Y_MIN_FIELD_NUMBER: _ClassVar[int]
    X_MAX_FIELD_NUMBER: _ClassVar[int]
    Y_MAX_FIELD_NUMBER: _ClassVar[int]
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    def __init__(self, x_min: _Optional[float] = ..., y_min: _Optional[float] = ..., x_max: _Optional[float] = ..., y_max: _Optional[float] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("camera_id", "label", "confidence", "box", "detector")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    label: str
    confidence: float
    box: BoundingBox
    detector: str
    def __init__(self, camera_id: _Optional[str] = ..., label: _Optional[str] = ..., confidence: _Optional[float] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., detector: _Optional[str] = ...) -> None: ...

class SubmitDetectionRequest(_message.Message):
    __slots__ = ("event_id", "store_id", "detection", "onset_time", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    ONSET_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    store_id: str
    detection: Detection
    onset_time: _timestamp_pb2.Timestamp
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, event_id: _Optional[str] = ..., store_id: _Optional[str] = ..., detection: _Optional[_Union[Detection, _Mapping]] = ..., onset_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RuleResult(_message.Message):
    __slots__ = ("rule", "score", "reason", "related_event_ids")
    RULE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RELATED_EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    rule: str
    score: float
    reason: str
    related_event_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rule: _Optional[str] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., related_event_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Assessment(_message.Message):
    __slots__ = ("risk_score", "threshold", "results", "failed_rules")
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    FAILED_RULES_FIELD_NUMBER: _ClassVar[int]
    risk_score: float
    threshold: float
    results: _containers.RepeatedCompositeFieldContainer[RuleResult]
    failed_rules: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, risk_score: _Optional[float] = ..., threshold: _Optional[float] = ..., results: _Optional[_Iterable[_Union[RuleResult, _Mapping]]] = ..., failed_rules: _Optional[_Iterable[str]] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("id", "event_id", "store_id", "register_id", "risk_score", "reasons", "clip_ids", "occurred_at", "create_time", "event", "no_clip_reason", "pre_roll")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CLIP_IDS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    NO_CLIP_REASON_FIELD_NUMBER: _ClassVar[int]
    PRE_ROLL_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_id: str
    store_id: str
    register_id: str
    risk_score: float
    reasons: _containers.RepeatedCompositeFieldContainer[RuleResult]
    clip_ids: _containers.RepeatedScalarFieldContainer[str]
    occurred_at: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    event: PosEvent
    no_clip_reason: str
    pre_roll: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., event_id: _Optional[str] = ..., store_id: _Optional[str] = ..., register_id: _Optional[str] = ..., risk_score: _Optional[float] = ..., reasons: _Optional[_Iterable[_Union[RuleResult, _Mapping]]] = ..., clip_ids: _Optional[_Iterable[str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event: _Optional[_Union[PosEvent, _Mapping]] = ..., no_clip_reason: _Optional[str] = ..., pre_roll: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SubmitEventRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: PosEvent
    def __init__(self, event: _Optional[_Union[PosEvent, _Mapping]] = ...) -> None: ...

class SubmitEventResponse(_message.Message):
    __slots__ = ("event", "assessment", "alert", "clip_ids", "replayed", "duplicate_of")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    CLIP_IDS_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_FIELD_NUMBER: _ClassVar[int]
    event: PosEvent
    assessment: Assessment
    alert: Alert
    clip_ids: _containers.RepeatedScalarFieldContainer[str]
    replayed: bool
    duplicate_of: str
    def __init__(self, event: _Optional[_Union[PosEvent, _Mapping]] = ..., assessment: _Optional[_Union[Assessment, _Mapping]] = ..., alert: _Optional[_Union[Alert, _Mapping]] = ..., clip_ids: _Optional[_Iterable[str]] = ..., replayed: _Optional[bool] = ..., duplicate_of: _Optional[str] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: PosEvent
    def __init__(self, event: _Optional[_Union[PosEvent, _Mapping]] = ...) -> None: ...

class StreamEventsResponse(_message.Message):
    __slots__ = ("event_id", "response", "error")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    response: SubmitEventResponse
    error: _status_pb2.Status
    def __init__(self, event_id: _Optional[str] = ..., response: _Optional[_Union[SubmitEventResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class GetAlertRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "store_id", "register_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    store_id: str
    register_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., store_id: _Optional[str] = ..., register_id: _Optional[str] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
