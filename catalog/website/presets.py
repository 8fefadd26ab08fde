"""The named workloads the site prices every endpoint for, and the steps of its workload sliders.

They live in one place because three things must agree on them: the pages rendered in Python, the
browser's recomputation (the values are embedded in every page) and the methodology page that explains them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from catalog.cost.workload import WorkloadProfile


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    about: str
    profile: WorkloadProfile


PRESETS: tuple[Preset, ...] = (
    Preset(
        "chat",
        "Chat",
        "one chat turn: 2,000 tokens in, 500 out, nothing cached",
        WorkloadProfile(2_000, 500),
    ),
    Preset(
        "rag",
        "Long-context RAG",
        "100,000 tokens in, 80 % of them read from the prompt cache; 1,000 out",
        WorkloadProfile(100_000, 1_000, cache_hit=Decimal("0.8")),
    ),
    Preset(
        "agentic",
        "Agentic with reasoning",
        "30,000 tokens in, 60 % cached; 3,000 out, half of them reasoning",
        WorkloadProfile(30_000, 3_000, cache_hit=Decimal("0.6"), reasoning=Decimal("0.5")),
    ),
)
DEFAULT = PRESETS[0]

# Slider stops for token counts (a log-like scale); every preset's counts are stops, so a preset can be
# selected on the sliders exactly. Shares move in whole percent.
INPUT_STEPS = (100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
OUTPUT_STEPS = (10, 50, 100, 200, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 20_000, 50_000)

for _preset in PRESETS:
    assert _preset.profile.input_tokens in INPUT_STEPS and _preset.profile.output_tokens in OUTPUT_STEPS
    assert _preset.profile.cache_write == 0 and _preset.profile.images == 0 and _preset.profile.web_searches == 0
