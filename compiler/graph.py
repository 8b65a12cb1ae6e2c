"""The program graph of a Module: how data flows from forward's parameters through
its predictors to the return value, for ``castlm inspect``.

Nodes are the parameters, every predictor (called or not) and the return; edges
come from the data flow the analyzer inferred in ``forward``. A parameter or an
output read as ``r.field`` and passed to another predictor's keyword argument
gives an edge into that predictor's input field; whatever feeds ``return`` gives
an edge into the return node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from castlm.compiler.analyze.predictors import result_attributes
from castlm.compiler.ir import DataSource, ForwardIR, ModuleIR, PredictorIR, ProgramIR

NodeKind = Literal["param", "predictor", "return"]
RETURN_ID = "return"


@dataclass(frozen=True)
class GraphNode:
    # "param:<name>", "predictor:<path>" or "return".
    id: str
    kind: NodeKind
    name: str
    signature: str | None
    predictor_kind: str | None
    # Signature input/output field names; outputs start with extras such as ``reasoning``,
    # which ChainOfThought asks for first.
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    # Parameter or return annotation, as written.
    annotation: str | None


@dataclass(frozen=True)
class GraphEdge:
    source: str
    # Output field of a predictor source; None for a parameter or a whole result.
    source_field: str | None
    target: str
    # Input field of a predictor target; None for the return node.
    target_field: str | None


@dataclass(frozen=True)
class ProgramGraph:
    module: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    # (predictor node id, field) for every result attribute forward reads.
    reads: tuple[tuple[str, str], ...]
    # Predictor node ids forward calls.
    called: tuple[str, ...]

    def node(self, node_id: str) -> GraphNode:
        return next(n for n in self.nodes if n.id == node_id)

    def edges_into(self, node_id: str) -> list[GraphEdge]:
        return [e for e in self.edges if e.target == node_id]


def _source_id(source: DataSource) -> str:
    return f"{source.kind}:{source.name}"


def _predictor_node(program: ProgramIR, predictor: PredictorIR) -> GraphNode:
    signature = program.signature(predictor.signature or "")
    inputs = tuple(f.name for f in signature.inputs) if signature else ()
    outputs = tuple(f.name for f in signature.outputs) if signature else ()
    extras = tuple(e for e in result_attributes(predictor.kind) if e not in outputs)
    return GraphNode(
        id=f"predictor:{predictor.path}",
        kind="predictor",
        name=predictor.path,
        signature=predictor.signature,
        predictor_kind=predictor.kind,
        inputs=inputs,
        outputs=extras + outputs,
        annotation=None,
    )


def _module_forward(program: ProgramIR, module_name: str) -> tuple[ModuleIR, ForwardIR]:
    module = program.module(module_name)
    if module is None or module.forward is None:
        # Callers run check_target first, which explains this to the user.
        raise ValueError(f"{module_name!r} is not a Module with a forward method")
    return module, module.forward


def build_graph(program: ProgramIR, module_name: str) -> ProgramGraph:
    """The graph of ``module_name``; raises ValueError unless check_target passed."""
    module, forward = _module_forward(program, module_name)
    nodes = [
        GraphNode(f"param:{p.name}", "param", p.name, None, None, (), (), p.annotation)
        for p in forward.params
    ]
    nodes += [_predictor_node(program, p) for p in (*module.predictors, *module.callables)]
    nodes.append(
        GraphNode(RETURN_ID, "return", "return", None, None, (), (), forward.return_annotation)
    )
    edges = [
        GraphEdge(_source_id(source), source.field, f"predictor:{call.predictor}", flow.field)
        for call in forward.calls
        for flow in call.inputs
        for source in flow.sources
    ]
    edges += [
        GraphEdge(_source_id(source), source.field, RETURN_ID, None) for source in forward.returns
    ]
    known = {n.id for n in nodes}
    return ProgramGraph(
        module=module_name,
        nodes=tuple(nodes),
        # Dedupe in first-seen order; drop sources that are not nodes (defensive).
        edges=tuple(e for e in dict.fromkeys(edges) if e.source in known),
        reads=tuple(dict.fromkeys((f"predictor:{r.predictor}", r.field) for r in forward.reads)),
        called=tuple(dict.fromkeys(f"predictor:{c.predictor}" for c in forward.calls)),
    )


# -- text ---------------------------------------------------------------------------


def _describe_source(graph: ProgramGraph, edge: GraphEdge) -> str:
    source = graph.node(edge.source)
    if source.kind == "param":
        return f"param {source.name}"
    return source.name if edge.source_field is None else f"{source.name}.{edge.source_field}"


def _signature_line(node: GraphNode) -> str:
    call = f"{node.predictor_kind}({node.signature or '?'})"
    if not node.inputs and not node.outputs:
        return f"{node.name} = {call}  (signature not in this file)"
    return f"{node.name} = {call}: {', '.join(node.inputs)} -> {', '.join(node.outputs)}"


def _input_lines(graph: ProgramGraph, node: GraphNode) -> list[str]:
    incoming = graph.edges_into(node.id)
    passed = [e.target_field for e in incoming if e.target_field is not None]
    fields = list(dict.fromkeys([*node.inputs, *passed]))
    lines = []
    for field in fields:
        sources = [_describe_source(graph, e) for e in incoming if e.target_field == field]
        lines.append(f"{field} <- {', '.join(sources) if sources else '(no tracked source)'}")
    return lines


def _predictor_lines(graph: ProgramGraph, node: GraphNode) -> list[str]:
    lines = [f"  {_signature_line(node)}"]
    if node.id not in graph.called:
        return [*lines, "    (not called directly by forward)"]
    lines += [f"    {line}" for line in _input_lines(graph, node)]
    reads = [field for node_id, field in graph.reads if node_id == node.id]
    if reads:
        lines.append(f"    reads: {', '.join(reads)}")
    return lines


def _header(graph: ProgramGraph) -> str:
    params = ", ".join(
        n.name if n.annotation is None else f"{n.name}: {n.annotation}"
        for n in graph.nodes
        if n.kind == "param"
    )
    returned = graph.node(RETURN_ID).annotation
    arrow = "" if returned is None else f" -> {returned}"
    return f"{graph.module}.forward({params}){arrow}"


def render_text(graph: ProgramGraph) -> str:
    """A readable listing: each predictor, inputs -> outputs, and where inputs come from."""
    lines = [_header(graph)]
    for node in graph.nodes:
        if node.kind == "predictor":
            lines += _predictor_lines(graph, node)
    returned = [_describe_source(graph, e) for e in graph.edges_into(RETURN_ID)]
    lines.append(f"  return <- {', '.join(returned) if returned else '(no tracked source)'}")
    return "\n".join(lines)


# -- mermaid ------------------------------------------------------------------------

# Characters kept as-is in labels; everything else becomes a Mermaid entity code
# (``#34;``), which is valid inside quoted node and edge labels.
_LABEL_SAFE = re.compile(r"[A-Za-z0-9 _.,:=()*+/?!'-]")


def mermaid_label(text: str) -> str:
    """Escape ``text`` for use inside a quoted Mermaid label."""
    return "".join(ch if _LABEL_SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


def _node_label(node: GraphNode) -> str:
    if node.kind == "predictor":
        return f"{node.name}: {node.predictor_kind}({node.signature or '?'})"
    if node.annotation is None:
        return node.name
    return f"{node.name}: {node.annotation}"


def _node_shape(node: GraphNode, label: str) -> str:
    # Parameters and the return are stadiums; predictors are boxes.
    return f'["{label}"]' if node.kind == "predictor" else f'(["{label}"])'


def _edge_label(edge: GraphEdge) -> str | None:
    if edge.target_field is None:
        return edge.source_field
    if edge.source_field is None or edge.source_field == edge.target_field:
        return edge.target_field
    return f"{edge.source_field} → {edge.target_field}"


def render_mermaid(graph: ProgramGraph) -> str:
    """A ``flowchart LR`` Mermaid diagram of the graph."""
    ids = {node.id: f"n{index}" for index, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for node in graph.nodes:
        lines.append(f"    {ids[node.id]}{_node_shape(node, mermaid_label(_node_label(node)))}")
    for edge in graph.edges:
        label = _edge_label(edge)
        arrow = "-->" if label is None else f'-->|"{mermaid_label(label)}"|'
        lines.append(f"    {ids[edge.source]} {arrow} {ids[edge.target]}")
    return "\n".join(lines)
