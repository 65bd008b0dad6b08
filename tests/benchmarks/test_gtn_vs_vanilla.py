"""benchmarks/gtn_vs_vanilla.py: the statistics, the plan (arms share student initialisation and data
order), and the whole benchmark end to end at toy size with a rerun that resumes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from _helpers import load_benchmark

from autogtkd.train import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gtn_vs_vanilla.py"


def _module():
    return load_benchmark("gtn_vs_vanilla", register=True)  # the process pool pickles tasks by module name


@pytest.fixture(scope="module")
def bench():
    return _module()


def _settings(bench, data_dir: Path, **kw):
    p = dict(bench.PRESETS["toy"])
    p.update(kw)
    return bench.Settings(preset="toy", data_dir=str(data_dir), **p)


def test_paired_stats_golden_values(bench) -> None:
    d = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, sd 1.29099, se 0.645497, t(3, 0.975) = 3.182446
    st = bench.paired_stats(d)
    assert st["mean"] == pytest.approx(2.5)
    assert st["ci95"] == pytest.approx([2.5 - 3.182446 * 0.645497, 2.5 + 3.182446 * 0.645497], rel=1e-5)
    # t = 2.5 / 0.645497 = sqrt(15); with 3 df, F(t) = 1/2 + (x / (1 + x^2) + atan x) / pi, x = t / sqrt(3) = sqrt(5)
    x = math.sqrt(5)
    assert st["p_t"] == pytest.approx(2 * (0.5 - (x / (1 + x * x) + math.atan(x)) / math.pi), rel=1e-6)
    assert st["p_wilcoxon"] == pytest.approx(0.125)  # exact: all 4 signs positive, 2 / 2^4
    assert st["pairs"] == 4
    one = bench.paired_stats([0.7])
    assert one["mean"] == 0.7 and all(math.isnan(v) for v in one["ci95"])


def test_arms_share_student_initialisation_and_data_order(bench) -> None:
    """Every arm of a (student, seed) pair distils the same architecture with the same KD seed from
    teachers of seed ``k mod teacher_seeds``; scratch arms therefore start from identical weights."""
    s = _settings(bench, Path("."), seeds=3, teacher_seeds=2)
    space = bench.resolve_space(s.space, 10)
    students = bench.pick_students(space, 2, seed=0)
    kd = [t for t in bench.plan(Path("o"), s, students, {}, "main") if t.key.startswith("kd ")]
    by_pair: dict[tuple[int, int], list[tuple]] = {}
    for t in kd:
        _o, _s, arm, i, arch, k, teacher, init = t.args
        by_pair.setdefault((i, k), []).append((arm, arch, k, teacher, init))
        assert t.after == (() if teacher is None else (f"train {teacher} k{k % 2}",))
    assert len(by_pair) == 6
    for (i, k), rows in by_pair.items():
        assert sorted(r[0] for r in rows) == sorted(bench.ARMS)
        assert all(r[1] == students[i].to_dict() and r[2] == k for r in rows)
        inits = {r[0]: r[4] for r in rows}
        assert inits == {
            "vanilla": "scratch",
            "gtn": "scratch",
            "nokd": "scratch",
            "ofa": "inherit",
            "pipeline": "inherit",
        }


def test_scratch_arms_start_from_identical_students(bench, tmp_path: Path, write_cifar10) -> None:
    """kd_task with a near-zero learning rate leaves each student at its initialisation: the vanilla-KD
    and no-KD arms of one pair must then hold the same weights (a per-arm seed would break this)."""
    write_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=40)
    s = replace(_settings(bench, tmp_path / "data"), lr=1e-12, seeds=1, teacher_seeds=1)
    out = tmp_path / "out"
    bench.train_task(str(out), s, "vanilla", 0, {})
    arch = bench.pick_students(bench.resolve_space(s.space, 10), 1, seed=0)[0].to_dict()
    bench.kd_task(str(out), s, "vanilla", 0, arch, 0, "vanilla", "scratch")
    bench.kd_task(str(out), s, "nokd", 0, arch, 0, None, "scratch")
    a, b = (
        load_checkpoint(out / "students" / arm / "s0-k0" / "student.pt").models["student"]
        for arm in ("vanilla", "nokd")
    )
    floats = [k for k, v in a.items() if torch.is_tensor(v) and v.is_floating_point() and "running" not in k]
    assert floats and all(torch.allclose(a[k], b[k], atol=1e-6) for k in floats)


@pytest.mark.slow  # trains every arm twice over in a pool of processes (CI runs it: .ci/run)
def test_benchmark_runs_every_arm_and_resumes(tmp_path: Path, write_cifar10) -> None:
    write_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=40)
    out = tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--preset", "toy", "--data-dir", str(tmp_path / "data"), "--out", str(out),
           "--jobs", "2", "--results", str(tmp_path / "summary.json")]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    res = json.loads((tmp_path / "summary.json").read_text())
    assert res["eval_images"] == 64 and res["pairs"] == 4
    for key in ("teacher_only", "pipeline", "no_kd_minus_vanilla"):
        assert set(res[key]) >= {"mean", "ci95", "p_t", "p_wilcoxon"} and res[key]["pairs"] == 4
    assert res["teacher_cost_ratio"] > 0
    assert {(t["name"], t["seed"]) for t in res["teachers"]} == {
        (n, k) for n in ("vanilla", "gtn", "ofa") for k in (0, 1)
    }
    assert all(0 <= t["train_top1"] <= 1 and 0 < t["entropy_T4"] <= math.log(10) + 1e-6 for t in res["teachers"])
    assert all(set(r) >= {"vanilla", "gtn", "nokd", "ofa", "pipeline"} for r in res["rows"])
    # every teacher is a run directory and every student a student directory that the CLI reads
    ev = subprocess.run([sys.executable, "-m", "autogtkd", "evaluate", str(out / "students" / "gtn" / "s0-k0"),
                         "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--image-size", "16",
                         "--json"], capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert 0 <= json.loads(ev.stdout)["top1"] <= 1
    # the same command again: every task is complete, so the numbers are read back unchanged
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / "summary.json").read_text())["rows"] == res["rows"]
    # other settings in the same folder are refused, in one line
    other = subprocess.run([*cmd, "--epochs", "2"], capture_output=True, text=True, timeout=300, check=False)
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()) == 1


def test_missing_test_split_is_one_line_exit_2(tmp_path: Path, write_cifar10) -> None:
    write_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=40)
    cmd = [sys.executable, str(SCRIPT), "--preset", "toy", "--data-dir", str(tmp_path / "data"),
           "--out", str(tmp_path / "out"), "--eval-split", "test", "--jobs", "0"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "test_batch" in r.stderr


def test_cifar100_without_its_archive_is_one_line_exit_2(tmp_path: Path, write_cifar10) -> None:
    write_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=40)  # CIFAR-10 only
    cmd = [sys.executable, str(SCRIPT), "--preset", "toy", "--dataset", "cifar100", "--data-dir",
           str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--jobs", "0"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "cifar-100" in r.stderr


def test_settings_written_before_the_dataset_option_still_match(bench) -> None:
    s = bench.settings_from_args(bench.build_parser().parse_args(["--out", "x"]))
    old = {k: v for k, v in bench.asdict(s).items() if k != "dataset"}  # a settings.json of an earlier run
    assert bench.Settings(**old).identity() == s.identity()
    c100 = bench.settings_from_args(bench.build_parser().parse_args(["--out", "x", "--dataset", "cifar100"]))
    assert c100.identity() != s.identity() and bench.dataset_spec(c100).name == "cifar100"


def test_bad_variant_is_one_line(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--stage", "variants", "--variant", "x:no_such_field=1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [
        "error: --variant 'x:no_such_field=1': 'no_such_field=1' is not FIELD=VALUE of GTNConfig"
    ]


def test_records_restore_results_and_retrain_a_teacher_whose_students_are_unfinished(bench, tmp_path: Path) -> None:
    """On another machine, recorded results are written back in place; a teacher without its
    checkpoint is trained again only while one of its students is unfinished."""
    s = _settings(bench, Path("."), seeds=2, teacher_seeds=2)
    students = bench.pick_students(bench.resolve_space(s.space, 10), 1, seed=0)
    tasks = bench.plan(tmp_path, s, students, {"v": {"paths": 1}}, "variants")
    assert [t.key for t in tasks] == ["train v k0", "train v k1", "kd v s0 k0", "kd v s0 k1"]  # teacher-major
    records = {t.key: {"key": t.key} for t in tasks if t.key != "kd v s0 k1"}
    # no checkpoint anywhere: k0's student is finished (k0 stays done), k1's is not (k1 is trained again)
    assert bench.restore(tasks, records) == ["train v k1"]
    assert [t.done for t in tasks] == [True, False, True, False]
    assert json.loads(tasks[2].marker.read_text()) == {"key": "kd v s0 k0"}


def test_stage_two_decision_rule(bench) -> None:
    """A variant replaces the default only when its selection-split interval lies above the default's
    mean; the highest such mean wins; nothing is decided before every comparison is complete."""

    def st(mean: float, lo: float, pairs: int = 12) -> dict:
        return {"selection_minus_vanilla": {"mean": mean, "ci95": [lo, mean + (mean - lo)], "pairs": pairs}}

    stats = {"a": st(1.0, 0.1), "b": st(2.0, -0.5), "c": st(0.8, 0.3), "gtn": st(0.0, -1.0)}
    assert bench.decide(stats) | {"reason": ""} == {
        "complete": True, "default_selection_mean": 0.0, "beat_the_default": ["a", "c"], "chosen": "a", "reason": ""
    }  # fmt: skip
    assert bench.decide({**stats, "gtn": st(0.2, -1.0)})["beat_the_default"] == ["c"]
    assert bench.decide({**stats, "gtn": st(0.9, 0.0)})["chosen"] is None
    assert bench.decide({**stats, "c": st(0.8, 0.3, pairs=5)})["complete"] is False
