"""Storage: SQLAlchemy tables, the repository, job records and Alembic migrations.

Typical use::

    engine = init_db(settings.database_url)   # migrates to head
    repo = Repository(engine)
    outcome = repo.save(conversation)         # conversation must be PII-masked
"""

from qa_pipeline.store import models_access, models_review  # noqa: F401  (register their tables)
from qa_pipeline.store.engine import (
    current_revision,
    describe_database,
    head_revision,
    init_db,
    make_engine,
    upgrade,
)
from qa_pipeline.store.jobs import Job, create_job, get_job
from qa_pipeline.store.repository import (
    ConversationSummary,
    Repository,
    SaveOutcome,
    StoredConversation,
    UnmaskedDataError,
)

__all__ = [
    "ConversationSummary",
    "Job",
    "Repository",
    "SaveOutcome",
    "StoredConversation",
    "UnmaskedDataError",
    "create_job",
    "current_revision",
    "describe_database",
    "get_job",
    "head_revision",
    "init_db",
    "make_engine",
    "upgrade",
]
