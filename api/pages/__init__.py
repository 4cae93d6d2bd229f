"""The review workbench: server-rendered pages for supervisors, QA reviewers and agents."""

from api.pages import agents, auth, conversation, queue, reports, teams

ROUTERS = [auth.router, queue.router, conversation.router, agents.router, teams.router, reports.router]
