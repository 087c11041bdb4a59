"""The ``eventclip`` command.

    eventclip run [--config FILE]                 all four services in one process
    eventclip serve NAME [--config FILE]          one service (buffer|events|clipper|gateway)
    eventclip event submit --type refund --register demo --amount 500.00 ...
    eventclip clips list [--camera ID] [--event ID] [--alert ID]
    eventclip clips get ID
    eventclip clips download ID [-o FILE] [--thumbnail]

Client commands talk gRPC to the addresses in the config (defaults: events
127.0.0.1:50052, clipper 127.0.0.1:50053) and print proto3 JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from eventclip.app import SERVICE_NAMES, describe, serve_until_signalled
from eventclip.config import ConfigError, Settings, load_settings
from eventclip.timeutil import to_timestamp, utcnow

EXIT_USAGE = 2


def _print_json(message: Message) -> None:
    print(json.dumps(json_format.MessageToDict(message), indent=2))


def _run_services(args: argparse.Namespace, names: tuple[str, ...]) -> int:
    from eventclip.logs import setup_logging
    from eventclip.telemetry import setup_tracing, shutdown_tracing

    settings = _settings(args)
    setup_logging(settings.log_level)
    setup_tracing("eventclip" if len(names) > 1 else f"eventclip-{names[0]}")

    def announce(services: list) -> None:
        print("eventclip is running:", flush=True)
        for line in describe(settings, services):
            print(f"  {line}", flush=True)
        if "gateway" in names:
            gw = next(s for s in services if s.name == "gateway")
            print(
                f"  web page and API docs: http://{settings.services.gateway.host}:{gw.port}/ "
                f"and /docs",
                flush=True,
            )
        print("Press Ctrl-C to stop.", flush=True)

    try:
        asyncio.run(serve_until_signalled(settings, names, args.grace, announce))
    finally:
        shutdown_tracing()
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


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
    async with open_channel(settings.services.events.target) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        response = await stub.SubmitEvent(events_pb2.SubmitEventRequest(event=event), timeout=30)
    _print_json(response)
    return 0


async def _clips(args: argparse.Namespace) -> int:
    from eventclip.rpc import open_channel
    from eventclip.v1 import clips_pb2, clips_pb2_grpc

    settings = _settings(args)
    async with open_channel(settings.services.clipper.target) as channel:
        stub = clips_pb2_grpc.ClipServiceStub(channel)
        if args.clips_command == "list":
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
                _print_clip_table(response.clips)
                if response.next_page_token:
                    print(f"more: --page-token {response.next_page_token}")
        elif args.clips_command == "get":
            _print_json(await stub.GetClip(clips_pb2.GetClipRequest(id=args.id), timeout=30))
        else:  # download
            kind = clips_pb2.ReadClipMediaRequest.Kind
            request = clips_pb2.ReadClipMediaRequest(
                clip_id=args.id, kind=kind.THUMBNAIL if args.thumbnail else kind.VIDEO
            )
            out = Path(args.output or f"{args.id}.{'jpg' if args.thumbnail else 'mp4'}")
            size = 0
            with out.open("wb") as f:  # noqa: ASYNC230 - a CLI, nothing else runs on this loop
                async for chunk in stub.ReadClipMedia(request, timeout=300):
                    size += f.write(chunk.data)
            print(f"wrote {out} ({size} bytes)")
    return 0


def _print_clip_table(clips) -> None:  # clips: repeated Clip
    from eventclip.v1 import clips_pb2

    print(f"{'ID':<34} {'CAMERA':<12} {'STATE':<10} {'START (UTC)':<20} {'SECONDS':>7} EVENT")
    for clip in clips:
        start = clip.start_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        state = clips_pb2.Clip.State.Name(clip.state)
        seconds = (
            f"{clip.duration.seconds + clip.duration.nanos / 1e9:.1f}"
            if clip.duration.ByteSize()
            else "-"
        )
        print(
            f"{clip.id:<34} {clip.camera_id:<12} {state:<10} {start:<20} {seconds:>7} {clip.event_id}"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventclip", description=__doc__.split("\n\n")[0])
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
    dl = with_config(clips.add_parser("download", help="save a READY clip's MP4 (or thumbnail)"))
    dl.add_argument("id")
    dl.add_argument("-o", "--output", help="file to write (default: ID.mp4)")
    dl.add_argument("--thumbnail", action="store_true", help="the JPEG thumbnail instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run_services(args, SERVICE_NAMES)
        if args.command == "serve":
            return _run_services(args, (args.name,))
        if args.command == "event":
            return asyncio.run(_submit_event(args))
        return asyncio.run(_clips(args))
    except ConfigError as err:
        print(f"eventclip: {err}", file=sys.stderr)
        return EXIT_USAGE
    except grpc.aio.AioRpcError as err:
        print(f"eventclip: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
