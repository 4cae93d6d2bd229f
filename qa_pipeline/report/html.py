"""Self-contained HTML audit report (``qa audit --html``) for QA supervisors.

One file, inline CSS, no scripts and no external assets: it can be mailed or archived as is.
Jinja2 autoescaping is on because transcripts are untrusted text; the only pre-built markup is
the highlighted turn text, which :func:`qa_pipeline.report.highlight.highlight` escapes piece
by piece before inserting ``<mark>`` tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from qa_pipeline.report.views import (
    agent_summaries,
    conversation_view,
    grade_columns,
    is_fatal,
    needs_review,
    score_table,
)
from qa_pipeline.types import ConversationResult

TEMPLATE = "report.html.j2"


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("qa_pipeline", "report"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    results: Sequence[ConversationResult],
    *,
    title: str,
    rubric_version: str,
    generated_at: datetime,
    agent_scores: Sequence[Any] | None = None,
) -> str:
    """Render scored conversations as one self-contained HTML page.

    ``agent_scores`` may be any sequence of pydantic models, dataclasses or mappings (e.g. the
    per-agent, per-period scores of :mod:`qa_pipeline.scoring`); their fields become columns.
    """
    columns = grade_columns(results)
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            title=title,
            rubric_version=rubric_version or "—",
            generated_at=generated_at.strftime("%Y-%m-%d %H:%M"),
            totals={
                "conversations": len(results),
                "agents": len({r.agent_id for r in results}),
                "fatal": sum(is_fatal(r) for r in results),
                "review": sum(needs_review(r) for r in results),
            },
            grade_columns=columns,
            agents=agent_summaries(results, columns),
            scores=score_table(agent_scores) if agent_scores else None,
            conversations=[conversation_view(r, f"conv-{k}") for k, r in enumerate(results)],
        )
    )
