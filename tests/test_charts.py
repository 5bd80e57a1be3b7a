"""Server-side SVG charts (tocsin.lib.charts): well-formed, accessible, no script, no
outside address, scaled to the phone; their numbers in a table under them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django.template.loader import render_to_string
from django.utils import translation

from tocsin.lib.charts import Chart, Series, bar_chart, describe, line_chart, nice_ceiling

SVG = "{http://www.w3.org/2000/svg}"
WEEKS = ["Sep 14", "Sep 21", "Sep 28", "Oct 5", "Oct 12", "Oct 19", "Oct 26", "Nov 2"]


def parse(chart: Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))


def members() -> Chart:
    return line_chart(
        "Members",
        WEEKS,
        [Series("Members", [3, 5, 8, 8, 13, 21, 34, 55])],
        axis="Week of",
    )


def response_times() -> Chart:
    return line_chart(
        "Report to confirmed",
        WEEKS,
        [
            Series("Median", [4, None, 6, 5, 3, 7, 2, 4]),
            Series("90th percentile", [9, None, 12, 10.5, 6, 15, 4, 8]),
        ],
        axis="Week of",
        unit="min",
    )


def turnout() -> Chart:
    return bar_chart(
        "Turnout",
        ["Vigil", "Rally", "Training"],
        [Series("Signed up", [12, 40, 8]), Series("Came", [9, 31, None])],
        axis="Mobilization",
    )


def test_a_line_chart_is_well_formed_svg_with_its_namespace() -> None:
    root = parse(members())
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 320 180"


def test_a_bar_chart_draws_one_bar_per_known_value() -> None:
    root = parse(turnout())
    assert len(root.findall(f"{SVG}rect")) == 5  # the training's "came" is unknown


def test_a_chart_is_an_image_named_by_its_title_and_description() -> None:
    chart = response_times()
    root = parse(chart)
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert (title.get("id"), title.text) == (title_id, "Report to confirmed")
    assert desc.get("id") == desc_id
    assert desc.text == chart.desc


def test_two_charts_on_a_page_have_different_ids() -> None:
    assert parse(members()).get("aria-labelledby") != parse(members()).get("aria-labelledby")


def test_the_description_says_the_figures_in_words() -> None:
    text = describe(WEEKS, [Series("Median", [4, None, 6, 2])], unit="min")
    assert text == "Median: 4 min (Sep 14) to 2 min (Oct 5), highest 6 min (Sep 28)."
    assert describe(WEEKS, [Series("Came", [None, None])]) == "Came: no data yet."


def test_the_description_is_in_spanish_on_a_spanish_page() -> None:
    with translation.override("es"):
        assert "no hay datos" in describe(WEEKS, [Series("Vinieron", [None])])


def test_a_gap_breaks_the_line() -> None:
    root = parse(response_times())
    # Each series: the first week alone (a dot, no line), then a line through the rest.
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2
    assert all(len(line.get("points", "").split()) == 6 for line in lines)
    assert len(root.findall(f"{SVG}circle")) == 14


def test_the_second_series_is_dashed_so_it_parts_without_colour() -> None:
    first, second = parse(response_times()).findall(f"{SVG}polyline")
    assert first.get("stroke-dasharray") is None
    assert second.get("stroke-dasharray")


def test_text_in_a_chart_is_escaped() -> None:
    chart = line_chart("<script>alert(1)</script>", ["a&b"], [Series('"x"', [1])])
    root = parse(chart)
    assert root.find(f"{SVG}script") is None
    assert "<script>" not in str(chart.svg)
    assert root.find(f"{SVG}title").text == "<script>alert(1)</script>"  # type: ignore[union-attr]


def test_no_script_no_style_and_no_outside_address() -> None:
    for chart in (members(), response_times(), turnout()):
        markup = str(chart.svg) + str(chart.legend)
        assert "<script" not in markup and "style=" not in markup
        assert "href" not in markup
        assert "http" not in markup.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_chart_scales_to_the_phone() -> None:
    root = parse(members())
    assert root.get("width") == "100%"
    assert root.get("height") is None


def test_an_empty_chart_says_there_is_nothing_yet() -> None:
    root = parse(line_chart("Members", WEEKS, [Series("Members", [None] * len(WEEKS))]))
    assert any(t.text == "No data yet" for t in root.iter(f"{SVG}text"))


def test_the_value_axis_ends_on_a_round_number() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 3, 7, 12, 55, 101)] == [
        1,
        0.5,
        1,
        5,
        10,
        20,
        100,
        200,
    ]
    labels = [t.text for t in parse(members()).iter(f"{SVG}text")]
    assert labels[:3] == ["0", "50", "100"]


def test_the_table_under_the_chart_holds_every_number() -> None:
    html = render_to_string("_chart.html", {"chart": response_times()})
    table = ET.fromstring(html[html.index("<table") : html.index("</table>") + 8])
    assert table.find("caption").text == "Report to confirmed"  # type: ignore[union-attr]
    headings = [th.text for th in table.iter("th") if th.get("scope") == "col"]
    assert headings == ["Week of", "Median (min)", "90th percentile (min)"]
    rows = table.find("tbody").findall("tr")  # type: ignore[union-attr]
    assert len(rows) == len(WEEKS)
    assert [td.text for td in rows[1].findall("td")] == ["—", "—"]
    assert [td.text for td in rows[3].findall("td")] == ["5", "10.5"]


def test_a_chart_of_several_series_has_a_legend() -> None:
    assert "Median" in str(response_times().legend)
    assert str(members().legend) == ""


def test_counts_get_no_half_line_but_minutes_do() -> None:
    counts = parse(line_chart("Members", ["a", "b"], [Series("Members", [1, 3])]))
    assert [t.text for t in counts.iter(f"{SVG}text")][:2] == ["0", "5"]
    minutes = parse(line_chart("Median", ["a", "b"], [Series("Median", [1.5, 3])]))
    assert [t.text for t in minutes.iter(f"{SVG}text")][:3] == ["0", "2.5", "5"]


def test_zeros_are_data_not_nothing() -> None:
    root = parse(bar_chart("Came", ["a", "b"], [Series("Came", [0, 0])]))
    assert not any(t.text == "No data yet" for t in root.iter(f"{SVG}text"))


def test_long_labels_can_be_written_short_under_the_chart() -> None:
    chart = bar_chart(
        "Turnout",
        ["12 Nov Vigil for the Soto families"],
        [Series("Came", [9])],
        ticks=["12 Nov"],
    )
    texts = [t.text for t in parse(chart).iter(f"{SVG}text")]
    assert "12 Nov" in texts and "12 Nov Vigil for the Soto families" not in texts
    assert chart.rows() == [("12 Nov Vigil for the Soto families", ["9"])]


def value_labels(chart: Chart) -> list[tuple[str, float, float]]:
    """The labels at the left of the plot: (text, x, y) of each."""
    root = parse(chart)
    return [
        (t.text or "", float(t.get("x") or 0), float(t.get("y") or 0))
        for t in root.findall(f"{SVG}text")
        if t.get("text-anchor") == "end"
    ]


def test_a_small_axis_labels_its_middle_exactly() -> None:
    chart = line_chart("Report to confirmed", WEEKS[:2], [Series("Median", [0.3, 0.5])], unit="min")
    with translation.override("es"):
        spanish = line_chart("Reporte", WEEKS[:2], [Series("Mediana", [0.3, 0.5])], unit="min")
    assert [text for text, _x, _y in value_labels(chart)] == ["0", "0.25", "0.5"]
    assert [text for text, _x, _y in value_labels(spanish)] == ["0", "0,25", "0,5"]


def test_the_unit_stands_above_the_top_value_not_beside_it() -> None:
    root = parse(response_times())
    [unit] = [t for t in root.findall(f"{SVG}text") if t.text == "min"]
    top_label_y = min(y for _text, _x, y in value_labels(response_times()))
    # Value labels are about 10 units tall, drawn upwards from their baseline.
    assert float(unit.get("y") or 0) <= top_label_y - 11
