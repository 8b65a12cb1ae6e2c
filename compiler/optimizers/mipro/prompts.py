"""MIPROv2's questions to the prompt model, in the manner of DSPy's grounded proposer.

Four kinds of call ground the proposals: the dataset is described batch by batch, each call
seeing the observations so far and answering ``COMPLETE`` once it has nothing to add, and the
observations are summarised; the program (its source and one example) is described; each
step is described in the context of the program. A proposal is then generative, not a
repair: the prompt model learns about the task from all of that, the step's bootstrapped
demos, its current (basic) instruction and a style tip, and writes a new instruction.
"""

from __future__ import annotations

import castlm as cl

#: What a dataset-description call answers when the observations already cover the data.
COMPLETE = "COMPLETE"


class DescribeDataset(cl.Signature):
    """You are shown several examples from a dataset. Write observations about the trends
    that hold for most or all of them: their topics, content, syntax, length and so on. Make
    an educated guess about the task the dataset is meant for. Feel free to be creative."""

    examples: str = cl.InputField(desc="one JSON object per line")
    observations: str = cl.OutputField(desc="a few sentences of observations")


class DescribeDatasetFurther(cl.Signature):
    """You are shown several examples from a dataset and the observations already made about
    it. Add observations about trends that hold for most or all of the examples and that the
    earlier observations miss (topics, content, syntax, length, the nature of the task). If
    the earlier observations already cover the data, answer with the single word COMPLETE."""

    prior_observations: str = cl.InputField(desc="what was observed so far")
    examples: str = cl.InputField(desc="one JSON object per line")
    observations: str = cl.OutputField(desc="new observations, or COMPLETE")


class SummarizeObservations(cl.Signature):
    """You are given the observations made about a dataset. Summarise them in two or three
    sentences that keep only the most important details."""

    observations: str = cl.InputField(desc="the observations, in the order they were made")
    summary: str = cl.OutputField(desc="a two or three sentence summary")


class DescribeProgram(cl.Signature):
    """Below is the code of a program that solves a task with calls to language models, and
    one example of its inputs and outputs. Describe what kind of task the program is designed
    to solve, and how it goes about it."""

    program_code: str = cl.InputField(desc="the program's source")
    program_example: str = cl.InputField(desc="one example, as JSON")
    program_description: str = cl.OutputField(desc="what the program does, and how")


class DescribeModule(cl.Signature):
    """Below is the code of a program that solves a task with calls to language models, and a
    description of it. Describe the purpose of the one module named below within the
    program: what it receives, what it must produce, and why the program needs it."""

    program_code: str = cl.InputField(desc="the program's source")
    program_description: str = cl.InputField(desc="what the program does")
    module: str = cl.InputField(desc="the module's name and signature")
    module_description: str = cl.OutputField(desc="the module's purpose in the program")


class GenerateInstruction(cl.Signature):
    """Use the information below to learn about a task that a program solves with calls to a
    language model: the data, the program, the module to instruct, examples of the module's
    inputs and outputs, and the module's basic instruction. Then write a new instruction that
    will prompt a language model to do this module's part of the task better."""

    dataset_description: str = cl.InputField(desc="a summary of the training data", default="")
    program_code: str = cl.InputField(desc="the program's source", default="")
    program_description: str = cl.InputField(desc="what the program does", default="")
    module_name: str = cl.InputField(desc="the module to write the instruction for")
    module_description: str = cl.InputField(desc="the module's purpose", default="")
    task_demos: str = cl.InputField(
        desc="examples of the module's inputs and outputs, one JSON object per line", default=""
    )
    examples: str = cl.InputField(
        desc="labeled training examples for the module, one JSON object per line", default=""
    )
    current_instruction: str = cl.InputField(desc="the module's basic instruction")
    tip: str = cl.InputField(desc="advice on the style of the instruction", default="")
    proposed_instruction: str = cl.OutputField(
        desc="an instruction that prompts a language model to do this module's task"
    )
