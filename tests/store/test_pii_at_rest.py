"""No raw personal digits reach the database: not in a text column, a JSON document or the file bytes.

The conversation is masked by the real ``pii`` stage when it is registered, else by hand (the
same contract: masked text, spans, ``pii_masked=True``); then it is stored and every column of
every table, and for SQLite every byte of the database files (WAL included), is searched.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnClause, Engine, column, inspect, select, table

from qa_pipeline.pipeline import BuildContext, Pipeline, registry
from qa_pipeline.settings import Settings
from qa_pipeline.store import Repository
from qa_pipeline.types import Conversation, PiiSpan, Turn
from tests.store.factory import annotate

PHONE = "13812345678"
ID_CARD = "110105199003071239"  # valid check digit
BANK_CARD = "6222021234567894"  # Luhn-valid
RAW = {"phone": PHONE, "id_card": ID_CARD, "bank_card": BANK_CARD}
WINDOW = 7  # masks may keep a prefix/suffix (138****5678, 622202******7894), never 7 raw digits in a row


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _id_check_ok(number: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(a) * b for a, b in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17]


def _windows() -> set[str]:
    return {raw[i : i + WINDOW] for raw in RAW.values() for i in range(len(raw) - WINDOW + 1)}


def _raw_conversation() -> Conversation:
    return Conversation(
        id="pii-1",
        channel="call",
        agent_id="A01",
        team="T1",
        turns=[
            Turn(speaker="agent", text="您好，请报一下手机号和身份证号。", start=0.0, end=3.0),
            Turn(speaker="customer", text=f"手机{PHONE}，身份证{ID_CARD}。", start=3.5, end=9.0),
            Turn(speaker="customer", text=f"卡号是{BANK_CARD}，帮我查一下。", start=9.5, end=12.0),
        ],
        metadata={"caller": PHONE, "note": f"card {BANK_CARD}", "nested": {"id": ID_CARD}},
        source="test",
    )


def _mask_by_hand(conv: Conversation) -> Conversation:
    for i, turn in enumerate(conv.turns):
        for kind, raw in RAW.items():
            pos = turn.text.find(raw)
            if pos >= 0:
                turn.text = turn.text.replace(raw, "*" * len(raw))
                conv.pii.append(PiiSpan(turn=i, type=kind, start_char=pos, end_char=pos + len(raw)))  # type: ignore[arg-type]
    conv.metadata = json.loads(re.sub(r"\d{7,}", lambda m: "*" * len(m.group()), json.dumps(conv.metadata)))
    conv.pii_masked = True
    return conv


def _mask(conv: Conversation) -> Conversation:
    names = registry.names()
    if "pii" not in names:
        return _mask_by_hand(conv)
    ctx = BuildContext(settings=Settings())
    stages = [registry.build(n, {}, ctx) for n in ("normalize", "pii") if n in names]
    return Pipeline(stages)(conv)


def _masked_conversation() -> Conversation:
    conv = _mask(_raw_conversation())
    spans = list(conv.pii)
    annotate(conv)
    conv.pii = spans
    return conv


def _every_value(engine: Engine) -> list[str]:
    values: list[str] = []
    insp = inspect(engine)
    with engine.connect() as conn:
        for name in insp.get_table_names():
            cols: list[ColumnClause[Any]] = [column(c["name"]) for c in insp.get_columns(name)]
            for row in conn.execute(select(*cols).select_from(table(name))):
                values.extend(json.dumps(v, ensure_ascii=False, default=str) for v in row)
    return values


def test_the_numbers_are_real_pii() -> None:
    assert re.fullmatch(r"1[3-9]\d{9}", PHONE)
    assert _id_check_ok(ID_CARD)
    assert _luhn_ok(BANK_CARD)


def test_no_raw_digits_anywhere_in_the_database(engine: Engine, db_url: str) -> None:
    conv = _masked_conversation()
    assert conv.pii_masked
    assert {s.type for s in conv.pii} >= {"phone", "id_card", "bank_card"}
    Repository(engine).save(conv)

    stored = "\n".join(_every_value(engine))
    assert "手机" in stored  # the scan does see the stored text
    leaked = sorted(w for w in _windows() if w in stored)
    assert leaked == [], f"raw digits stored in a column: {leaked}"

    if engine.dialect.name == "sqlite":
        engine.dispose()
        db_file = Path(db_url.removeprefix("sqlite:///"))
        blob = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
        assert "手机".encode() in blob  # the turns table holds the masked text as UTF-8
        leaked = sorted(w for w in _windows() if w.encode() in blob)
        assert leaked == [], f"raw digits in the database file bytes: {leaked}"
