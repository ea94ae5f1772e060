"""The shared SQLite page-cache block: set for the block, nested blocks restore what they found."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from bridgehead.config import Settings
from bridgehead.db import make_engine, sqlite_page_cache


def _cache(session: Session, schema: str = "main") -> int:
    return int(session.connection().exec_driver_sql(f"PRAGMA {schema}.cache_size").scalar_one())


def test_page_cache_is_set_for_the_block_and_restored_when_nested(tmp_path: Path) -> None:
    engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'cache.db'}")
    with Session(engine) as session:
        before, temp_before = _cache(session), _cache(session, "temp")
        with sqlite_page_cache(session, 4096):
            assert _cache(session) == -4096
            assert _cache(session, "temp") == temp_before
            with sqlite_page_cache(session, 8192, temp_too=True):
                assert (_cache(session), _cache(session, "temp")) == (-8192, -8192)
            assert (_cache(session), _cache(session, "temp")) == (-4096, temp_before)
        assert _cache(session) == before
