"""KNNFewShot: demo pools built at compile time, chosen from per call by embedding similarity."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import sys
import types
from typing import Any, Literal

import castlm as cl
import pytest
from castlm.compiler.evaluate import Evaluator
from castlm.core._knn import KNNDemos, KNNPool, PoolEntry, dump_knn_pools, knn_key, nearest
from castlm.embed._embed import make_embedder, shared_embedder
from castlm.embed._local_embed import SentenceTransformerEmbedder
from castlm.embed._openai_embed import OpenAIEmbedder
from castlm.testing import StandInEmbedder, StandInLM
from support.fake_openai import FakeOpenAI, embedding
from support.optimizer_packages import built, run_castlm_free
from support.triage_task import triage


class Route(cl.Signature):
    """Route the message."""

    text: str = cl.InputField()
    queue: Literal["billing", "tech"] = cl.OutputField()


ROWS = [
    ("refund my invoice", "billing"),
    ("the app crashes at start", "tech"),
    ("charged twice on my card", "billing"),
    ("error when I open settings", "tech"),
]


def pool(embedder: StandInEmbedder, spec: cl.SignatureSpec, rows: list[tuple[str, str]]) -> KNNPool:
    entries = []
    for text, queue in rows:
        key = knn_key(spec, {"text": text})
        entries.append(
            PoolEntry(key, tuple(embedder.vector(key)), ({"text": text, "queue": queue},))
        )
    return KNNPool(embedder.name, tuple(entries))


def route(k: int = 1, embedder: StandInEmbedder | None = None) -> cl.Predict[Route]:
    predictor = cl.Predict(Route, lm=StandInLM())
    knn = KNNDemos(pool(StandInEmbedder(), predictor.spec, ROWS), k=k, embedder=embedder)
    predictor.params = cl.PredictorParams("Route it.", knn=knn)
    return predictor


# -- the optimizer on the triage task -------------------------------------------------------
@pytest.fixture(scope="module")
def compiled() -> Any:
    result, _, roles = triage().compile("knn", {})
    return result, roles


def test_knn_beats_zero_shot_on_held_out_dev_with_one_embedding_per_call(compiled: Any) -> None:
    result, _ = compiled
    task = triage()
    evaluator = Evaluator(task.metric, task.call_args, 4)
    zero_shot = evaluator(task.student(StandInLM()), task.dev).score
    lm = StandInLM()
    program = result.program(task.student(lm))
    knn = program.predictor("triage").knn
    assert knn is not None and len(knn.pool.entries) == len(task.train)
    embeds_before = knn.embedder.calls
    score = evaluator(program, task.dev).score
    assert score > zero_shot + 15  # 65.0 vs 29.7 at the time of writing
    assert knn.embedder.calls - embeds_before == len(task.dev)  # one embedding per call
    assert lm.stats.calls == len(task.dev)  # and no LM call beyond the prediction itself
    assert any("53 of 56" in note or "accepted" in note for note in result.notes)


def test_compile_cost_is_one_teacher_run_per_training_example(compiled: Any) -> None:
    _, roles = compiled
    assert roles.task.stats.calls == 0
    assert roles.teacher.stats.calls == len(triage().train)
    optimizer = cl_optimizer()
    assert optimizer.estimate_calls(1, len(triage().train), 10) == len(triage().train)
    assert optimizer.estimate_demos() == 3


def cl_optimizer() -> Any:
    from castlm.compiler.optimizers import make_optimizer

    return make_optimizer("knn", {})


# -- the runtime ----------------------------------------------------------------------------
def test_each_call_shows_the_nearest_entries_demos_after_the_fixed_prefix() -> None:
    predictor = route(k=2)
    messages = predictor.messages(text="my card was charged twice")
    knn = predictor.knn
    assert knn is not None
    vectors = [e.vector for e in knn.pool.entries]
    query = StandInEmbedder().embed(
        [knn_key(predictor.spec, {"text": "my card was charged twice"})]
    )
    chosen = nearest(query[0], vectors, [sum(x * x for x in v) ** 0.5 for v in vectors], 2)
    demos = [d for i in chosen for d in knn.pool.entries[i].demos]
    expected = predictor.adapter.prefix(predictor.spec, "Route it.", demos)
    assert tuple(messages[:-1]) == expected
    assert "charged twice on my card" in messages[1]["content"]  # the nearest comes first
    assert predictor(text="my card was charged twice").queue == "billing"


def test_entries_are_rendered_once_and_plain_predictors_keep_one_prefix() -> None:
    predictor = route(k=2)
    renders: list[int] = []

    class Counting(cl.ChatAdapter):
        def prefix(self, *args: Any) -> Any:
            renders.append(1)
            return super().prefix(*args)

    predictor.adapter = Counting()
    predictor.messages(text="refund my invoice please")
    assert len(renders) == 3  # the fixed prefix, then each of the two chosen entries
    predictor.messages(text="refund my invoice please")
    assert len(renders) == 3  # the same neighbours: nothing rendered again
    plain = cl.Predict(Route)
    assert plain.prefix() is plain.prefix()


def test_async_calls_choose_the_same_demos() -> None:
    predictor = route(k=1)
    with cl.trace() as sync_steps:
        predictor(text="the app crashes")
    with cl.trace() as async_steps:
        asyncio.run(predictor.acall(text="the app crashes"))
    assert sync_steps[0].messages == async_steps[0].messages


def test_another_embedder_re_embeds_the_pool_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTLM_EMBEDDER", "standin-64")
    predictor = route(k=1)
    other = shared_embedder("standin-64")
    assert isinstance(other, StandInEmbedder)
    before = other.calls
    assert predictor(text="refund please").queue == "billing"
    assert other.calls - before == 2  # the pool, then the query
    predictor(text="app crashes")
    assert other.calls - before == 3


def test_set_embedder_and_dimension_checks() -> None:
    predictor = route(k=1)
    mine = StandInEmbedder(32)
    cl.set_embedder(predictor, mine)
    predictor(text="error again")
    assert mine.calls == 2
    with pytest.raises(cl.ConfigurationError, match="dimensions"):
        nearest([1.0, 0.0], [(1.0, 0.0, 0.0)], [1.0], 1)


def test_the_pool_file_keeps_any_text_exactly(tmp_path: Any) -> None:
    weird = 'quote " back \\ nl \n crlf \r\n nul \x00 sep \u2028 lone \ud800 {{ x }} """'
    entry = PoolEntry(weird, (0.0, -0.5, 1e-7, 3.0), ({"text": weird, "queue": "tech"},))
    pools = {"a.b": KNNPool("standin", (entry,)), "empty": KNNPool("x", ())}
    text = dump_knn_pools(pools)
    text.encode("ascii")
    path = tmp_path / "_knn.json"
    path.write_text(text, encoding="ascii")
    assert cl.load_knn_pools(path) == pools
    path.write_text(text.replace("castlm-knn/1", "other"), encoding="ascii")
    with pytest.raises(cl.ConfigurationError, match="recompile"):
        cl.load_knn_pools(path)


# -- embedders ------------------------------------------------------------------------------
def test_embedder_names() -> None:
    assert isinstance(make_embedder("standin"), StandInEmbedder)
    assert make_embedder("standin-32").name == "standin-32"
    assert make_embedder("openai/text-embedding-3-small").name == "openai/text-embedding-3-small"
    assert make_embedder("nomic-embed").name == "openai/nomic-embed"
    assert make_embedder("local/all-MiniLM-L6-v2").name == "local/all-MiniLM-L6-v2"
    for bad in ("", "local/", "standin-x"):
        with pytest.raises(cl.ConfigurationError):
            make_embedder(bad)


def test_openai_embedder_batches_and_sends_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTLM_API_KEY", "sk-test-secret")
    with FakeOpenAI(embedding_dim=4) as server:
        embedder = OpenAIEmbedder("emb", base_url=server.base_url, batch_size=2)
        texts = ["a", "b", "c"]
        assert embedder.embed(texts) == [embedding(t, 4) for t in texts]
        assert asyncio.run(embedder.aembed(["d"])) == [embedding("d", 4)]
        requests = [r for r in server.requests if r.path == "/v1/embeddings"]
        assert [r.body["input"] for r in requests] == [["a", "b"], ["c"], ["d"]]
        assert all(r.headers["authorization"] == "Bearer sk-test-secret" for r in requests)
        assert "sk-test" not in repr(embedder)
        explicit = OpenAIEmbedder("emb", base_url=server.base_url, api_key="sk-explicit")
        assert b"sk-explicit" not in pickle.dumps(explicit)  # keys are never pickled
        assert copy.deepcopy(explicit) is explicit
        missing = OpenAIEmbedder("emb", base_url=server.base_url + "/nope")
        with pytest.raises(cl.LMStatusError, match="404"):
            missing.embed(["x"])


def test_local_embedder_loads_sentence_transformers_lazily(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[str] = []

    class Model:
        def __init__(self, name: str, device: str | None = None) -> None:
            loaded.append(name)

        def encode(self, texts: list[str], normalize_embeddings: bool) -> list[list[float]]:
            return [[float(len(t)), 1.0] for t in texts]

    embedder = SentenceTransformerEmbedder("tiny")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(cl.ConfigurationError, match="pip install sentence-transformers"):
        embedder.embed(["x"])
    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = Model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    assert embedder.embed(["ab", "c"]) == [[2.0, 1.0], [1.0, 1.0]]
    assert asyncio.run(embedder.aembed(["abc"])) == [[3.0, 1.0]]
    assert loaded == ["tiny"]


# -- the emitted package --------------------------------------------------------------------
def test_the_package_ships_the_pool_and_runs_without_castlm() -> None:
    packages = built()
    assert packages.mypy.returncode == 0, packages.mypy.stdout
    out = packages.outs["knn"]
    package = out / "knn_bot"
    frozen = (package / "_frozen.py").read_text(encoding="utf-8")
    assert 'knn=KNNDemos(_POOLS["triage"], k=3)' in frozen
    assert '"_knn.json"' in (out / "pyproject.toml").read_text(encoding="utf-8")
    pools = cl.load_knn_pools(package / "_knn.json")
    assert len(pools["triage"].entries) == len(triage().train)
    rows = json.loads((out / "castlm-verify.json").read_text(encoding="utf-8"))["rows"][:4]
    result = run_castlm_free("knn", [row["inputs"] for row in rows])
    assert result["castlm_modules"] == []
    assert result["loaded"] == [row["prediction"] for row in rows]  # parity with compile time
    assert result["run"] == result["loaded"] == result["arun"]
    assert result["messages"][: len(rows)] == [row["prompts"][0]["messages"] for row in rows]
