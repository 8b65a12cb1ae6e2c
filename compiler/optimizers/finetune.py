"""BootstrapFinetune: train a model on the program's own successful runs, then use it.

The teacher (BootstrapFewShot's: the student primed with labeled demos) runs on every
training example; each predictor call of an accepted run becomes one chat-format training
example: exactly the messages the *emitted* predictor sends for those inputs
(``Predict.messages``), plus the reply written the way the adapter writes outputs
(``format_outputs``). The data goes to ``finetune/`` in the output folder. Unless
``export_only`` is set, it is uploaded to an OpenAI-compatible fine-tuning API, one job for
all predictors (``multitask``) or one per predictor, and every trained predictor's frozen
parameters name the resulting model (``PredictorParams.model``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from castlm import Example, Module, Predict, PredictorParams
from pydantic import Field

from ..errors import CompileError
from . import finetune_export
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings
from .finetune_api import FineTuneClient, FineTuneError, FineTuneJob, FineTuneTimeout
from .traces import Run, bootstrap_runs

DATA_DIR = "finetune"
MULTITASK_FILE = "train"
_JOBS_FILE = "finetune-jobs.json"
_MEMO_LOCK = threading.Lock()  # jobs of one compile finish on several threads


class FinetuneSettings(Settings):
    export_only: bool = Field(
        default=False, description="write the training data and start no fine-tuning job"
    )
    export_path: str | None = Field(
        default=None, description="also write the data here (a .jsonl file or a folder)"
    )
    base_model: str | None = Field(default=None, description="default: the task LM's model")
    base_url: str | None = Field(
        default=None, description="the fine-tuning API root; default: the task LM's endpoint"
    )
    suffix: str | None = Field(default="castlm", description="added to the model's name")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    multitask: bool = Field(default=True, description="one job for all predictors")
    job_id: str | None = Field(
        default=None, description="wait for this existing job instead of starting one"
    )
    reuse: bool = Field(
        default=True, description="reuse the model of an earlier job trained on the same data"
    )
    max_labeled_demos: int = Field(default=16, ge=0)
    max_rounds: int = Field(default=1, ge=1)
    metric_threshold: float | None = None
    poll_interval: float = Field(default=10.0, gt=0)
    max_poll_interval: float = Field(default=60.0, gt=0)
    timeout: float = Field(default=6 * 3600.0, gt=0, description="seconds to wait for a job")


class BootstrapFinetune(Optimizer[FinetuneSettings]):
    name = "finetune"
    settings_model: ClassVar[type[Settings]] = FinetuneSettings

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        opts = self.opts
        if opts.job_id and not opts.multitask:
            raise CompileError("finetune: job_id needs multitask=true (one job for all)")
        runs = bootstrap_runs(
            student,
            trainset,
            ctx,
            max_labeled_demos=opts.max_labeled_demos,
            max_rounds=opts.max_rounds,
            metric_threshold=opts.metric_threshold,
            label="finetune: bootstrap",
        )
        data = training_data(student, runs)
        if not data:
            raise CompileError(
                f"finetune: none of the {len(runs)} training runs was accepted by the metric, "
                "so there is nothing to train on; check the metric or lower metric_threshold"
            )
        files = self._files(data)
        self._export(files, ctx.work_dir)
        accepted = sum(r.accepted for r in runs)
        count = sum(len(lines) for lines in data.values())
        notes = [f"{count} training examples from {accepted} of {len(runs)} accepted runs"]
        params = {name: p.params for name, p in student.named_predictors()}
        if opts.export_only:
            notes.append(f"export only: wrote {', '.join(files)}; no fine-tuning job started")
            return OptimizeResult(params, notes=tuple(notes), files=files)
        models = self._train(files, data, ctx, notes)
        for name, model in models.items():
            params[name] = PredictorParams(
                params[name].instructions, params[name].demos, model=model, knn=params[name].knn
            )
        return OptimizeResult(params, notes=tuple(notes), files=files)

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """One teacher run per training example and round; fine-tuning jobs are not LM calls
        (their price is the provider's training price per token, see docs/optimizers)."""
        return n_train * self.opts.max_rounds * n_predictors

    def estimate_demos(self) -> int:
        return 0

    # -- data ----------------------------------------------------------------------------
    def _files(self, data: Mapping[str, list[str]]) -> dict[str, bytes]:
        """The JSONL files, by path in the output folder."""
        if self.opts.multitask:
            lines = [line for name in data for line in data[name]]
            return {f"{DATA_DIR}/{MULTITASK_FILE}.jsonl": _jsonl(lines)}
        return {
            f"{DATA_DIR}/{_file_name(name)}.jsonl": _jsonl(lines) for name, lines in data.items()
        }

    def _export(self, files: Mapping[str, bytes], work_dir: Path | None) -> None:
        if self.opts.export_path is not None:
            exports = finetune_export.targets(self.opts.export_path, files)
            finetune_export.write(exports, work_dir)

    # -- training ------------------------------------------------------------------------
    def _train(
        self,
        files: Mapping[str, bytes],
        data: Mapping[str, list[str]],
        ctx: OptimizeContext,
        notes: list[str],
    ) -> dict[str, str]:
        """Each trained predictor's fine-tuned model id."""
        opts = self.opts
        client = FineTuneClient(opts.base_url or getattr(ctx.task_lm, "base_url", None))
        base_model = opts.base_model or ctx.task_lm.model
        if opts.multitask:
            content = next(iter(files.values()))
            model = self._job(client, content, MULTITASK_FILE, base_model, ctx, notes)
            return dict.fromkeys(data, model)
        names = list(data)
        with ThreadPoolExecutor(max_workers=max(1, min(len(names), ctx.threads))) as pool:
            futures = [
                pool.submit(
                    self._job,
                    client,
                    files[f"{DATA_DIR}/{_file_name(name)}.jsonl"],
                    _file_name(name),
                    base_model,
                    ctx,
                    notes,
                )
                for name in names
            ]
            return {name: f.result() for name, f in zip(names, futures, strict=True)}

    def _job(
        self,
        client: FineTuneClient,
        content: bytes,
        label: str,
        base_model: str,
        ctx: OptimizeContext,
        notes: list[str],
    ) -> str:
        opts = self.opts
        memo = _Memo(ctx.work_dir, client.base_url, base_model, content, opts)
        if opts.reuse and opts.job_id is None and (model := memo.get()) is not None:
            notes.append(f"{label}: reused {model}, trained earlier on the same data")
            return model
        try:
            # A job an interrupted compile started for the same data: wait for it.
            job_id = opts.job_id or (memo.started() if opts.reuse else None)
            if job_id is None:
                file_id = client.upload(content, f"castlm-{label}.jsonl")
                job_id = client.create(
                    file_id,
                    base_model,
                    suffix=opts.suffix,
                    hyperparameters=opts.hyperparameters,
                    seed=ctx.seed,
                ).id
                memo.start(job_id)
            ctx.progress.start(f"finetune: job {job_id}", 1)
            try:
                job = client.wait(
                    job_id,
                    poll_interval=opts.poll_interval,
                    max_poll_interval=opts.max_poll_interval,
                    timeout=opts.timeout,
                )
            finally:
                ctx.progress.finish()
        except FineTuneTimeout:
            raise  # still running: the next compile waits for it
        except FineTuneError:
            memo.forget_start()  # it failed: the next compile starts a new job
            raise
        except Exception as exc:  # the API's own errors (HTTP, connection): say which step
            raise FineTuneError(f"finetune ({label}): {exc}") from exc
        assert job.fine_tuned_model is not None
        memo.put(job.fine_tuned_model)
        notes.append(_job_note(label, job))
        return job.fine_tuned_model


def training_data(student: Module, runs: Sequence[Run]) -> dict[str, list[str]]:
    """One JSONL line per predictor call of an accepted run, by predictor name."""
    predictors: dict[str, Predict[Any]] = dict(student.named_predictors())
    data: dict[str, list[str]] = {}
    for run in runs:
        for call in run.calls if run.accepted else ():
            predictor = predictors[call.predictor]
            messages = [dict(m) for m in predictor.messages(**call.inputs)]
            reply = predictor.adapter.format_outputs(predictor.spec, call.outputs)
            messages.append({"role": "assistant", "content": reply})
            data.setdefault(call.predictor, []).append(_line({"messages": messages}))
    return data


def _line(record: Mapping[str, Any]) -> str:
    try:
        line = json.dumps(record, ensure_ascii=False)
        line.encode("utf-8")
        return line
    except UnicodeEncodeError:  # a lone surrogate: escaped, the line stays valid JSON
        return json.dumps(record, ensure_ascii=True)


def _jsonl(lines: Sequence[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def _file_name(predictor: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", predictor)


def _job_note(label: str, job: FineTuneJob) -> str:
    tokens = f", {job.trained_tokens} trained tokens" if job.trained_tokens else ""
    return f"{label}: job {job.id} trained {job.fine_tuned_model} from {job.model}{tokens}"


class _Memo:
    """Models trained earlier, and jobs started and not finished, by endpoint, base model,
    settings and data (in the project's ``.castlm/``), so neither a forced rebuild nor a
    compile run again after an interruption pays for the same job twice."""

    def __init__(
        self,
        work_dir: Path | None,
        base_url: str,
        base_model: str,
        content: bytes,
        opts: FinetuneSettings,
    ) -> None:
        self.path = work_dir / _JOBS_FILE if work_dir is not None else None
        material = json.dumps(
            [base_url, base_model, opts.suffix, opts.hyperparameters], sort_keys=True
        ).encode()
        self.key = hashlib.sha256(material + b"\0" + content).hexdigest()

    def get(self) -> str | None:
        model = self._read().get(self.key)
        return model if isinstance(model, str) else None

    def started(self) -> str | None:
        """The job started for this data that has not finished yet, if any."""
        job = self._read().get(self._started)
        return job if isinstance(job, str) else None

    def start(self, job_id: str) -> None:
        self._write({self._started: job_id})

    def forget_start(self) -> None:
        self._write({self._started: None})

    def put(self, model: str) -> None:
        self._write({self.key: model, self._started: None})

    @property
    def _started(self) -> str:
        return f"{self.key}:started"

    def _write(self, changes: Mapping[str, str | None]) -> None:
        """Apply ``changes`` (None removes an entry)."""
        if self.path is None:
            return
        with _MEMO_LOCK:
            entries = {**self._read(), **changes}
            entries = {key: value for key, value in entries.items() if value is not None}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            temporary.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self.path)

    def _read(self) -> dict[str, Any]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
