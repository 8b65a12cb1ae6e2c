"""An OpenAI-compatible embeddings client (``POST /embeddings``) over httpx."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..base._errors import ConfigurationError, LMResponseError
from ..base._narrow import is_array, is_object
from ..lm._retry import RetryPolicy
from ._openai_rest import OpenAIRest
from ._vectors import check_vectors


class OpenAIEmbedder:
    """Embeds texts with ``model`` at an OpenAI-compatible endpoint (OpenAI, vLLM, TEI,
    llama.cpp, Ollama, gateways).

    The endpoint and key resolve like the chat client's: ``base_url``, else
    ``$CASTLM_BASE_URL`` / ``$OPENAI_BASE_URL`` / OpenAI; ``api_key``, else ``$CASTLM_API_KEY`` /
    ``$OPENAI_API_KEY`` read at send time. Texts go in batches of ``batch_size``, one request
    each; transient failures are retried (``retry``).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        batch_size: int = 256,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not model.strip():
            raise ConfigurationError(
                "OpenAIEmbedder needs a model name, e.g. 'text-embedding-3-small'"
            )
        if batch_size < 1:
            raise ConfigurationError("OpenAIEmbedder: batch_size must be >= 1")
        self.model = model
        self.batch_size = batch_size
        self.rest = OpenAIRest(
            "the embeddings endpoint",
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            retry=retry,
            headers=headers,
        )

    @property
    def name(self) -> str:
        return f"openai/{self.model}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            body = {"model": self.model, "input": batch}
            vectors.extend(self._vectors(batch, self.rest.request("POST", "embeddings", json=body)))
        return check_vectors(self, texts, vectors)

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            body = {"model": self.model, "input": batch}
            answer = await self.rest.arequest("POST", "embeddings", json=body)
            vectors.extend(self._vectors(batch, answer))
        return check_vectors(self, texts, vectors)

    def close(self) -> None:
        self.rest.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> OpenAIEmbedder:
        return self  # no learnable state: copies of a program share the client

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.rest.base_url!r})"

    def _batches(self, texts: Sequence[str]) -> list[list[str]]:
        items = list(texts)
        return [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]

    def _vectors(self, batch: list[str], answer: Any) -> list[list[float]]:
        """The vectors of one answer, in input order (servers may list them out of order)."""
        data = answer.get("data") if is_object(answer) else None
        if not is_array(data) or len(data) != len(batch):
            raise self._malformed(f"expected {len(batch)} items in 'data'")
        ordered: list[list[float] | None] = [None] * len(batch)
        for position, item in enumerate(data):
            if not is_object(item):
                raise self._malformed("an item of 'data' is not an object")
            index = item.get("index", position)
            vector = item.get("embedding")
            if not isinstance(index, int) or not 0 <= index < len(batch):
                raise self._malformed(f"an item has index {index!r}")
            if not is_array(vector) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in vector
            ):
                raise self._malformed("an 'embedding' is not a list of numbers")
            ordered[index] = [float(x) for x in vector]
        if any(v is None for v in ordered):
            raise self._malformed("two items have the same index")
        return [v for v in ordered if v is not None]

    def _malformed(self, why: str) -> LMResponseError:
        return LMResponseError(
            f"the embeddings endpoint at {self.rest.base_url} (model {self.model!r}) answered "
            f"with something that is not an embeddings list: {why}"
        )
