"""The console's Jinja2 environment for Litestar's template engine, and where its
templates and static files (htmx, the style sheet) ship: inside the package, so an
installed ptsp serves them with no build step and no CDN."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

STATIC_DIR = Path(__file__).with_name("static")


def environment() -> Environment:
    """HTML escaped everywhere; an undefined name is an error, not an empty string."""
    return Environment(loader=PackageLoader("services.console", "templates"),
                       autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """For `Litestar(template_config=...)`."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
