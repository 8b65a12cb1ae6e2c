"""Program graph: nodes and edges from forward's data flow, text and Mermaid rendering."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from castlm.compiler.analyze import analyze_file, analyze_source
from castlm.compiler.graph import (
    GraphEdge,
    ProgramGraph,
    build_graph,
    mermaid_label,
    render_mermaid,
    render_text,
)

GOLDEN = Path(__file__).parent / "golden" / "graph"


def support_graph() -> ProgramGraph:
    return build_graph(analyze_file(GOLDEN / "support.py"), "SupportBot")


def check_golden(name: str, actual: str) -> None:
    expected = GOLDEN / name
    if os.environ.get("CASTLM_UPDATE_GOLDEN") == "1":
        expected.write_text(actual, encoding="utf-8")
    assert actual == expected.read_text(encoding="utf-8")


def test_nodes_cover_params_predictors_and_return() -> None:
    graph = support_graph()
    assert [n.id for n in graph.nodes] == [
        "param:ticket",
        "param:tone",
        "predictor:route",
        "predictor:search.0",
        "predictor:search.1",
        "predictor:write",
        "predictor:escalate",
        "return",
    ]
    route = graph.node("predictor:route")
    assert (route.signature, route.predictor_kind) == ("Triage", "ChainOfThought")
    assert route.inputs == ("ticket",)
    assert route.outputs == ("reasoning", "category", "urgent")
    assert graph.node("param:tone").annotation == "str"
    assert graph.node("return").annotation == "str"
    assert "predictor:escalate" not in graph.called


def test_edges_follow_data_flow() -> None:
    edges = set(support_graph().edges)
    assert GraphEdge("param:ticket", None, "predictor:route", "ticket") in edges
    assert GraphEdge("predictor:route", "category", "predictor:search.0", "query") in edges
    assert GraphEdge("predictor:search.1", "passage", "predictor:write", "context") in edges
    # ``tone`` is the parameter or, in a branch, a constant: only the parameter is a source.
    assert GraphEdge("param:tone", None, "predictor:write", "tone") in edges
    assert GraphEdge("predictor:write", "reply", "return", None) in edges
    assert not any(e.target == "predictor:escalate" for e in edges)
    assert ("predictor:route", "urgent") in support_graph().reads


def test_text_rendering_golden() -> None:
    check_golden("support.txt", render_text(support_graph()) + "\n")


def test_mermaid_rendering_golden() -> None:
    check_golden("support.mmd", render_mermaid(support_graph()) + "\n")


def test_mermaid_labels_are_escaped() -> None:
    assert mermaid_label('a "b" <c> | [d] #e') == "a #34;b#34; #60;c#62; #124; #91;d#93; #35;e"
    assert mermaid_label("hops.0: Predict(Hop)") == "hops.0: Predict(Hop)"
    assert mermaid_label("x\ny") == "x#10;y"


def test_mermaid_output_shape() -> None:
    lines = render_mermaid(support_graph()).splitlines()
    assert lines[0] == "flowchart LR"
    assert all(line.startswith("    n") for line in lines[1:])
    # Every label is quoted so no user text can close a shape or an edge label early.
    assert all('"' in line for line in lines[1:] if "-->|" in line)


def test_whole_result_return_and_unknown_signature() -> None:
    program = analyze_source(
        textwrap.dedent(
            """
            import castlm as cl
            from sigs import Remote

            class Bot(cl.Module):
                def __init__(self):
                    self.remote = cl.Predict(Remote)

                def forward(self, q):
                    return self.remote(q=q)
            """
        ),
        "app.py",
    )
    graph = build_graph(program, "Bot")
    assert GraphEdge("predictor:remote", None, "return", None) in graph.edges
    assert render_text(graph).splitlines() == [
        "Bot.forward(q)",
        "  remote = Predict(Remote)  (signature not in this file)",
        "    q <- param q",
        "  return <- remote",
    ]


def test_build_graph_rejects_non_modules() -> None:
    program = analyze_source("class A: pass\n", "app.py")
    with pytest.raises(ValueError, match="not a Module"):
        build_graph(program, "A")
