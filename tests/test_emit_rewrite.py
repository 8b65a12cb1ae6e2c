"""The import rewriter that makes the user's program run inside the emitted package."""

from __future__ import annotations

import textwrap

import pytest
from castlm.compiler.emit import EmitError
from castlm.compiler.emit.rewrite import rewrite_source, rewrite_statement

LOCAL = ["helpers", "utils"]


def rewrite(source: str, level: int = 1) -> str:
    code = textwrap.dedent(source).lstrip("\n").encode("utf-8")
    return rewrite_source(code, LOCAL, level).decode("utf-8")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("import castlm as cl", "from . import _runtime as cl"),
        ("import castlm", "from . import _runtime as castlm"),
        ("from castlm import Predict, Signature as S", "from ._runtime import Predict, Signature as S"),  # noqa: E501
        ("from castlm.testing import ScriptedLM", "from ._runtime.testing import ScriptedLM"),
        ("from castlm import testing", "from ._runtime import testing"),
        ("import castlm.testing as t", "from ._runtime import testing as t"),
        (
            "import castlm.testing",
            "from . import _runtime as castlm\n"
            "from ._runtime import testing as _castlm_submodule\n"
            "del _castlm_submodule",
        ),
        ("import helpers", "from . import helpers"),
        ("import helpers as h", "from . import helpers as h"),
        ("from helpers import clean", "from .helpers import clean"),
        ("from utils.text import clean as c", "from .utils.text import clean as c"),
        ("import utils.text as t", "from .utils import text as t"),
        ("import os, castlm as cl  # both", "import os\nfrom . import _runtime as cl  # both"),
        ("from castlm import *", "from ._runtime import *"),
    ],
)  # fmt: skip
def test_rewritten_imports(before: str, after: str) -> None:
    assert rewrite(before + "\n") == after + "\n"


@pytest.mark.parametrize(
    "source",
    [
        "import castlmx",
        "from castlmx import Predict",
        "import json, os.path",
        "from . import castlm",
        "from .castlm import Predict",
        "from helpersx import clean",
        "x = 'import castlm'",
    ],
)
def test_other_code_is_left_exactly_as_written(source: str) -> None:
    assert rewrite(source + "\n") == source + "\n"


def test_imports_are_rewritten_wherever_they_are_and_formatting_is_kept() -> None:
    before = """
        # leading comment
        from typing import TYPE_CHECKING

        from castlm import (  # the API
            Predict,
            Signature,
        )

        if TYPE_CHECKING:
            import castlm as cl


        def later() -> None:
            import helpers

            if True: import castlm; import os
    """
    after = """
        # leading comment
        from typing import TYPE_CHECKING

        from ._runtime import (  # the API
            Predict,
            Signature,
        )

        if TYPE_CHECKING:
            from . import _runtime as cl


        def later() -> None:
            from . import helpers

            if True: from . import _runtime as castlm; import os
    """
    assert rewrite(before) == textwrap.dedent(after).lstrip("\n")


def test_files_deeper_in_the_package_climb_to_its_root() -> None:
    assert rewrite("import castlm as cl\nfrom helpers import x\n", level=2) == (
        "from .. import _runtime as cl\nfrom ..helpers import x\n"
    )


def test_the_build_time_compiler_cannot_be_imported() -> None:
    with pytest.raises(EmitError, match=r"castlm\.compiler.*build time"):
        rewrite("from castlm.compiler import emit\n")


def test_the_declared_encoding_is_kept() -> None:
    source = "# -*- coding: latin-1 -*-\nimport castlm\nname = 'café'\n".encode("latin-1")
    rewritten = rewrite_source(source, [], 1)
    assert rewritten == (
        "# -*- coding: latin-1 -*-\nfrom . import _runtime as castlm\nname = 'café'\n"
    ).encode("latin-1")


def test_single_statements_for_the_entry_points() -> None:
    assert rewrite_statement("from castlm import LM", LOCAL) == "from ._runtime import LM"
    assert rewrite_statement("from helpers import Channel", LOCAL) == "from .helpers import Channel"
    assert rewrite_statement("from typing import Literal", LOCAL) == "from typing import Literal"
