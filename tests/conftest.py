"""Settings for the whole test session (and the subprocesses tests start, which inherit them)."""

from __future__ import annotations

import os

# litellm (in the dev extra) downloads a price list when imported unless told to use the copy
# it ships; tests never reach the internet, and castlm's price lookup imports litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
