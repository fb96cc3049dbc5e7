"""The ladder's outputs: ladder.json, a loss-vs-compute plot with the fitted frontier (PNG),
an HTML page embedding it, and the text summary."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from trainer.plan.ladder import Ladder
from trainer.plan.render import human
from trainer.plan.scaling_laws import EPOCH_CITE, HOFFMANN_CITE

CITES = [HOFFMANN_CITE + "; the fit (Huber loss on log-loss, L-BFGS) follows its approach 3",
         EPOCH_CITE]
CONSTANTS = ("E", "A", "B", "alpha", "beta")


def write_json(ladder: Ladder, path: Path) -> Path:
    from garden.io.fs import atomic_write_bytes

    data = {**ladder.to_dict(), "citations": CITES}
    atomic_write_bytes(str(path), json.dumps(data, indent=1).encode())
    return path


def plot(ladder: Ladder, path: Path) -> Path | None:
    """Loss against compute (6ND): each rung, each size's fitted curve, the fitted
    compute-optimal frontier out to the target, and the predicted target with its interval."""
    done = [r for r in ladder.rungs if r.status == "done"]
    if not done:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    sizes = sorted({r.shape.total_params for r in done})
    colours = plt.cm.viridis(np.linspace(0.1, 0.85, len(sizes)))
    c_lo = min(r.flops for r in done) / 3
    c_hi = max(max(r.flops for r in done), 6 * ladder.target_params * ladder.target_tokens) * 3
    grid = np.geomspace(c_lo, c_hi, 200)
    law = ladder.fit.law() if ladder.fit else None
    for n, col in zip(sizes, colours):
        pts = [r for r in done if r.shape.total_params == n]
        ax.scatter([r.flops for r in pts], [r.valid_loss for r in pts], color=col, zorder=3,
                   label=f"N = {human(n)}")
        if law:
            ax.plot(grid, [law.loss(n, c / (6 * n)) for c in grid], color=col, lw=0.8, alpha=0.6)
    if law:
        front = [law.loss(*law.optimal_for_compute(c)) for c in grid]
        ax.plot(grid, front, color="black", lw=1.6, ls="--", label="fitted compute-optimal frontier")
        if ladder.prediction is not None:
            c_t = 6 * ladder.target_params * ladder.target_tokens
            lo, hi = ladder.prediction_ci
            # a small bootstrap can put the point estimate outside its own interval
            ax.errorbar([c_t], [ladder.prediction], yerr=[[max(0.0, ladder.prediction - lo)],
                                                          [max(0.0, hi - ladder.prediction)]],
                        fmt="*", ms=12, color="crimson", capsize=4,
                        label=f"target {human(ladder.target_params)} params, "
                              f"{human(ladder.target_tokens)} tokens")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6 N D (FLOPs)")
    ax.set_ylabel("final validation loss (overall)")
    ax.set_title("garden ladder: L(N, D) = E + A/N^α + B/D^β")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fit_rows(ladder: Ladder) -> list[list]:
    f = ladder.fit
    rows = []
    for k in CONSTANTS:
        ci = f.ci.get(k)
        rows.append([k, float(getattr(f, k)), "fitted" if k in f.free else f"fixed ({f.fixed_from})",
                     f"{ci[0]:.4g} – {ci[1]:.4g}" if ci else "–"])
    return rows


def html_section(ladder: Ladder, png: Path | None) -> str:
    """The ladder as one HTML section body (for this page or another report)."""
    from garden.analysis.report_html import cards, esc, table

    parts = []
    if ladder.fit:
        lo, hi = ladder.prediction_ci
        parts.append(cards([("predicted loss at the target", f"{ladder.prediction:.4f}"),
                            ("5–95 % bootstrap", f"{lo:.4f} – {hi:.4f}"),
                            ("target parameters", human(ladder.target_params)),
                            ("target tokens", human(ladder.target_tokens)),
                            ("finished rungs", ladder.fit.n_points)]))
        parts.append(f"<p class='note'>{esc(ladder.fit_note)}. {ladder.fit.bootstrap_samples} "
                     f"bootstrap resamples of the rungs.</p>")
        parts.append(table(["constant", "value", "", "5–95 % bootstrap"], _fit_rows(ladder)))
        fr = ladder.frontier
        parts.append(f"<p>Compute-optimal at the target's compute ({fr['compute']:.3g} FLOPs), "
                     f"fitted: {esc(human(fr['n_params']))} params on {esc(human(fr['tokens']))} "
                     f"tokens (loss {fr['loss']:.4f}); published: " + "; ".join(
                         f"{esc(k)} {esc(human(v['n_params']))} / {esc(human(v['tokens']))}"
                         for k, v in fr["published"].items()) + ".</p>")
    else:
        parts.append(f"<p class='warn'>No fit: {esc(ladder.fit_note)}</p>")
    if png:
        b64 = base64.b64encode(Path(png).read_bytes()).decode()
        parts.append(f"<img alt='loss against compute' style='max-width:100%' "
                     f"src='data:image/png;base64,{b64}'>")
    parts.append(table(["rung", "params", "tokens", "tokens/param", "compute", "valid loss",
                        "status", "note"],
                       [[r.name, r.shape.total_params, r.tokens, r.tokens_per_param, r.flops,
                         r.valid_loss, r.status, r.message] for r in ladder.rungs]))
    parts.append("<p class='note'>" + "<br>".join(esc(c) for c in CITES) + "</p>")
    return "".join(parts)


def write_html(ladder: Ladder, png: Path | None, path: Path) -> Path:
    from garden.analysis.report_html import page
    from garden.io.fs import atomic_write_bytes

    doc = page("garden ladder", f"{ladder.config} · {len(ladder.rungs)} rungs",
               [("ladder", "Scaling law fitted on your data", html_section(ladder, png))])
    atomic_write_bytes(str(path), doc.encode())
    return path


def render_text(ladder: Ladder) -> str:
    out = [f"{'rung':<16}{'params':>10}{'tokens':>10}{'compute':>11}{'valid loss':>12}  status"]
    for r in ladder.rungs:
        loss = f"{r.valid_loss:.4f}" if r.valid_loss is not None else "–"
        out.append(f"{r.name:<16}{human(r.shape.total_params):>10}{human(r.tokens):>10}"
                   f"{r.flops:>11.3g}{loss:>12}  {r.status}" + (f" ({r.message})" if r.message else ""))
    if not ladder.fit:
        out.append(f"no fit: {ladder.fit_note}")
        return "\n".join(out)
    f = ladder.fit
    out += ["", f"fit: {ladder.fit_note}"]
    for k in CONSTANTS:
        ci = f.ci.get(k)
        out.append(f"  {k:<6} {getattr(f, k):>12.5g}" + (f"   [{ci[0]:.4g}, {ci[1]:.4g}]" if ci and k in f.free
                                                        else "   (fixed)" if k not in f.free else ""))
    lo, hi = ladder.prediction_ci
    fr = ladder.frontier
    out += [f"predicted loss for {human(ladder.target_params)} params on "
            f"{human(ladder.target_tokens)} tokens: {ladder.prediction:.4f} "
            f"(5-95 % bootstrap {lo:.4f} - {hi:.4f})",
            f"fitted compute-optimal at {fr['compute']:.3g} FLOPs: {human(fr['n_params'])} params, "
            f"{human(fr['tokens'])} tokens (published: " + ", ".join(
                f"{k} {human(v['n_params'])}/{human(v['tokens'])}" for k, v in fr["published"].items())
            + ")"]
    return "\n".join(out)
