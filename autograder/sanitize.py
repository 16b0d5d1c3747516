"""Student output and Markdown made safe to show in a browser (feedback pages and nbgrader's formgrader).

A graded notebook is the student's own program's output: ``display(HTML("<script>..."))``, an ``onerror=``
attribute, a ``javascript:`` link, an iframe or a form would run in the instructor's formgrader (with their
Jupyter session) or in the student's feedback page. ``SanitizeNotebook`` runs where the recorded notebooks are
written (the recording pass of ``autograde``, so the formgrader only ever loads cleaned notebooks) and again
in ``generate_feedback``. HTML goes through `nh3 <https://nh3.readthedocs.io>`_ (the ammonia sanitizer):
an allowlist of tags and attributes, no event handlers, no scripts, iframes, objects, embeds or forms, links
limited to web and mail schemes, images only from ``data:`` URLs (nothing the page has to fetch). Student
Markdown (their own cells and written answers) is rendered with nbconvert's own Markdown renderer and the
resulting HTML is sanitized, so raw HTML and ``[x](javascript:...)`` links are both caught while math stays
text for MathJax. SVG is shown as an ``<img>`` (browsers run no script in an image). PNG/JPEG/GIF, plain
text and LaTeX are kept; MathJax's commands that make links, set CSS or load extensions (``\\href``,
``\\style``, ``\\require``, ...) are shown as plain words.
"""
from __future__ import annotations

import base64
import re

import nh3
from nbformat import from_dict
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

__all__ = ["SanitizeNotebook", "defuse_tex", "safe_html", "safe_markdown"]

_SCHEMES = {"http", "https", "mailto", "data"}
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*\Z", re.I)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*\Z")
_IMAGES = ("image/png", "image/jpeg", "image/gif")
_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, "*": {"class", "title", "lang", "dir"}}
_WRAP = '<div class="student-markdown">'
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+\Z")
_SAFE_META = re.compile(r"[\w .+()-]*\Z")
_TEX_ACTIONS = re.compile(r"\\(href|url|class|cssId|style|require|unicode|html\w*)(?![A-Za-z])")


def _attribute(tag: str, name: str, value: str) -> str | None:
    """``data:`` URLs only as image sources, and image sources only as ``data:`` URLs: an image the page has
    to fetch would be requested by whoever opens it (a beacon to a web server, or a GET with the
    instructor's session to their own formgrader). nh3 checks the scheme of every other URL itself."""
    if tag == "img" and name == "src":
        return value if _DATA_IMAGE.match(value.strip()) else None
    return None if value.strip().lower().startswith("data:") else value


def defuse_tex(text: str) -> str:
    """TeX with MathJax's link, CSS and extension-loading commands made plain words: MathJax typesets
    ``$...$`` anywhere in the page, and ``\\href{javascript:...}`` would become a live link."""
    return _TEX_ACTIONS.sub(lambda m: f"\\mathrm{{{m.group(1)}}}", text)


def safe_html(html: str) -> str:
    """``html`` with everything that could run code or submit data removed (tags, attributes, URLs)."""
    return defuse_tex(nh3.clean(html, attributes=_ATTRIBUTES, url_schemes=_SCHEMES, attribute_filter=_attribute,
                                link_rel="noopener noreferrer nofollow"))


def safe_markdown(source: str, attachments: dict | None = None) -> str:
    """Markdown rendered to HTML by nbconvert's renderer (math left as text for MathJax), then sanitized."""
    def render(attached):
        return MarkdownWithMath(renderer=IPythonRenderer(escape=False, exclude_anchor_links=True,
                                                         attachments=attached)).render(source)
    try:
        html = render(attachments or {})
    except Exception:  # noqa: BLE001 - e.g. a reference to a missing attachment: render without images
        html = render({name: {} for name in re.findall(r"attachment:([^)\s\"']+)", source)})
    return safe_html(html)


def _markdown_cell_source(source: str, attachments: dict | None) -> str:
    """A Markdown cell source that is one raw HTML block: the sanitized rendering of ``source``.

    A blank line would end the HTML block and let Markdown parse the rest again, so blank lines become an
    empty HTML comment (nothing on the page, and still an empty line inside ``<pre>``)."""
    html = safe_markdown(source, attachments).strip()
    if html.startswith(_WRAP) and html.endswith("</div>"):  # already one block from an earlier pass
        html = html[len(_WRAP):-len("</div>")].strip()
    lines = [line if line.strip() else "<!---->" for line in html.split("\n")]
    return "\n".join([_WRAP, *lines, "</div>"])


def _svg_as_image(svg: str) -> str:
    return f'<img src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">'


def _text(value) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return value if isinstance(value, str) else None


def _clean_data(data: dict) -> dict:
    """Keep text, LaTeX and raster images; sanitize HTML and Markdown; turn SVG into an image."""
    out = {}
    for key, value in data.items():
        text = _text(value)
        if text is None:
            continue
        if key == "text/plain" or (key in _IMAGES and _BASE64.match(text)):
            out[key] = text
        elif key == "text/latex":
            out[key] = defuse_tex(text)
        elif key == "text/html":
            out[key] = safe_html(text)
    for key, convert in (("text/markdown", safe_markdown), ("image/svg+xml", _svg_as_image)):
        if key in data and "text/html" not in out and _text(data[key]) is not None:
            out["text/html"] = convert(_text(data[key]))
    removed = sorted(set(data) - set(out) - {"text/markdown", "image/svg+xml"})
    if removed and not set(out) - {"text/plain"}:
        note = f"[not shown: {', '.join(removed)} output, which is not safe to display in a browser]"
        out["text/plain"] = f"{out['text/plain']}\n{note}" if "text/plain" in out else note
    return out


def _clean_output(output) -> None:
    if output.get("output_type") == "stream" and output.get("name") not in ("stdout", "stderr"):
        output["name"] = "stdout"
    if output.get("output_type") in ("display_data", "execute_result"):
        output["data"] = _clean_data(output.get("data") or {})
        output["metadata"] = {key: {k: v for k, v in meta.items() if k in ("width", "height")
                                    and isinstance(v, (int, float)) and not isinstance(v, bool)}
                              for key, meta in (output.get("metadata") or {}).items()
                              if key in output["data"] and isinstance(meta, dict)}
    if "execution_count" in output and not isinstance(output["execution_count"], int):
        output["execution_count"] = None


def _student_written(cell) -> bool:
    """Markdown a student wrote: their own cells and answer cells (locked cells hold the instructor's text)."""
    meta = cell.metadata.get("nbgrader", {})
    return not meta.get("locked") or bool(meta.get("solution"))


class SanitizeNotebook(Preprocessor):
    """nbconvert/nbgrader preprocessor: student outputs and Markdown safe to render (see module docstring)."""

    enabled = Bool(True, help="on when listed (nbgrader registers preprocessors without enabling them)")

    def preprocess(self, nb, resources):
        nb.metadata = from_dict({key: {k: v for k, v in value.items() if isinstance(v, str) and _SAFE_META.match(v)}
                                 for key, value in nb.metadata.items()
                                 if key in ("kernelspec", "language_info") and isinstance(value, dict)})
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader")
        ok = isinstance(meta, dict) and _SAFE_ID.match(str(meta.get("grade_id", "x")))
        cell.metadata = from_dict({"nbgrader": meta} if ok else {})
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                _clean_output(output)
            if not isinstance(cell.get("execution_count"), int):
                cell.execution_count = None
        elif cell.cell_type == "markdown" and _student_written(cell):
            cell.source = _markdown_cell_source(cell.source, cell.pop("attachments", None))
        elif cell.cell_type == "raw":
            cell.source = safe_html(cell.source)
            cell.pop("attachments", None)
        return cell, resources
