"""castlm.Image: constructors and checks, image fields, content parts on the wire, caching,
redaction, image datasets and image demos frozen into a package."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import castlm as cl
import pytest
from castlm import Image, InputError, SignatureError
from castlm.compiler.analyze import analyze_source
from castlm.compiler.data import load_dataset, program_shape
from castlm.compiler.errors import CompileError
from castlm.testing import ScriptedLM, StandInLM
from openai.types.chat import ChatCompletionUserMessageParam
from pydantic import BaseModel, TypeAdapter
from support.fake_openai import FakeOpenAI
from test_emit_support import emit, imported, request_for, write_sources


def png(width: int = 1, height: int = 1, shade: int = 0) -> bytes:
    """A real, tiny grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = png()
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
GIF = b"GIF89a" + b"\x00" * 16
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8


class Describe(cl.Signature):
    """Answer the question about the photo."""

    photo: Image = cl.InputField()
    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Holder(BaseModel):
    image: Image


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


# -- the type -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_media_type_comes_from_the_magic_bytes(data: bytes, media_type: str) -> None:
    image = Image.from_bytes(data)
    assert image.media_type == media_type
    assert image.url == data_url(data, media_type)
    assert Image.from_base64(base64.b64encode(data).decode()) == image
    assert Image.from_base64(image.url).data == data


def test_bytes_that_are_no_image_are_refused() -> None:
    with pytest.raises(InputError, match="not a PNG, JPEG, GIF or WEBP image"):
        Image.from_bytes(b"%PDF-1.7 ...")
    with pytest.raises(InputError, match="not valid base64"):
        Image.from_base64("data:image/png;base64,@@@")


def test_the_size_limit_is_checked_with_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"the image is 2\.1 KiB, over the 1\.0 KiB limit"):
        Image.from_bytes(PNG + b"\x00" * 2048, max_bytes=1024)
    big = base64.b64encode(PNG + b"\x00" * 4096).decode()
    with pytest.raises(InputError, match=r"over the 1\.0 KiB limit"):  # before decoding
        Image.from_base64(big, max_bytes=1024)


def test_from_path_reads_the_file_and_names_it_when_it_cannot(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    assert Image.from_path(tmp_path / "cat.png").data == PNG
    with pytest.raises(InputError, match=r"image file '.*dog\.png' cannot be read"):
        Image.from_path(tmp_path / "dog.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt': the data is not a PNG"):
        Image.from_path(tmp_path / "notes.txt")


def test_urls_pass_through_and_other_strings_are_not_read_as_paths(tmp_path: Path) -> None:
    remote = Image.from_url("https://example.com/cat.png")
    assert remote.content_part() == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/cat.png"},
    }
    (tmp_path / "secret.png").write_bytes(PNG)
    for value in (str(tmp_path / "secret.png"), "file:///etc/passwd", "cat.png"):
        with pytest.raises(InputError, match="not an image URL"):
            Image.from_url(value)
        with pytest.raises(InputError, match="not an image URL"):  # a field never reads a path
            cl.Predict(Describe).messages(photo=value, question="q")


def test_the_repr_never_shows_base64_or_a_query_string() -> None:
    image = Image.from_bytes(PNG)
    assert repr(image) == f"Image(image/png, {len(PNG)} B, sha256={image.digest[:12]})"
    signed = Image.from_url("https://cdn.example.com/a.png?X-Signature=s3cr3t")
    assert repr(signed) == "Image(url='https://cdn.example.com/a.png?...')"
    with pytest.raises(InputError) as error:
        Image.from_url("ftp://host/a.png?token=s3cr3t")
    assert "s3cr3t" not in str(error.value)


# -- signatures ---------------------------------------------------------------------------
def test_image_fields_are_inputs_only_and_whole_fields() -> None:
    with pytest.raises(SignatureError, match="Image fields are inputs only"):

        class Draw(cl.Signature):
            prompt: str = cl.InputField()
            picture: Image = cl.OutputField()

    with pytest.raises(SignatureError, match="an Image can only be a whole field"):

        class Nested(cl.Signature):
            holder: Holder = cl.InputField()
            answer: str = cl.OutputField()

    class Many(cl.Signature):
        photos: list[Image] = cl.InputField()
        maybe: Image | None = cl.InputField(default=None)
        answer: str = cl.OutputField()

    spec = cl.spec_of(Many)
    assert [f.is_image for f in spec.inputs] == [True, True]


def test_castlm_check_accepts_image_fields() -> None:
    source = (
        "import castlm as cl\n\n"
        "class D(cl.Signature):\n"
        "    photo: cl.Image = cl.InputField()\n"
        "    photos: list[cl.Image] = cl.InputField()\n"
        "    answer: str = cl.OutputField()\n"
    )
    assert analyze_source(source, "app.py").diagnostics == ()


# -- messages -----------------------------------------------------------------------------
def test_images_become_content_parts_right_after_their_header() -> None:
    image = Image.from_bytes(PNG)
    messages = cl.Predict(Describe).messages(photo=image, question="What colour?")
    user = messages[-1]
    assert user["content"] == [
        {"type": "text", "text": "[[ ## photo ## ]]"},
        {"type": "image_url", "image_url": {"url": image.url}},
        {"type": "text", "text": "[[ ## question ## ]]\nWhat colour?\n\n" + user_suffix()},
    ]
    TypeAdapter(ChatCompletionUserMessageParam).validate_python(user)  # the SDK's shape
    json_messages = cl.Predict(Describe, adapter="json").messages(photo=image, question="q")
    assert json_messages[-1]["content"][1] == image.content_part()  # type: ignore[index]


def user_suffix() -> str:
    return cl.ChatAdapter().reminder(cl.spec_of(Describe))


def test_a_list_of_images_and_a_missing_optional_image() -> None:
    class Compare(cl.Signature):
        photos: list[Image] = cl.InputField()
        extra: Image | None = cl.InputField(default=None)
        answer: str = cl.OutputField()

    a, b = Image.from_bytes(png(shade=0)), Image.from_bytes(png(shade=255))
    content = cl.Predict(Compare).messages(photos=[a, b])[-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "image_url", "text"]
    assert content[3]["text"].startswith("[[ ## extra ## ]]\nnull")  # type: ignore[index]


def test_image_demos_are_json_and_render_as_image_parts() -> None:
    image = Image.from_bytes(PNG)
    predict = cl.Predict(Describe)
    predict.demos = [{"photo": image, "question": "colour?", "answer": "black"}]
    assert predict.demos[0]["photo"] == image.url  # plain JSON: frozen as a literal
    demo_user = predict.prefix()[1]
    assert demo_user["content"][1] == image.content_part()  # type: ignore[index]


def test_the_standin_reads_prompts_with_images() -> None:
    result = cl.Predict(Describe, lm=StandInLM())(photo=Image.from_bytes(PNG), question="q")
    assert isinstance(result.answer, str)


def test_the_cache_key_covers_the_image_bytes_by_hash() -> None:
    lm = ScriptedLM(["[[ ## answer ## ]]\nx\n\n[[ ## completed ## ]]"] * 3)
    predict = cl.Predict(Describe, lm=lm)

    def key(image: Image) -> str:
        return lm.request(predict.messages(photo=image, question="q")).cache_key("ns")

    black, white = Image.from_bytes(png(shade=0)), Image.from_bytes(png(shade=255))
    assert key(black) == key(Image.from_bytes(png(shade=0)))
    assert key(black) != key(white)


def test_traces_show_images_redacted() -> None:
    from castlm.observe import _otel

    image = Image.from_bytes(PNG)
    messages = tuple(cl.Predict(Describe).messages(photo=image, question="q"))
    captured = _otel._messages_json(messages)
    assert base64.b64encode(PNG).decode() not in captured
    assert "image/png" in captured


def test_a_local_server_receives_the_exact_content_parts() -> None:
    image = Image.from_bytes(PNG)
    remote = "https://example.com/cat.png"
    # The fake constrains output: the predictor uses the JSON format, with the same parts.
    with FakeOpenAI(reply='{"answer": "black"}') as server:
        lm = cl.OpenAIChatLM("vision", base_url=server.base_url, api_key="sk-test", cache=None)
        predict = cl.Predict(Describe, lm=lm)
        assert predict(photo=image, question="What colour?").answer == "black"
        assert predict(photo=Image.from_url(remote), question="And now?").answer == "black"
        bodies = [r.body for r in server.chat_requests]
        lm.close()
    first, second = (body["messages"][-1] for body in bodies)
    assert first["content"] == [
        {"type": "text", "text": "photo:"},  # the JSON format labels inputs "name: value"
        {"type": "image_url", "image_url": {"url": data_url(PNG)}},
        {"type": "text", "text": "question: What colour?"},
    ]
    assert second["content"][1] == {"type": "image_url", "image_url": {"url": remote}}
    for body in bodies:
        TypeAdapter(ChatCompletionUserMessageParam).validate_python(body["messages"][-1])


# -- datasets -----------------------------------------------------------------------------
class Captioner(cl.Module):
    def __init__(self) -> None:
        self.describe = cl.Predict(Describe)

    def forward(self, photo: Image, question: str) -> Describe:
        return self.describe(photo=photo, question=question)


def test_an_image_column_holds_paths_relative_to_the_dataset(tmp_path: Path) -> None:
    (tmp_path / "data" / "img").mkdir(parents=True)
    (tmp_path / "data" / "img" / "a.png").write_bytes(PNG)
    dataset = tmp_path / "data" / "train.jsonl"
    dataset.write_text(json.dumps({"photo": "img/a.png", "question": "q", "answer": "x"}) + "\n")
    (example,) = load_dataset(dataset, program_shape(Captioner))
    assert example["photo"] == data_url(PNG)
    args = program_shape(Captioner).call_args(example)
    assert args["photo"] == Image.from_bytes(PNG)


def test_a_missing_image_file_names_the_dataset_row_and_column(tmp_path: Path) -> None:
    dataset = tmp_path / "train.csv"
    dataset.write_text("photo,question,answer\nimg/a.png,q,x\nimg/gone.png,q,y\n")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(PNG)
    with pytest.raises(CompileError) as error:
        load_dataset(dataset, program_shape(Captioner))
    text = str(error.value)
    assert "train.csv:3" in text
    assert "field 'photo': image file 'img/gone.png' not found" in text


def test_an_image_column_with_a_broken_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_text("not an image")
    dataset = tmp_path / "train.jsonl"
    dataset.write_text(json.dumps({"photo": "a.png", "question": "q", "answer": "x"}) + "\n")
    with pytest.raises(CompileError, match=r"train\.jsonl:1.*field 'photo'.*not a PNG"):
        load_dataset(dataset, program_shape(Captioner))


# -- packages -----------------------------------------------------------------------------
PROGRAM = '''\
"""Answer questions about photos."""

from __future__ import annotations

import castlm as cl


class Describe(cl.Signature):
    """Answer the question about the photo."""

    photo: cl.Image = cl.InputField()
    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Captioner(cl.Module):
    def __init__(self) -> None:
        self.describe = cl.Predict(Describe)

    def forward(self, photo: cl.Image, question: str) -> Describe:
        return self.describe(photo=photo, question=question)
'''


def test_an_image_demo_is_frozen_into_the_package_as_base64(tmp_path: Path) -> None:
    program = write_sources(tmp_path / "src", PROGRAM)
    demo = {"photo": data_url(PNG), "question": "colour?", "answer": "black"}
    params = {"describe": cl.PredictorParams("Look closely.", (demo,))}
    out = emit(
        request_for(program, "photos_pkg", params=params, module_class="Captioner"),
        tmp_path / "out",
    )
    source = (out / "photos_pkg" / "_frozen.py").read_text()
    assert "data:image/png;base64," in source
    assert max(len(line) for line in source.splitlines()) < 100
    with imported(out, "photos_pkg") as package:
        lm = ScriptedLM(["[[ ## answer ## ]]\nwhite\n\n[[ ## completed ## ]]"])
        photo = package.Image.from_bytes(png(shade=255))
        assert package.load(lm)(photo=photo, question="and this?").answer == "white"
        sent = lm.requests[0].messages
    assert sent[1]["content"][1] == {"type": "image_url", "image_url": {"url": data_url(PNG)}}
    assert sent[-1]["content"][1] == {"type": "image_url", "image_url": {"url": photo.url}}


def test_earlier_turns_of_a_history_keep_their_images() -> None:
    class Chat(cl.Signature):
        photo: Image = cl.InputField()
        question: str = cl.InputField()
        history: cl.History = cl.InputField()
        answer: str = cl.OutputField()

    first = Image.from_bytes(png(shade=10))
    history = cl.History().add(photo=first, question="what is it?", answer="a cat")
    messages = cl.Predict(Chat).messages(
        photo=Image.from_bytes(PNG), question="and now?", history=history
    )
    earlier = messages[1]["content"]
    assert earlier[1] == first.content_part()  # type: ignore[index]


def test_a_prompt_mismatch_names_images_by_hash_not_base64() -> None:
    from castlm.compiler.verify import _message_difference

    def message(image: Image) -> dict[str, Any]:
        return {"role": "user", "content": [{"type": "text", "text": "x"}, image.content_part()]}

    black, white = Image.from_bytes(png(shade=0)), Image.from_bytes(png(shade=255))
    detail = _message_difference([message(black)], [message(white)])
    assert detail is not None and "message 0 (user) differs" in detail
    assert base64.b64encode(png(shade=0)).decode()[20:60] not in detail
    assert _message_difference([message(black)], [message(black)]) is None


def test_the_constructor_checks_the_size_limit_and_the_url_too() -> None:
    with pytest.raises(InputError, match=r"over the 1\.0 KiB limit"):
        Image(data=PNG + b"\x00" * 2048, max_bytes=1024)
    with pytest.raises(InputError, match="not an image URL"):
        Image(url="file:///etc/passwd")
    big = PNG + b"\x00" * (20 * 1024 * 1024)
    with pytest.raises(InputError, match=r"over the 20\.0 MiB limit"):
        Image(data=big)
