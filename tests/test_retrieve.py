"""Retrieval: tokenization, BM25 scores and ranking, corpus files, the Retrieve module inside a
program, and the embeddings retriever (stand-in and OpenAI-compatible embedders)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import castlm as cl
import pytest
from castlm.retrieval._retrieve import as_passage, tokenize
from castlm.testing import ScriptedLM, StandInEmbedder
from support.fake_openai import FakeOpenAI

CORPUS = [
    {"title": "Rivers", "text": "The Ormen river runs through Tarvik and the northern fields."},
    {"title": "Mills", "text": "Brightwater Mills grinds wheat from the northern fields."},
    {"title": "Bells", "text": "Mirrow is known for its bell towers."},
    "A passage without a title about cities and their rivers.",
]


def test_tokenization_is_documented_behaviour() -> None:
    assert tokenize("Tesla's e-mail: the Cities' RIVERS, classes and boxes!") == [
        "tesla", "mail", "city", "river", "class", "box",
    ]  # fmt: skip
    fullwidth = "\uff21\uff42\uff43"  # "Abc" in full-width letters
    assert tokenize(f"{fullwidth} 2024 x") == ["abc", "2024"]  # NFKC; one-letter words dropped


def test_bm25_ranks_by_the_okapi_formula() -> None:
    index = cl.BM25(CORPUS)
    found = index.retrieve("Which river runs through Tarvik?", k=2)
    assert [p.title for p in found] == ["Rivers", ""]
    # Hand-computed score of the best passage: "river" (in 2 passages, twice in this one),
    # "run", "through" and "tarvik" (in this one only).
    lengths = [len(tokenize(f"{p.title}\n{p.text}")) for p in index.passages]
    average = sum(lengths) / len(lengths)

    def term(n_docs: int, tf: int, length: int) -> float:
        idf = math.log(1 + (4 - n_docs + 0.5) / (n_docs + 0.5))
        return idf * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * length / average))

    expected = term(2, 2, lengths[0]) + 3 * term(1, 1, lengths[0])
    assert found[0].score == pytest.approx(expected)
    assert found[0].id == "0" and found[1].id == "3"


def test_bm25_returns_only_matching_passages_ties_in_corpus_order() -> None:
    index = cl.BM25(["alpha beta", "beta alpha", "gamma"])
    assert [p.id for p in index.retrieve("alpha", k=5)] == ["0", "1"]
    assert index.retrieve("nothing here", k=3) == []
    assert asyncio.run(index.aretrieve("gamma", 1))[0].text == "gamma"
    assert str(cl.Passage("text", title="T")) == "T | text"
    assert str(cl.Passage("text")) == "text"


def test_corpus_rows_are_checked() -> None:
    with pytest.raises(cl.ConfigurationError, match="corpus row 1"):
        cl.BM25(["fine", {"body": "no text key"}])


def test_passages_load_from_jsonl_json_and_text(tmp_path: Path) -> None:
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text(
        json.dumps({"id": "a", "title": "A", "text": "first", "year": 2001}) + "\n\n"
        + json.dumps("second") + "\n"
    )  # fmt: skip
    passages = cl.load_passages(jsonl)
    assert passages[0] == cl.Passage("first", "A", "a", 0.0, {"year": 2001})
    assert passages[1] == cl.Passage("second", id="1")
    (tmp_path / "c.json").write_text(json.dumps([{"text": "x"}, "y"]))
    assert [p.text for p in cl.load_passages(tmp_path / "c.json")] == ["x", "y"]
    (tmp_path / "c.txt").write_text("one\nstill one\n\n\ntwo\n")
    assert [p.text for p in cl.load_passages(tmp_path / "c.txt")] == ["one\nstill one", "two"]
    assert len(cl.BM25.from_file(jsonl)) == 2
    (tmp_path / "bad.jsonl").write_text("{not json")
    with pytest.raises(cl.ConfigurationError, match="not valid JSON"):
        cl.load_passages(tmp_path / "bad.jsonl")
    with pytest.raises(cl.ConfigurationError, match="cannot read"):
        cl.load_passages(tmp_path / "missing.jsonl")


class Answer(cl.Signature):
    """Answer from the context."""

    question: str = cl.InputField()
    context: list[str] = cl.InputField()
    answer: str = cl.OutputField()


class RAG(cl.Module):
    def __init__(self) -> None:
        self.retrieve = cl.Retrieve(cl.BM25(CORPUS), k=2)
        self.answer = cl.Predict(Answer)

    def forward(self, question: str) -> Answer:
        context = [str(p) for p in self.retrieve(question)]
        return self.answer(question=question, context=context)


def test_retrieve_works_inside_a_program_and_has_no_parameters() -> None:
    program = RAG()
    lm = ScriptedLM(["[[ ## answer ## ]]\nOrmen\n\n[[ ## completed ## ]]"] * 2)
    program.set_lm(lm)
    with cl.trace() as steps:
        assert program(question="Which river runs through Tarvik?").answer == "Ormen"
    assert steps[0].inputs["context"][0].startswith("Rivers | The Ormen river")
    assert [n for n, _ in program.named_predictors()] == ["answer"]
    copy = program.deepcopy()
    assert copy.retrieve.retriever is program.retrieve.retriever  # the index is shared
    assert [p.title for p in program.retrieve("bell towers", k=1)] == ["Bells"]
    assert len(asyncio.run(program.retrieve.acall("fields"))) == 2
    with pytest.raises(cl.ConfigurationError):
        cl.Retrieve(object(), k=1)  # type: ignore[arg-type]


def test_the_embeddings_retriever_ranks_by_cosine_similarity() -> None:
    embedder = StandInEmbedder()
    retriever = cl.EmbeddingsRetriever(CORPUS, embedder)
    found = retriever.retrieve("bell towers of Mirrow", k=1)
    assert found[0].title == "Bells" and found[0].score > 0.5
    assert embedder.calls == 2  # the corpus once, then the query
    retriever.retrieve("wheat", k=1)
    assert embedder.calls == 3
    assert isinstance(retriever, cl.Retriever)
    named = cl.EmbeddingsRetriever(CORPUS, "standin")
    assert asyncio.run(named.aretrieve("wheat fields mills", 1))[0].title == "Mills"


def test_precomputed_vectors_skip_embedding_the_corpus() -> None:
    embedder = StandInEmbedder()
    vectors = embedder.embed([str(as_passage(row, i)) for i, row in enumerate(CORPUS)])
    retriever = cl.EmbeddingsRetriever(CORPUS, embedder, vectors=vectors)
    assert retriever.retrieve("bell towers", k=1)[0].title == "Bells"
    with pytest.raises(cl.ConfigurationError, match="3 vectors for 4 passages"):
        cl.EmbeddingsRetriever(CORPUS, embedder, vectors=vectors[:3])
    other = cl.EmbeddingsRetriever(CORPUS, StandInEmbedder(8), vectors=vectors)
    with pytest.raises(cl.ConfigurationError, match="another embedder"):
        other.retrieve("bells", k=1)


def test_the_embeddings_retriever_uses_an_openai_compatible_endpoint() -> None:
    with FakeOpenAI() as server:
        embedder = cl.OpenAIEmbedder("embed", base_url=server.base_url, api_key="k")
        retriever = cl.EmbeddingsRetriever(CORPUS, embedder)
        found = retriever.retrieve("Mirrow is known for its bell towers.", k=4)
        paths = [r.path for r in server.requests]
    assert len(found) == 4
    assert found[0].title == "Bells"  # the same text embeds to the same vector
    assert paths == ["/v1/embeddings", "/v1/embeddings"]
