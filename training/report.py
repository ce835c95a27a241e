"""Write an evaluation as files: metrics.json, report.md, pr_curves.png, confusion_matrix.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def metrics_table(metrics: dict[str, Any]) -> str:
    """Per-class Markdown table (AP50, AP50-95, precision/recall at the operating threshold)."""
    conf = metrics["operating_conf"]
    lines = [
        f"| class | instances | AP50 | AP50-95 | precision@{conf} | recall@{conf} | TP | FP | FN |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in metrics["classes"]:
        lines.append(
            f"| {c['name']} | {c['instances']} | {_fmt(c['ap50'])} | {_fmt(c['ap50_95'])} | "
            f"{_fmt(c['precision'])} | {_fmt(c['recall'])} | {c['tp']} | {c['fp']} | {c['fn']} |"
        )
    lines.append(
        f"| **all (mean)** | {sum(c['instances'] for c in metrics['classes'])} | "
        f"**{_fmt(metrics['map50'])}** | **{_fmt(metrics['map50_95'])}** | | | | | |"
    )
    return "\n".join(lines)


def size_table(metrics: dict[str, Any]) -> str:
    """AP50 per class and object size (COCO areas in original-image pixels), with instance counts."""
    classes = [c for c in metrics["classes"] if "ap50_by_size" in c]
    if not classes:
        return ""
    sizes = ["small", "medium", "large", "medium_up"]
    heads = ["small (< 32²)", "medium (32²–96²)", "large (≥ 96²)", "medium and up (≥ 32²)"]
    lines = [
        "| class | " + " | ".join(f"AP50 {h}" for h in heads) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for c in classes:
        cells = [
            f"{_fmt(c['ap50_by_size'].get(s))} ({c.get('instances_by_size', {}).get(s, '?')})" for s in sizes
        ]
        lines.append(f"| {c['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def confusion_table(metrics: dict[str, Any]) -> str:
    labels = metrics["confusion_matrix"]["labels"]
    rows = metrics["confusion_matrix"]["rows_true_cols_pred"]
    short = [lb[:14] for lb in labels]
    lines = ["| true \\ predicted | " + " | ".join(short) + " |", "|---|" + "---:|" * len(labels)]
    for label, row in zip(short, rows, strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def _plot_pr(metrics: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recall = metrics["pr_curves"]["recall"]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    for c, prec in zip(metrics["classes"], metrics["pr_curves"]["precision_iou50"], strict=True):
        if c["ap50"] is None:
            continue
        ax.plot(recall, prec, label=f"{c['name']} AP50={c['ap50']:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"PR curves at IoU 0.5 ({metrics['split']} split, {metrics['images']} images)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_confusion(metrics: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = metrics["confusion_matrix"]["labels"]
    m = np.array(metrics["confusion_matrix"]["rows_true_cols_pred"])
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    ax.imshow(m / np.maximum(m.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (conf >= {metrics['operating_conf']}, row-normalised colour)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report_markdown(metrics: dict[str, Any]) -> str:
    meta = metrics.get("model_metadata", {})
    lines = [
        f"# Evaluation: {Path(metrics['model']).name} on the `{metrics['split']}` split",
        "",
        f"- model version: {meta.get('model_version', meta.get('version', 'n/a'))}; "
        f"input {metrics['imgsz'][0]}x{metrics['imgsz'][1]}; training data hash "
        f"`{str(meta.get('data_hash', 'n/a'))[:16]}`",
        f"- data: `{metrics['data']}`, {metrics['images']} images",
        f"- evaluated with StreetWatch's ONNX Runtime detector (NMS IoU {metrics['nms_iou']}); "
        f"AP from detections at conf >= {metrics['ap_conf']} (COCO method: 101-point interpolation, "
        f"IoU 0.50:0.05:0.95); precision/recall at the operating threshold conf >= "
        f"{metrics['operating_conf']}, IoU >= 0.5",
        "",
        metrics_table(metrics),
        "",
        "## By object size",
        "",
        "AP50 in each size range (box area in original-image pixels; instances in brackets). A size "
        "range ignores ground truth and unmatched detections outside it (COCO area ranges).",
        "",
        size_table(metrics),
        "",
        "## Confusion matrix",
        "",
        "Rows: true class; columns: predicted class (conf >= "
        f"{metrics['operating_conf']}, IoU > 0.45). `background` column = missed objects, "
        "`background` row = false alarms.",
        "",
        confusion_table(metrics),
        "",
        "![PR curves](pr_curves.png)",
        "",
        "![Confusion matrix](confusion_matrix.png)",
        "",
    ]
    if "latency" in metrics:
        lat = metrics["latency"]
        lines += [
            "## Speed",
            "",
            f"Median {lat['median_ms']} ms, p90 {lat['p90_ms']} ms per {lat['frame_size']} frame "
            f"(`Detector.detect`: letterbox + ONNX Runtime + NMS, {lat['threads']} threads, "
            f"{lat['runs']} runs).",
            "",
        ]
    return "\n".join(lines)


def write_report(metrics: dict[str, Any], out: Path) -> Path:
    """Write metrics.json, report.md, pr_curves.png and confusion_matrix.png into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _plot_pr(metrics, out / "pr_curves.png")
    _plot_confusion(metrics, out / "confusion_matrix.png")
    (out / "report.md").write_text(report_markdown(metrics))
    return out / "report.md"


def _ap(metrics: dict[str, Any] | None, name: str, key: str) -> float | None:
    if metrics is None:
        return None
    for c in metrics["classes"]:
        if c["name"] == name:
            return c[key] if c["instances"] else None
    return None


def real_first_table(real: dict[str, Any], synthetic: dict[str, Any] | None) -> str:
    """Per class: the real split's figures first, then the synthetic split's; a class without real test
    instances says "not measured on real images"."""
    conf = real["operating_conf"]
    lines = [
        f"| class | real: instances | real: AP50 | real: AP50-95 | real: P@{conf} | real: R@{conf} "
        "| synthetic: AP50 | synthetic: AP50-95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in real["classes"]:
        synth = (_fmt(_ap(synthetic, c["name"], "ap50")), _fmt(_ap(synthetic, c["name"], "ap50_95")))
        if not c["instances"]:
            lines.append(f"| {c['name']} | 0 | not measured on real images | | | | {synth[0]} | {synth[1]} |")
            continue
        lines.append(
            f"| {c['name']} | {c['instances']} | {_fmt(c['ap50'])} | {_fmt(c['ap50_95'])} | "
            f"{_fmt(c['precision'])} | {_fmt(c['recall'])} | {synth[0]} | {synth[1]} |"
        )
    return "\n".join(lines)


def agreement_table(agreement: dict[str, Any]) -> str:
    lines = [
        "| group | COCO boxes (score >= 0.5) | found with the matching class | agreement |",
        "|---|---:|---:|---:|",
    ]
    for group, row in agreement.items():
        lines.append(f"| {group} | {row['teacher_boxes']} | {row['found']} | {_fmt(row['agreement'])} |")
    return "\n".join(lines)


def comparison_markdown(
    real: dict[str, Any], synthetic: dict[str, Any] | None, agreement: dict[str, Any] | None
) -> str:
    """The real-first evaluation report: real split, synthetic split beside it, hard negatives, COCO
    agreement; each split's full report lies in its own folder."""
    meta = real.get("model_metadata", {})
    lines = [
        f"# Evaluation: {Path(real['model']).name} (version {meta.get('model_version', 'n/a')})",
        "",
        f"- real: `{real['data']}` split `{real['split']}`, {real['images']} images "
        "(full report: real/report.md)",
    ]
    if synthetic is not None:
        lines.append(
            f"- synthetic: `{synthetic['data']}` split `{synthetic['split']}`, {synthetic['images']} images "
            "(full report: synthetic/report.md). Synthetic figures say how well the model fits the "
            "generator, not how it works on a city's streets."
        )
    lines += [
        f"- input {real['imgsz'][0]}x{real['imgsz'][1]}; AP by the COCO method; precision (P) and recall (R) "
        f"at the operating threshold conf >= {real['operating_conf']}, IoU >= 0.5",
        "",
        "## Per class, real images first",
        "",
        real_first_table(real, synthetic),
        "",
    ]
    hard = real.get("hard_negatives") or {}
    for pair, row in hard.items():
        negative, positive = pair.split("->")
        lines += [
            f"## {negative} called {positive}",
            "",
            f"Real split: {row['called']} of {row['objects']} `{negative}` boxes also got a `{positive}` box "
            f"(IoU >= 0.5, conf >= {real['operating_conf']}): **{_fmt(row['rate'])}**.",
            "",
        ]
    if agreement:
        lines += [
            "## COCO agreement on real images",
            "",
            "Share of the COCO checkpoint's boxes that this model finds with the matching class "
            f"(IoU >= 0.5, conf >= {real['operating_conf']}).",
            "",
            agreement_table(agreement),
            "",
        ]
    lines += ["## Confusion matrix (real split)", "", confusion_table(real), ""]
    return "\n".join(lines)


def write_comparison(
    out: Path, real: dict[str, Any], synthetic: dict[str, Any] | None, agreement: dict[str, Any] | None
) -> Path:
    """out/report.md and out/metrics.json ({real, synthetic, coco_agreement}); each split's own report
    in out/real/ and out/synthetic/."""
    out.mkdir(parents=True, exist_ok=True)
    write_report(real, out / "real")
    if synthetic is not None:
        write_report(synthetic, out / "synthetic")
    summary = {"real": real, "synthetic": synthetic, "coco_agreement": agreement}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(comparison_markdown(real, synthetic, agreement))
    return out / "report.md"
