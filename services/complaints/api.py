"""HTTP API of the complaints service (API.md, "Complaints (pengaduan)"): the case routes
from the command table."""

from __future__ import annotations

from services.cases.routes import CaseRoutes, case_router
from services.complaints.commands import COMMANDS, INTAKE
from services.complaints.views import ComplaintView

COMPLAINTS = CaseRoutes(noun="complaint", path="/complaints", service="complaints",
                        view=ComplaintView, tags=("complaints",))

complaints_router = case_router(COMPLAINTS, INTAKE, COMMANDS)
