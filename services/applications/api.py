"""HTTP API of the applications service (API.md, "Applications"): the case routes from
the command table, the public certificate check and the service catalogue."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from litestar import Controller, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from services.applications import certificate_document
from services.applications.application import ApplicationService
from services.applications.catalogue import CatalogueService
from services.applications.commands import COMMANDS, INTAKE
from services.applications.views import ApplicationView, CertificateCheck, SignedRecord
from services.cases.routes import CaseRoutes, ErrorBody, case_router
from services.domain.errors import Forbidden, NotFound, RuleViolation
from services.http.auth import PUBLIC

APPLICATIONS = CaseRoutes(noun="application", path="/applications", service="applications",
                          view=ApplicationView, tags=("applications",))

applications_router = case_router(APPLICATIONS, INTAKE, COMMANDS)


Representation = Literal["json", "html", "pdf"]
REPRESENTATIONS: dict[str, Representation] = {
    "application/json": "json", "text/html": "html", "application/pdf": "pdf"}
"""By media type, in the order an `Accept: */*` is served (JSON first: the contract)."""
CERTIFICATE_ERRORS = {
    403: "a PDF asked for without the copy's own `sig` (`certificate_signature_required`)",
    404: "no certificate with this number (a page saying so for `text/html`)",
    409: "a PDF asked for of a certificate that is not valid (`certificate_not_valid`)",
}


class CertificatesController(Controller):
    path = "/certificates"
    tags = ["certificates"]

    @get("/{number:str}", exclude_from_auth=True, security=PUBLIC,
         responses={status: ResponseSpec(data_container=ErrorBody, description=text,
                                         generate_examples=False)
                    for status, text in CERTIFICATE_ERRORS.items()})
    async def verify(self, number: str, state: State, request: Request[Any, Any, Any],
                     sig: str | None = None,
                     as_file: Annotated[Literal["pdf"] | None,
                                        QueryParameter(name="format")] = None,
                     ) -> Response[CertificateCheck]:
        """Public: is this certificate genuine, unaltered and still valid? `sig` is the
        signature printed in the certificate's QR link. JSON by default; `Accept:
        text/html` a page with the verdict, the facts and a QR code; `Accept:
        application/pdf` (or `format=pdf`: the page's download link, which cannot set a
        header) the Sertifikat Standar as a PDF carrying its signed record, given with the
        copy's own `sig` and while valid."""
        service: ApplicationService = state.applications
        office = state.system.settings.office_name
        chosen = as_file or REPRESENTATIONS[request.accept.best_match(
            list(REPRESENTATIONS), default="application/json")]
        rendered: Response[Any]
        if chosen == "html":
            rendered = await self._page(service, number, sig, office)
        elif chosen == "pdf":
            signed = await self._valid_copy(service, number, sig)
            pdf = await asyncio.to_thread(certificate_document.pdf, signed, office)
            rendered = Response(pdf, media_type="application/pdf", headers={
                "Content-Disposition": f'inline; filename="sertifikat-standar-{number}.pdf"'})
        else:
            rendered = Response(await service.verify_certificate(number, sig))
        return rendered

    @staticmethod
    async def _page(service: ApplicationService, number: str, sig: str | None,
                    office: str) -> Response[Any]:
        """The check as a page; an unknown number a page that says so (404). The QR code
        is the copy's own link, or the bare check to whoever came without its `sig`."""
        try:
            copy = await service.certificate_copy(number, sig)
        except NotFound:
            return Response(certificate_document.not_found_page(number, office),
                            media_type=MediaType.HTML, status_code=404)
        link = (copy.signed.verification_url if copy.signed
                else f"{service.base_url}/certificates/{number}")
        return Response(certificate_document.page(copy.check, link, office, copy.signed),
                        media_type=MediaType.HTML)

    @staticmethod
    async def _valid_copy(service: ApplicationService, number: str,
                          sig: str | None) -> SignedRecord:
        """The signed record for the PDF: only to whoever holds the copy's signature (the
        PDF names the business and carries the signature), and only while it is valid (a
        revoked certificate would still verify offline)."""
        copy = await service.certificate_copy(number, sig)
        if copy.signed is None:
            raise Forbidden("the PDF is given with the certificate's own link: `sig` missing "
                            "or not this certificate's", rule="certificate_signature_required",
                            field="sig")
        if not copy.check.valid:
            raise RuleViolation(f"certificate {number} is not valid: "
                                + "; ".join(copy.check.problems),
                                rule="certificate_not_valid", problems=copy.check.problems)
        return copy.signed


class ServicesController(Controller):
    path = "/services"
    tags = ["catalogue"]

    @get("/", exclude_from_auth=True, security=PUBLIC)
    async def list_services(self, state: State) -> list[CatalogueService]:
        """The service catalogue: each licence, its unit, deadline and requirements."""
        service: ApplicationService = state.applications
        return service.catalogue.all()
