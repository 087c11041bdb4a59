"""The ``eventclip`` command.

    eventclip run [--config FILE]                 all four services in one process
    eventclip serve NAME [--config FILE]          one service (buffer|events|clipper|gateway)
    eventclip event submit --type refund --register demo --amount 500.00 ...
    eventclip clips list [--camera ID] [--event ID] [--alert ID] [--json]
    eventclip clips get ID
    eventclip clips download ID [-o FILE] [--thumbnail | --metadata]
    eventclip clips cancel|hold|release ID [--reason TEXT]
    eventclip clips audit ID [--json]
    eventclip evidence export ALERT_ID [-o FILE]
    eventclip evidence verify FILE.zip [--public-key PEM]
    eventclip evidence public-key

Client commands talk gRPC to the addresses in the config (defaults: events
127.0.0.1:50052, clipper 127.0.0.1:50053) and print proto3 JSON or tables.
Exit status: 0 done, 1 refused or failed (the message says why), 2 bad usage
or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

import eventclip
from eventclip.app import SERVICE_NAMES, describe, serve_until_signalled
from eventclip.config import ConfigError, Settings, load_settings
from eventclip.timeutil import to_timestamp, utcnow
from eventclip.tls import http_scheme

EXIT_FAILED = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix (missing file, bad key); printed without a traceback."""


def _print_json(message: Message) -> None:
    print(json.dumps(json_format.MessageToDict(message), indent=2, ensure_ascii=False))


def _run_services(args: argparse.Namespace, names: tuple[str, ...]) -> int:
    from eventclip.logs import setup_logging
    from eventclip.telemetry import setup_tracing, shutdown_tracing

    settings = _settings(args)
    setup_logging(settings.log_level)
    setup_tracing("eventclip" if len(names) > 1 else f"eventclip-{names[0]}")

    first_key = _first_admin_key(settings) if len(names) > 1 else None

    def announce(services: list) -> None:
        print("eventclip is running:", flush=True)
        for line in describe(settings, services):
            print(f"  {line}", flush=True)
        if "gateway" in names:
            gw = next(s for s in services if s.name == "gateway")
            print(
                f"  web page and API docs: {http_scheme(settings.tls)}://{settings.services.gateway.host}:{gw.port}/ "
                f"and /docs",
                flush=True,
            )
        if first_key:
            print(
                "  API keys are required and none existed: made the admin key 'admin'.\n"
                "  It is shown this once; keep it (more: eventclip keys create --role ...):\n"
                f"    {first_key}\n"
                "  REST: 'Authorization: Bearer <key>'; the web page asks for it.",
                flush=True,
            )
        print("Press Ctrl-C to stop.", flush=True)

    try:
        asyncio.run(serve_until_signalled(settings, names, args.grace, announce))
    finally:
        shutdown_tracing()
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    """The config, with this process's calls authenticated: ``EVENTCLIP_API_KEY``
    when set, else the service key (the CLI on a host that holds the data_dir
    acts as the services do)."""
    from eventclip.auth.interceptors import Authenticator, configure, load_service_key

    settings = load_settings(args.config)
    configured = settings.auth.service_key
    key = os.environ.get("EVENTCLIP_API_KEY") or load_service_key(
        configured.get_secret_value() if configured else None, settings.data_dir
    )
    configure(Authenticator(settings.auth.enabled, key))
    return settings


def _first_admin_key(settings: Settings) -> str | None:
    """With keys required and none issued yet, make the admin key "admin" and
    return its token (``eventclip run`` prints it once); None otherwise."""
    from eventclip.auth.keys import KeyStore

    if not settings.auth.enabled:
        return None
    store = KeyStore(settings.effective_database_url)
    try:
        if store.active_count():
            return None
        _key, token = store.create("admin", "admin" if not store.list() else None)
        return token
    finally:
        store.close()


def _keys(args: argparse.Namespace) -> int:
    from eventclip.auth.interceptors import CACHE_SECONDS
    from eventclip.auth.keys import KeyStore, KeyStoreError

    settings = load_settings(args.config)
    store = KeyStore(settings.effective_database_url)
    try:
        if args.keys_command == "create":
            key, token = store.create(args.role, args.name)
            print(f"created the {key.role} key {key.name!r}; it is shown this once:")
            print(token)
        elif args.keys_command == "list":
            rows = [("NAME", "ROLE", "CREATED", "REVOKED")]
            for key in store.list():
                revoked = f"{key.revoke_time:%Y-%m-%d %H:%M:%S}" if key.revoke_time else "-"
                rows.append((key.name, key.role, f"{key.create_time:%Y-%m-%d %H:%M:%S}", revoked))
            widths = [max(len(r[i]) for r in rows) for i in range(4)]
            for row in rows:
                print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        else:
            key = store.revoke(args.name)
            print(
                f"revoked the {key.role} key {key.name!r} "
                f"(refused within {CACHE_SECONDS:g} s everywhere)"
            )
    except KeyStoreError as err:
        raise UserError(str(err)) from err
    finally:
        store.close()
    return 0


def _amount(text: str, currency: str):  # -> money_pb2.Money
    from google.type import money_pb2

    try:
        value = Decimal(text)
    except InvalidOperation as err:
        raise SystemExit(f"--amount: {text!r} is not a decimal number") from err
    if value < 0 or value != value.quantize(Decimal("1e-9")):
        raise SystemExit("--amount must be non-negative with at most 9 decimal places")
    units = int(value)
    nanos = int((value - units) * 1_000_000_000)
    return money_pb2.Money(currency_code=currency.upper(), units=units, nanos=nanos)


async def _submit_event(args: argparse.Namespace) -> int:
    from eventclip.rpc import open_channel
    from eventclip.v1 import events_pb2, events_pb2_grpc

    settings = _settings(args)
    event = events_pb2.PosEvent(
        event_id=args.event_id or f"cli-{uuid.uuid4().hex[:12]}",
        type=events_pb2.PosEvent.Type.Value(args.type.upper()),
        store_id=args.store,
        register_id=args.register,
        operator_id=args.operator,
        approver_id=args.approver or "",
        transaction_id=args.transaction_id or "",
        occurred_at=to_timestamp(datetime.fromisoformat(args.at) if args.at else utcnow()),
        attributes=dict(a.split("=", 1) for a in args.attr),
    )
    if args.amount is not None:
        event.amount.CopyFrom(_amount(args.amount, args.currency))
    async with open_channel(settings.services.events.target, tls=settings.tls) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        response = await stub.SubmitEvent(events_pb2.SubmitEventRequest(event=event), timeout=30)
    _print_json(response)
    return 0


@contextlib.contextmanager
def _replaced_atomically(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed to it when the block succeeds
    and removed when it fails: a failed download leaves no file behind."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


async def _save_stream(replies: AsyncIterator, out: Path, expected_sha256: str = "") -> int:
    """Write the ``data`` of every reply to ``out`` (atomically); returns the size.
    Raises UserError when ``expected_sha256`` is given and the bytes differ."""
    digest, size = hashlib.sha256(), 0
    with _replaced_atomically(out) as tmp, tmp.open("wb") as f:
        async for reply in replies:
            digest.update(reply.data)
            size += f.write(reply.data)
        f.flush()
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise UserError(
                f"the received bytes hash to {digest.hexdigest()}, not the clip's recorded "
                f"{expected_sha256}: nothing was written"
            )
    return size


async def _download(stub, args: argparse.Namespace) -> int:
    from eventclip.v1 import clips_pb2

    kind = clips_pb2.ReadClipMediaRequest.Kind
    clip = await stub.GetClip(clips_pb2.GetClipRequest(id=args.id), timeout=30)
    if args.metadata:
        chosen, extension, sha256 = kind.METADATA, "json", clip.metadata_sha256
    elif args.thumbnail:
        chosen, extension, sha256 = kind.THUMBNAIL, "jpg", clip.thumbnail_sha256
    else:
        chosen, extension, sha256 = kind.VIDEO, "mp4", clip.sha256
    out = Path(args.output or f"{args.id}.{extension}")
    request = clips_pb2.ReadClipMediaRequest(clip_id=args.id, kind=chosen, download=True)
    size = await _save_stream(stub.ReadClipMedia(request, timeout=300), out, sha256)
    print(f"wrote {out} ({size} bytes, SHA-256 {sha256}, as recorded)")
    return 0


async def _all_audit_entries(stub, clip_id: str):  # -> (entries, last response)
    from eventclip.v1 import clips_pb2

    entries, token = [], ""
    while True:
        reply = await stub.ListAuditEntries(
            clips_pb2.ListAuditEntriesRequest(clip_id=clip_id, page_size=1000, page_token=token),
            timeout=30,
        )
        entries += reply.entries
        token = reply.next_page_token
        if not token:
            return entries, reply


async def _clips(args: argparse.Namespace) -> int:
    from eventclip.cli_format import audit_table, clip_table
    from eventclip.rpc import open_channel
    from eventclip.v1 import clips_pb2, clips_pb2_grpc

    settings = _settings(args)
    async with open_channel(settings.services.clipper.target, tls=settings.tls) as channel:
        stub = clips_pb2_grpc.ClipServiceStub(channel)
        command = args.clips_command
        if command == "list":
            response = await stub.ListClips(
                clips_pb2.ListClipsRequest(
                    page_size=args.page_size,
                    page_token=args.page_token or "",
                    camera_id=args.camera or "",
                    event_id=args.event or "",
                    alert_id=args.alert or "",
                ),
                timeout=30,
            )
            if args.json:
                _print_json(response)
            else:
                print("\n".join(clip_table(response.clips)))
                if response.next_page_token:
                    print(f"more: --page-token {response.next_page_token}")
        elif command == "get":
            _print_json(await stub.GetClip(clips_pb2.GetClipRequest(id=args.id), timeout=30))
        elif command == "download":
            return await _download(stub, args)
        elif command == "cancel":
            _print_json(await stub.CancelClip(clips_pb2.CancelClipRequest(id=args.id), timeout=30))
        elif command == "hold":
            request = clips_pb2.HoldClipRequest(id=args.id, reason=args.reason)
            _print_json(await stub.HoldClip(request, timeout=30))
        elif command == "release":
            request = clips_pb2.ReleaseClipRequest(id=args.id, reason=args.reason)
            _print_json(await stub.ReleaseClip(request, timeout=30))
        else:  # audit
            entries, last = await _all_audit_entries(stub, args.id)
            if args.json:
                last.ClearField("entries")
                last.entries.extend(entries)
                _print_json(last)
            else:
                print("\n".join(audit_table(entries)))
                if last.chain_intact:
                    print(f"chain: intact ({len(entries)} entries)")
                else:
                    print(f"chain: BROKEN: {last.chain_error}")
            return 0 if last.chain_intact else EXIT_FAILED
    return 0


async def _clipper_public_key(settings: Settings) -> str:
    from eventclip.rpc import open_channel
    from eventclip.v1 import clips_pb2, clips_pb2_grpc

    async with open_channel(settings.services.clipper.target, tls=settings.tls) as channel:
        stub = clips_pb2_grpc.ClipServiceStub(channel)
        key = await stub.GetEvidencePublicKey(clips_pb2.GetEvidencePublicKeyRequest(), timeout=10)
    return key.pem


def _verify(args: argparse.Namespace) -> int:
    from eventclip.clipper.package import verify_package
    from eventclip.clipper.signing import fingerprint, load_public_key

    path = Path(args.file)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if args.public_key:
        try:
            pem = Path(args.public_key).read_bytes()
        except OSError as err:
            raise UserError(f"--public-key {args.public_key}: {err.strerror}") from err
        origin = f"from {args.public_key}"
    else:
        settings = _settings(args)
        target = settings.services.clipper.target
        try:
            pem = asyncio.run(_clipper_public_key(settings)).encode()
        except grpc.aio.AioRpcError as err:
            raise UserError(
                f"cannot get the signing key from the clipper at {target} "
                f"({err.code().name}: {err.details()}); pass --public-key FILE"
            ) from err
        origin = f"fetched from the clipper at {target}"
    try:
        key = load_public_key(pem, args.public_key or "the clipper's key")
    except ValueError as err:
        raise UserError(str(err)) from err
    check = verify_package(path, key)
    if not check.ok:
        print(f"FAILED: {check.problem}")
        return EXIT_FAILED
    print(f"{path}: alert {check.alert_id}, {len(check.checked) - 2} files match manifest.json")
    print(f"signature: valid, Ed25519 key SHA-256 {fingerprint(key)} ({origin})")
    print("OK")
    return 0


async def _evidence(args: argparse.Namespace) -> int:
    from eventclip.rpc import open_channel
    from eventclip.v1 import clips_pb2, clips_pb2_grpc

    settings = _settings(args)
    if args.evidence_command == "public-key":
        print(await _clipper_public_key(settings), end="")
        return 0
    async with open_channel(settings.services.clipper.target, tls=settings.tls) as channel:
        stub = clips_pb2_grpc.ClipServiceStub(channel)
        out = Path(args.output or f"evidence-{args.alert_id}.zip")
        request = clips_pb2.ExportEvidenceRequest(alert_id=args.alert_id)
        size = await _save_stream(stub.ExportEvidence(request, timeout=600), out)
    print(f"wrote {out} ({size} bytes)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventclip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"eventclip {eventclip.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config", "-c", type=Path, help="YAML config file (default: built-in demo)"
        )
        return p

    run = with_config(sub.add_parser("run", help="run all services in one process"))
    run.add_argument("--grace", type=float, default=10.0, help="seconds to drain on stop")
    serve = with_config(sub.add_parser("serve", help="run one service"))
    serve.add_argument("name", choices=SERVICE_NAMES)
    serve.add_argument("--grace", type=float, default=10.0, help="seconds to drain on stop")

    event = sub.add_parser("event", help="POS event client").add_subparsers(
        dest="event_command", required=True
    )
    submit = with_config(event.add_parser("submit", help="send a POS event over gRPC"))
    submit.add_argument(
        "--type", required=True, help="sale|refund|void|no_sale|price_override|discount"
    )
    submit.add_argument("--register", required=True)
    submit.add_argument("--store", default="store-1")
    submit.add_argument("--operator", default="operator-1")
    submit.add_argument("--approver", help="manager id; omit for no approval")
    submit.add_argument("--amount", help="decimal amount, e.g. 500.00")
    submit.add_argument("--currency", default="USD")
    submit.add_argument("--event-id", help="idempotency key (default: random)")
    submit.add_argument("--transaction-id")
    submit.add_argument("--at", help="ISO 8601 time with zone (default: now)")
    submit.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE")

    clips = sub.add_parser("clips", help="clip client").add_subparsers(
        dest="clips_command", required=True
    )
    lst = with_config(clips.add_parser("list", help="list clips, newest first"))
    lst.add_argument("--camera")
    lst.add_argument("--event")
    lst.add_argument("--alert")
    lst.add_argument("--page-size", type=int, default=50)
    lst.add_argument("--page-token")
    lst.add_argument("--json", action="store_true", help="print proto3 JSON")
    get = with_config(clips.add_parser("get", help="one clip as JSON"))
    get.add_argument("id")
    dl = with_config(
        clips.add_parser("download", help="save a clip's MP4 (or thumbnail, or sidecar)")
    )
    dl.add_argument("id")
    dl.add_argument("-o", "--output", help="file to write (default: ID.mp4, .jpg or .json)")
    which = dl.add_mutually_exclusive_group()
    which.add_argument("--thumbnail", action="store_true", help="the JPEG thumbnail instead")
    which.add_argument("--metadata", action="store_true", help="the sidecar JSON instead")
    cancel = with_config(clips.add_parser("cancel", help="cancel a clip that is not finished"))
    cancel.add_argument("id")
    for name, text in (("hold", "put a clip under legal hold"), ("release", "release it")):
        action = with_config(clips.add_parser(name, help=text))
        action.add_argument("id")
        action.add_argument("--reason", default="", help="why (kept in the audit trail)")
    trail = with_config(
        clips.add_parser("audit", help="a clip's audit trail; exit 1 if its chain is broken")
    )
    trail.add_argument("id")
    trail.add_argument("--json", action="store_true", help="print proto3 JSON")

    evidence = sub.add_parser("evidence", help="signed evidence packages").add_subparsers(
        dest="evidence_command", required=True
    )
    export = with_config(evidence.add_parser("export", help="save an alert's evidence package"))
    export.add_argument("alert_id")
    export.add_argument("-o", "--output", help="file to write (default: evidence-ALERT.zip)")
    verify = with_config(
        evidence.add_parser(
            "verify",
            help="check a package's hashes and signature; exit 0 if all hold, 1 naming the "
            "first file that does not",
        )
    )
    verify.add_argument("file", help="the package (ZIP)")
    verify.add_argument(
        "--public-key",
        help="the signer's public key (PEM); default: ask the clipper in the config for its key",
    )
    with_config(evidence.add_parser("public-key", help="print the signing key (PEM)"))

    keys = sub.add_parser("keys", help="API keys (on the configured database)").add_subparsers(
        dest="keys_command", required=True
    )
    create = with_config(keys.add_parser("create", help="make a key and print it once"))
    create.add_argument("--role", required=True, choices=("viewer", "reviewer", "admin", "pos"))
    create.add_argument("--name", help="what the audit trail calls it (default: ROLE-N)")
    with_config(keys.add_parser("list", help="every key, revoked ones included"))
    revoke = with_config(keys.add_parser("revoke", help="refuse a key from now on"))
    revoke.add_argument("name")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run_services(args, SERVICE_NAMES)
    if args.command == "serve":
        return _run_services(args, (args.name,))
    if args.command == "keys":
        return _keys(args)
    if args.command == "event":
        return asyncio.run(_submit_event(args))
    if args.command == "evidence":
        return _verify(args) if args.evidence_command == "verify" else asyncio.run(_evidence(args))
    return asyncio.run(_clips(args))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader left (`eventclip clips get ID | head -1`): the Python docs'
        # recipe (signal module, "Note on SIGPIPE"): point stdout at devnull so
        # the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except ConfigError as err:
        print(f"eventclip: {err}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as err:
        print(f"eventclip: {err}", file=sys.stderr)
        return EXIT_FAILED
    except grpc.aio.AioRpcError as err:
        print(f"eventclip: {err.code().name}: {err.details()}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as err:  # e.g. -o into a folder that does not exist
        print(f"eventclip: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
