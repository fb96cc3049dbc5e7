"""`garden eval`: loss, perplexity and bits per byte per source of a checkpoint on held-out data.

Imports only click/stdlib at module level (`garden --help` stays fast); torch and megatron load
when the command runs.
"""

from __future__ import annotations

import sys
import time

import click

BATCH_TOKENS = 8192  # default tokens per forward pass: logits of 8192 x 32k vocab are 1 GB in fp32

EPILOG = """\b
INPUTS: text files (.jsonl, .jsonl.gz, .jsonl.zst, .parquet: one document per
record, field "text"; any other file, e.g. .txt: the whole file is one document),
token shards (a Megatron prefix, or its .bin/.idx), or a blend.json (its held-out
valid split per source; --split test for test). A source is named after the file
stem; NAME=PATH names it (several inputs with one NAME form one source).

\b
Each document is scored alone, after an EOD token, predicting every token including
its final EOD; documents longer than the sequence length are cut into non-overlapping
windows (each token scored once, with the context of its window only).
bpb = total nats / ln 2 / UTF-8 bytes (token shards: bytes of the decoded tokens)."""


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(sources: dict, overall: dict) -> str:
    rows = [("source", "documents", "tokens", "bytes", "loss", "ppl", "bpb")]
    for name, r in [*sources.items(), ("overall", overall)]:
        rows.append((name, _fmt(r["documents"], ","), _fmt(r["tokens"], ","), _fmt(r["bytes"], ","),
                     _fmt(r["loss"], ".4f"), _fmt(r["ppl"], ".2f"), _fmt(r["bpb"], ".4f")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def _eval(target: str, inputs: tuple[str, ...], json_path: str | None, per_doc: str | None,
          seq_len: int | None, batch: int | None, threads: int | None, split: str) -> None:
    import warnings

    from trainer.cli import INSTALL_HINT, _missing_deps

    missing = _missing_deps()
    if missing:
        raise click.ClickException(f"missing {', '.join(missing)}. {INSTALL_HINT}")
    for category in (UserWarning, FutureWarning):  # megatron's notes on absent TE/Apex, deprecations
        warnings.filterwarnings("ignore", category=category)
    from trainer import eval_data, evaluate
    from trainer.restore import RestoreError, find_checkpoint, megatron_model, read_info
    from trainer.run_tokenizer import run_vocab

    say = lambda msg: click.echo(msg, err=True)  # noqa: E731
    try:
        ck = read_info(find_checkpoint(target))
        if seq_len is not None and seq_len > ck.seq_len:
            raise click.ClickException(f"--seq-len {seq_len} is longer than the {ck.seq_len} tokens "
                                       f"the model was trained on")
        length = seq_len or ck.seq_len
        sources = eval_data.parse_inputs(list(inputs), split=split, warn=say)
        if not sources:
            raise click.ClickException("no input to evaluate (every blend source was skipped)")
        vocab = run_vocab(ck.blend, int(ck.model["vocab_size"]))
        if vocab.tokenizer is None:
            say(f"warning: no tokenizer ({vocab.why}): no text inputs and no bits per byte; "
                f"EOD id {vocab.eod_id}")
        codec = eval_data.Codec(vocab.tokenizer.tokenizer if vocab.tokenizer else None, vocab.eod_id)
        t0 = time.time()
        model = megatron_model(ck)
        say(f"garden eval: {ck.path} (iteration {ck.iteration}, {ck.model['preset']}), "
            f"windows of {length} tokens, loaded in {time.time() - t0:.1f}s")
        if threads:
            import torch

            torch.set_num_threads(threads)
        scorer = evaluate.Scorer(model, length, batch or max(1, BATCH_TOKENS // length), vocab.vocab_size,
                                 vocab.eod_id)
        writer = evaluate.PerDocWriter(per_doc) if per_doc else None
        t0 = time.time()
        try:
            per_source, overall = evaluate.evaluate(sources, codec, scorer,
                                                    on_doc=writer.add if writer else None)
        except BaseException:
            if writer:
                writer.abort()
            raise
        if writer:
            writer.close()
    except (eval_data.EvalInputError, RestoreError) as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; nothing written") from None
    seconds = time.time() - t0
    report = evaluate.EvalReport(str(ck.path), ck.iteration, length, per_source, overall).to_dict()
    click.echo(format_table(report["sources"], report["overall"]))
    say(f"{overall.tokens:,} tokens in {seconds:.1f}s ({overall.tokens / max(seconds, 1e-9):,.0f} tokens/s)")
    if json_path:
        from garden.io.writer import atomic_write_json

        atomic_write_json(json_path, report)
        say(f"wrote {json_path}")
    if per_doc:
        say(f"wrote {per_doc}")
    sys.stdout.flush()


@click.command("eval", epilog=EPILOG)
@click.argument("target", metavar="RUN_DIR_OR_CHECKPOINT")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUTS...")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the results as JSON.")
@click.option("--per-doc", type=click.Path(dir_okay=False),
              help="Write one parquet row per document (id, source, tokens, bytes, loss).")
@click.option("--seq-len", type=click.IntRange(min=1), help="Window length (default: the training seq_len).")
@click.option("--batch", type=click.IntRange(min=1),
              help=f"Windows per forward pass (default: {BATCH_TOKENS} tokens' worth, {BATCH_TOKENS} // seq_len).")
@click.option("--threads", type=click.IntRange(min=1),
              help="torch CPU threads (default: torch's, one per core; use 1 on a busy machine).")
@click.option("--split", type=click.Choice(["valid", "test"]), default="valid", show_default=True,
              help="Held-out split taken from a blend.json.")
def eval_command(target: str, inputs: tuple[str, ...], json_path: str | None, per_doc: str | None,
                 seq_len: int | None, batch: int | None, threads: int | None, split: str) -> None:
    """Loss, perplexity and bits per byte of a checkpoint on held-out text, per source.

    RUN_DIR_OR_CHECKPOINT is a `garden train` run directory (its latest checkpoint), a
    checkpoints directory, or one iter_* checkpoint, of any TP/PP layout: it is loaded into one
    process (CPU, or a GPU when there is one).
    """
    _eval(target, inputs, json_path, per_doc, seq_len, batch, threads, split)
