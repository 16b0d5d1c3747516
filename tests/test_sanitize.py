"""SanitizeNotebook without nbgrader (fast): every payload of tests/test_feedback.py's hostile cells, as the
outputs a kernel would produce, rendered by nbconvert's classic HTML template (the one nbgrader's feedback and
formgrader templates extend); plus the cases a kernel can craft by hand (bad image data, metadata, names)."""
import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder.sanitize import SanitizeNotebook, safe_html, safe_markdown

from test_feedback import HOSTILE_CELLS, assert_no_student_script

CRAFTED = [
    new_output("display_data", data={"image/png": 'x" onerror="window.pwned20 = 1'},
               metadata={"image/png": {"width": "1 onerror=window.pwned21=1"}}),
    new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "pwned22"},
                                     "text/plain": "widget"}),
    new_output("stream", name='stdout" onclick="window.pwned23 = 1', text="hi"),
    new_output("display_data", data={"text/html": '<a href="data:text/html,pwned24">d</a><svg onload="pwned25">'
                                                  '</svg><math><mi xlink:href="javascript:pwned26">m</mi></math>'}),
]


def _notebook():
    nb = new_notebook(metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"pwned27": 1}}})
    code = new_code_cell("x = 1", outputs=CRAFTED)
    code.metadata["tags"] = ['x" onmouseover="window.pwned28 = 1']
    nb.cells = [code, *(c for c in HOSTILE_CELLS if c.cell_type == "markdown")]
    return nb


def test_crafted_outputs_and_metadata_cannot_run_script():
    nb, _ = SanitizeNotebook().preprocess(_notebook(), {})
    nbformat.validate(nb)
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    assert_no_student_script(html)
    assert "pwned22" not in html and "pwned27" not in html  # no widget state or view reaches the page


def test_sanitizing_twice_changes_nothing():
    once, _ = SanitizeNotebook().preprocess(_notebook(), {})
    twice, _ = SanitizeNotebook().preprocess(nbformat.from_dict(once), {})
    assert twice == once


@pytest.mark.parametrize("kept", ['<table class="dataframe"><tbody><tr><td>1</td></tr></tbody></table>',
                                  "<p><strong>b</strong> <em>i</em> <code>c</code> $x &lt; y$</p>",
                                  '<img src="data:image/png;base64,iVBORw0KGgo=">'])
def test_ordinary_html_output_is_kept(kept):
    assert safe_html(kept) == kept


@pytest.mark.parametrize("beacon", ['<img src="https://tracker.example/s042.png">', '<img src="//tracker.example/p">',
                                    '<img src="/formgrader/api/submission/1/flag" alt="flag">',
                                    '<img src="plot.png" width="100">'])
def test_student_images_make_the_reader_fetch_nothing(beacon):
    assert "src=" not in safe_html(beacon)
    assert "tracker" not in safe_markdown("![plot](https://tracker.example/p.png) and <img src='//tracker.example'>")


def test_instructor_markdown_is_left_alone():
    cell = new_markdown_cell("<details><summary>Hint</summary>Use the max.</details>",
                             metadata={"nbgrader": {"locked": True, "grade_id": "hint", "grade": False,
                                                    "solution": False, "schema_version": 3}})
    nb, _ = SanitizeNotebook().preprocess(new_notebook(cells=[cell]), {})
    assert nb.cells[0].source == cell.source
