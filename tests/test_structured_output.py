"""Structured-output dialects, their detection per endpoint, and the JSON schema castlm sends."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Literal

import castlm as cl
import pytest
from castlm import ConfigurationError, LMStatusError, OpenAIChatLM
from castlm.base._structured import body_fields, strict_schema
from castlm.testing import ScriptedLM
from pydantic import BaseModel

from tests.support.fake_openai import FakeOpenAI

STRICT_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "$ref", "$defs", "description", "title", "pattern", "format", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
}  # fmt: skip


class Customer(BaseModel):
    plan: Literal["free", "pro"]
    product: str = "unknown"


class Topic(cl.Signature):
    """Classify the headline."""

    headline: str = cl.InputField()
    topic: Literal["business", "sports", "science"] = cl.OutputField(desc="the section")


class Rich(cl.Signature):
    """Read the ticket."""

    ticket: str = cl.InputField()
    urgent: bool = cl.OutputField()
    count: int = cl.OutputField(ge=0, le=10)
    note: str = cl.OutputField(min_length=2)
    customer: Customer = cl.OutputField(desc="who wrote")
    backup: Customer | None = cl.OutputField()
    tags: list[str] = cl.OutputField()


def _objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found.extend(_objects(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_objects(item))
    return found


def _keywords(node: Any, inside_properties: bool = False) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not inside_properties:
                keys.add(key)
            keys |= _keywords(value, inside_properties=key in ("properties", "$defs"))
    elif isinstance(node, list):
        for item in node:
            keys |= _keywords(item)
    return keys


# -- the schema ----------------------------------------------------------------------------


def test_signature_schema_is_strict_compatible() -> None:
    canonical = cl.Predict(Rich).spec.response_format
    assert canonical["json_schema"]["schema"]["properties"]["note"]["minLength"] == 2  # grammars
    response_format = body_fields("json_schema", canonical)["response_format"]
    wrapper = response_format["json_schema"]
    schema = wrapper["schema"]
    assert response_format["type"] == "json_schema" and wrapper["strict"] is True
    assert _keywords(schema) <= STRICT_KEYWORDS  # no castlm_role, default, minLength...
    for obj in _objects(schema):
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])  # every property, even defaulted
    enum = schema["properties"]["customer"]
    assert enum == {"$ref": "#/$defs/Customer"}  # a $ref keeps no siblings


def test_free_form_mapping_is_sent_without_strict() -> None:
    schema, strict = strict_schema(
        {"type": "object", "properties": {"d": {"type": "object", "additionalProperties": {}}}}
    )
    assert strict is False and schema["properties"]["d"]["additionalProperties"] == {}


def test_schema_is_built_once_per_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    class Once(cl.Signature):
        """Count."""

        text: str = cl.InputField()
        label: Literal["a", "b"] = cl.OutputField()

    predictor = cl.Predict(Once)
    model = predictor.spec.output_model
    calls = []
    original = model.model_json_schema

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "model_json_schema", counting)
    predictor.lm = ScriptedLM(['{"label": "a"}'] * 5, structured_output="json_schema")
    for _ in range(5):
        assert predictor(text="x").label == "a"
    assert len(calls) <= 1


@pytest.mark.parametrize(
    ("dialect", "expected_key"),
    [
        ("json_schema", "response_format"),
        ("llama_cpp", "response_format"),
        ("vllm", "structured_outputs"),
        ("vllm_guided", "guided_json"),
        ("ollama", "format"),
    ],
)
def test_each_dialect_puts_the_same_schema_where_its_server_reads_it(
    dialect: str, expected_key: str
) -> None:
    response_format = cl.Predict(Topic).spec.response_format
    schema = response_format["json_schema"]["schema"]
    fields = body_fields(dialect, response_format)
    assert list(fields) == [expected_key]
    sent = fields[expected_key]
    if dialect == "json_schema":
        assert sent["json_schema"]["strict"] and sent["json_schema"]["schema"] == schema
        assert sent is not response_format  # a copy trimmed for strict mode (same here)
    elif dialect == "llama_cpp":
        assert sent == {"type": "json_object", "schema": schema}
    elif dialect == "vllm":
        assert sent == {"json": schema}
    else:
        assert sent == schema
    assert body_fields("off", response_format) == {}


# -- choosing and detecting the dialect ----------------------------------------------------


def _lm(server: FakeOpenAI, **kwargs: Any) -> OpenAIChatLM:
    return OpenAIChatLM("smollm2", base_url=server.base_url, api_key="k", max_retries=0, **kwargs)


def test_auto_detects_llama_cpp_once_per_endpoint() -> None:
    with FakeOpenAI('{"topic": "sports"}', dialects=frozenset({"llama_cpp"})) as server:
        lm = _lm(server)
        assert cl.Predict(Topic, lm=lm)(headline="Cup final tonight").topic == "sports"
        first, second = (r.body for r in server.chat_requests)
        assert first["response_format"]["type"] == "json_schema"
        assert second["response_format"]["type"] == "json_object"
        assert second["response_format"]["schema"]["properties"]["topic"]["enum"]
        # Another LM object for the same endpoint and model knows already: one request.
        again = _lm(server)
        assert again.dialect() == "llama_cpp"
        cl.Predict(Topic, lm=again)(headline="Markets rally")
        assert len(server.chat_requests) == 3


def test_auto_detection_async_and_streaming() -> None:
    with FakeOpenAI('{"topic": "science"}', dialects=frozenset({"vllm"})) as server:
        lm = _lm(server, structured_output="auto")
        result = asyncio.run(cl.Predict(Topic, lm=lm).acall(headline="New comet"))
        assert result.topic == "science"
        # json_schema and llama_cpp refused, then nothing left but 'off': prompt-only JSON.
        bodies = [r.body for r in server.chat_requests]
        assert [("response_format" in b) for b in bodies] == [True, True, False]
    with FakeOpenAI('{"topic": "science"}', dialects=frozenset({"llama_cpp"})) as server:
        events = list(cl.Predict(Topic, lm=_lm(server)).stream(headline="New comet"))
        assert isinstance(events[-1], cl.Done) and events[-1].result.topic == "science"
        assert server.chat_requests[-1].body["response_format"]["type"] == "json_object"


def test_a_chosen_dialect_is_never_downgraded() -> None:
    with FakeOpenAI('{"topic": "sports"}', dialects=frozenset({"llama_cpp"})) as server:
        lm = _lm(server, structured_output="json_schema")
        with pytest.raises(LMStatusError, match="structured_output") as caught:
            cl.Predict(Topic, lm=lm)(headline="Cup final")
        assert len(server.chat_requests) == 1 and caught.value.status_code == 500
        assert "llama_cpp" in str(caught.value)


@pytest.mark.parametrize("dialect", ["vllm", "vllm_guided", "ollama"])
def test_explicit_dialects_reach_their_server(dialect: str) -> None:
    with FakeOpenAI('{"topic": "sports"}', dialects=frozenset({dialect})) as server:
        lm = _lm(server, structured_output=dialect)
        assert cl.Predict(Topic, lm=lm)(headline="Cup final").topic == "sports"
        assert len(server.chat_requests) == 1


def test_off_sends_no_schema_and_keeps_the_chat_format() -> None:
    reply = "[[ ## topic ## ]]\nsports\n\n[[ ## completed ## ]]"
    with FakeOpenAI(reply) as server:
        lm = _lm(server, structured_output="off")
        assert cl.Predict(Topic, lm=lm)(headline="Cup final").topic == "sports"
        body = server.chat_requests[0].body
        assert "response_format" not in body
        assert "[[ ## topic ## ]]" in body["messages"][0]["content"]


def test_a_constraining_lm_gets_json_even_for_a_plain_choice() -> None:
    with FakeOpenAI('{"topic": "business"}') as server:
        predictor = cl.Predict(Topic)
        predictor.lm = _lm(server)
        assert predictor(headline="Stocks fall").topic == "business"
        system = server.chat_requests[0].body["messages"][0]["content"]
        assert "JSON object" in system and "[[ ##" not in system
    # The same predictor, later called with a test double that constrains nothing, follows it.
    predictor.lm = ScriptedLM(["[[ ## topic ## ]]\nsports\n\n[[ ## completed ## ]]"])
    assert predictor(headline="Cup final").topic == "sports"


# -- settings ------------------------------------------------------------------------------


def test_every_setting_reaches_the_body() -> None:
    with FakeOpenAI('{"topic": "sports"}') as server:
        lm = _lm(
            server,
            temperature=0.3,
            max_tokens=40,
            top_p=0.9,
            seed=7,
            stop=["\n\n"],
            reasoning_effort="low",
            extra_body={"cache_prompt": True, "top_k": 20},
            structured_output="llama_cpp",
        )
        cl.Predict(Topic, lm=lm)(headline="Cup final")
        body = server.chat_requests[0].body
    assert body["temperature"] == 0.3 and body["max_tokens"] == 40 and body["top_p"] == 0.9
    assert body["seed"] == 7 and body["stop"] == ["\n\n"] and body["reasoning_effort"] == "low"
    assert body["cache_prompt"] is True and body["top_k"] == 20
    assert "max_completion_tokens" not in body  # llama.cpp ignores it: never sent there


@pytest.mark.parametrize("model", ["o3-mini", "gpt-5", "openai/o4-mini"])
def test_reasoning_models_get_max_completion_tokens(model: str) -> None:
    request = ScriptedLM([], model=model, max_tokens=50).request([{"role": "user", "content": "x"}])
    body = request.payload()
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


def test_output_cap_follows_the_signature_unless_set() -> None:
    def sent_cap(predictor: cl.Predict[Any], lm: ScriptedLM) -> int | None:
        predictor.lm = lm
        predictor(headline="x")
        return lm.requests[-1].max_tokens

    reply = ["[[ ## topic ## ]]\nsports\n\n[[ ## completed ## ]]"]
    choice = sent_cap(cl.Predict(Topic), ScriptedLM(list(reply)))
    reasoning = ["[[ ## reasoning ## ]]\nr\n\n" + reply[0]]
    thought = sent_cap(cl.ChainOfThought(Topic), ScriptedLM(list(reasoning)))
    assert choice is not None and thought is not None and choice < 100 < thought <= 2048
    assert sent_cap(cl.Predict(Topic), ScriptedLM(list(reply), max_tokens=5)) == 5
    assert sent_cap(cl.Predict(Topic, max_tokens=9), ScriptedLM(list(reply), max_tokens=5)) == 9


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"temprature": 0.1}, "did you mean 'temperature'"),
        ({"temperature": 3}, "temperature must be"),
        ({"max_tokens": 0}, "max_tokens must be"),
        ({"structured_output": "llamacpp"}, "structured_output must be"),
        ({"reasoning_effort": "max"}, "reasoning_effort must be"),
    ],
)
def test_bad_settings_are_named(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        cl.make_lm("openai/x", base_url="http://127.0.0.1:9/v1", **settings)


def test_a_cut_off_reply_says_to_raise_max_tokens() -> None:
    server = FakeOpenAI('{"topic": "spo', finish_reason="length")
    with server, pytest.raises(cl.ParseError, match="raise max_tokens"):
        cl.Predict(Topic, lm=_lm(server, max_tokens=3))(headline="Cup final")


def test_cache_key_follows_the_dialect() -> None:
    lm = ScriptedLM([], structured_output="json_schema")
    rf = cl.Predict(Topic).spec.response_format
    base = lm.request([{"role": "user", "content": "x"}], response_format=rf)
    dialects = ("json_schema", "llama_cpp", "vllm", "vllm_guided", "ollama", "off")
    keys = {replace(base, structured_output=d).cache_key("ns") for d in dialects}
    assert len(keys) == len(dialects) and base.structured_output == "json_schema"
