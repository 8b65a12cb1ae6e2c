"""The public adapter protocol: user adapters, name checks (runtime and CL210), packages."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import castlm as cl
import pytest
from castlm import AdapterProtocol, ConfigurationError, ParseError, SignatureSpec
from castlm.compiler.analyze import analyze_source
from castlm.lm._lm import Message
from castlm.testing import ScriptedLM
from test_emit_support import emit, imported, request_for, write_sources


class Score(cl.Signature):
    """Rate the review."""

    review: str = cl.InputField()
    stars: int = cl.OutputField(ge=1, le=5)
    summary: str = cl.OutputField()


_TAG = re.compile(r"<(\w+)>(.*?)</\1>", re.DOTALL)


class TagAdapter:
    """Writes fields as XML-ish tags and reads them back; subclasses nothing of castlm."""

    def format_prefix(
        self, spec: SignatureSpec, instructions: str, demos: Sequence[Mapping[str, Any]]
    ) -> Sequence[Message]:
        outputs = "".join(f"<{f.name}>...</{f.name}>" for f in spec.outputs)
        return ({"role": "system", "content": f"{instructions}\nReply as {outputs}"},)

    def format_inputs(self, spec: SignatureSpec, inputs: Mapping[str, Any]) -> Message:
        return {"role": "user", "content": "".join(f"<{k}>{v}</{k}>" for k, v in inputs.items())}

    def parse(self, spec: SignatureSpec, text: str) -> Mapping[str, Any]:
        found = dict(_TAG.findall(text))
        if not found:
            raise ParseError("no tags in the reply", raw=text, signature=spec.name)
        return found


def test_builtin_and_user_adapters_satisfy_the_protocol() -> None:
    assert isinstance(cl.ChatAdapter(), AdapterProtocol)
    assert isinstance(cl.JSONAdapter(), AdapterProtocol)
    assert isinstance(TagAdapter(), AdapterProtocol)


def test_a_user_adapter_formats_the_request_and_its_parse_is_type_checked() -> None:
    lm = ScriptedLM(["<stars>4</stars><summary>good</summary>"])
    predict = cl.Predict(Score, adapter=TagAdapter(), lm=lm)
    result = predict(review="nice")
    assert (result.stars, result.summary) == (4, "good")  # "4" validated into an int
    sent = lm.requests[0].messages
    assert sent[0] == {
        "role": "system",
        "content": "Rate the review.\nReply as <stars>...</stars><summary>...</summary>",
    }
    assert sent[1] == {"role": "user", "content": "<review>nice</review>"}


def test_a_user_adapters_unreadable_or_invalid_reply_is_retried_then_raises() -> None:
    lm = ScriptedLM(["no tags", "<stars>9</stars><summary>x</summary>"])
    predict = cl.Predict(Score, adapter=TagAdapter(), lm=lm)
    with pytest.raises(ParseError, match="stars"):  # 9 breaks le=5
        predict(review="meh")
    retry = lm.requests[1].messages[-1]
    assert "no tags in the reply" in retry["content"]


def test_a_user_adapter_missing_an_output_is_a_parse_error() -> None:
    lm = ScriptedLM(["<stars>3</stars>", "<stars>3</stars><summary>ok</summary>"])
    assert cl.Predict(Score, adapter=TagAdapter(), lm=lm)(review="x").summary == "ok"


def test_a_subclass_of_a_builtin_adapter_is_used_as_given() -> None:
    class Loud(cl.ChatAdapter):
        def format_rules(self, spec: SignatureSpec) -> str:
            return "SHOUT. " + super().format_rules(spec)

    predict = cl.Predict(Score, adapter=Loud())
    assert "SHOUT." in predict.messages(review="x")[0]["content"]


def test_an_unknown_adapter_name_raises_at_construction_with_a_suggestion() -> None:
    # Regression: any unknown name used to fall back to the chat adapter silently.
    with pytest.raises(ConfigurationError, match=r"unknown adapter 'jsn'; did you mean 'json'"):
        cl.Predict(Score, adapter="jsn")  # type: ignore[arg-type]


def test_an_object_that_is_no_adapter_raises_at_construction() -> None:
    # Regression: an object without the protocol's methods fell back to the chat adapter.
    with pytest.raises(ConfigurationError, match="format_prefix"):
        cl.Predict(Score, adapter=object())  # type: ignore[arg-type]


def test_check_reports_an_unknown_adapter_name_with_its_line() -> None:
    source = textwrap.dedent(
        """\
        import castlm as cl

        class Ask(cl.Signature):
            question: str = cl.InputField()
            answer: str = cl.OutputField()

        class Bot(cl.Module):
            def __init__(self):
                self.ask = cl.Predict(Ask, adapter="jsn")
                self.fine = cl.Predict(Ask, adapter="chat")

            def forward(self, question: str):
                return self.ask(question=question)
        """
    )
    found = analyze_source(source, "app.py").diagnostics
    assert [d.format() for d in found] == [
        "app.py:9:44: CL210 error: unknown adapter 'jsn' for Predict() (did you mean 'json'? "
        "use one of 'auto', 'chat', 'json', or pass an adapter object (castlm.AdapterProtocol))"
    ]


PROGRAM = '''\
"""Rate reviews in a tag format of the project's own."""

from __future__ import annotations

import castlm as cl

from helpers import TagAdapter


class Score(cl.Signature):
    """Rate the review."""

    review: str = cl.InputField()
    stars: int = cl.OutputField()


class Rater(cl.Module):
    def __init__(self) -> None:
        self.rate = cl.Predict(Score, adapter=TagAdapter())

    def forward(self, review: str) -> Score:
        return self.rate(review=review)
'''

HELPERS = '''\
"""A project adapter: plain Python, no castlm import."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any


class TagAdapter:
    def format_prefix(
        self, spec: Any, instructions: str, demos: Sequence[Mapping[str, Any]]
    ) -> Sequence[Mapping[str, str]]:
        return ({"role": "system", "content": f"TAGS {instructions}"},)

    def format_inputs(self, spec: Any, inputs: Mapping[str, Any]) -> Mapping[str, str]:
        return {"role": "user", "content": "".join(f"<{k}>{v}</{k}>" for k, v in inputs.items())}

    def parse(self, spec: Any, text: str) -> Mapping[str, Any]:
        return dict(re.findall(r"<(\\w+)>(.*?)</\\1>", text))
'''


def test_a_package_keeps_the_programs_adapter(tmp_path: Path) -> None:
    program = write_sources(tmp_path / "src", PROGRAM)
    (program.parent / "helpers.py").write_text(HELPERS, encoding="utf-8")
    params = {"rate": cl.PredictorParams("Rate it, frozen.")}
    request = request_for(program, "rater_pkg", params=params, module_class="Rater")
    out = emit(request, tmp_path / "out")
    with imported(out, "rater_pkg") as package:
        lm = ScriptedLM(["<stars>5</stars>"])
        program = package.load(lm)
        assert program.rate.adapter.name == "rater_pkg.helpers.TagAdapter"
        assert program(review="great").stars == 5
        sent = lm.requests[0].messages
        assert sent[0]["content"] == "TAGS Rate it, frozen."
        assert sent[1]["content"] == "<review>great</review>"


def test_streaming_with_a_user_adapter_gives_the_parsed_result() -> None:
    lm = ScriptedLM(["<stars>2</stars><summary>[[ ## stars ## ]] odd</summary>"])
    events = list(cl.Predict(Score, adapter=TagAdapter(), lm=lm).stream(review="x"))
    assert [type(e).__name__ for e in events] == ["Done"]
    assert events[-1].result.stars == 2  # type: ignore[union-attr]


def test_the_manifest_names_builtin_and_custom_adapters(tmp_path: Path) -> None:
    from castlm.compiler.adapter_names import adapter_names
    from castlm.compiler.loader import import_program

    program_file = tmp_path / "rater.py"
    program_file.write_text(
        textwrap.dedent(
            """\
            import castlm as cl
            from test_adapter_protocol import Score, TagAdapter as Imported

            class Local(Imported):
                pass

            class Both(cl.Module):
                def __init__(self) -> None:
                    self.mine = cl.Predict(Score, adapter=Local())
                    self.imported = cl.Predict(Score, adapter=Imported())
                    self.json = cl.Predict(Score, adapter="json")
                    self.chat = cl.Predict(Score, adapter=cl.ChatAdapter())

                def forward(self, review: str) -> Score:
                    return self.mine(review=review)
            """
        ),
        encoding="utf-8",
    )
    program = import_program(program_file).Both()
    assert adapter_names(program) == {
        "mine": "rater.py:Local",
        "imported": "test_adapter_protocol.TagAdapter",
        "json": "json",
        "chat": "chat",
    }
