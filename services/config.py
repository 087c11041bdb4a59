"""Configuration: one YAML file, overridden by ``EVENTCLIP_*`` environment variables.

Precedence (highest first): environment, the YAML file, built-in defaults. Nested
keys use ``__`` in variable names, e.g. ``EVENTCLIP_SERVICES__BUFFER__PORT=6051`` or
``EVENTCLIP_RISK_THRESHOLD=0.6``; lists and maps take JSON
(``EVENTCLIP_CAMERAS='[{"id": "c1", "source": "rtsp://..."}]'``).

With no file and no variables: one ``synthetic://`` camera ``demo`` watched by one
register ``demo``, SQLite and clips under ``./eventclip-data``.
"""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

SOURCE_SCHEMES = ("rtsp://", "rtsps://", "file://", "synthetic://", "http://", "https://")


class ConfigError(Exception):
    """The configuration is invalid; the message names the file and the bad keys."""


class ListenError(ConfigError, RuntimeError):
    """A service cannot listen on its configured address (in use, not ours);
    the message names the address. The CLI prints it without a traceback."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameraConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    #: rtsp://, file:///path.mp4 (replayed live, looping), synthetic://[WxH@FPS],
    #: http(s)://...m3u8 (HLS).
    source: str
    #: Ring bound in seconds of video (whole GOPs are dropped from the old end).
    buffer_seconds: float = Field(120.0, gt=0, le=3600)
    #: Ring bound in bytes of encoded video.
    buffer_bytes: int = Field(512 * 1024 * 1024, gt=0)
    #: Most bytes one GOP may hold (default: half of buffer_bytes). A camera that
    #: stops sending keyframes has the rest of its GOP dropped past this bound,
    #: up to the next keyframe, instead of growing the ring without end.
    max_gop_bytes: int | None = Field(None, gt=0)
    #: Longest wait between reconnects, seconds: waits start at 0.5 s and
    #: double up to this, and start over once a connection delivers a keyframe.
    reconnect_max_seconds: float = Field(5.0, ge=0.5, le=300)
    #: Detector plugins looking at this camera, by plugin name, each with its
    #: options (validated by the plugin's ``detector_options`` model).
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Frames a second the detectors get (SampleFrames' rate).
    detect_fps: float = Field(1.0, gt=0, le=15)
    #: Widest frame the detectors get, pixels (0: the camera's own size).
    detect_max_width: int = Field(640, ge=0, le=7680)

    @model_validator(mode="after")
    def _known_scheme(self) -> CameraConfig:
        if not self.source.startswith(SOURCE_SCHEMES):
            raise ValueError(
                f"source {self.source!r} must start with one of {', '.join(SOURCE_SCHEMES)}"
            )
        if self.max_gop_bytes is not None and self.max_gop_bytes > self.buffer_bytes:
            raise ValueError(
                f"max_gop_bytes ({self.max_gop_bytes}) must not exceed buffer_bytes "
                f"({self.buffer_bytes})"
            )
        return self

    @property
    def gop_bytes_bound(self) -> int:
        """max_gop_bytes, or half of buffer_bytes when not set: a GOP that runs
        away then leaves the other half of the ring to the video before it."""
        return self.max_gop_bytes or max(self.buffer_bytes // 2, 1)


class RegisterConfig(_Strict):
    id: str = Field(min_length=1)
    #: Ids of the cameras that watch this register.
    cameras: list[str] = Field(default_factory=list)
    #: How far the register's clock runs ahead of the cameras' (seconds;
    #: negative: behind). Its events are on video at occurred_at minus this.
    clock_offset_seconds: float = Field(0.0, ge=-86_400, le=86_400)


class ClipsConfig(_Strict):
    pre_roll_seconds: float = Field(30.0, ge=0, le=3600)
    post_roll_seconds: float = Field(30.0, ge=0, le=3600)
    #: Longest window a clip (or ReadWindow) may span, seconds.
    max_seconds: float = Field(600.0, gt=0)
    #: Attempts per clip job before it is FAILED (backoff doubles from 1 s).
    max_attempts: int = Field(3, ge=1, le=20)
    #: How a clip's first frame is chosen: ``keyframe`` (snap back to the keyframe
    #: at or before the start) or ``exact`` (keep that GOP but hide its lead-in
    #: with an MP4 edit list, so players start at the requested instant).
    trim: Literal["keyframe", "exact"] = "keyframe"
    #: How far ahead of this host's clock an event may be dated and still get
    #: clips, seconds (POS clocks drift); a later one is stored without clips.
    max_future_seconds: float = Field(300.0, ge=0, le=7 * 24 * 3600)


class RetentionConfig(_Strict):
    """How long clip media is kept. Expired clips lose their media and become
    DELETED (the row and its audit trail stay); a clip under legal hold is never
    deleted."""

    #: Age (seconds since the clip finished) after which its media is deleted; 30 days.
    clip_max_age_seconds: float = Field(30 * 24 * 3600.0, gt=0)
    #: How often the clipper looks for expired clips, seconds; 1 hour.
    sweep_interval_seconds: float = Field(3600.0, gt=0)


class EvidenceConfig(_Strict):
    """Signed evidence packages."""

    #: PEM (PKCS#8) Ed25519 private key that signs packages; default
    #: ``<data_dir>/evidence-signing-key.pem``, made on first start.
    signing_key_path: Path | None = None


class AuthConfig(_Strict):
    """API keys (``eventclip keys``) and the key the services use between them."""

    #: Require an API key on every call (health checks excepted).
    enabled: bool = True
    #: The key services present to each other; default: made on first start in
    #: ``<data_dir>/service-key`` (enough when they share a data_dir; set it,
    #: e.g. EVENTCLIP_AUTH__SERVICE_KEY, when they run on separate hosts).
    service_key: SecretStr | None = None
    #: Let anyone who reaches a gRPC port list its services (server reflection,
    #: grpcurl); off: reflection needs a key of any role. Health is always open.
    open_reflection: bool = False
    #: Seconds a signed media link (a clip's video, thumbnail, sidecar) works.
    media_url_ttl_seconds: int = Field(3600, ge=1, le=7 * 24 * 3600)


class TlsConfig(_Strict):
    """TLS for every listener (the gRPC services and the gateway's HTTP) and for
    the calls between services. Off (plaintext, for loopback or a network you
    trust) unless ``cert_file`` is set. See ``eventclip.tls``."""

    #: PEM certificate chain this host presents; it must name the host or IP
    #: the others dial (``services.*.address`` or ``host``).
    cert_file: Path | None = None
    #: PEM private key of ``cert_file``.
    key_file: Path | None = None
    #: PEM CA certificate(s) clients trust for the services; default
    #: ``cert_file`` itself (a self-signed certificate shared by the services).
    ca_file: Path | None = None
    #: Name to check in the services' certificate instead of the host dialled
    #: (gRPC's ``ssl_target_name_override``), e.g. when dialling by IP.
    server_name: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        if self.cert_file is None and (self.ca_file or self.server_name):
            raise ValueError("ca_file and server_name need cert_file and key_file")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class DetectionsConfig(_Strict):
    """How detections become alerts (eventclip.events.incidents)."""

    #: A detection of the same camera, label and place within this many
    #: seconds of the incident's last one repeats its alert; seconds.
    cooldown_seconds: float = Field(300.0, ge=0, le=7 * 24 * 3600)
    #: Boxes overlapping at least this much (intersection over union) are one place.
    same_place_iou: float = Field(0.3, ge=0, le=1)


class FrigateCamera(_Strict):
    """A Frigate camera: the eventclip camera it is, and Frigate's detect
    resolution, which its boxes are in pixels of."""

    camera: str
    width: int = Field(1280, gt=0)
    height: int = Field(720, gt=0)


class FrigateConfig(_Strict):
    """Detections from a Frigate install over MQTT (eventclip.events.frigate)."""

    #: The broker Frigate publishes to: mqtt://host[:port] (default port 1883).
    mqtt_url: str = Field("mqtt://127.0.0.1:1883", pattern=r"^mqtt://[^/:]+(:\d+)?/?$")
    #: Frigate's mqtt.topic_prefix; events arrive on <prefix>/events.
    topic_prefix: str = Field("frigate", min_length=1)
    #: Frigate camera name -> eventclip camera id (or {camera, width, height}
    #: when Frigate's detect resolution is not 1280x720).
    cameras: dict[str, str | FrigateCamera] = Field(default_factory=dict)
    #: Tracked objects whose top score is below this are ignored.
    min_score: float = Field(0.0, ge=0, le=1)

    def camera(self, frigate_name: str) -> FrigateCamera | None:
        found = self.cameras.get(frigate_name)
        return FrigateCamera(camera=found) if isinstance(found, str) else found


class MqttConfig(_Strict):
    """The site's MQTT broker: POS events come in on it
    (``{topic_prefix}/pos/{store}/{register}``, eventclip.events.pos_mqtt)."""

    #: mqtt://host[:port] (default port 1883).
    url: str = Field("mqtt://127.0.0.1:1883", pattern=r"^mqtt://[^/:]+(:\d+)?/?$")
    topic_prefix: str = Field("eventclip", min_length=1, pattern=r"^[^#+]+$")


class WebhookConfig(_Strict):
    """One webhook receiver (eventclip.notifications)."""

    #: http(s)://... that accepts a POST of the JSON.
    url: str = Field(pattern=r"^https?://[^\s/]+")
    #: HMAC-SHA256 key of X-Eventclip-Signature; shared with the receiver only.
    secret: SecretStr = Field(min_length=16)
    #: What it is told of: "alert" (raised) and/or "clip" (READY or FAILED).
    events: list[Literal["alert", "clip"]] = Field(default_factory=lambda: ["alert", "clip"])


class NotificationsConfig(_Strict):
    """Who is told of alerts and clips (eventclip.notifications)."""

    #: Publish on the ``mqtt:`` broker (when one is configured).
    mqtt: bool = True
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    #: Per webhook POST, seconds.
    timeout_seconds: float = Field(5.0, gt=0)
    #: POSTs of one notification before it is given up.
    max_attempts: int = Field(5, ge=1, le=20)
    #: Notifications waiting per receiver before the oldest is dropped.
    queue_size: int = Field(1000, ge=2)


class GatewayConfig(_Strict):
    """What the REST gateway accepts from browsers and clients."""

    #: Origins (``https://ops.example.com``) whose pages may call the API from
    #: a browser (CORS). Empty: none, the operator page is served same-origin.
    cors_origins: list[str] = Field(default_factory=list)
    #: Largest JSON request body, bytes; larger ones are answered 413 unread.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)


class ServiceAddress(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    #: Where other services reach this one; defaults to host:port.
    address: str | None = None

    @property
    def target(self) -> str:
        return self.address or f"{self.host}:{self.port}"

    @property
    def bind(self) -> str:
        return f"{self.host}:{self.port}"


# One class per service so each keeps its default port when the environment
# overrides only another key (EVENTCLIP_SERVICES__BUFFER__HOST=0.0.0.0).
class BufferAddress(ServiceAddress):
    port: int = Field(50051, ge=0, le=65535)


class EventsAddress(ServiceAddress):
    port: int = Field(50052, ge=0, le=65535)


class ClipperAddress(ServiceAddress):
    port: int = Field(50053, ge=0, le=65535)


class GatewayAddress(ServiceAddress):
    port: int = Field(8080, ge=0, le=65535)


class ServicesConfig(_Strict):
    buffer: BufferAddress = BufferAddress()
    events: EventsAddress = EventsAddress()
    clipper: ClipperAddress = ClipperAddress()
    gateway: GatewayAddress = GatewayAddress()


def _default_cameras() -> list[CameraConfig]:
    return [CameraConfig(id="demo", source="synthetic://", buffer_seconds=120)]


def _default_registers() -> list[RegisterConfig]:
    return [RegisterConfig(id="demo", cameras=["demo"])]


_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "eventclip_config_file", default=None
)


#: The directory under ``clips_dir`` where clip files are staged.
CLIPS_STAGING_DIRNAME = ".staging"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EVENTCLIP_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("eventclip-data")
    #: SQLAlchemy URL; default ``sqlite:///<data_dir>/eventclip.db``. PostgreSQL:
    #: ``postgresql+psycopg://user@host/db``.
    database_url: str | None = None
    #: Clip job queue: ``memory://`` (in-process) or ``redis://host:port/db``.
    queue_url: str = "memory://"
    risk_threshold: float = Field(0.4, ge=0, le=1)
    cameras: list[CameraConfig] = Field(default_factory=_default_cameras)
    registers: list[RegisterConfig] = Field(default_factory=_default_registers)
    clips: ClipsConfig = ClipsConfig()
    retention: RetentionConfig = RetentionConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    gateway: GatewayConfig = GatewayConfig()
    auth: AuthConfig = AuthConfig()
    tls: TlsConfig = TlsConfig()
    #: Options per rule plugin (``rules: {refund_frequency: {max_count: 3}}``),
    #: checked at start-up by each plugin's rule_options model.
    rules: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    detections: DetectionsConfig = DetectionsConfig()
    #: Detections from Frigate over MQTT; off when unset.
    frigate: FrigateConfig | None = None
    #: POS events over MQTT (and notifications there); off when unset.
    mqtt: MqttConfig | None = None
    notifications: NotificationsConfig = NotificationsConfig()
    #: Allowlist of plugin names to load; None loads every installed plugin.
    plugins: list[str] | None = None
    #: Seconds a plugin hook may run before it is abandoned.
    plugin_timeout_seconds: float = Field(2.0, gt=0)
    services: ServicesConfig = ServicesConfig()
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"cameras: duplicate id(s) {', '.join(dupes)}")
        known = set(ids)
        if self.frigate is not None:
            for name in self.frigate.cameras:
                mapped = self.frigate.camera(name)
                if mapped is not None and mapped.camera not in known:
                    raise ValueError(f"frigate.cameras.{name}: unknown camera id {mapped.camera!r}")
        for n, register in enumerate(self.registers):
            unknown = [c for c in register.cameras if c not in known]
            if unknown:
                raise ValueError(
                    f"registers.{n}.cameras: unknown camera id(s) {', '.join(unknown)}"
                )
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'eventclip.db'}"

    @property
    def clips_dir(self) -> Path:
        return self.data_dir / "clips"

    @property
    def clips_staging_dir(self) -> Path:
        """Where clip files are written before their commit (the clipper's
        LocalStorage); the buffer writes cut windows there when it sees it too."""
        return self.clips_dir / CLIPS_STAGING_DIRNAME

    @property
    def staged_windows_dir(self) -> Path:
        """Where clip jobs keep what they received while recording (see
        eventclip.clipper.staging)."""
        return self.data_dir / "staged-windows"

    @property
    def signing_key_path(self) -> Path:
        """Where the evidence signing key lives (made on first start)."""
        return self.evidence.signing_key_path or self.data_dir / "evidence-signing-key.pem"

    def camera(self, camera_id: str) -> CameraConfig | None:
        return next((c for c in self.cameras if c.id == camera_id), None)

    def register(self, register_id: str) -> RegisterConfig | None:
        return next((r for r in self.registers if r.id == register_id), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate the configuration.

    ``path``: YAML file (a mapping at the top level) or None for defaults plus
    environment. ``overrides`` win over everything (used by tests).
    Raises ConfigError naming the file, the bad key and what is wrong.
    """
    origin = str(path) if path else "defaults and EVENTCLIP_* environment"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"config file {path}: top level must be a mapping of keys")
    token = _config_file.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, origin)) from err
    finally:
        _config_file.reset(token)
