"""Page requests and page results."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bridgehead.common.pagination import Page, PageRequest


def test_page_request_defaults_to_first_page() -> None:
    request = PageRequest()
    assert (request.page, request.offset) == (1, 0)


@pytest.mark.parametrize(("page", "size", "offset"), [(1, 10, 0), (2, 10, 10), (5, 25, 100), (3, 1, 2)])
def test_offset_skips_earlier_pages(page: int, size: int, offset: int) -> None:
    assert PageRequest(page=page, page_size=size).offset == offset


@pytest.mark.parametrize(
    ("field", "value"), [("page", 0), ("page", -1), ("page_size", 0), ("page_size", 501), ("page", 10**7)]
)
def test_page_request_refuses_out_of_range_values(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as caught:
        PageRequest.model_validate({field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("total", "size", "pages"), [(0, 10, 1), (1, 10, 1), (10, 10, 1), (11, 10, 2), (20, 10, 2), (21, 10, 3)]
)
def test_pages_rounds_up_and_is_at_least_one(total: int, size: int, pages: int) -> None:
    assert Page[int](items=[], total=total, page=1, page_size=size).pages == pages


def test_pages_is_part_of_the_serialised_page() -> None:
    dumped = Page[int](items=[1, 2], total=5, page=1, page_size=2).model_dump()
    assert dumped == {"items": [1, 2], "total": 5, "page": 1, "page_size": 2, "pages": 3}


def test_has_next_only_before_the_last_page() -> None:
    assert Page[int](items=[], total=5, page=2, page_size=2).has_next
    assert not Page[int](items=[], total=5, page=3, page_size=2).has_next
    assert not Page[int](items=[], total=0, page=1, page_size=2).has_next


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=500))
def test_pages_hold_exactly_the_total(total: int, size: int) -> None:
    pages = Page[int](items=[], total=total, page=1, page_size=size).pages
    assert pages >= 1
    assert pages * size >= total
    assert total == 0 or (pages - 1) * size < total
