"""The journey flow drawing: read back from the SVG it draws (parsed as XML), for every node type, open
exits, unknown targets, unconnected steps, loops, problems, counts, a profile's path, hostile names and
links; and, for random drafts, that it always draws every step and edge without cards overlapping."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.document import Problem
from journeys.examples import DISCOUNTS
from journeys.flow import FIT, FlowCounts, Layout, PathStep, Target, flow_layout, flow_svg
from journeys.wizard import outgoing
from segments.words import event_words

SVG = "{http://www.w3.org/2000/svg}"

EVERY_TYPE: dict[str, Any] = {
    "name": "Every step",
    "entry": {
        "type": "event",
        "event": "screen_view",
        "where": [{"property": "screen_name", "op": "contains", "value": "Discounts"}],
    },
    "start": "state",
    "nodes": {
        "state": {
            "type": "wait_event",
            "event": "add_to_favorites",
            "where": [],
            "timeout": "P3D",
            "on_performed": "branch",
            "on_timeout": "delay",
        },
        "branch": {
            "type": "branch",
            "branches": [
                {"if": [{"trait": "country", "op": "eq", "value": "TR"}], "next": "sms"},
                {"if": {"tag": "vip"}, "label": "VIPs", "next": "split"},
            ],
            "else": "update",
        },
        "sms": {"type": "send", "channel": "sms", "template": "post-purchase-survey", "next": "exit"},
        "split": {
            "type": "split",
            "arms": [{"name": "A", "percent": 50, "next": "push"}, {"name": "B", "percent": 50, "next": "hook"}],
        },
        "push": {"type": "send", "channel": "push", "template": "liked-this-item", "next": None},
        "hook": {"type": "webhook", "url": "https://example.com/hook", "next": "record"},
        "update": {"type": "update_profile", "add_tags": ["nudged"], "next": "record"},
        "record": {"type": "record_activity", "name": "nudged", "next": "inactive"},
        "inactive": {"type": "wait_inactive", "duration": "P30D", "next": None},
        "delay": {"type": "delay", "duration": "P2D", "next": "exit"},
        "exit": {"type": "exit"},
    },
}


def draw(document: Any, **overlays: Any) -> ET.Element:
    svg = flow_svg(
        flow_layout(document, **{k: v for k, v in overlays.items() if k != "link"}), link=overlays.get("link")
    )
    return ET.fromstring(svg)


def nodes(root: ET.Element) -> dict[str, ET.Element]:
    found = {g.get("data-node"): g for g in root.iter(f"{SVG}g") if "node" in classes(g) and g.get("data-node")}
    return {str(k): v for k, v in found.items()}


def edges(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(str(g.get("data-from")), str(g.get("data-key"))): g for g in root.iter(f"{SVG}g") if "edge" in classes(g)}


def adds(root: ET.Element) -> list[tuple[str | None, str | None]]:
    return sorted((g.get("data-from"), g.get("data-key")) for g in root.iter(f"{SVG}g") if "add" in classes(g))


def classes(element: ET.Element) -> set[str]:
    return set((element.get("class") or "").split())


def text(element: ET.Element, css: str) -> str | None:
    """The text of the first <text> of that class inside the element, tspans included."""
    for item in element.iter(f"{SVG}text"):
        if css in classes(item):
            return " ".join("".join(item.itertext()).split())
    return None


def label(edge: ET.Element) -> str:
    return "".join(t for item in edge.iter(f"{SVG}text") for t in item.itertext())


def trigger(root: ET.Element) -> ET.Element:
    [found] = [g for g in root.iter(f"{SVG}g") if "trigger" in classes(g)]
    return found


def title(element: ET.Element) -> str:
    found = element.find(f"{SVG}title")
    return found.text or "" if found is not None else ""


def test_every_node_type_is_drawn_with_its_words_and_each_edge_with_its_label() -> None:
    root = draw(EVERY_TYPE)
    drawn = nodes(root)
    assert set(drawn) == set(EVERY_TYPE["nodes"])
    for node_id, spec in EVERY_TYPE["nodes"].items():
        assert {"node", f"node-{spec['type']}"} <= classes(drawn[node_id])
        assert drawn[node_id].get("id") == f"node-{node_id}"
        assert drawn[node_id].get("data-type") == spec["type"]
    assert text(drawn["state"], "node-type") == "State"
    assert text(drawn["state"], "node-summary") == f"Wait for {event_words('add_to_favorites')}, 3 days"
    assert text(drawn["delay"], "node-type") == "Delay"
    assert text(drawn["delay"], "node-summary") == "Wait 2 days"
    assert text(drawn["sms"], "node-type") == "Action"
    assert text(drawn["sms"], "node-summary") == "Send SMS · post-purchase-survey"
    assert text(drawn["update"], "node-summary") == "Update profile · tag nudged"
    assert text(drawn["hook"], "node-summary") == "Webhook · POST https://example.com/hook"
    assert text(drawn["branch"], "node-type") == "Branch"
    assert text(drawn["split"], "node-type") == "Split (A/B)"
    assert text(drawn["inactive"], "node-summary") == "No activity for 30 days"
    assert text(drawn["exit"], "node-type") == "Exit point"
    assert drawn["exit"].find(f"{SVG}circle") is not None

    drawn_edges = edges(root)
    expected: dict[tuple[str, str], str | None] = {("trigger", "start"): "state"}
    for node_id, spec in EVERY_TYPE["nodes"].items():
        for key, target in outgoing(spec):
            expected[(node_id, key)] = target
    assert set(drawn_edges) == set(expected)
    for (source, key), target in expected.items():
        assert drawn_edges[(source, key)].get("data-to") == target
    labels = {key: label(edge) for key, edge in drawn_edges.items()}
    assert labels[("state", "on_performed")] == "On performed"
    assert labels[("state", "on_timeout")] == "On timed out"
    assert labels[("branch", "branches[0]")] == 'trait country is "TR"'
    assert labels[("branch", "branches[1]")] == "VIPs"  # its label, not its condition
    assert labels[("branch", "else")] == "Else"
    assert labels[("split", "arms[0]")] == "A · 50 %"
    assert labels[("split", "arms[1]")] == "B · 50 %"
    assert labels[("sms", "next")] == ""
    assert labels[("trigger", "start")] == ""


def test_the_seed_journey_reads_trigger_state_two_sends_and_their_open_exits() -> None:
    layout = flow_layout(DISCOUNTS)
    root = ET.fromstring(flow_svg(layout))
    assert text(trigger(root), "node-type") == "Action based"
    assert text(trigger(root), "node-summary") == f'{event_words("screen_view")}: screen_name contains "Discounts"'
    assert edges(root)[("trigger", "start")].get("data-to") == "fav"
    assert edges(root)[("fav", "on_performed")].get("data-to") == "thanks"
    assert edges(root)[("fav", "on_timeout")].get("data-to") == "nudge"
    assert adds(root) == [("nudge", "next"), ("thanks", "next")]

    boxes = {box.key: box for box in layout.boxes}
    assert [boxes[k].column for k in ("T", "n:fav", "n:thanks", "n:nudge")] == [0, 1, 2, 2]
    assert boxes["T"].row == boxes["n:fav"].row == boxes["n:thanks"].row  # the main line stays straight
    assert boxes["n:nudge"].y > boxes["n:thanks"].y
    assert {box.column for box in layout.boxes if box.kind == "add"} == {3}
    assert root.get("role") == "img"
    assert root.get("aria-label") == f"Journey flow: {DISCOUNTS['name']}"


def test_the_svg_is_sized_from_the_layout() -> None:
    layout = flow_layout(EVERY_TYPE)
    root = ET.fromstring(flow_svg(layout))
    assert float(root.get("width", 0)) == pytest.approx(layout.width, abs=0.1)
    assert float(root.get("height", 0)) == pytest.approx(layout.height, abs=0.1)
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    for box in layout.boxes:
        assert box.x >= 0 and box.right <= layout.width
        assert box.y >= 0 and box.bottom <= layout.height


def test_the_svg_fits_its_box_down_to_FIT_and_scrolls_beyond() -> None:
    layout = flow_layout(EVERY_TYPE)
    style = dict(part.split(":") for part in ET.fromstring(flow_svg(layout)).get("style", "").split(";"))
    assert style["width"] == "100%" and style["height"] == "auto"
    assert float(style["max-width"].removesuffix("px")) == pytest.approx(layout.width, abs=0.1)
    assert float(style["min-width"].removesuffix("px")) == pytest.approx(layout.width * FIT, abs=0.1)


def test_an_open_exit_is_an_add_point_where_a_step_can_be_added_else_an_exit_dot() -> None:
    layout = flow_layout(DISCOUNTS)
    linked = ET.fromstring(flow_svg(layout, link=lambda target: {"href": "#"} if target.key else None))
    for drawing in (linked, ET.fromstring(flow_svg(layout))):  # linked: Build; not: live page, simulator
        exits = [g for g in drawing.iter(f"{SVG}g") if "add" in classes(g)]
        assert sorted((g.get("data-from"), g.get("data-key")) for g in exits) == [("nudge", "next"), ("thanks", "next")]
        words = {"".join(g.itertext()).strip() for g in exits}
        if drawing is linked:
            assert words == {"Add a step here+ add step"} and not any("end" in classes(g) for g in exits)
        else:
            assert words == {"Profiles leave the journey hereexit"} and all("end" in classes(g) for g in exits)


def test_an_empty_document_draws_the_trigger_placeholder_and_one_add_point() -> None:
    root = draw({})
    assert text(trigger(root), "node-summary") == "Choose a trigger"
    assert nodes(root) == {}
    assert adds(root) == [("trigger", "start")]
    assert list(edges(root)) == [("trigger", "start")]
    assert "open" in classes(edges(root)[("trigger", "start")])


def test_a_scheduled_trigger_says_when() -> None:
    daily = dict(DISCOUNTS, entry={"type": "segment", "every_day_at": "10:00"})
    assert text(trigger(draw(daily)), "node-summary") == "Every day at 10:00"
    once = dict(DISCOUNTS, entry={"type": "segment"}, schedule={"start_at": "2024-12-17T11:15:00Z"})
    assert text(trigger(draw(once)), "node-type") == "Scheduled"
    assert text(trigger(draw(once)), "node-summary") == "Once, at 17 Dec 2024 11:15 UTC"


def test_edges_to_unknown_steps_end_at_a_marked_missing_placeholder() -> None:
    document = copy.deepcopy(DISCOUNTS)
    document["nodes"]["thanks"]["next"] = "ghost"
    document["nodes"]["nudge"]["next"] = "ghost"
    root = draw(document)
    missing = [g for g in root.iter(f"{SVG}g") if "missing" in classes(g)]
    assert [g.get("data-missing") for g in missing] == ["ghost"]  # one placeholder, both edges end there
    assert "ghost" not in nodes(root)
    for source in ("thanks", "nudge"):
        edge = edges(root)[(source, "next")]
        assert edge.get("data-to") == "ghost"
        assert "to-missing" in classes(edge)
    assert adds(root) == []

    no_start = dict(DISCOUNTS, start="nowhere")
    root = draw(no_start)
    assert edges(root)[("trigger", "start")].get("data-to") == "nowhere"
    assert all("unreachable" in classes(g) for g in nodes(root).values())


def test_steps_not_reachable_from_start_are_drawn_below() -> None:
    document = copy.deepcopy(DISCOUNTS)
    document["nodes"]["orphan"] = {"type": "delay", "duration": "P1D", "next": "orphan_2"}
    document["nodes"]["orphan_2"] = {"type": "send", "channel": "email", "template": "welcome", "next": "thanks"}
    layout = flow_layout(document)
    root = ET.fromstring(flow_svg(layout))
    drawn = nodes(root)
    assert "unreachable" in classes(drawn["orphan"]) and "unreachable" in classes(drawn["orphan_2"])
    assert "unreachable" not in classes(drawn["fav"])
    assert edges(root)[("orphan_2", "next")].get("data-to") == "thanks"
    boxes = {box.key: box for box in layout.boxes}
    lowest_connected = max(box.bottom for box in layout.boxes if box.reachable)
    assert boxes["n:orphan"].y > lowest_connected
    assert boxes["n:orphan_2"].column > boxes["n:orphan"].column
    assert layout.unreachable_y is not None
    assert flow_layout(DISCOUNTS).unreachable_y is None


def test_loops_terminate_and_curve_back() -> None:
    document = copy.deepcopy(DISCOUNTS)
    document["nodes"]["nudge"]["next"] = "wait"
    document["nodes"]["wait"] = {"type": "delay", "duration": "P1D", "next": "fav"}  # back to the start
    document["nodes"]["thanks"]["next"] = "again"
    document["nodes"]["again"] = {
        "type": "wait_event",
        "event": "open",
        "timeout": "P1D",
        "on_performed": None,
        "on_timeout": "again",
    }  # a loop to itself
    # and a ring nothing leads to
    document["nodes"]["ring_a"] = {"type": "delay", "duration": "P1D", "next": "ring_b"}
    document["nodes"]["ring_b"] = {"type": "delay", "duration": "P1D", "next": "ring_a"}
    layout = flow_layout(document)
    root = ET.fromstring(flow_svg(layout))
    drawn = edges(root)
    assert drawn[("wait", "next")].get("data-to") == "fav"
    assert "back" in classes(drawn[("wait", "next")])
    assert "back" in classes(drawn[("again", "on_timeout")])
    assert "back" not in classes(drawn[("fav", "on_timeout")])
    assert len([k for k in drawn if k[0] in ("ring_a", "ring_b")]) == 2
    assert sum("back" in classes(drawn[k]) for k in (("ring_a", "next"), ("ring_b", "next"))) == 1
    assert set(nodes(root)) == set(document["nodes"])
    boxes = {box.key: box for box in layout.boxes}
    assert boxes["n:wait"].column > boxes["n:fav"].column


def test_problems_mark_their_step_with_the_first_message_and_all_in_its_title() -> None:
    problems = [
        Problem("nodes.thanks.template", "no sms template named 'x' exists"),
        Problem("nodes.thanks", "is on a cycle"),
        Problem("entry.event", "is required"),
        Problem("name", "is required"),  # not on the drawing
    ]
    root = draw(DISCOUNTS, problems=problems)
    drawn = nodes(root)
    assert "invalid" in classes(drawn["thanks"])
    assert text(drawn["thanks"], "problem") == "template no sms template named 'x' exists"
    assert "is on a cycle" in title(drawn["thanks"])
    assert "template no sms template named 'x' exists" in title(drawn["thanks"])
    assert not {"invalid"} & (classes(drawn["fav"]) | classes(drawn["nudge"]))
    assert text(drawn["fav"], "problem") is None
    assert "invalid" in classes(trigger(root))
    assert text(trigger(root), "problem") == "event is required"


def test_counts_appear_on_steps_and_edges() -> None:
    counts = FlowCounts(
        nodes={
            "fav": {"entered": 1200, "waiting": 34},
            "thanks": {"sent": 800, "delivered": 790, "failed": 3},
        },
        edges={("trigger", "start"): 1200, ("fav", "on_performed"): 800, ("fav", "on_timeout"): 366},
    )
    root = draw(DISCOUNTS, counts=counts)
    drawn = nodes(root)
    assert text(drawn["fav"], "node-counts") == "1,200 entered · 34 waiting now"
    assert text(drawn["thanks"], "node-counts") == "800 sent · 790 delivered · 3 failed"
    assert text(drawn["nudge"], "node-counts") is None
    drawn_edges = edges(root)
    assert label(drawn_edges[("fav", "on_performed")]) == "On performed · 800"
    assert label(drawn_edges[("fav", "on_timeout")]) == "On timed out · 366"
    assert label(drawn_edges[("trigger", "start")]) == "1,200"
    assert drawn_edges[("fav", "on_timeout")].get("data-count") == "366"
    assert drawn_edges[("thanks", "next")].get("data-count") is None


def test_a_profiles_path_is_highlighted_with_its_times() -> None:
    path = [PathStep("fav", "17 Dec 12:00", "on_timeout"), PathStep("nudge", "20 Dec 12:00", "next")]
    root = draw(DISCOUNTS, path=path)
    drawn, drawn_edges = nodes(root), edges(root)
    assert "taken" in classes(drawn["fav"]) and "taken" in classes(drawn["nudge"])
    assert "taken" not in classes(drawn["thanks"])
    assert "taken" in classes(trigger(root))
    assert text(drawn["fav"], "node-time") == "17 Dec 12:00"
    assert text(drawn["nudge"], "node-time") == "20 Dec 12:00"
    taken = {key for key, edge in drawn_edges.items() if "taken" in classes(edge)}
    assert taken == {("trigger", "start"), ("fav", "on_timeout"), ("nudge", "next")}


def test_a_path_through_a_split_names_its_arm() -> None:
    path = [PathStep("state", "1"), PathStep("branch", "2", "branches[1]"), PathStep("split", "3", "B")]
    root = draw(EVERY_TYPE, path=path)
    taken = {key for key, edge in edges(root).items() if "taken" in classes(edge)}
    assert taken == {("trigger", "start"), ("state", "on_performed"), ("branch", "branches[1]"), ("split", "arms[1]")}


def test_long_text_is_cut_with_an_ellipsis_and_kept_whole_in_the_title() -> None:
    document = copy.deepcopy(DISCOUNTS)
    document["nodes"]["thanks"]["template"] = "a-very-long-template-name-" * 6
    root = draw(document, counts=FlowCounts(nodes={"thanks": {"sent": 1}}))  # counts: one summary line
    summary = text(nodes(root)["thanks"], "node-summary") or ""
    assert summary.endswith("…") and len(summary) < 60
    assert document["nodes"]["thanks"]["template"] in title(nodes(root)["thanks"])


HOSTILE = "<script>alert(\"x\")</script> & 'quotes' \x01"


def test_hostile_names_are_escaped_and_the_svg_stays_well_formed() -> None:
    document = copy.deepcopy(DISCOUNTS)
    document["name"] = HOSTILE
    document["nodes"][HOSTILE] = document["nodes"].pop("thanks")
    document["nodes"]["fav"]["on_performed"] = HOSTILE
    document["nodes"][HOSTILE]["template"] = HOSTILE
    document["nodes"]["nudge"]["next"] = "</svg><g>"
    document["entry"]["where"] = [{"property": "screen_name", "op": "eq", "value": HOSTILE}]
    svg = flow_svg(flow_layout(document, problems=[Problem(f"nodes.{HOSTILE}.template", HOSTILE)]))
    root = ET.fromstring(svg)  # well-formed
    clean = HOSTILE.replace("\x01", "")
    assert root.get("aria-label") == f"Journey flow: {clean}"
    drawn = nodes(root)
    hostile = drawn[clean]  # data-node keeps the id, less the characters XML cannot hold
    assert hostile.get("id") is None  # not a plain id: no id attribute
    assert text(hostile, "node-summary") == " ".join(f"Send SMS · {clean}".split())
    assert "invalid" in classes(hostile)
    assert [g.get("data-missing") for g in root.iter(f"{SVG}g") if "missing" in classes(g)] == ["</svg><g>"]
    assert not list(root.iter(f"{SVG}script"))


def test_links_wrap_clickable_elements_with_escaped_attributes() -> None:
    seen: list[Target] = []

    def link(target: Target) -> dict[str, str] | None:
        seen.append(target)
        if target.kind == "node":
            return {"href": f'?node={target.node_id}&x="1"', "hx-get": f"/flow/{target.node_id}", "hx-target": "#p"}
        if target.kind == "add":
            return {"href": f"?add={target.from_id}&key={target.key}"}
        return None  # the trigger is not clickable here

    document = copy.deepcopy(DISCOUNTS)
    document["nodes"]["thanks"]["next"] = "ghost"
    root = draw(document, link=link)
    anchors = list(root.iter(f"{SVG}a"))
    by_node = {a.find(f"{SVG}g").get("data-node"): a for a in anchors if a.find(f"{SVG}g").get("data-node")}
    assert set(by_node) == {"fav", "thanks", "nudge"}
    assert by_node["fav"].get("href") == '?node=fav&x="1"'
    assert by_node["fav"].get("hx-get") == "/flow/fav"
    assert by_node["fav"].get("hx-target") == "#p"
    [add] = [a for a in anchors if "add" in classes(a.find(f"{SVG}g"))]
    assert add.get("href") == "?add=nudge&key=next"
    assert Target("trigger") in seen
    assert all(target.node_id != "ghost" for target in seen)  # a missing step is not clickable
    assert "trigger" not in {a.find(f"{SVG}g").get("class") for a in anchors}

    with pytest.raises(ValueError, match="attribute name"):
        draw(DISCOUNTS, link=lambda target: {'onclick="x" a': "1"})


@pytest.mark.parametrize(
    "document",
    [
        {"start": 7, "nodes": {"x": 5, "y": {"type": ["list"]}, "z": {"type": "branch", "branches": {"a": 1}}}},
        {"entry": "event", "start": "a", "nodes": {"a": {"type": "split", "arms": [1, {"next": "a"}]}}},
        {"nodes": [1, 2], "start": None},
        {"start": "a", "nodes": {"a": {"type": "delay", "until": "10:00", "next": ""}}},
    ],
)
def test_broken_drafts_are_drawn_without_errors(document: dict[str, Any]) -> None:
    root = draw(document)
    assert trigger(root) is not None
    raw = document.get("nodes")
    assert set(nodes(root)) == ({str(k) for k in raw} if isinstance(raw, dict) else set())


@st.composite
def drafts(draw_: st.DrawFn) -> dict[str, Any]:
    """Any graph over a few ids: edges forward, back, to themselves, nowhere or to unknown ids."""
    ids = [f"n{i}" for i in range(draw_(st.integers(0, 9)))]
    target = st.sampled_from([None, "ghost", *ids])
    nodes: dict[str, Any] = {}
    for node_id in ids:
        kind = draw_(st.sampled_from(["wait_event", "delay", "branch", "split", "send", "exit", "mystery"]))
        if kind == "wait_event":
            nodes[node_id] = {"type": kind, "event": "e", "on_performed": draw_(target), "on_timeout": draw_(target)}
        elif kind == "branch":
            count = draw_(st.integers(0, 3))
            branches = [{"if": {"tag": "t"}, "next": draw_(target)} for _ in range(count)]
            nodes[node_id] = {"type": kind, "branches": branches, "else": draw_(target)}
        elif kind == "split":
            arms = [{"name": f"a{i}", "percent": 50, "next": draw_(target)} for i in range(draw_(st.integers(0, 3)))]
            nodes[node_id] = {"type": kind, "arms": arms}
        else:
            nodes[node_id] = {"type": kind, "next": draw_(target)}
    return {"start": draw_(st.sampled_from([None, "ghost", *ids])), "nodes": nodes}


def overlapping(layout: Layout) -> list[tuple[str, str]]:
    boxes = layout.boxes
    return [
        (a.key, b.key)
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom
    ]


@settings(max_examples=150, deadline=None)
@given(drafts())
def test_any_draft_draws_every_step_and_edge_once_and_no_cards_overlap(document: dict[str, Any]) -> None:
    layout = flow_layout(document)
    root = ET.fromstring(flow_svg(layout))
    assert set(nodes(root)) == set(document["nodes"])
    expected = {("trigger", "start")} | {(n, key) for n, spec in document["nodes"].items() for key, _ in outgoing(spec)}
    drawn_edges = [g for g in root.iter(f"{SVG}g") if "edge" in classes(g)]
    assert sorted((g.get("data-from"), g.get("data-key")) for g in drawn_edges) == sorted(expected)
    open_exits = {(n, key) for n, spec in document["nodes"].items() for key, t in outgoing(spec) if t is None}
    if document["start"] is None:
        open_exits.add(("trigger", "start"))
    assert set(adds(root)) == open_exits and len(adds(root)) == len(open_exits)
    assert overlapping(layout) == []


def test_problems_read_under_their_card_in_the_words_given() -> None:
    problems = [Problem("nodes.fav.on_timeout", "points to no node ('gone')"), Problem("entry.event", "is required")]
    plain = {box.key: box.problems for box in flow_layout(DISCOUNTS, problems=problems).boxes if box.problems}
    assert plain == {"T": ("event is required",), "n:fav": ("on_timeout points to no node ('gone')",)}
    worded = flow_layout(DISCOUNTS, problems=problems, problem_words=lambda p: f"<{p.field}>").boxes
    assert {box.key: box.problems for box in worded if box.problems} == {
        "T": ("<entry.event>",),
        "n:fav": ("<nodes.fav.on_timeout>",),
    }
