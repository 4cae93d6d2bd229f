"""qa_pipeline: quality inspection and sentiment scoring for Chinese customer-service conversations."""

__version__ = "0.1.0"
