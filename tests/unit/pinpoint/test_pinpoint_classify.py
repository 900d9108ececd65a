"""The failure classification table (DESIGN 3) and the error tree."""

from __future__ import annotations

import pytest

from worker.pinpoint.errors import (
    ERROR_FOR_CLASS,
    STATUS_CLASS,
    AuthError,
    FailureClass,
    InvalidRequestError,
    NotFoundError,
    PinpointError,
    RateLimitedError,
    TransientError,
    classify,
)

pytestmark = pytest.mark.unit

CASES = [
    (500, False, False, FailureClass.TRANSIENT),
    (502, False, False, FailureClass.TRANSIENT),
    (503, False, False, FailureClass.TRANSIENT),
    (504, False, False, FailureClass.TRANSIENT),
    (408, False, False, FailureClass.TRANSIENT),
    (None, True, False, FailureClass.TRANSIENT),
    (None, False, True, FailureClass.TRANSIENT),
    (200, True, False, FailureClass.TRANSIENT),
    (429, False, False, FailureClass.RATE_LIMITED),
    (401, False, False, FailureClass.AUTH),
    (403, False, False, FailureClass.AUTH),
    (400, False, False, FailureClass.INVALID),
    (404, False, False, FailureClass.INVALID),
    (405, False, False, FailureClass.INVALID),
    (409, False, False, FailureClass.INVALID),
    (422, False, False, FailureClass.INVALID),
    (301, False, False, FailureClass.INVALID),
]


@pytest.mark.parametrize(("status", "timeout", "conn", "expected"), CASES)
def test_classification_table(
    status: int | None, timeout: bool, conn: bool, expected: FailureClass
) -> None:
    """Every outcome maps to the failure class of DESIGN 3."""
    assert classify(status, timeout=timeout, connection_error=conn) is expected


@pytest.mark.parametrize("status", [None, 200, 201, 204])
def test_success_is_not_classified(status: int | None) -> None:
    """A success (or an outcome with nothing to classify) is refused by the table."""
    with pytest.raises(ValueError):
        classify(status)


def test_each_class_has_one_error_type() -> None:
    """Every failure class maps to an error type whose class-level flag agrees."""
    assert set(ERROR_FOR_CLASS) == set(FailureClass)
    for failure, error_type in ERROR_FOR_CLASS.items():
        assert issubclass(error_type, PinpointError)
        assert error_type.failure is failure


def test_error_attributes() -> None:
    """Errors carry operation, status, detail and their specific fields."""
    err = InvalidRequestError(
        "x", operation="write_comment", status=422, detail="Body can't be blank", pointer="/p"
    )
    assert (err.operation, err.status, err.detail, err.pointer) == (
        "write_comment",
        422,
        "Body can't be blank",
        "/p",
    )
    assert TransientError("x", operation="probe", attempts=3).attempts == 3
    assert AuthError("x", operation="probe", status=403).status == 403
    assert RateLimitedError("x", operation="probe", retry_after=2.0).retry_after == 2.0


def test_not_found_is_an_invalid_request() -> None:
    """404 "Record not found" is its own error type, still of the invalid class."""
    assert issubclass(NotFoundError, InvalidRequestError)
    assert NotFoundError.failure is FailureClass.INVALID
    assert STATUS_CLASS[400] is STATUS_CLASS[404] is FailureClass.INVALID
