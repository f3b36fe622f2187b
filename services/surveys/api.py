"""HTTP API of the satisfaction survey (API.md, "Satisfaction survey (SKM)"). The
reports are read-model queries: `projections.api`."""

from __future__ import annotations

from litestar import Router

from services.cases.routes import intake_handler
from services.surveys.commands import INTAKE

surveys_router = Router(path="/surveys", tags=["surveys"],
                        route_handlers=[intake_handler(INTAKE, "surveys", "/responses")])
