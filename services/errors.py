"""Domain errors carrying the gRPC status they map to.

Service logic raises these; ``eventclip.rpc.grpc_method`` turns them into a gRPC
status with the message, and the gateway maps that status to HTTP (see
``eventclip.gateway.errors``).
"""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """Base: a failure the caller should see with ``code`` and this message."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(ServiceError):
    """A request field is missing or malformed; the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ServiceError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(ServiceError):
    """The system is not in a state to serve this (e.g. window no longer buffered)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class OutOfRange(ServiceError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unavailable(ServiceError):
    """A dependency (camera, service) cannot be reached now; retrying may help."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(ServiceError):
    """Stored data no longer matches what was recorded (e.g. a file's SHA-256)."""

    code = grpc.StatusCode.DATA_LOSS
