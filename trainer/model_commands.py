"""`garden export` and `garden generate`: click commands over trainer.export / trainer.generate.

Imports only click and the stdlib at module level (torch is imported when a command runs), so
`garden --help` stays fast and works without the `train` extra.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

HINT = ("needs torch and safetensors; install them with: pip install 'garden[train]'  "
        "(or `make install`)")


def _need(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(f"missing {', '.join(missing)}: {HINT}")


def _size(text: str) -> int:
    """'5GB', '500MB', '2000000' -> bytes."""
    t = text.strip().upper()
    for unit, mult in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("B", 1)):
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * mult)
    return int(float(t))


@click.command("export")
@click.argument("run", metavar="RUN_DIR", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder to write (must not exist, be empty, or be an earlier export with --force).")
@click.option("--checkpoint", "iteration", type=int, default=None,
              help="Iteration to export (default: the latest checkpoint).")
@click.option("--dtype", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto",
              show_default=True, help="Weight dtype; auto keeps the checkpoint's.")
@click.option("--max-shard-size", default="5GB", show_default=True,
              help="Split model.safetensors into shards above this size (with an index json).")
@click.option("--force", is_flag=True, help="Replace an earlier `garden export` in OUTPUT.")
def export_command(run: str, output: str, iteration: int | None, dtype: str,
                   max_shard_size: str, force: bool) -> None:
    """Export a training run's checkpoint (any TP/PP layout) as a Hugging Face model folder.

    Writes config.json (LlamaForCausalLM, or MixtralForCausalLM for MoE), model.safetensors,
    generation_config.json and the run's tokenizer; load it with
    AutoModelForCausalLM.from_pretrained(OUTPUT).
    """
    _need("torch", "safetensors")
    from trainer.export import ExportError, export
    from trainer.restore import RestoreError

    try:
        shard = _size(max_shard_size)
    except ValueError:
        raise click.ClickException(f"--max-shard-size {max_shard_size!r}: give e.g. 5GB or 500MB") \
            from None
    try:
        r = export(run, output, iteration=iteration, dtype=dtype, max_shard_bytes=shard,
                   force=force)
    except (RestoreError, ExportError) as e:
        raise click.ClickException(str(e)) from None
    for w in r.warnings:
        click.secho(f"warning: {w}", fg="yellow", err=True)
    click.echo(f"{r.out_dir}: {r.architecture}, {r.parameters / 1e6:.2f}M parameters ({r.dtype}) "
               f"from iteration {r.iteration}, {len(r.files)} files in {r.seconds:.1f}s")


def _read_prompts(path: str) -> list[str]:
    """One prompt per line; .jsonl lines are objects with a `prompt` (or `text`) field."""
    prompts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            if path.endswith((".jsonl", ".json")):
                try:
                    row = json.loads(line)
                except ValueError as e:
                    raise click.ClickException(f"{path}:{n}: not JSON ({e})") from None
                text = row.get("prompt", row.get("text")) if isinstance(row, dict) else None
                if not isinstance(text, str):
                    raise click.ClickException(f"{path}:{n}: no string `prompt` or `text` field")
                prompts.append(text)
            else:
                prompts.append(line.rstrip("\n"))
    if not prompts:
        raise click.ClickException(f"{path}: no prompts")
    return prompts


@click.command("generate")
@click.argument("model", metavar="RUN_DIR_OR_HF_DIR", type=click.Path())
@click.option("--prompt", default=None, help="Text to continue (default: start a new document).")
@click.option("--prompts", "prompts_file", type=click.Path(dir_okay=False, exists=True),
              help="A file of prompts (one per line, or .jsonl with a `prompt` field); "
                   "writes JSONL rows to --output (default stdout).")
@click.option("--output", type=click.Path(dir_okay=False), help="JSONL output for --prompts.")
@click.option("--max-new-tokens", type=int, default=64, show_default=True)
@click.option("--temperature", type=float, default=0.8, show_default=True, help="0 = greedy.")
@click.option("--greedy", is_flag=True, help="Always take the most likely token (= --temperature 0).")
@click.option("--top-k", type=int, default=0, show_default=True, help="0 = off.")
@click.option("--top-p", type=float, default=1.0, show_default=True, help="1 = off.")
@click.option("--repetition-penalty", type=float, default=1.0, show_default=True, help="1 = off.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint", "iteration", type=int, default=None,
              help="Iteration of a run to load (default: the latest checkpoint).")
@click.option("--no-cache", is_flag=True, help="Recompute the whole sequence per token (slow; for checks).")
@click.option("--no-bos", is_flag=True,
              help="Do not start the prompt with the end-of-document token "
                   "(training documents all follow one).")
@click.option("--ignore-eod", is_flag=True, help="Keep generating past the end-of-document token.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
def generate_command(model: str, prompt: str | None, prompts_file: str | None,
                     output: str | None, max_new_tokens: int, temperature: float, greedy: bool,
                     top_k: int, top_p: float, repetition_penalty: float, seed: int,
                     iteration: int | None, no_cache: bool, no_bos: bool, ignore_eod: bool,
                     device: str) -> None:
    """Generate text from a Garden run (any TP/PP layout) or an exported Hugging Face folder.

    Tokens stream to the terminal as they are produced; a KV cache makes each new token cost
    one position.  Prompt plus --max-new-tokens must fit the trained context length.
    """
    _need("torch", "safetensors")
    from trainer.generate import (GenerateError, Sampling, TextStream, check_fits, encode_prompt,
                                  generate_ids, load_model)

    if prompt is not None and prompts_file:
        raise click.ClickException("give --prompt or --prompts, not both")
    if output and not prompts_file:
        raise click.ClickException("--output is for --prompts (JSONL); --prompt streams to stdout")
    s = Sampling(max_new_tokens=max_new_tokens, temperature=0.0 if greedy else temperature,
                 top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty, seed=seed,
                 stop_at_eod=not ignore_eod)
    try:
        s.check()
        m = load_model(model, iteration, device)
        if prompts_file:
            texts = _read_prompts(prompts_file)
            encoded = [encode_prompt(m, t, bos=not no_bos) for t in texts]
            for i, ids in enumerate(encoded):  # refuse before spending time on any of them
                check_fits(len(ids), s, m.context, what=f"prompt {i + 1} of {prompts_file}")
            _generate_file(m, texts, encoded, s, output, use_cache=not no_cache)
            return
        ids = encode_prompt(m, prompt or "", bos=not no_bos)
        check_fits(len(ids), s, m.context)
        if prompt:
            click.secho(prompt, nl=False, bold=True)
        stream = TextStream(m.tokenizer, lambda t: (sys.stdout.write(t), sys.stdout.flush()), ids)
        c = generate_ids(m, ids, s, use_cache=not no_cache, on_token=stream)
        stream.finish()
        click.echo("")
    except GenerateError as e:
        raise click.ClickException(str(e)) from None
    rate = len(c.new_ids) / c.seconds if c.seconds > 0 else float("inf")
    click.echo(f"[{len(c.new_ids)} tokens in {c.seconds:.2f}s, {rate:.1f} tokens/s, stopped at "
               f"{'end of document' if c.stop == 'eod' else 'max new tokens'}]", err=True)


def _generate_file(m, texts: list[str], encoded: list[list[int]], s, output: str | None,
                   use_cache: bool) -> None:
    from dataclasses import replace

    from trainer.generate import completion_text, generate_ids

    rows = []
    for i, (text, ids) in enumerate(zip(texts, encoded)):
        c = generate_ids(m, ids, replace(s, seed=s.seed + i), use_cache=use_cache)
        row = {"index": i, "prompt": text,
               "completion": completion_text(m.tokenizer, ids, c.new_ids),
               "prompt_tokens": len(ids), "new_tokens": len(c.new_ids), "stop": c.stop}
        rows.append(row)
        if output is None:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"[{i + 1}/{len(texts)}] {len(c.new_ids)} tokens, stop {c.stop}", err=True)
    if output is not None:
        from garden.io.writer import write_jsonl_atomic

        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write_jsonl_atomic(str(Path(output).resolve()), rows)
        click.echo(f"{output}: {len(rows)} completions", err=True)
