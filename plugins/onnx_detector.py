"""Built-in detector ``onnx``: runs a user-supplied YOLO-style ONNX model with
onnxruntime on the sampled frames. Optional: ``pip install 'eventclip[onnx]'``
(the plugin loads without it and says so only when a camera uses it).

No model ships with eventclip and none is downloaded: ``model_path`` names the
user's file. Supported outputs (one output tensor, batch 1), ``C`` classes:

* ``yolov8`` layout ``[1, 4 + C, N]`` (Ultralytics YOLOv8/v11 export):
  cx, cy, w, h, then one score per class;
* ``yolov5`` layout ``[1, N, 5 + C]``: cx, cy, w, h, objectness, class scores
  (a class's confidence is objectness x its score).

``auto`` tells them apart by shape. Boxes are in pixels of the model's square
input. The frame is letterboxed to it (scaled to fit, padded with grey 114 as
Ultralytics does), fed as float32 NCHW RGB in [0, 1]; boxes are mapped back
through the letterbox to normalized image coordinates, filtered by
``confidence`` and non-maximum suppressed per class (``iou``, OpenCV's
NMSBoxes). ``labels`` names the class indexes; classes not named are
dropped.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import Detection, Frame

PAD_GREY = 114


class OnnxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The ONNX file (a YOLO-style detector with a square input).
    model_path: Path
    #: Class index -> label; only these classes are reported.
    labels: dict[int, str]
    #: Detections below this confidence are dropped.
    confidence: float = Field(0.4, ge=0, le=1)
    #: Boxes of one class overlapping more than this (IoU) keep the best.
    iou: float = Field(0.45, ge=0, le=1)
    #: Output layout (see the module).
    output: Literal["auto", "yolov8", "yolov5"] = "auto"


@hookimpl
def detector_options() -> type[BaseModel]:
    return OnnxOptions


@hookimpl
def detect(frame: Frame, options: OnnxOptions) -> list[Detection]:
    """The model's detections of ``frame`` (see the module)."""
    session = _session(str(options.model_path))
    model_input = session.get_inputs()[0]
    size = int(model_input.shape[-1])
    tensor, scale, pad = letterbox(frame.image, size)
    (output,) = session.run(None, {model_input.name: tensor})
    height, width = frame.image.shape[:2]
    return decode(output, options, size, scale, pad, width, height)


@functools.cache
def _session(path: str) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeError(
            "the onnx detector needs onnxruntime: pip install 'eventclip[onnx]'"
        ) from None
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """``image`` (H x W x 3 uint8 RGB) scaled to fit ``size`` x ``size``,
    centred on grey: the NCHW float32 tensor in [0, 1], the scale, and the
    (x, y) padding in pixels of the model input."""
    height, width = image.shape[:2]
    scale = min(size / width, size / height)
    new_w, new_h = round(width * scale), round(height * scale)
    canvas = np.full((size, size, 3), PAD_GREY, np.uint8)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[top : top + new_h, left : left + new_w] = resized
    tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return tensor, scale, (float(left), float(top))


def decode(
    output: np.ndarray,
    options: OnnxOptions,
    size: int,
    scale: float,
    pad: tuple[float, float],
    width: int,
    height: int,
) -> list[Detection]:
    """Detections from one YOLO output (see the module), in normalized
    coordinates of the ``width`` x ``height`` image."""
    rows = np.asarray(output, np.float32)[0]
    layout = options.output
    if layout == "auto":  # v8: [4 + C, N] with N anchors >> classes
        layout = "yolov8" if rows.shape[0] < rows.shape[1] else "yolov5"
    if layout == "yolov8":
        rows = rows.T
        boxes, scores = rows[:, :4], rows[:, 4:]
    else:
        boxes, scores = rows[:, :4], rows[:, 5:] * rows[:, 4:5]
    classes = scores.argmax(axis=1)
    best = scores[np.arange(len(scores)), classes]
    keep = (best >= options.confidence) & np.isin(classes, list(options.labels))
    boxes, best, classes = boxes[keep], best[keep], classes[keep]
    # cx, cy, w, h in model pixels -> x_min, y_min, x_max, y_max in image pixels.
    x0 = (boxes[:, 0] - boxes[:, 2] / 2 - pad[0]) / scale
    y0 = (boxes[:, 1] - boxes[:, 3] / 2 - pad[1]) / scale
    x1 = (boxes[:, 0] + boxes[:, 2] / 2 - pad[0]) / scale
    y1 = (boxes[:, 1] + boxes[:, 3] / 2 - pad[1]) / scale
    found = []
    for cls in np.unique(classes):
        mine = np.nonzero(classes == cls)[0]
        rects = [
            [float(x0[i]), float(y0[i]), float(x1[i] - x0[i]), float(y1[i] - y0[i])] for i in mine
        ]
        kept = cv2.dnn.NMSBoxes(
            rects, [float(best[i]) for i in mine], options.confidence, options.iou
        )
        for k in np.array(kept).reshape(-1):
            i = mine[int(k)]
            box = (
                min(1.0, max(0.0, float(x0[i]) / width)),
                min(1.0, max(0.0, float(y0[i]) / height)),
                min(1.0, max(0.0, float(x1[i]) / width)),
                min(1.0, max(0.0, float(y1[i]) / height)),
            )
            found.append(Detection(options.labels[int(cls)], float(best[i]), box))
    return sorted(found, key=lambda d: -d.confidence)
