"""make_lm: LM names from config files and the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from castlm import LM, ConfigurationError
from castlm.lm._cache import LMCache
from castlm.lm._litellm import LiteLLMLM
from castlm.lm._lm_factory import make_lm
from castlm.lm._lm_settings import check_settings, settings_from_env
from castlm.lm._openai import OpenAIChatLM
from support.fake_openai import FakeOpenAI


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CASTLM_BASE_URL", "OPENAI_BASE_URL", "CASTLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_a_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        make_lm(name)


@pytest.mark.parametrize("name", ["openai/", "litellm/", "litellm/  "])
def test_prefix_without_model_is_a_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match="no model"):
        make_lm(name)


def test_openai_prefix_and_options() -> None:
    cache = LMCache()
    lm = make_lm(
        "openai/gpt-4o-mini",
        base_url="http://127.0.0.1:1/v1",
        api_key="k",
        cache=cache,
        temperature=0.5,
        max_retries=1,
    )
    assert isinstance(lm, OpenAIChatLM)
    assert (lm.model, lm.base_url, lm.temperature, lm.max_retries) == (
        "gpt-4o-mini",
        "http://127.0.0.1:1/v1",
        0.5,
        1,
    )
    assert lm.cache is cache


def test_bare_name_is_an_openai_compatible_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTLM_BASE_URL", "http://127.0.0.1:2/v1")
    lm = make_lm("qwen2.5:7b")
    assert isinstance(lm, OpenAIChatLM)
    assert (lm.model, lm.base_url) == ("qwen2.5:7b", "http://127.0.0.1:2/v1")


def test_litellm_prefix_needs_no_litellm_until_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)
    lm = make_lm("litellm/anthropic/claude-3-5-haiku", api_key="k", max_tokens=9)
    assert isinstance(lm, LiteLLMLM)
    assert (lm.model, lm.max_tokens) == ("anthropic/claude-3-5-haiku", 9)


def test_standin() -> None:
    testing = pytest.importorskip("castlm.testing")
    if not hasattr(testing, "StandInLM"):
        pytest.skip("castlm.testing.StandInLM is not available yet")
    cache = LMCache()
    lm = make_lm("standin", cache=cache, base_url="http://ignored/v1")
    assert isinstance(lm, LM) and type(lm).__name__ == "StandInLM"
    assert lm.cache is cache


def test_max_connections_is_a_setting_of_every_lm_name() -> None:
    # load(max_connections=...) and CASTLM_MAX_CONNECTIONS reach the pool of the package's LMs.
    assert settings_from_env({"CASTLM_MAX_CONNECTIONS": "300"}) == {"max_connections": 300}
    lm = make_lm("openai/m", base_url="http://127.0.0.1:1/v1", max_connections=300)
    assert isinstance(lm, OpenAIChatLM) and lm.max_connections == 300
    assert make_lm("openai/m", base_url="http://127.0.0.1:1/v1").max_connections == 1000
    testing = pytest.importorskip("castlm.testing")
    assert isinstance(make_lm("standin", max_connections=5), testing.StandInLM)
    with pytest.raises(ConfigurationError, match="litellm keeps its own pool"):
        make_lm("litellm/anthropic/claude-3-5-haiku", max_connections=5)
    for bad in (0, 2.5, "many"):
        with pytest.raises(ConfigurationError, match="max_connections must be"):
            check_settings({"max_connections": bad}, where="load()")


def test_made_lm_talks_to_the_endpoint() -> None:
    with FakeOpenAI(reply="made") as server:
        lm = make_lm("openai/m", base_url=server.base_url)
        assert isinstance(lm, OpenAIChatLM)
        with lm:
            assert lm.complete(lm.request([{"role": "user", "content": "hi"}])).text == "made"
        assert server.chat_requests[0].body["model"] == "m"


def test_runtime_backends_import_no_optional_or_compiler_packages() -> None:
    # The runtime is vendored into emitted packages: importing it must stay light.
    code = (
        "import sys, castlm.lm._lm_factory, castlm.lm._litellm, castlm.lm._openai\n"
        "import castlm.lm._cache\n"
        "heavy = {'litellm', 'libcst', 'jinja2', 'optuna', 'castlm.compiler'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
