"""Human-readable reports of scored conversations (``qa audit --html``)."""

from qa_pipeline.report.html import render_html

__all__ = ["render_html"]
