"""LM-call and cost budgets: the Budget guard itself, and budgets enforced during a compile."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from castlm import Example, LMCache, Module
from castlm.compiler.budget import Budget, BudgetExhausted
from castlm.compiler.cli import main
from castlm.compiler.config import load_config_file
from castlm.compiler.optimizers import OPTIMIZERS, OptimizeContext, Optimizer, OptimizeResult
from castlm.compiler.optimizers.labeled import sample_labeled
from castlm.compiler.pipeline import compile_program
from castlm.lm._lm import Message
from castlm.testing import ScriptedLM
from support.project import write_project


def echo(messages: Sequence[Message]) -> str:
    return "ok " + messages[-1]["content"][-20:]


def ask(lm: ScriptedLM, text: str) -> None:
    lm.complete(lm.request([{"role": "user", "content": text}]))


# -- the guard ---------------------------------------------------------------------------
def test_the_budget_refuses_the_call_after_the_limit_and_keeps_refusing() -> None:
    lm = ScriptedLM(echo)
    budget = Budget(max_calls=3)
    budget.install([lm])
    for i in range(3):
        ask(lm, f"q{i}")
    with pytest.raises(BudgetExhausted, match="LM-call budget of 3 reached after 3 calls"):
        ask(lm, "q3")
    with pytest.raises(BudgetExhausted):  # a swallowed refusal does not reopen it
        ask(lm, "q4")
    assert len(lm.requests) == 3 and budget.calls == 3
    assert budget.stop is not None and budget.stop.calls == 3


def test_cache_hits_are_free(tmp_path: Path) -> None:
    lm = ScriptedLM(echo, cache=LMCache(tmp_path / "cache.sqlite"))
    budget = Budget(max_calls=1)
    budget.install([lm])
    ask(lm, "same")
    for _ in range(5):
        ask(lm, "same")  # answered from the cache: never reaches the guard
    assert budget.calls == 1 and lm.stats.cache_hits == 5
    with pytest.raises(BudgetExhausted):
        ask(lm, "new")


def test_parallel_calls_never_exceed_the_limit() -> None:
    lm = ScriptedLM(echo)
    budget = Budget(max_calls=10)
    budget.install([lm])
    refused: list[int] = []

    def worker(n: int) -> None:
        for i in range(10):
            try:
                ask(lm, f"{n}-{i}")
            except BudgetExhausted:
                refused.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lm.requests) == 10 and len(refused) == 70


def test_keeping_lowers_the_limit_inside_the_block_and_lift_reopens() -> None:
    lm = ScriptedLM(echo)
    stops = []
    budget = Budget(max_calls=5, on_stop=stops.append)
    budget.install([lm])
    with budget.keeping(3, None):
        ask(lm, "a")
        ask(lm, "b")
        with pytest.raises(BudgetExhausted, match=r"\(3 kept back"):
            ask(lm, "c")
    assert len(stops) == 1 and budget.lift() is not None
    for text in "cde":
        ask(lm, text)  # the reserve is available again
    with pytest.raises(BudgetExhausted):
        ask(lm, "f")


def test_the_cost_limit_uses_what_the_calls_cost() -> None:
    lm = ScriptedLM(lambda m: "x" * 400)  # 100 completion tokens per call
    budget = Budget(max_cost=0.25, spent=lambda: lm.stats.usage.completion_tokens / 1000)
    budget.install([lm])
    ask(lm, "a")
    ask(lm, "b")  # 0.2 spent
    ask(lm, "c")  # admitted at 0.2 < 0.25; spends to 0.3
    with pytest.raises(BudgetExhausted, match=r"cost budget of \$0.2500 reached after \$0.3000"):
        ask(lm, "d")
    budget.uninstall([lm])
    ask(lm, "e")  # no guard any more


# -- during a compile --------------------------------------------------------------------
def _compile(root: Path, **overrides: object):  # type: ignore[no-untyped-def]
    (config,) = load_config_file(root / "castlm.toml", {"verify": False, **overrides})
    return compile_program(config, force=True)


def test_a_stop_during_bootstrap_keeps_the_demos_collected_so_far(tmp_path: Path) -> None:
    options = {"max_bootstrapped_demos": 8, "max_labeled_demos": 0}
    project = {"optimizer": "bootstrap", "options": options, "extra": "threads = 1\n"}
    full = _compile(write_project(tmp_path / "full", **project))  # type: ignore[arg-type]
    optimize = next(p for p in full.phases if p.name == "optimize")
    assert full.stopped is None and optimize.calls > 4
    root = write_project(tmp_path / "p", **project)  # type: ignore[arg-type]
    # The baseline's calls plus a few of the teacher's, then the budget runs out.
    limit = next(p for p in full.phases if p.name == "baseline").calls + optimize.calls // 2
    outcome = _compile(root, max_lm_calls=limit + full.dev_size)
    assert outcome.stopped is not None
    assert "the demos it had collected before the stop were emitted" in outcome.stopped
    frozen = (root / "build/reviewer/reviewer/_frozen.py").read_text()
    assert "demos=(" in frozen  # not the unoptimized program's empty demos


def test_a_stop_during_the_search_emits_the_best_candidate_so_far(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        optimizer="random_search",
        options={"num_candidate_programs": 6},
        extra="threads = 1\n",
    )
    full = _compile(
        write_project(
            tmp_path / "full",
            optimizer="random_search",
            options={"num_candidate_programs": 6},
            extra="threads = 1\n",
        )
    )
    assert full.stopped is None and full.budget is not None
    limit = full.lm_calls // 2
    outcome = _compile(root, max_lm_calls=limit)
    assert outcome.stopped is not None
    assert outcome.stopped.startswith(f"stopped: LM-call budget of {limit} reached after")
    assert outcome.budget is not None and outcome.budget.lm_calls <= limit
    assert outcome.lm_calls <= limit
    manifest = json.loads((root / "build/reviewer/reviewer/manifest.json").read_text())
    assert manifest["stopped"] == outcome.stopped
    assert manifest["budget"]["max_lm_calls"] == limit
    assert outcome.stopped in (root / "build/reviewer/report.md").read_text()
    # A stopped package is never up to date: the same command continues from the cache.
    again = _compile(root, max_lm_calls=limit)
    assert not again.up_to_date and again.cache_hits > 0


class Sequential(Optimizer):
    """Scores labeled candidates one after another and offers each (a tiny search)."""

    name = "sequential"

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        for k in (0, 2, 4, 8, 12):
            program = student.deepcopy()
            for name, p in program.named_predictors():
                p.demos = sample_labeled(name, p, trainset, k, ctx.seed)
            score = ctx.evaluate(program, valset, f"k={k}")
            ctx.offer(f"k={k}", program.get_params(), score)
        late = student.deepcopy().get_params()
        ctx.offer("late", late, 1000.0)  # must never win after a stop
        return OptimizeResult(dict(late))


@pytest.fixture
def sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OPTIMIZERS, "sequential", Sequential)


@pytest.mark.usefixtures("sequential")
def test_a_stop_emits_the_best_candidate_offered_before_it(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", optimizer="sequential", extra="threads = 1\n")
    # baseline 6 + 18 per candidate + 6 kept back: k=0 and k=2 are scored, k=4 is cut short.
    outcome = _compile(root, max_lm_calls=6 + 2 * 18 + 5 + 6)
    assert outcome.stopped is not None
    assert "emitted the best candidate so far (k=2, score" in outcome.stopped
    frozen = (root / "build/reviewer/reviewer/_frozen.py").read_text()
    assert frozen.count("'review':") + frozen.count('"review":') == 2  # k=2 demos


@pytest.mark.usefixtures("sequential")
def test_candidates_offered_after_the_stop_are_ignored(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", optimizer="sequential", extra="threads = 1\n")
    swallow(root / "program.py")  # later candidates "score" on fallback answers
    outcome = _compile(root, max_lm_calls=6 + 18 + 5 + 6)
    assert outcome.stopped is not None
    assert "(k=0, score" in outcome.stopped and "late" not in outcome.stopped


def swallow(program: Path) -> None:
    """Make the program answer 'mixed' when its LM call fails (it hides refusals)."""
    program.write_text(
        program.read_text().replace(
            "        return self.classify(review=review)",
            "        try:\n"
            "            return self.classify(review=review)\n"
            "        except Exception:\n"
            "            return Sentiment(review=review, label='mixed')",
        )
    )


def test_a_stop_during_the_baseline_fails_without_writing(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    first = _compile(root)
    package = root / "build/reviewer"
    before = {p: p.read_bytes() for p in package.rglob("*") if p.is_file()}
    (root / ".castlm").rename(root / ".castlm-old")  # an empty cache: every call is real
    with pytest.raises(BudgetExhausted, match="during the baseline evaluation"):
        _compile(root, max_lm_calls=2)
    after = {p: p.read_bytes() for p in package.rglob("*") if p.is_file()}
    assert after == before and first.compiled is not None


def test_a_program_that_swallows_the_refusal_still_stops(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    swallow(root / "program.py")
    with pytest.raises(BudgetExhausted, match="baseline"):
        _compile(root, max_lm_calls=3)


def test_max_cost_needs_a_price_for_every_lm(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", extra='teacher_lm = "openai/some-unpriced-model"\n')
    with pytest.raises(Exception, match="max_cost needs the price of 'openai/some-unpriced-model'"):
        _compile(root, max_cost=1.0)


def test_the_cost_budget_stops_a_priced_compile(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        optimizer="random_search",
        options={"num_candidate_programs": 6},
        extra='prices = { "standin" = [1000.0, 1000.0] }\n',
    )
    outcome = _compile(root, max_cost=20.0)
    assert outcome.stopped is not None and "cost budget of $20.0000" in outcome.stopped
    assert outcome.cost is not None and outcome.plan is not None
    assert outcome.plan.cost is not None and outcome.plan.cost > 20.0


def test_cli_flags_set_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_project(tmp_path / "p", optimizer="random_search")
    code = main([
        "compile", str(root), "--no-verify", "--json", "--max-lm-calls", "30", "--max-cost", "5",
    ])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["budget"]["max_lm_calls"] == 30 and data["budget"]["max_cost"] == 5.0
    assert data["stopped"].startswith("stopped: LM-call budget of 30")
    assert data["lm_calls"] <= 30


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_lm_calls = -1", "max_lm_calls must be a whole number >= 0"),
        ("max_lm_calls = true", "max_lm_calls must be a whole number >= 0"),
        ("max_lm_calls = 1.5", "setting 'max_lm_calls' must be int"),
        ("max_cost = -0.5", "max_cost must be a number of US dollars >= 0"),
        ('prices = { "m" = [1.0] }', r"prices.m must be \[input_usd, output_usd\]"),
        ('prices = { "m" = [1.0, "x"] }', r"prices.m must be \[input_usd, output_usd\]"),
        ("max_cals = 3", "did you mean 'max_lm_calls'"),
    ],
)
def test_budget_settings_are_checked(tmp_path: Path, line: str, message: str) -> None:
    root = write_project(tmp_path / "p", extra=line + "\n")
    with pytest.raises(Exception, match=message):
        load_config_file(root / "castlm.toml")


def test_budget_settings_are_read(tmp_path: Path) -> None:
    extra = 'max_lm_calls = 0\nmax_cost = 2\nprices = { "m" = [1, 2.5] }\n'
    (config,) = load_config_file(write_project(tmp_path / "p", extra=extra) / "castlm.toml")
    assert (config.max_lm_calls, config.max_cost, dict(config.prices)) == (
        0,
        2.0,
        {"m": (1.0, 2.5)},
    )
