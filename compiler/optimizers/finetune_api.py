"""A client for an OpenAI-compatible fine-tuning API: upload a file, start a job, wait for it.

``POST /files`` (``purpose=fine-tune``), ``POST /fine_tuning/jobs``, then
``GET /fine_tuning/jobs/{id}`` until the job has ``succeeded``, ``failed`` or been
``cancelled``, polling less and less often. Credentials, retries of transient failures and
error messages are the runtime's (``castlm.embed._openai_rest``); a job that fails or outlives the
timeout is a :class:`FineTuneError` that says what the server said and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from castlm.embed._openai_rest import OpenAIRest

from ..errors import CompileError

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class FineTuneError(CompileError):
    """A fine-tuning job could not be started, failed, or did not finish in time."""


class FineTuneTimeout(FineTuneError):
    """A job still running when the wait ended: it goes on on the server."""


@dataclass(frozen=True)
class FineTuneJob:
    """What the API says about a job."""

    id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    error: str | None = None
    trained_tokens: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> FineTuneJob:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise FineTuneError(f"the fine-tuning API answered without a job id: {data!r:.200}")
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        tokens = data.get("trained_tokens")
        return cls(
            id=data["id"],
            status=str(data.get("status", "")),
            model=str(data.get("model", "")),
            fine_tuned_model=data.get("fine_tuned_model") or None,
            error=message if isinstance(message, str) and message else None,
            trained_tokens=tokens if isinstance(tokens, int) else None,
        )


class FineTuneClient:
    """Talks to the fine-tuning API at ``base_url`` (default ``$CASTLM_BASE_URL`` /
    ``$OPENAI_BASE_URL`` / OpenAI) with the key in ``$CASTLM_API_KEY`` / ``$OPENAI_API_KEY``."""

    def __init__(self, base_url: str | None = None, *, timeout: float = 120.0) -> None:
        self.rest = OpenAIRest("the fine-tuning API", base_url=base_url, timeout=timeout)

    @property
    def base_url(self) -> str:
        return self.rest.base_url

    def upload(self, data: bytes, filename: str) -> str:
        """Upload training data; returns the file id."""
        answer = self.rest.request(
            "POST",
            "files",
            data={"purpose": "fine-tune"},
            files={"file": (filename, data, "application/jsonl")},
        )
        file_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(file_id, str):
            raise FineTuneError(f"uploading {filename} returned no file id: {answer!r:.200}")
        return file_id

    def create(
        self,
        training_file: str,
        model: str,
        *,
        suffix: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> FineTuneJob:
        body: dict[str, Any] = {"training_file": training_file, "model": model}
        if suffix:
            body["suffix"] = suffix
        if hyperparameters:
            body["hyperparameters"] = dict(hyperparameters)
        if seed is not None:
            body["seed"] = seed
        return FineTuneJob.from_json(self.rest.request("POST", "fine_tuning/jobs", json=body))

    def get(self, job_id: str) -> FineTuneJob:
        return FineTuneJob.from_json(self.rest.request("GET", f"fine_tuning/jobs/{job_id}"))

    def wait(
        self,
        job_id: str,
        *,
        poll_interval: float,
        max_poll_interval: float,
        timeout: float,
        on_status: Callable[[FineTuneJob], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> FineTuneJob:
        """The job once it has finished, polling every ``poll_interval`` seconds, growing by
        half each time up to ``max_poll_interval``; raises unless it succeeded."""
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            job = self.get(job_id)
            if on_status is not None:
                on_status(job)
            if job.status in TERMINAL:
                return self._finished(job)
            if time.monotonic() + interval > deadline:
                raise FineTuneTimeout(
                    f"fine-tuning job {job.id} is still {job.status!r} after {timeout:g}s; it "
                    f"keeps running on the server. Compile again to wait for it (castlm "
                    f"remembers the job it started for this data), or pass --option "
                    f"job_id={job.id}; raise the wait with --option timeout=SECONDS"
                )
            sleep(interval)
            interval = min(max_poll_interval, interval * 1.5)

    def _finished(self, job: FineTuneJob) -> FineTuneJob:
        if job.status == "succeeded" and job.fine_tuned_model:
            return job
        if job.status == "succeeded":
            raise FineTuneError(f"fine-tuning job {job.id} succeeded but names no model")
        why = f": {job.error}" if job.error else ""
        raise FineTuneError(
            f"fine-tuning job {job.id} (base model {job.model!r}) {job.status}{why}. Check the "
            "training data (written to finetune/ in the output folder) and the base model"
        )
