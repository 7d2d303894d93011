"""Server-rendered HTML pages (Jinja2); each page's live parts poll the JSON API."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from tunesmith.ui import runs, train_form
from tunesmith.ui.schema_fields import list_fields

router = APIRouter()
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _page(template: str, request: Request, **context: object) -> HTMLResponse:
    roots = request.app.state.roots
    html = _env.get_template(template).render(
        project=str(roots.project), runs_root=roots.display(roots.runs), **context
    )
    return HTMLResponse(html)


@router.get("/", response_class=HTMLResponse)
def runs_page(request: Request) -> HTMLResponse:
    roots = request.app.state.roots
    infos = [asdict(runs.run_info(roots, p)) for p in runs.find_runs(roots)]
    return _page("runs.html", request, runs=infos, title="Runs")


@router.get("/run/{name:path}", response_class=HTMLResponse)
def run_page(name: str, request: Request) -> HTMLResponse:
    from tunesmith.ui.api import run_path

    roots = request.app.state.roots
    run_path(roots, name)
    return _page("run.html", request, name=name, title=name)


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request, preset: str = "") -> HTMLResponse:
    roots = request.app.state.roots
    presets = train_form.presets(roots)
    preset = preset or next(
        (p for p in presets if "tiny-qwen2/lora" in p), presets[0] if presets else ""
    )
    sections: dict[str, list] = {}
    for spec in list_fields():
        sections.setdefault(spec.section, []).append(spec)
    values = train_form.preset_values(roots, preset or None)
    return _page(
        "new.html",
        request,
        presets=presets,
        preset=preset,
        sections=sections,
        values=values,
        title="New run",
    )


def _static_page(template: str, title: str) -> None:
    """A page whose live parts all come from the API."""

    def page(request: Request) -> HTMLResponse:
        return _page(template, request, title=title)

    router.add_api_route(f"/{template.removesuffix('.html')}", page, response_class=HTMLResponse)


for _template, _title in (
    ("compare.html", "Compare"),
    ("data.html", "Data"),
    ("eval.html", "Evaluate"),
    ("export.html", "Export"),
):
    _static_page(_template, _title)


@router.get("/playground", response_class=HTMLResponse)
def playground_page(request: Request) -> HTMLResponse:
    roots = request.app.state.roots
    names = [runs.run_info(roots, p) for p in runs.find_runs(roots)]
    choices = [r.path for r in names if r.status == "finished"]
    return _page("playground.html", request, models=choices, title="Playground")
