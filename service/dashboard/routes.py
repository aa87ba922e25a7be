"""Dashboard pages. Each page is a static HTML file whose script reads the REST API. Plotly is
plotly.js 4.1.1's *basic* bundle (scatter, bar, pie; 1.2 MB against the full bundle's 4.8 MB,
which took 4 of a 10,000-candidate page's 7 seconds to parse), vendored from npm's
``plotly.js-basic-dist-min`` with its MIT licence (no CDN, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

STATIC = Path(__file__).with_name("static")

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


@router.get("/dashboard/static/{name}")
def static(name: str) -> FileResponse:
    allowed = {p.name: p for p in STATIC.iterdir() if p.suffix in {".js", ".css"}}
    if name not in allowed:
        from store.jobs import NotFoundError

        raise NotFoundError(f"no static file {name!r}")
    media = "text/javascript" if name.endswith(".js") else "text/css"
    cache = "max-age=86400" if name.endswith(".min.js") else "no-cache"  # the vendored bundle changes with its name
    return FileResponse(allowed[name], media_type=media, headers={"Cache-Control": cache})
