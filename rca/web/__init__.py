"""The browser UI: the incident and analysis list, the incident view, and Swagger UI, all served locally.

The pages are server-side templates that load no data themselves: their small scripts call the same
``/v1`` API as any client, with the same key (typed once, kept in the tab's ``sessionStorage``, sent as
``Authorization: Bearer``; never put in a URL). Every asset is in ``static/`` (vendored files with
their version and licence in ``static/vendor/*/VERSION``): nothing is fetched from a CDN and nothing
is built at run time.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from rca.api.deps import DEFAULT_MAX_RANK

HERE = Path(__file__).parent
STATIC = "/static"
SWAGGER = f"{STATIC}/vendor/swagger-ui"
CDN_DOCS = {"/docs", "/docs/oauth2-redirect", "/redoc"}
"""FastAPI's own documentation pages, which load their scripts from a CDN."""


def mount_web(app: FastAPI) -> None:
    """Add the pages (``/``, ``/incidents/{id}``, ``/analyses/{id}``), ``/docs`` and ``/static`` to ``app``.

    FastAPI's CDN-based ``/docs`` and ``/redoc`` are replaced by Swagger UI from local assets.
    """
    templates = Jinja2Templates(directory=HERE / "templates")
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in CDN_DOCS]
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def index(request: Request, service: str = "") -> HTMLResponse:
        # the filter is in the page's URL (?service=), so a link, a reload or a page turn keeps it
        context = {"title": "Incidents and analyses", "service": service.strip(), "max_rank": DEFAULT_MAX_RANK}
        return templates.TemplateResponse(request, "index.html", context)

    @app.get("/incidents/{incident_id}", include_in_schema=False, response_class=HTMLResponse)
    def incident_page(request: Request, incident_id: str) -> HTMLResponse:
        context = {"title": f"Incident {incident_id[:8]}", "kind": "incident", "id": incident_id}
        return templates.TemplateResponse(request, "view.html", context)

    @app.get("/analyses/{analysis_id}", include_in_schema=False, response_class=HTMLResponse)
    def analysis_page(request: Request, analysis_id: str) -> HTMLResponse:
        context = {"title": f"Analysis {analysis_id[:8]}", "kind": "analysis", "id": analysis_id}
        return templates.TemplateResponse(request, "view.html", context)

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},  # its default is a public validator service
        )
