"""Page requests and page results shared by every list endpoint and page."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, computed_field, model_validator

ItemT = TypeVar("ItemT")


class QueryModel(BaseModel):
    """Base of query-string models: an empty parameter (``owner_id=``, as forms send) means unset."""

    @model_validator(mode="before")
    @classmethod
    def _drop_empty_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data


class PageRequest(QueryModel):
    """Which page of a list to return; pages count from 1."""

    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=500)

    @property
    def offset(self) -> int:
        """Rows to skip before this page."""
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[ItemT]):
    """One page of results with what a client needs to ask for the next."""

    items: list[ItemT]
    total: int
    page: int
    page_size: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pages(self) -> int:
        """Number of pages (at least 1, so an empty list still has page 1)."""
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        """Whether a later page exists."""
        return self.page < self.pages
