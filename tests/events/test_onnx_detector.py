"""The ONNX detector on tiny models built here with the onnx helper API (no
model is downloaded): a real onnxruntime session runs them, and the plugin's
letterbox, YOLOv8/YOLOv5 decoding, label map, confidence filter and per-class
NMS map the model's boxes back onto the picture."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx  # the test extra installs onnx and onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from eventclip.events.plugins import PluginRunner, create_plugin_manager
from eventclip.events.types import Frame
from eventclip.plugins import onnx_detector

SIZE = 64  # the model's square input


def tiny_model(path: Path, output: np.ndarray) -> Path:
    """A model with input images [1, 3, SIZE, SIZE] whose output0 is
    ``output`` (plus 0 x the input's mean, so it reads its input)."""
    constant = numpy_helper.from_array(output.astype(np.float32), "raw")
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
            helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
            helper.make_node("Add", ["raw", "nothing"], ["output0"]),
        ],
        "tiny-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[constant, zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


#: Anchors as (cx, cy, w, h, person score, spill score), model pixels.
ANCHORS = [
    (32, 32, 20, 20, 0.90, 0.10),  # a person
    (33, 32, 20, 20, 0.80, 0.10),  # the same person again: suppressed
    (16, 48, 10, 6, 0.05, 0.60),  # a spill
    (50, 10, 8, 8, 0.20, 0.10),  # too unsure
] + [(8, 8, 4, 4, 0.0, 0.0)] * 12  # empty anchors: a real model has thousands


def frame_of(width: int = 128, height: int = 64) -> Frame:
    image = np.zeros((height, width, 3), np.uint8)
    image.flags.writeable = False
    return Frame("cam", datetime.now(UTC), image, width, height)


def check(found) -> None:  # type: ignore[no-untyped-def]
    # 128x64 letterboxed into 64x64: scale 0.5, 16 px of grey above and below.
    assert [(d.label, round(d.confidence, 2)) for d in found] == [("person", 0.9), ("spill", 0.6)]
    person, spill = found
    assert person.box == pytest.approx((44 / 128, 12 / 64, 84 / 128, 52 / 64))
    assert spill.box == pytest.approx((22 / 128, 58 / 64, 42 / 128, 1.0))  # clamped at the edge


def options(model: Path, **changes: object) -> onnx_detector.OnnxOptions:
    return onnx_detector.OnnxOptions(
        model_path=model, labels={0: "person", 1: "spill"}, confidence=0.4, **changes
    )


def test_yolov8_output_is_decoded_onto_the_picture(tmp_path: Path) -> None:
    output = np.array(ANCHORS, np.float32).T[None]  # [1, 4 + C, N]
    model = tiny_model(tmp_path / "v8.onnx", output)
    check(onnx_detector.detect(frame_of(), options(model)))


def test_yolov5_output_with_objectness(tmp_path: Path) -> None:
    rows = [(cx, cy, w, h, 1.0, p, s) for cx, cy, w, h, p, s in ANCHORS]
    rows.append((5, 5, 4, 4, 0.1, 1.0, 0.0))  # a sure class, but no object: 0.1
    output = np.array(rows, np.float32)[None]  # [1, N, 5 + C]
    model = tiny_model(tmp_path / "v5.onnx", output)
    check(onnx_detector.detect(frame_of(), options(model, output="yolov5")))


def test_classes_not_named_are_dropped(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "v8.onnx", np.array(ANCHORS, np.float32).T[None])
    only_spills = onnx_detector.OnnxOptions(model_path=model, labels={1: "spill"})
    assert [d.label for d in onnx_detector.detect(frame_of(), only_spills)] == ["spill"]


def test_letterbox_keeps_the_aspect_ratio_on_grey() -> None:
    image = np.full((64, 128, 3), 200, np.uint8)
    tensor, scale, pad = onnx_detector.letterbox(image, SIZE)
    assert tensor.shape == (1, 3, SIZE, SIZE) and tensor.dtype == np.float32
    assert (scale, pad) == (0.5, (0.0, 16.0))
    assert np.allclose(tensor[0, :, :16, :], 114 / 255) and np.allclose(
        tensor[0, :, 48:, :], 114 / 255
    )
    assert np.allclose(tensor[0, :, 16:48, :], 200 / 255)


async def test_it_runs_as_a_plugin(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "v8.onnx", np.array(ANCHORS, np.float32).T[None])
    pm = create_plugin_manager(["onnx_detector"])
    found = await PluginRunner(pm, timeout=5).detect(frame_of(), {"onnx_detector": options(model)})
    assert found.failures == []
    check([d for _, d in found.detections])
