"""eventclip: camera ring buffers + POS/detector events -> video evidence clips.

Plugin authors import their marker from here::

    from eventclip import hookimpl

    @hookimpl
    def score_event(event, options):
        ...
"""

import pluggy

__version__ = "0.1.0"

#: Project name for pluggy markers and the ``eventclip`` entry-point group.
PROJECT_NAME = "eventclip"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]
