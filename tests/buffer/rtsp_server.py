"""A real RTSP server for tests: GStreamer's gst-rtsp-server serving an MP4
recording live (real-time, looping) as H.264 over RTP.

Run with the *system* Python (it has the ``gi`` bindings; the venv does not)::

    /usr/bin/python3 tests/buffer/rtsp_server.py FILE PORT [MOUNT]

Prints ``READY rtsp://127.0.0.1:PORT/MOUNT`` once it listens. Every client gets
its own pipeline; ``multifilesrc loop=true`` reopens the file at its end, and
``qtdemux`` + ``h264parse`` keep timestamps running, so a client sees an
endless camera.
"""

from __future__ import annotations

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    path, port = sys.argv[1], sys.argv[2]
    mount = sys.argv[3] if len(sys.argv) > 3 else "cam"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( multifilesrc location={path} loop=true ! qtdemux ! h264parse config-interval=-1"
        " ! rtph264pay name=pay0 pt=96 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(f"/{mount}", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    print(f"READY rtsp://127.0.0.1:{port}/{mount}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
