"""Dashboard pages. Each page is a static HTML file whose script reads the REST API; Plotly's
bundle is served from the installed ``plotly`` package (no CDN, no build step)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

STATIC = Path(__file__).with_name("static")
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))

router = APIRouter(include_in_schema=False)


def _page(name: str) -> HTMLResponse:
    """The one page shell; ``app.js`` renders the page named in its body's ``data-page``."""
    html = (STATIC / "page.html").read_text().replace("{page}", name)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/dashboard")


@router.get("/dashboard")
def jobs_page() -> HTMLResponse:
    return _page("jobs")


@router.get("/dashboard/compare")
def compare_page() -> HTMLResponse:
    return _page("compare")


@router.get("/dashboard/artifacts")
def artifacts_page() -> HTMLResponse:
    return _page("artifacts")


@router.get("/dashboard/jobs/{job_id}")
def job_page(job_id: str) -> HTMLResponse:
    return _page("job")


@router.get("/dashboard/jobs/{job_id}/candidates")
def candidates_page(job_id: str) -> HTMLResponse:
    return _page("candidates")


@router.get("/dashboard/jobs/{job_id}/candidates/{seq}")
def candidate_page(job_id: str, seq: int) -> HTMLResponse:
    return _page("candidate")


@router.get("/dashboard/static/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.get("/dashboard/static/{name}")
def static(name: str) -> FileResponse:
    allowed = {p.name: p for p in STATIC.iterdir() if p.suffix in {".js", ".css"}}
    if name not in allowed:
        from store.jobs import NotFoundError

        raise NotFoundError(f"no static file {name!r}")
    media = "text/javascript" if name.endswith(".js") else "text/css"
    return FileResponse(allowed[name], media_type=media, headers={"Cache-Control": "no-cache"})
