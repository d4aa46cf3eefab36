"""The README's result tables are generated from figures/: they must say what those files say."""
import pytest

from gan_ad import report


def test_readme_tables_match_the_figures():
    text = report.README.read_text()
    assert {m.group("name") for m in report.MARKER.finditer(text)} == set(report.tables())
    assert text == report.render(text, report.tables()), "README tables differ from figures/: run `make readme`"


def test_render_fills_only_the_marked_blocks():
    text = "intro\n<!-- generated: a -->\nold\n<!-- end: a -->\nrest\n"
    assert report.render(text, {"a": "| new |\n"}) == "intro\n<!-- generated: a -->\n| new |\n<!-- end: a -->\nrest\n"
    with pytest.raises(KeyError, match="'a'"):
        report.render(text, {"b": ""})
