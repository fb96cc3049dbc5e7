"""A run whose documents are all gone before a global step stops there, and says which step did it.

A global step (train_tokenizer, tokenize, dedup...) over zero documents fails late with a
message about itself, or writes empty outputs; the cause is an earlier step (a `language`
filter with the wrong codes, `min_chars` too high). The runner stops before the global step,
still writes stats.json and report.html, and raises EmptyStageError naming the step that
dropped the last documents.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from garden.executor.stats import StreamResult
from garden.recipe import OpSpec, Recipe


class EmptyStageError(RuntimeError):
    """No documents are left for a global step; the message names the step that dropped the last ones."""


@dataclasses.dataclass(frozen=True)
class Stop:
    """Where a run stopped for lack of documents (written to stats.json as `stopped`)."""

    step: int | None        # pipeline index of the step that left no documents (None: the inputs had none)
    step_name: str | None
    line: int | None
    dropped: dict[str, int]  # that step's drop reasons
    before: int             # pipeline index of the global step that did not run
    before_name: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Stop":
        return cls(step=d.get("step"), step_name=d.get("step_name"), line=d.get("line"),
                   dropped=dict(d.get("dropped") or {}), before=d["before"], before_name=d["before_name"],
                   message=d.get("message", ""))


def _op_flow(stage_stats: dict[int, list[StreamResult]]) -> dict[str, dict]:
    """Per op key ("index:name"): documents in, out and drop reasons, over all shards that ran."""
    flow: dict[str, dict] = {}
    for results in stage_stats.values():
        for r in results:
            for key, st in r.ops.items():
                f = flow.setdefault(key, {"in": 0, "out": 0, "dropped": Counter()})
                f["in"] += st.n_in
                f["out"] += st.n_out
                f["dropped"].update(st.dropped)
    return flow


def stop_before(recipe: Recipe, stage_stats: dict[int, list[StreamResult]], global_op: OpSpec) -> Stop:
    """The record of a run stopped before `global_op` because no documents are left."""
    flow = _op_flow(stage_stats)
    culprit = next((op for op in recipe.pipeline
                    if flow.get(f"{op.index}:{op.name}", {}).get("in", 0) > 0
                    and flow[f"{op.index}:{op.name}"]["out"] == 0), None)
    target = f"`{global_op.name}` (pipeline[{global_op.index}])"
    if culprit is None:
        first = stage_stats[min(stage_stats)]
        quarantined = sum(r.read_quarantined for r in first)
        why = (f"no input record could be read ({quarantined} quarantined, see quarantine/)" if quarantined
               else "the inputs hold no documents")
        return Stop(None, None, None, {}, global_op.index, global_op.name,
                    f"{recipe.path}: {why}, so {target} has nothing to work on")
    dropped = dict(flow[f"{culprit.index}:{culprit.name}"]["dropped"].most_common())
    reasons = ", ".join(f"{r.split(':', 1)[-1]}={n:,}" for r, n in list(dropped.items())[:4])
    at = f"{recipe.path}:{culprit.line}" if culprit.line else recipe.path
    return Stop(culprit.index, culprit.name, culprit.line or None, dropped, global_op.index, global_op.name,
                f"{at}: pipeline[{culprit.index}] `{culprit.name}` left no documents (dropped {reasons}), "
                f"so {target} has nothing to work on; its drops are under rejected/, check its parameters")
