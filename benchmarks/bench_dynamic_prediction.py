"""Prediction quality of every dynamic-placement predictor on the bundled traces (docs/dynamic.md table).

Each family's learned predictors train on one category (DeepSeek-V2-Lite: law; Mixtral-8x7B: reasoning, the
offline-optimisation categories) and are tested on sampled batches of every other category, drawn as the
simulator draws them (``workload.stats.sample_batches``, stream SAMPLED_BATCHES, the given seed). Prints one
markdown table: recall@k of the hot experts (k = the model's top-k), load error, coverage of the 90%
interval, per-token top-k accuracy.

    .venv/bin/python benchmarks/bench_dynamic_prediction.py [--batch-size 512] [--batches 16] [--seed 0]
        [--models deepseek_v2_lite mixtral_8x7b] [--predictors oracle history cross_layer bayesian]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hdmoe_ray.config.strategies import DynamicConfig
from hdmoe_ray.core import random_streams
from hdmoe_ray.dynamic.predictors.base import PredictorContext, batch_counts, build_predictor
from hdmoe_ray.dynamic.quality import coverage, load_error, recall_at_k, token_topk_accuracy
from hdmoe_ray.testing import model_config
from hdmoe_ray.workload.loader import load_trace
from hdmoe_ray.workload.stats import sample_batches

FAMILIES = {
    "deepseek_v2_lite": ("deepseek_v2_lite_esft_", "law", ("summary", "translation")),
    "mixtral_8x7b": ("mixtral_mtbench_", "reasoning", ("coding", "extraction", "math", "roleplay", "writing")),
}
PREDICTORS = ("oracle", "history", "cross_layer", "bayesian")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", default=list(FAMILIES))
    parser.add_argument("--predictors", nargs="*", default=list(PREDICTORS))
    args = parser.parse_args()
    print("| model | test category | predictor | recall@k | load error | coverage 90% | token top-k accuracy |")
    print("|---|---|---|---:|---:|---:|---:|")
    for model_name in args.models:
        prefix, train_cat, tests = FAMILIES[model_name]
        model = model_config(model_name)
        train = load_trace(prefix + train_cat)
        built = {}
        for name in args.predictors:
            t0 = time.perf_counter()
            built[name] = build_predictor(name, PredictorContext(model, DynamicConfig(), train, args.seed))
            if name == "bayesian":
                print(f"<!-- {model_name}: bayesian trained on {train_cat} in {time.perf_counter() - t0:.1f} s -->")
        for cat in tests:
            trace = load_trace(prefix + cat)
            rng = random_streams.stream(args.seed, random_streams.SAMPLED_BATCHES)
            batches = sample_batches(trace.num_tokens, args.batch_size, args.batches, rng)
            for name, predictor in built.items():
                rec, err, cov, acc = [], [], [], []
                for tokens in batches:
                    p = predictor.predict(trace, tokens)
                    truth = batch_counts(trace, tokens)
                    rec.append(recall_at_k(p.mean, truth, trace.top_k).mean())
                    err.append(load_error(p.mean, truth).mean())
                    c = coverage(p, truth)
                    if c is not None:
                        cov.append(c.mean())
                    a = token_topk_accuracy(predictor, trace, tokens)
                    if a is not None:
                        acc.append(a)
                fmt = lambda xs: f"{np.mean(xs):.3f}" if xs else "-"  # noqa: E731
                print(f"| {model_name} | {cat} | {name} | {fmt(rec)} | {fmt(err)} | {fmt(cov)} | {fmt(acc)} |",
                      flush=True)


if __name__ == "__main__":
    main()
