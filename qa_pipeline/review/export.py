"""Human decisions as labelled conversations, in the format ``qa eval`` and the training scripts read:
one JSON object per line with the masked transcript and ``labels`` holding each decided item's human
verdict (the one in force). ``review`` tells who decided what, when, against which machine verdict."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from qa_pipeline.review.agreement import in_force
from qa_pipeline.review.verdicts import Decision
from qa_pipeline.store import Repository


def labelled_records(repository: Repository, decisions: Iterable[Decision]) -> Iterator[dict[str, Any]]:
    """One record per reviewed conversation, ordered by conversation id."""
    by_conv: dict[str, list[Decision]] = defaultdict(list)
    for d in in_force(decisions):
        by_conv[d.conversation_id].append(d)
    for conv_id in sorted(by_conv):
        stored = repository.get_conversation(conv_id)
        if stored is None:  # deleted since
            continue
        decided = sorted(by_conv[conv_id], key=lambda d: d.item)
        yield {
            "id": stored.id,
            "channel": stored.channel,
            "agent_id": stored.agent_id,
            "team": stored.team,
            "started_at": stored.started_at.isoformat() if stored.started_at else None,
            "turns": [t.model_dump() for t in stored.turns],
            "labels": {d.item: d.verdict for d in decided},
            "review": {
                d.item: {
                    "by": d.user_name,
                    "at": d.created_at.isoformat(),
                    "source": d.source,
                    "machine_verdict": d.machine_verdict,
                    "comment": d.comment,
                }
                for d in decided
            },
        }
