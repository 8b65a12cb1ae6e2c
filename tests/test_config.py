"""Settings from castlm.toml, pyproject.toml and flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from castlm.compiler.config import build_config, find_config, load_config_file
from castlm.compiler.errors import CompileError

BASE = 'program = "prog.py:Bot"\nmetric = "prog.py:score"\ntrain = "train.jsonl"\nlm = "standin"\n'


def test_castlm_toml_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "castlm.toml").write_text(BASE + "[optimizer_options]\nmax_labeled_demos = 2\n")
    (config,) = load_config_file(find_config(tmp_path) or tmp_path)
    assert config.program.path == tmp_path / "prog.py"
    assert config.train == tmp_path / "train.jsonl"
    assert config.package == "bot"
    assert config.out == tmp_path / "build" / "bot"
    assert config.optimizer_options == {"max_labeled_demos": 2}


def test_pyproject_tool_table_and_several_programs(tmp_path: Path) -> None:
    text = (
        "[tool.castlm]\n"
        + BASE
        + '\n[[tool.castlm.programs]]\npackage = "one"\n\n'
        + '[[tool.castlm.programs]]\nprogram = "other.py:Other"\n'
    )
    (tmp_path / "pyproject.toml").write_text(text)
    configs = load_config_file(find_config(tmp_path) or tmp_path)
    assert [c.package for c in configs] == ["one", "other"]


def test_pyproject_without_tool_table_is_not_a_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_config(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + 'optimiser = "bootstrap"\n', "did you mean 'optimizer'"),
        (BASE + 'api_key = "sk-secret"\n', "never go in config files"),
        (BASE + "threads = 'many'\n", "'threads' must be int"),
        (BASE + "dev_fraction = 1.5\n", "between 0 and 1"),
        ('program = "prog.py:Bot"\n', "missing settings metric, train, lm"),
        (BASE.replace("prog.py:Bot", "prog.py"), "must look like 'file.py:Name'"),
        (BASE + "threads = \n", "invalid TOML"),
    ],
)
def test_config_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "castlm.toml"
    path.write_text(text)
    with pytest.raises(CompileError) as info:
        load_config_file(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert "sk-secret" not in str(info.value)


def test_flags_override_file_values(tmp_path: Path) -> None:
    (tmp_path / "castlm.toml").write_text(BASE)
    (config,) = load_config_file(tmp_path / "castlm.toml", {"optimizer": "labeled", "seed": 7})
    assert (config.optimizer, config.seed) == ("labeled", 7)


def test_command_line_config() -> None:
    config = build_config(
        {"program": "p.py:MyBot", "metric": "exact_match", "train": "t.jsonl", "lm": "standin"},
        base=Path("/proj"),
        origin="command line",
    )
    assert config.metric == "exact_match"
    assert config.package == "my_bot"


def test_option_flags_merge_with_the_files_options_for_the_same_optimizer(tmp_path: Path) -> None:
    (tmp_path / "castlm.toml").write_text(
        BASE + 'optimizer = "bootstrap"\n[optimizer_options]\nmax_labeled_demos = 2\n'
    )
    (same,) = load_config_file(tmp_path / "castlm.toml", {"optimizer_options": {"max_rounds": 2}})
    assert same.optimizer_options == {"max_labeled_demos": 2, "max_rounds": 2}
    (other,) = load_config_file(
        tmp_path / "castlm.toml", {"optimizer": "copro", "optimizer_options": {"depth": 1}}
    )
    assert (other.optimizer, other.optimizer_options) == ("copro", {"depth": 1})


def test_options_of_a_file_that_names_no_optimizer_go_to_the_chosen_one(tmp_path: Path) -> None:
    (tmp_path / "castlm.toml").write_text(BASE + "[optimizer_options]\nnum_trials = 8\n")
    (config,) = load_config_file(tmp_path / "castlm.toml", {"optimizer": "mipro"})
    assert config.optimizer_options == {"num_trials": 8}
