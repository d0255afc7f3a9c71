"""The serving app plus the baseline of `bench/ingest.py`: an ingest endpoint in the source
documents' style (a pydantic body, SQLAlchemy ORM `add_all`, then `commit`), same process, same
database. Served by `uvicorn bench.ingest_app:app`; `BENCH_ORM_URL` is its SQLAlchemy URL."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Integer, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.contracts.datasets import log_hour
from serving.app import create_app


class Base(DeclarativeBase):
    pass


class LogRow(Base):
    __tablename__ = "bench_orm_logs"

    # SQLite autoincrements only an INTEGER primary key.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    hour: Mapped[str] = mapped_column(Text)
    service: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    attributes: Mapped[str | None] = mapped_column(Text)


class LogIn(BaseModel):
    timestamp: dt.datetime
    service: str
    severity: str
    message: str
    attributes: dict[str, Any] | None = None
    event_id: str | None = None


engine = create_engine(os.environ["BENCH_ORM_URL"])
Base.metadata.create_all(engine)
app = create_app()


@app.post("/bench/orm/logs", status_code=201, include_in_schema=False)
def orm_logs(records: list[LogIn]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        LogRow(
            received_at=now,
            event_id=r.event_id,
            timestamp=r.timestamp,
            hour=log_hour(r.timestamp),
            service=r.service,
            severity=r.severity.upper(),
            message=r.message,
            attributes=json.dumps(r.attributes) if r.attributes is not None else None,
        )
        for r in records
    ]
    with Session(engine) as session:
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]
        session.commit()
    return {"count": len(rows), "ids": ids}
