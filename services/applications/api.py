"""HTTP API of the applications service (API.md, "Applications"): the case routes from
the command table, the public certificate check and the service catalogue."""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import State

from services.applications.application import ApplicationService
from services.applications.catalogue import CatalogueService
from services.applications.commands import COMMANDS, INTAKE
from services.applications.views import ApplicationView, CertificateCheck
from services.cases.routes import CaseRoutes, case_router
from services.http.auth import PUBLIC

APPLICATIONS = CaseRoutes(noun="application", path="/applications", service="applications",
                          view=ApplicationView, tags=("applications",))

applications_router = case_router(APPLICATIONS, INTAKE, COMMANDS)


class CertificatesController(Controller):
    path = "/certificates"
    tags = ["certificates"]

    @get("/{number:str}", exclude_from_auth=True, security=PUBLIC)
    async def verify(self, number: str, state: State,
                     sig: str | None = None) -> CertificateCheck:
        """Public: is this certificate genuine, unaltered and still valid? `sig` is the
        signature printed in the certificate's QR link."""
        service: ApplicationService = state.applications
        return await service.verify_certificate(number, sig)


class ServicesController(Controller):
    path = "/services"
    tags = ["catalogue"]

    @get("/", exclude_from_auth=True, security=PUBLIC)
    async def list_services(self, state: State) -> list[CatalogueService]:
        """The service catalogue: each licence, its unit, deadline and requirements."""
        service: ApplicationService = state.applications
        return service.catalogue.all()
